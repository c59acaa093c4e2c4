"""Request body limits of Antrean's Sanic apps: the staff console, the Rasa server's channels and the
WhatsApp webhook receiver.

Sanic reads the whole body of an ordinary route, up to 100 MB by default, before any middleware
runs: before the console's session and CSRF checks, before the REST channel's token check. So each
app lowers Sanic's limit to what its ordinary routes need (a form, a webhook notification), and the
few routes that take more (photo uploads) are streaming routes (`stream=True`), whose body Sanic
leaves unread: they are authorised on their headers first and then read their body themselves, up
to their own limit (`read_limited`).

Either way a body announced larger than its limit (Content-Length) is answered 413 at once without
being read, and a chunked body is cut off as soon as it passes the limit."""

from __future__ import annotations

import os

from sanic import Sanic
from sanic.request import Request

# A form or a webhook notification: the longest text a form takes is 4,096 characters (a WhatsApp
# message), at most 12 bytes each once URL-encoded (a 4-byte emoji as %F0%9F%99%8F): 48 KiB.
SMALL_BODY_BYTES = 128 * 1024
# Sanic reads SANIC_* variables into its config when an app is created: an operator who needs more
# for a route of their own (Rasa's HTTP API, when enabled, takes training data) sets it there.
SANIC_LIMIT_ENV = "SANIC_REQUEST_MAX_SIZE"


def limit_bodies(app: Sanic, limit: int = SMALL_BODY_BYTES, environ: dict[str, str] | None = None) -> None:
    """Lower `app`'s body limit for every route that does not read its own body; an explicit
    SANIC_REQUEST_MAX_SIZE wins. Connections opened after this call get the limit (call it at
    creation or in a `before_server_start` listener)."""
    if SANIC_LIMIT_ENV not in (os.environ if environ is None else environ):
        app.config.REQUEST_MAX_SIZE = min(app.config.REQUEST_MAX_SIZE, limit)


async def read_limited(request: Request, limit: int) -> bytes | None:
    """A streaming route's body, or None as soon as it exceeds `limit` (never buffered beyond it)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        return None
    chunks, size = [], 0
    while True:
        chunk = await request.stream.read()
        if chunk is None:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
