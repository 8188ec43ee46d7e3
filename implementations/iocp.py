"""Model ``iocp``, the public road: asyncio's ProactorEventLoop.

An I/O completion port is a kernel queue of finished operations.  A socket associated
with one (CreateIoCompletionPort) is given *overlapped* requests -- AcceptEx, WSARecv,
WSASend, each with an OVERLAPPED structure and a buffer -- which return at once; when
the kernel has done the work it queues a completion packet ("this OVERLAPPED: 42 bytes,
or error 64"), and a thread blocked in GetQueuedCompletionStatus takes it.  Like io_uring,
and unlike select or epoll, nothing ever reports a socket *ready*: the kernel reports what
it *did*, and we learn about a socket only through an operation outstanding on it.  EOF is
a receive that completes with 0 bytes; a reset, one that completes with an error.

asyncio's ProactorEventLoop (the default loop on Windows since Python 3.8) is that
program, done once for everyone.  Its IocpProactor keeps an AcceptEx posted on the
listener and one WSARecv on each connection, re-posts after every completion, turns
completions into futures, and a transport hides all of it behind the same Protocol
callbacks as the selector loops: data_received, eof_received, connection_lost.  Being
completion-based shows through in two places only:
- pause_reading() cannot recall the WSARecv already in the kernel's hands: it stops the
  next one from being posted, so one more chunk may still arrive (the transport keeps it
  until resume_reading()).  The echo stays bounded all the same.
- The transport picks the receive size (256 KiB in CPython 3.12), so ``--bufsize`` has
  no effect here: the kernel hands over whatever has arrived, up to that.

The trap of this model, in asyncio's clothes: transport.write() never blocks and never
says "not now".  It queues the bytes in user space and starts a WSASend, so a client that
sends and never reads makes the server buffer without limit -- the completion twin of the
blocking echo's deadlock, turned into a memory leak.  The cure is flow control: the
transport calls pause_writing() when its buffer passes the high-water mark and
resume_writing() when it drains, and a protocol that echoes must then stop and restart
*reading*, so the client's bytes wait in kernel buffers and TCP slows it down.

A pothole on the public road: when an AcceptEx completes with an error -- the client
reset its connection while it waited in the backlog: ERROR_NETNAME_DELETED (64) on
Windows, ERROR_UNEXP_NET_ERR (59) under Wine -- the accept loop behind loop.create_server()
closes the *listening* socket (CPython issue gh-93821, open; seen with 3.12), and the
server refuses everyone from then on.  So we accept with loop.sock_accept(), where that error is
ours to catch, and hand each socket to loop.connect_accepted_socket().

Half-close: eof_received() returning a false value lets the transport close itself, and
close() on a transport first sends what is still buffered.  So a client that shuts down
its sending side still gets its whole echo, then our FIN.

Sources: Microsoft Learn, "I/O Completion Ports" and "GetQueuedCompletionStatus"; the
Python docs, "Transports and Protocols" (flow control callbacks) and "Platform Support"
(ProactorEventLoop); CPython Lib/asyncio/windows_events.py and proactor_events.py.
"""

from __future__ import annotations

import asyncio

from implementations._common import HIGH_WATER, Options, emit, listen, run


class _EchoProtocol(asyncio.Protocol):
    def __init__(self, echo: bool) -> None:
        self.echo = echo
        self.transport: asyncio.Transport | None = None
        self.eof = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.set_write_buffer_limits(high=HIGH_WATER)

    def data_received(self, data: bytes) -> None:
        emit(data)
        if self.echo and self.transport is not None:
            self.transport.write(data)  # past HIGH_WATER this calls pause_writing() below

    def pause_writing(self) -> None:
        # The client does not read as fast as it sends: stop reading it in turn.
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.transport is not None and not self.eof:
            self.transport.resume_reading()

    def eof_received(self) -> bool:
        self.eof = True
        return False  # the transport closes itself once the buffered echo is sent

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None  # reset or closed: what the client was owed goes with it


async def _serve(options: Options) -> None:
    loop = asyncio.get_running_loop()
    with listen(options.host, options.port) as listener:
        listener.setblocking(False)
        # Our own accept loop, not loop.create_server(): see gh-93821 above.
        while True:
            try:
                sock, _ = await loop.sock_accept(listener)
                await loop.connect_accepted_socket(lambda: _EchoProtocol(options.echo), sock)
            except OSError:
                continue  # that client reset before we met it; the listener is fine


def main(options: Options) -> None:
    # Explicitly the proactor: asyncio's default on Windows, but a policy can change it.
    loop = asyncio.ProactorEventLoop()  # type: ignore[attr-defined,unused-ignore]
    try:
        loop.run_until_complete(_serve(options))
    finally:
        loop.close()


if __name__ == "__main__":
    run(main, "IOCP echo/print server: asyncio's ProactorEventLoop and a flow-controlled Protocol.")
