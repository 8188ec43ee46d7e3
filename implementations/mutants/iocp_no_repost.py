"""Mutant ``mut-iocp-no-repost`` (model iocp): a receive completion posts no new WSARecv.

Defect: the iocp_overlapped reference, except that when a WSARecv completes with data,
the server prints it and sends the echo, but posts no next WSARecv on that connection.
Everything else is the reference: one AcceptEx always outstanding, sends one at a time
with short ones finished first, resets and aborted requests.

The classic mistake it mirrors: writing a completion loop as if it were a readiness
loop.  Under select() a socket that still has data is reported again; under IOCP the
kernel reads only into a buffer it was given, and a connection with no WSARecv
outstanding is never heard from again: not its next bytes, not its EOF, not its reset.
There is no error and no busy loop: the first chunk (up to --bufsize bytes) is echoed,
then silence.

Must be caught by ECHO-1 (1,000 bytes sent in one go are echoed in full: with 255-byte
receives the echo stops after the first completion), like mut-uring-no-rearm, its
io_uring twin; and by every clause that needs a second receive.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

from implementations import iocp_overlapped
from implementations._common import Options, emit, listen, run

assert sys.platform == "win32", "I/O completion ports exist on Windows only"


class _NoRepost(iocp_overlapped._Server):
    def _on_recv(self, err: int, ov: Any, conn: iocp_overlapped._Conn) -> None:
        with conn.lock:
            conn.receiving = False
            if err or conn.closed:
                self._break(conn)
                return
            chunk = ov.getresult()
            if not chunk:
                conn.eof = True
            else:
                emit(chunk)
                if self.echo:
                    conn.out += chunk
                    self._post_send(conn)
                # DEFECT: no self._post_recv(conn): this client is never read again
            self._settle(conn)


def main(options: Options) -> None:
    with listen(options.host, options.port) as listener:
        server = _NoRepost(listener, options)
        server.post_accept()
        for _ in range(iocp_overlapped.WORKERS - 1):
            threading.Thread(target=server.work, daemon=True).start()
        server.work()


if __name__ == "__main__":
    run(main, "MUTANT: IOCP server that never re-posts a WSARecv after its first completion.")
