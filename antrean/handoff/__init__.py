"""Conversations handed over to staff: the assistant opens a request, the console answers it
(`service.py`); the tables are in `schema.py`."""
