"""Rasa custom actions (run by `rasa run actions`). Thin adapters: read slots, call the antrean
core, send a reply chosen from domain.yml or built by antrean.booking.replies, return events."""
