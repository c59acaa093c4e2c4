"""The file lock store: one message of a conversation at a time, across coroutines and processes."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import pytest
from rasa.core.lock_store import LockError, LockStore
from rasa.core.utils import number_of_sanic_workers
from rasa.utils.endpoints import EndpointConfig

from antrean.assistant.lock_store import FileLockStore


@pytest.fixture
def store(tmp_path):
    return FileLockStore(directory=tmp_path / "locks")


def test_rasa_creates_it_from_endpoints_and_allows_several_workers_with_it(tmp_path, monkeypatch):
    config = EndpointConfig.from_dict({"type": "antrean.assistant.lock_store.FileLockStore",
                                       "directory": str(tmp_path / "l"), "files": 8})
    store = LockStore.create(config)

    assert isinstance(store, FileLockStore)
    assert (store.directory, store.files) == (tmp_path / "l", 8)
    monkeypatch.setenv("SANIC_WORKERS", "2")
    assert number_of_sanic_workers(config) == 2
    assert number_of_sanic_workers(EndpointConfig(type="in_memory")) == 1  # what it replaces


def test_messages_of_one_conversation_take_turns(store):
    order = []

    async def handle(message: str) -> None:
        async with store.lock("6281234"):
            order.append(f"{message} starts")
            await asyncio.sleep(0.05)
            order.append(f"{message} ends")

    async def both():
        await asyncio.gather(handle("first"), handle("second"))

    asyncio.run(both())
    assert order in (["first starts", "first ends", "second starts", "second ends"],
                     ["second starts", "second ends", "first starts", "first ends"])


def test_other_conversations_do_not_wait(store):
    others = [f"62{n}" for n in range(200) if store.path_for(f"62{n}") != store.path_for("6281234")][:20]

    async def run():
        async with store.lock("6281234"):
            started = time.monotonic()
            for conversation in others:
                async with store.lock(conversation):
                    pass
            return time.monotonic() - started

    assert asyncio.run(run()) < 1


HOLDER = """
import fcntl, os, sys, time
descriptor = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(descriptor, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(60)
"""


def test_a_lock_held_by_a_process_that_dies_is_released(store):
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(store.path_for("6281234"))], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "held"

        async def try_briefly():
            async with store.lock("6281234", lock_lifetime=0.3):
                pass

        with pytest.raises(LockError, match="stayed locked"):
            asyncio.run(try_briefly())
        holder.kill()  # a crashed Rasa worker, mid-turn
        holder.wait()

        async def acquire():
            async with store.lock("6281234", lock_lifetime=5):
                return "acquired"

        assert asyncio.run(acquire()) == "acquired"
    finally:
        holder.kill()
        holder.wait()


def test_the_number_of_lock_files_is_fixed(store):
    paths = {store.path_for(f"62812{n:06d}") for n in range(5000)}
    assert len(paths) == store.files


def test_a_nonsense_file_count_is_refused(tmp_path):
    with pytest.raises(ValueError, match="at least 1"):
        FileLockStore(directory=tmp_path, files=0)
