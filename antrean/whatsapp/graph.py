"""A small client of the WhatsApp Cloud API (Graph API): send messages, upload and fetch media.

Retries: HTTP 429, Meta's throughput error 130429 (and the other rate-limit codes) and 5xx are
retried with exponential backoff; so are connection failures, where nothing reached Meta. A POST
whose answer was lost (read timeout) is not repeated: WhatsApp has no idempotency key and the
applicant would get the message twice. Logs name the operation, the HTTP status and Meta's error
code — never the token, the media URL (it is a credential for 5 minutes), numbers or texts."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from antrean.runtime.settings import WhatsAppSettings

logger = logging.getLogger(__name__)

RATE_LIMIT_CODES = {4, 80007, 130429, 131056}  # app, account, per-number throughput, pair rate
RETRY_STATUSES = {429, 500, 502, 503, 504}


class GraphError(RuntimeError):
    def __init__(self, operation: str, status: int | None, code: int | None = None):
        super().__init__(f"Graph API {operation} failed (HTTP {status}, error code {code})")
        self.operation, self.status, self.code = operation, status, code


class RateLimiter:
    """Spaces calls at least 1/rate seconds apart (the number's messages-per-second limit)."""

    def __init__(self, rate_per_second: float):
        self.interval = 1.0 / rate_per_second
        self.next_free = 0.0

    async def wait(self) -> None:
        now = asyncio.get_running_loop().time()
        start = max(now, self.next_free)
        self.next_free = start + self.interval  # taken before sleeping: callers queue up in order
        if start > now:
            await asyncio.sleep(start - now)


class GraphClient:
    def __init__(self, settings: WhatsAppSettings, *, max_attempts: int = 5, base_delay: float = 0.5,
                 timeout: float = 20.0, sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep):
        self.settings = settings
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.sleep = sleep
        self.limiter = RateLimiter(settings.send_rate_per_second)
        # httpx logs every request's full URL at INFO; a media URL is a credential for 5 minutes.
        logging.getLogger("httpx").setLevel(max(logging.getLogger("httpx").level, logging.WARNING))
        self._http = httpx.AsyncClient(
            timeout=timeout, follow_redirects=True,
            headers={"Authorization": f"Bearer {settings.access_token}"} if settings.access_token else {},
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32))

    def url(self, path: str) -> str:
        return f"{self.settings.graph_url}/{self.settings.graph_version}/{path.lstrip('/')}"

    async def aclose(self) -> None:
        await self._http.aclose()

    async def send_message(self, phone_number_id: str, payload: dict) -> str | None:
        """POST /{phone-number-id}/messages; returns the WhatsApp id of the sent message."""
        body = {"messaging_product": "whatsapp", "recipient_type": "individual", **payload}
        reply = await self._call("send message", "POST", self.url(f"{phone_number_id}/messages"), json=body,
                                 limited=True, repeatable=False)
        messages = reply.json().get("messages") or [{}]
        return messages[0].get("id")

    async def upload_media(self, phone_number_id: str, data: bytes, mime_type: str, filename: str) -> str:
        reply = await self._call("upload media", "POST", self.url(f"{phone_number_id}/media"),
                                 data={"messaging_product": "whatsapp", "type": mime_type},
                                 files={"file": (filename, data, mime_type)}, limited=False, repeatable=True)
        media_id = reply.json().get("id")
        if not isinstance(media_id, str) or not media_id:
            raise GraphError("upload media", reply.status_code)
        return media_id

    async def media_info(self, media_id: str) -> dict:
        reply = await self._call("media info", "GET", self.url(media_id), limited=False, repeatable=True)
        info = reply.json()
        if not isinstance(info, dict) or not isinstance(info.get("url"), str):
            raise GraphError("media info", reply.status_code)
        return info

    async def download(self, url: str, max_bytes: int) -> tuple[bytes, str | None]:
        """GET the media URL with the bearer token; refuses bodies above max_bytes while reading."""
        for attempt in range(1, self.max_attempts + 1):
            try:
                async with self._http.stream("GET", url) as reply:
                    if reply.status_code in RETRY_STATUSES and attempt < self.max_attempts:
                        await self._back_off("download media", attempt, reply)
                        continue
                    if reply.status_code != 200:
                        raise GraphError("download media", reply.status_code)
                    declared = reply.headers.get("content-length")
                    if declared and declared.isdigit() and int(declared) > max_bytes:
                        raise GraphError("download media (too large)", reply.status_code)
                    chunks, size = [], 0
                    async for chunk in reply.aiter_bytes():
                        size += len(chunk)
                        if size > max_bytes:
                            raise GraphError("download media (too large)", reply.status_code)
                        chunks.append(chunk)
                    return b"".join(chunks), reply.headers.get("content-type")
            except httpx.TransportError as error:
                if attempt == self.max_attempts:
                    raise GraphError("download media", None) from error
                await self._back_off("download media", attempt, None)
        raise GraphError("download media", None)

    async def _call(self, operation: str, method: str, url: str, *, limited: bool, repeatable: bool,
                    **request: Any) -> httpx.Response:
        for attempt in range(1, self.max_attempts + 1):
            if limited:
                await self.limiter.wait()
            try:
                reply = await self._http.request(method, url, **request)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
                # Nothing reached Meta: safe to try again even for a message.
                if attempt == self.max_attempts:
                    raise GraphError(operation, None) from error
                await self._back_off(operation, attempt, None)
                continue
            except httpx.TransportError as error:
                if not repeatable or attempt == self.max_attempts:
                    logger.warning("Graph API %s: %s, not repeated", operation, error.__class__.__name__)
                    raise GraphError(operation, None) from error
                await self._back_off(operation, attempt, None)
                continue
            if reply.status_code < 400:
                return reply
            code = _error_code(reply)
            if (reply.status_code in RETRY_STATUSES or code in RATE_LIMIT_CODES) and attempt < self.max_attempts:
                await self._back_off(operation, attempt, reply, code)
                continue
            logger.error("Graph API %s failed: HTTP %s, error code %s", operation, reply.status_code, code)
            raise GraphError(operation, reply.status_code, code)
        raise GraphError(operation, None)  # not reached: the last attempt returns or raises

    async def _back_off(self, operation: str, attempt: int, reply: httpx.Response | None,
                        code: int | None = None) -> None:
        delay = self.base_delay * 2 ** (attempt - 1) * (0.75 + random.random() / 2)  # jitter spreads retries
        retry_after = reply.headers.get("retry-after") if reply is not None else None
        if retry_after and retry_after.isdigit():
            delay = max(delay, min(float(retry_after), 30.0))
        logger.info("Graph API %s: HTTP %s, error code %s; retry %d in %.1f s", operation,
                    reply.status_code if reply is not None else "-", code, attempt, delay)
        await self.sleep(delay)


def _error_code(reply: httpx.Response) -> int | None:
    try:
        code = reply.json().get("error", {}).get("code")
    except (ValueError, AttributeError):
        return None
    return code if isinstance(code, int) else None
