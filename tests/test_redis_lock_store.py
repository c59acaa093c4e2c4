"""The Redis lock store of the cluster (antrean/assistant/redis_lock_store.py): one message of a
conversation at a time across Rasa servers — and Rasa Open Source's RedisLockStore, which is not
(RasaHQ/rasa#9213), under the same contention.

Two processes (two "Rasa servers") each run several coroutines that take the same conversation's
lock over and over; inside, each counts itself in and out with Redis INCR/DECR, so a second holder
at the same moment sees the count above 1 (an overlap)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import pytest
from rasa.core.lock_store import LockError, LockStore
from rasa.utils.endpoints import EndpointConfig

from antrean.assistant.redis_lock_store import RedisMutexLockStore
from antrean.runtime.settings import REPO_ROOT

pytestmark = pytest.mark.integration

CONTENDER = """
import asyncio, sys, time
import redis
from rasa.core.lock_store import LockError, RedisLockStore
from rasa.utils.endpoints import EndpointConfig
from antrean.assistant.redis_lock_store import RedisMutexLockStore

kind, url, prefix, tasks, seconds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
red = redis.StrictRedis.from_url(url)
db = red.connection_pool.connection_kwargs.get("db", 0)
if kind == "rasa":
    store = RedisLockStore(db=db, key_prefix=prefix)
else:
    store = RedisMutexLockStore(EndpointConfig(url="127.0.0.1", db=db, key_prefix=prefix))

async def contend(until):
    while time.monotonic() < until:
        try:
            async with store.lock("6281200000001", lock_lifetime=5, wait_time_in_seconds=0.005):
                if red.incr(prefix + ":inside") > 1:
                    red.incr(prefix + ":overlaps")
                await asyncio.sleep(0.002)
                red.decr(prefix + ":inside")
                red.incr(prefix + ":turns")
        except LockError:
            red.incr(prefix + ":errors")

async def main():
    while not red.get(prefix + ":go"):  # both processes start contending at the same moment
        await asyncio.sleep(0.001)
    until = time.monotonic() + seconds
    try:
        await asyncio.wait_for(asyncio.gather(*(contend(until) for _ in range(tasks))), seconds + 20)
    except asyncio.TimeoutError:  # waiting behind a ticket nobody holds any more
        red.incr(prefix + ":stalls")

asyncio.run(main())
"""


def contend(kind: str, url: str, client, prefix: str, processes: int = 2, tasks: int = 4,
            seconds: float = 4) -> dict[str, int]:
    started = [subprocess.Popen([sys.executable, "-c", CONTENDER, kind, url, prefix, str(tasks), str(seconds)],
                                cwd=REPO_ROOT, env={"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"})
               for _ in range(processes)]
    time.sleep(0.5)
    deadline = time.monotonic() + 120  # importing Rasa on a busy machine
    while time.monotonic() < deadline and any(p.poll() is None for p in started):
        # Go once both are waiting: each has connected (CLIENT LIST counts connections).
        if sum(1 for c in client.client_list() if c.get("db") == str(client.connection_pool.connection_kwargs.get(
                "db", 0))) > processes:
            break
        time.sleep(0.2)
    client.set(f"{prefix}:go", 1)
    for process in started:
        assert process.wait(timeout=seconds + 120) == 0
    return {name: int(client.get(f"{prefix}:{name}") or 0) for name in ("turns", "overlaps", "errors", "stalls")}


def test_two_servers_never_hold_one_conversation_at_once(redis_server_url, redis_prefix):
    client, prefix = redis_prefix
    counts = contend("ours", redis_server_url, client, prefix)

    assert counts["overlaps"] == 0
    assert counts["errors"] == counts["stalls"] == 0
    assert counts["turns"] > 50  # the contention was real: many turns, taken in turn


@pytest.mark.slow
def test_rasa_open_source_redis_lock_store_lets_two_servers_in_at_once(redis_server_url, redis_prefix):
    """The race this store exists for, shown on Rasa's own store under the same load: two holders at
    once, or, when its read-modify-write loses a ticket, messages refused with LockError or stuck
    behind a ticket nobody holds."""
    client, prefix = redis_prefix
    counts = contend("rasa", redis_server_url, client, prefix)

    assert counts["overlaps"] + counts["errors"] + counts["stalls"] > 0, counts


def test_rasa_creates_it_from_the_endpoints(redis_server_url, redis_prefix):
    client, prefix = redis_prefix
    options = client.connection_pool.connection_kwargs
    store = LockStore.create(EndpointConfig.from_dict(
        {"type": "antrean.assistant.redis_lock_store.RedisMutexLockStore", "url": options["host"],
         "port": options["port"], "db": options["db"], "key_prefix": prefix}))

    assert isinstance(store, RedisMutexLockStore)
    assert store.key("6281") == f"{prefix}:lock:6281"


def test_a_waiting_message_gives_up_after_the_lifetime_and_an_expired_holder_releases_nothing(redis_prefix):
    client, prefix = redis_prefix
    store = RedisMutexLockStore(client=client, key_prefix=prefix)

    async def scenario():
        async with store.lock("6281", lock_lifetime=1):
            with pytest.raises(LockError):
                async with store.lock("6281", lock_lifetime=1):
                    pass
            # The holder's key is kept alive while it works, beyond its lifetime of 1 s.
            await asyncio.sleep(1.5)
            assert client.get(store.key("6281")) is not None
            client.set(store.key("6281"), "someone-else")  # as if it had expired and another took it
        return client.get(store.key("6281"))

    assert asyncio.run(scenario()) == b"someone-else"  # not deleted by the former holder
