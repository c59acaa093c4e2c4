"""Rasa input channels: Antrean's REST channel (tests, simulator) and, later, WhatsApp."""
