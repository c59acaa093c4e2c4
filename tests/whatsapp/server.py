"""Runs the WhatsApp channel's blueprint in a real Sanic server on a free port, in a thread of its
own (sanic-testing is not among our dependencies), the way Rasa mounts it: /webhooks/whatsapp/…"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import uuid

from sanic import Sanic


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def served(channel, on_new_message, ssl=None):
    """ssl: an ssl.SSLContext to serve HTTPS, as Meta requires of a webhook."""
    Sanic.test_mode = True
    app = Sanic(f"whatsapp_test_{uuid.uuid4().hex[:8]}")
    app.blueprint(channel.blueprint(on_new_message), url_prefix=f"/webhooks/{channel.name()}")
    port = free_port()
    loop = asyncio.new_event_loop()
    started = threading.Event()
    state = {}

    def run() -> None:
        asyncio.set_event_loop(loop)

        async def main():
            server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True, ssl=ssl)
            await server.startup()
            await server.before_start()
            await server.after_start()
            state["server"] = server
            started.set()

        loop.run_until_complete(main())
        loop.run_forever()

        async def shutdown():
            server = state["server"]
            await server.before_stop()
            await server.close()
            await server.after_stop()

        loop.run_until_complete(shutdown())
        loop.close()

    thread = threading.Thread(target=run, daemon=True, name="sanic-whatsapp")
    thread.start()
    if not started.wait(15):
        raise RuntimeError("the test server did not start")
    try:
        yield f"{'https' if ssl else 'http'}://127.0.0.1:{port}/webhooks/{channel.name()}"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
