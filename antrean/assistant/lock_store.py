"""Per-conversation locks for several Rasa processes on one machine, without a lock server.

Rasa handles one message of a conversation at a time, under a lock from its lock store. The
default (in memory) only works inside one process, so Rasa refuses to start more Sanic workers
with it (`SANIC_WORKERS`), and its multi-process store needs Redis. The embedded default runs on
one machine with no services, where the operating system's advisory file locks do the job: each
conversation maps (by a hash of its id) to one of a fixed set of lock files under `directory`, and
a message holds `flock(LOCK_EX)` on its conversation's file while Rasa handles it. The kernel
releases the lock when the holder's file is closed, also when its process dies, so a crashed
worker never leaves a conversation locked. A fixed set of files (no file per conversation) means
nothing accumulates; two conversations sharing a file only wait for each other's turn now and then.

Waiting is not first-come-first-served as with Rasa's ticket locks: two messages of the same
conversation arriving at the same instant may be handled in either order (they would be anyway
once they travel over separate connections). WhatsApp messages are ordered by the inbox worker
before they reach Rasa.

endpoints.yml:  lock_store: {type: antrean.assistant.lock_store.FileLockStore, directory: var/locks}
Several machines: antrean/assistant/redis_lock_store.py (endpoints.production.yml)."""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import logging
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, LockError, LockStore
from rasa.utils.endpoints import EndpointConfig

logger = logging.getLogger(__name__)

DEFAULT_DIRECTORY = "var/locks"
DEFAULT_FILES = 256
_FIRST_RETRY_SECONDS = 0.002
_LONGEST_RETRY_SECONDS = 0.05


class MutexLockStore(LockStore):
    """A lock store whose `lock` is a plain mutex (file lock, Redis key) instead of Rasa's ticket
    locks: Rasa's ticket bookkeeping is not used; nothing else in Rasa calls these."""

    def get_lock(self, conversation_id: str) -> TicketLock | None:
        return None

    def delete_lock(self, conversation_id: str) -> None:
        return None

    def save_lock(self, lock: TicketLock) -> None:
        return None


class FileLockStore(MutexLockStore):
    def __init__(self, endpoint_config: EndpointConfig | None = None, *, directory: str | os.PathLike | None = None,
                 files: int | None = None) -> None:
        settings = endpoint_config.kwargs if endpoint_config else {}
        self.directory = Path(directory or settings.get("directory") or DEFAULT_DIRECTORY)
        self.files = int(files if files is not None else settings.get("files", DEFAULT_FILES))
        if self.files < 1:
            raise ValueError(f"lock_store.files must be at least 1, not {self.files}")
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)

    def path_for(self, conversation_id: str) -> Path:
        digest = hashlib.sha256(conversation_id.encode()).digest()
        return self.directory / f"conversation-{int.from_bytes(digest[:8], 'big') % self.files:04d}.lock"

    @asynccontextmanager
    async def lock(self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME,
                   wait_time_in_seconds: float = 1) -> AsyncIterator[TicketLock]:
        """Holds the conversation's lock for the body of the `async with`. Waits (without blocking
        the event loop) at most `lock_lifetime` seconds for another holder, then raises LockError,
        as Rasa's stores do when a lock expires under a stuck holder."""
        descriptor = os.open(self.path_for(conversation_id), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            await self._acquire(descriptor, conversation_id, lock_lifetime)
            yield TicketLock(conversation_id)
        finally:
            os.close(descriptor)  # releases the lock

    async def _acquire(self, descriptor: int, conversation_id: str, patience: float) -> None:
        deadline = time.monotonic() + patience
        pause = _FIRST_RETRY_SECONDS
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockError(f"Conversation '{conversation_id}' stayed locked for more than {patience:.0f} s "
                                    "(another message of it is still being handled).") from None
                await asyncio.sleep(pause)
                pause = min(pause * 2, _LONGEST_RETRY_SECONDS)
