"""How many Rasa worker processes `make run` starts."""

import pytest

from antrean.runtime import serve


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


class _Workers:
    """A stand-in Rasa server whose first answers all come from one worker, as while the others
    are still loading the model; after `ready_after` answers the second worker answers too."""

    def __init__(self, ready_after: int | None):
        import http.server
        import threading

        workers = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                workers.answered += 1
                late = workers.ready_after is not None and workers.answered > workers.ready_after
                self.send_response(200)
                self.send_header(serve.WORKER_HEADER, "b" if late and workers.answered % 2 else "a")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.ready_after, self.answered = ready_after, 0
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.port = self.server.server_address[1]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_ready_means_every_worker_answered(tmp_path):
    workers = _Workers(ready_after=5)
    try:
        serve.Stack(rasa_port=workers.port, run_dir=tmp_path, rasa_workers=2).wait_until_ready(timeout=10)
        assert workers.answered > 5  # it kept asking while only the first worker answered
    finally:
        workers.close()


def test_a_worker_that_never_answers_is_a_timeout(tmp_path):
    workers = _Workers(ready_after=None)
    try:
        with pytest.raises(TimeoutError, match="from 2 workers"):
            serve.Stack(rasa_port=workers.port, run_dir=tmp_path, rasa_workers=2).wait_until_ready(timeout=1)
        serve.Stack(rasa_port=workers.port, run_dir=tmp_path, rasa_workers=1).wait_until_ready(timeout=5)
    finally:
        workers.close()
