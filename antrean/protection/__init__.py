"""Personal data protection in one place: erasure and export of one applicant's data from every
store (`erasure.py`), the retention job that deletes what is old enough (`retention.py`), what
the two do alike to a store (`removal.py`), masking for screens and logs (`masking.py`) and
replacement by placeholders for training data (`scrubbing.py`). Other areas call these; nothing
here serves a page or a channel."""
