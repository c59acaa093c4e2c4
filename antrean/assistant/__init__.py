"""Rasa input channels: Antrean's REST channel (tests, simulator) and WhatsApp.

Importing this package (Rasa does, for the channels in credentials.yml) also installs the Rasa
speed-ups in speedups.py and the in-process action endpoint."""

from antrean.assistant import speedups

speedups.install()
