"""The booking core: offices, working-day calendar, quotas and atomic seat allocation.

Imports neither Rasa nor TensorFlow, so it is fast to test and usable from any adapter
(Rasa actions, the WhatsApp channel, the staff console, the CLI)."""
