"""Model ``blocking``: blocking sockets, one client at a time.

accept() puts the thread to sleep until the kernel has a completed connection in the
listen queue; recv() sleeps until at least one byte has arrived (or the peer's FIN, which
makes it return b"" — the only way a stream tells you "end"); sendall() sleeps until the
kernel has copied everything into the socket's send buffer.  Between those calls nothing
else happens, so the code reads like a story, which is the model's whole appeal.

The trap: while one client is being served nobody else is.  A client that connects and
says nothing holds the server hostage; the others complete their TCP handshake anyway —
the kernel does that, into the listen backlog — and then wait, their bytes piling up in
kernel buffers.  The backlog is why the seed's listen(fd, 1) is a second defect: with a
queue of one, the kernel drops the SYNs of a connect burst and those clients stall for a
SYN retransmit.  We ask for SOMAXCONN (see _common.listen).

A second, quieter trap of blocking echo: sendall() to a client that sends a lot but does
not read blocks once both directions' buffers are full, and the client, blocked in its
own send, never drains them.  Nothing but the client can break that deadlock.

What the seed also got wrong, and we do not:
- recv() returning -1 (connection reset) was neither > 0 nor == 0, so its loop spun
  forever on a dead socket; here the OSError ends that client and the server moves on.
- buffer[ret] = 0 after reading 255 bytes into a 255-byte buffer writes one past its end;
  Python bytes need no terminator, and emit() prints NUL bytes as they came.

This module's serve_client() is also the whole per-client story of the threaded model.
"""

from __future__ import annotations

import socket

from implementations._common import Options, emit, listen, run


def serve_client(conn: socket.socket, options: Options) -> None:
    """Serve one connection to its end, then close it.  Blocks for as long as the client lives."""
    with conn:
        try:
            while chunk := conn.recv(options.bufsize):
                emit(chunk)
                if options.echo:
                    conn.sendall(chunk)
        except OSError:
            pass  # reset or broken pipe: this client is gone; the next one is waiting


def main(options: Options) -> None:
    with listen(options.host, options.port) as listener:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                # Mostly a client that gave up while queued: ECONNABORTED on POSIX,
                # WSAECONNRESET on Windows, WSAENOTCONN under Wine.  (At EMFILE this
                # retries until a client leaves.)
                continue
            serve_client(conn, options)


if __name__ == "__main__":
    run(main, "Blocking echo/print server: one client at a time.")
