"""Run the console in a background thread on a free local port: for HTTP and browser tests and
for `make screenshots`. Production uses `python -m antrean console` (Sanic's own runner)."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sanic import Sanic


@contextmanager
def serving(app: Sanic) -> Iterator[str]:
    """Yields the base URL, e.g. http://127.0.0.1:41234; stops the server on exit."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    app.config.MOTD = False
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    failure: list[BaseException] = []
    holder = {}

    async def start() -> None:
        # create_server already listens (Sanic awaits asyncio's create_server inside it).
        server = await app.create_server(sock=sock, return_asyncio_server=True, access_log=False)
        await server.startup()
        # The app's own timers (review sync, retention, practice clean-up) start as under `sanic`;
        # TestingConfig turns them all off, so only a test that sets one runs it.
        await server.after_start()
        holder["server"] = server

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(start())
        except BaseException as error:  # reported to the caller's thread below
            failure.append(error)
            ready.set()
            return
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=run, name=f"console-{port}", daemon=True)
    thread.start()
    ready.wait(30)
    if failure:
        raise failure[0]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        async def stop() -> None:
            server = holder.get("server")
            if server is not None:
                await server.before_stop()
                server.server.close()
                for connection in list(server.connections):
                    connection.close()
                await server.wait_closed()
            # Keep-alive connections leave tasks behind; end them before the loop goes away.
            pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
        sock.close()
