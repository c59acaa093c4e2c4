"""One cluster (antrean/runtime/cluster.py) per test module: two Rasa servers, two WhatsApp
receivers and the console behind haproxy, on a fresh PostgreSQL database pair and a Redis key prefix
of this run. Starting it costs two Rasa model loads: modules share it, failure drills get it as an
object (`kill`, `stop_server`, `restart`, `urls`)."""

from __future__ import annotations

import os
import uuid

import pytest
import redis

from antrean.runtime.cluster import Cluster, haproxy_binary
from antrean.runtime.db import upgrade_database
from tests.conftest import _create_database, _drop_database, absent
from tests.whatsapp import meta
from tests.whatsapp.server import free_port

SECRET = "cluster-secret-key-for-booking-codes-0123456789"
# The lock store the Rasa servers use: ours unless a run asks for Rasa's own (`redis`), to show the
# race test catching RasaHQ/rasa#9213: ANTREAN_TEST_CLUSTER_LOCK_STORE=redis pytest tests/cluster -k turns
LOCK_STORE = os.environ.get("ANTREAN_TEST_CLUSTER_LOCK_STORE", "")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, postgres_server_url, redis_server_url, trained_model):
    if haproxy_binary() is None:
        absent("haproxy is absent (apt-get install haproxy)")
    folder = tmp_path_factory.mktemp("cluster")
    suffix = uuid.uuid4().hex[:12]
    bookings = _create_database(postgres_server_url, f"antrean_test_cluster_{suffix}")
    conversations = _create_database(postgres_server_url, f"antrean_test_cluster_rasa_{suffix}")
    upgrade_database(bookings)
    red = redis.StrictRedis.from_url(redis_server_url)
    options = red.connection_pool.connection_kwargs
    prefix = f"test{suffix}"
    instance = Cluster(
        rasa_ports=[free_port(), free_port()], receiver_ports=[free_port(), free_port()], console_port=free_port(),
        public_port=free_port(), console_public_port=free_port(), model_server_port=None, run_dir=folder / "run",
        model=trained_model, drain_seconds=60,
        environment={"ANTREAN_DATABASE_URL": bookings, "ANTREAN_TRACKER_URL": conversations,
                     "ANTREAN_VAR_DIR": str(folder / "var"), "ANTREAN_MEDIA_DIR": str(folder / "media"),
                     "ANTREAN_REDIS_HOST": options["host"], "ANTREAN_REDIS_PORT": str(options["port"]),
                     "ANTREAN_REDIS_DB": str(options["db"]), "ANTREAN_REDIS_KEY_PREFIX": prefix,
                     "ANTREAN_CLOCK": "2026-12-01T08:00:00+07:00", "ANTREAN_SECRET_KEY": SECRET,
                     "ANTREAN_WA_VERIFY_TOKEN": meta.VERIFY_TOKEN, "ANTREAN_WA_APP_SECRET": meta.APP_SECRET})
    if LOCK_STORE == "redis":
        instance.stack.lock_store = {**instance.stack.lock_store, "type": "redis"}
    try:
        instance.start()
        instance.wait_until_ready(timeout=900)  # two model loads on a busy 2-core machine
        yield instance
    finally:
        instance.stop()
        for key in red.scan_iter(f"{prefix}*"):
            red.delete(key)
        red.close()
        _drop_database(postgres_server_url, bookings.rsplit("/", 1)[1])
        _drop_database(postgres_server_url, conversations.rsplit("/", 1)[1])
