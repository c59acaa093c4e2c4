"""Conversation review: a read model over Rasa's SQL tracker store for the staff console.

`schema.py` (tables), `tracker.py` (reading Rasa's `events` table), `derive.py` (what one
conversation amounts to: outcome, confidence, facets), `sync.py` (incremental, idempotent copy into
the read model), `query.py` (list filters, sorting, paging), `transcript.py` (one conversation's
events for display), `work.py` (review status, notes, tags, flags, saved filters), `stories.py`
(export as a Rasa test story). Masking inside texts is antrean.protection.masking. No Sanic imports here."""
