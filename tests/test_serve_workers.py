"""How many Rasa worker processes `make run` starts."""

import pytest

from antrean import serve


def test_one_worker_per_core_at_most_four(monkeypatch):
    monkeypatch.delenv("ANTREAN_RASA_WORKERS", raising=False)
    for cores, workers in ((None, 1), (1, 1), (2, 2), (16, 4)):
        monkeypatch.setattr(serve.os, "cpu_count", lambda cores=cores: cores)
        assert serve.default_rasa_workers() == workers


def test_the_environment_chooses_and_nonsense_is_refused(monkeypatch):
    monkeypatch.setenv("ANTREAN_RASA_WORKERS", "3")
    assert serve.default_rasa_workers() == 3
    for wrong in ("0", "dua", "-1"):
        monkeypatch.setenv("ANTREAN_RASA_WORKERS", wrong)
        with pytest.raises(SystemExit, match="ANTREAN_RASA_WORKERS must be a whole number of at least 1"):
            serve.default_rasa_workers()
