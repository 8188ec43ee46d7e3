"""The echo service written the way the asyncio documentation teaches it: streams.

``asyncio.start_server`` with one coroutine per client, ``reader.read()``, ``writer.write()``
and ``await writer.drain()``.  Under the hood that is epoll, level-triggered (the selector
event loop), plus the streams' buffering and a coroutine switch per read.  ``--uvloop``
swaps the event loop for uvloop's (libuv), keeping every line of the server the same.

Each received chunk is also written to stdout, as the echo service requires, so that the
bench compares the same work.  One departure from the documentation's example, for the
same reason: ``backlog=socket.SOMAXCONN``.  ``start_server`` listens with a backlog of 100
by default, while the reference servers call ``listen(SOMAXCONN)``; with 100, a burst of
connects overflows the accept queue and the dropped SYNs come back 1 s, 3 s, ... later,
which would measure the backlog, not the event loop.  A baseline for ``ioconform
bench``: the figures of the reference servers are given as ratios to this one.
"""

import argparse
import asyncio
import contextlib
import signal
import socket
import sys
from collections.abc import Awaitable, Callable


def _emit(chunk: bytes) -> None:
    with contextlib.suppress(BrokenPipeError):
        sys.stdout.buffer.write(chunk + b"\n")
        sys.stdout.buffer.flush()


def _handler(bufsize: int) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter],
                                        Awaitable[None]]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while chunk := await reader.read(bufsize):
                _emit(chunk)
                writer.write(chunk)
                await writer.drain()  # a client that does not read stops us reading it
        except ConnectionError:
            pass
        finally:
            writer.close()

    return handle


async def _serve(host: str, port: int, bufsize: int) -> None:
    server = await asyncio.start_server(_handler(bufsize), host, port,
                                        backlog=socket.SOMAXCONN, reuse_address=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("port", type=int)
    p.add_argument("--bufsize", type=int, default=65536, help="bytes per read (default 64 KiB)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--uvloop", action="store_true", help="run on uvloop's event loop")
    a = p.parse_args()
    if a.uvloop:
        try:
            import uvloop
        except ImportError:
            sys.exit("asyncio_echo: --uvloop: uvloop is not installed (pip install uvloop)")
        uvloop.install()
    asyncio.run(_serve(a.host, a.port, a.bufsize))


if __name__ == "__main__":
    main()
