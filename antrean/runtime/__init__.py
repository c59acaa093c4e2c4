"""Infrastructure every process shares: database engines and migrations (`db.py`), the one
MetaData all areas' tables join (`tables.py`), the injectable clock (`clock.py`), settings from the
environment (`settings.py`), wiring the application's objects (`bootstrap.py`) and starting the
Rasa server with Antrean's parts (`serve.py`)."""
