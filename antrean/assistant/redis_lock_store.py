"""Per-conversation locks for several Rasa servers, on Redis, that are a real mutex.

Rasa handles one message of a conversation at a time under a lock from its lock store. Rasa Open
Source's RedisLockStore keeps each conversation's ticket queue as one JSON value and issues a ticket
by reading the value, appending to it and writing it back: three steps, not one. Two servers that
take a ticket for the same sender at the same moment both read the same queue, both append ticket
N, and the second write replaces the first; both then find their ticket at the head of the queue
and handle the sender's messages at the same time (RasaHQ/rasa#9213; the fixed store went to Rasa
Pro only). Releasing has the same read-modify-write, so a release can also drop a ticket another
server just added. tests/test_redis_lock_store.py shows both stores under the same contention.

Here a conversation's lock is one Redis key, taken with `SET key token NX PX lifetime`: Redis
executes that command alone, so exactly one caller gets the key; the others retry until it is
gone. The holder extends the expiry while it works (a turn may take long on a busy machine) and
deletes the key only if it still holds its own token (a script, atomic in Redis), so a holder whose
lock expired never releases someone else's. A server that dies stops extending: its lock runs out
after `lock_lifetime` (Rasa's TICKET_LOCK_LIFETIME, 60 s).

As with the file lock store (antrean/assistant/lock_store.py), waiting is not first-come-first-served:
two messages of one sender arriving at the same instant over separate connections may be handled in
either order. WhatsApp messages are ordered by the inbox before they reach Rasa; the load balancer
sends every REST message of a sender to the same server (deploy/haproxy.cfg).

endpoints:  lock_store: {type: antrean.assistant.redis_lock_store.RedisMutexLockStore, url: 127.0.0.1,
            port: 6379, db: 1, key_prefix: antrean}"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, LockError
from rasa.utils.endpoints import EndpointConfig

from antrean.assistant.lock_store import MutexLockStore

logger = logging.getLogger(__name__)

_FIRST_RETRY_SECONDS = 0.002
_LONGEST_RETRY_SECONDS = 0.05

# Compare-and-delete / compare-and-extend: only the token's owner may release or extend the lock.
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
_EXTEND = ("if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) "
           "else return 0 end")


class RedisMutexLockStore(MutexLockStore):
    def __init__(self, endpoint_config: EndpointConfig | None = None, *, client=None,
                 key_prefix: str | None = None) -> None:
        import redis

        settings = dict(endpoint_config.kwargs) if endpoint_config else {}
        prefix = key_prefix if key_prefix is not None else settings.pop("key_prefix", None)
        settings.pop("key_prefix", None)
        self.red = client or redis.StrictRedis(
            host=(endpoint_config.url if endpoint_config and endpoint_config.url else "localhost"),
            port=int(settings.get("port", 6379)), db=int(settings.get("db", 1)),
            username=settings.get("username"), password=settings.get("password"),
            ssl=bool(settings.get("use_ssl", False)), socket_timeout=float(settings.get("socket_timeout", 10)),
            # The calls block the event loop (as in Rasa's store): an unreachable Redis must fail fast.
            socket_connect_timeout=float(settings.get("socket_connect_timeout", 2)))
        self.key_prefix = f"{prefix}:lock:" if prefix else "lock:"
        self._release = self.red.register_script(_RELEASE)
        self._extend = self.red.register_script(_EXTEND)

    def key(self, conversation_id: str) -> str:
        return self.key_prefix + conversation_id

    @asynccontextmanager
    async def lock(self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME,
                   wait_time_in_seconds: float = 1) -> AsyncIterator[TicketLock]:
        """Holds the conversation's lock for the body of the `async with`. Waits (without blocking the
        event loop) at most `lock_lifetime` seconds for another holder, then raises LockError, as
        Rasa's stores do when a lock expires under a stuck holder."""
        key, token = self.key(conversation_id), uuid.uuid4().hex
        lifetime_ms = max(1000, int(lock_lifetime * 1000))
        await self._acquire(key, token, lifetime_ms, conversation_id, lock_lifetime)
        keeper = asyncio.get_running_loop().create_task(self._keep(key, token, lifetime_ms))
        try:
            yield TicketLock(conversation_id)
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
            try:
                self._release(keys=[key], args=[token])
            except Exception:  # Redis gone: the key runs out by itself after the lifetime
                logger.warning("Could not release a conversation lock in Redis; it expires by itself", exc_info=True)

    async def _acquire(self, key: str, token: str, lifetime_ms: int, conversation_id: str, patience: float) -> None:
        deadline = time.monotonic() + patience
        pause = _FIRST_RETRY_SECONDS
        while True:
            try:
                if self.red.set(key, token, nx=True, px=lifetime_ms):
                    return
            except Exception as error:
                raise LockError(f"Redis lock store unavailable: {error.__class__.__name__}: {error}") from error
            if time.monotonic() >= deadline:
                raise LockError(f"Conversation '{conversation_id}' stayed locked for more than {patience:.0f} s "
                                "(another message of it is still being handled).")
            await asyncio.sleep(pause)
            pause = min(pause * 2, _LONGEST_RETRY_SECONDS)

    async def _keep(self, key: str, token: str, lifetime_ms: int) -> None:
        """Extends the lock every third of its lifetime while the turn runs."""
        while True:
            await asyncio.sleep(lifetime_ms / 3000)
            try:
                if not self._extend(keys=[key], args=[token, lifetime_ms]):
                    logger.warning("A conversation lock expired while its turn was still running")
                    return
            except Exception:
                logger.warning("Could not extend a conversation lock in Redis", exc_info=True)

