"""What `python -m antrean cluster` checks before it starts anything, and the haproxy configuration
it renders (no Rasa server started here)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from antrean.runtime.cluster import Cluster, ClusterError, haproxy_binary
from antrean.runtime.settings import REPO_ROOT
from tests.conftest import absent

pytestmark = pytest.mark.integration


def cluster(tmp_path, **environment) -> Cluster:
    return Cluster(rasa_ports=[15501, 15502, 15503], receiver_ports=[15521, 15522], console_port=15540,
                   public_port=15580, console_public_port=15581, model_server_port=None, run_dir=tmp_path,
                   environment={"ANTREAN_VAR_DIR": str(tmp_path / "var"), **environment})


def test_the_rendered_haproxy_configuration_is_valid_and_routes_rest_by_sender(tmp_path):
    if haproxy_binary() is None:
        absent("haproxy is absent (apt-get install haproxy)")
    config = cluster(tmp_path).render_haproxy()

    checked = subprocess.run([haproxy_binary(), "-c", "-f", str(config)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr + checked.stdout
    text = config.read_text()
    assert "{{" not in text  # every field filled in
    assert "balance hash req.body,json_query('$.sender')" in text
    for name, port in (("rasa1", 15501), ("rasa3", 15503), ("receiver2", 15522), ("console", 15540)):
        assert f"server {name} 127.0.0.1:{port} check" in text


def test_it_names_the_setting_when_bookings_are_not_on_postgresql():
    environment = {key: value for key, value in os.environ.items() if not key.startswith("ANTREAN_")}
    started = subprocess.run([sys.executable, "-m", "antrean", "cluster"], cwd=REPO_ROOT, capture_output=True,
                             text=True, timeout=120, env={**environment, "PYTHONPATH": str(REPO_ROOT)})

    assert started.returncode != 0
    assert "set ANTREAN_DATABASE_URL to postgresql://" in started.stderr


def test_it_says_which_service_is_unreachable(tmp_path, postgres_database, redis_server_url):
    unreachable = r"not reachable at postgresql://nobody:\*\*\*@127\.0\.0\.1:1/x \(ANTREAN_DATABASE_URL\)"
    with pytest.raises(ClusterError, match=unreachable):  # and the password is not shown
        cluster(tmp_path, ANTREAN_DATABASE_URL="postgresql://nobody:secret@127.0.0.1:1/x").check()
    with pytest.raises(ClusterError, match=r"conversations .* on PostgreSQL: set ANTREAN_TRACKER_URL"):
        cluster(tmp_path, ANTREAN_DATABASE_URL=postgres_database).check()  # the tracker defaults to SQLite
    with pytest.raises(ClusterError, match=r"Redis .* not reachable at 127\.0\.0\.1:1 db 1 \(ANTREAN_REDIS_HOST"):
        cluster(tmp_path, ANTREAN_DATABASE_URL=postgres_database, ANTREAN_TRACKER_URL=postgres_database,
                ANTREAN_REDIS_HOST="127.0.0.1", ANTREAN_REDIS_PORT="1").check()
    cluster(tmp_path, ANTREAN_DATABASE_URL=postgres_database, ANTREAN_TRACKER_URL=postgres_database,
            ANTREAN_REDIS_HOST="127.0.0.1").check()  # everything there: no error


def test_it_says_what_runs_where(tmp_path):
    shown = cluster(tmp_path, ANTREAN_DATABASE_URL="postgresql://antrean:secret@db.internal/antrean",
                    ANTREAN_TRACKER_URL="postgresql://antrean:secret@db.internal/rasa").describe()

    assert "http://127.0.0.1:15580/webhooks/antrean/webhook  (by sender to: rasa1 :15501, rasa2 :15502, " \
           "rasa3 :15503)" in shown
    assert "http://127.0.0.1:15580/webhooks/whatsapp/webhook  (to: receiver1 :15521, receiver2 :15522)" in shown
    assert "staff console    http://127.0.0.1:15581/  (console :15540)" in shown
    assert "postgresql://antrean:***@db.internal/rasa" in shown
    assert "secret" not in shown
