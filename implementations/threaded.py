"""Model ``threaded``: blocking sockets, one thread per connection.

The blocking model's per-client code, unchanged (it is imported from ``blocking``), run in
its own thread for each accepted connection.  A thread blocked in recv() or send() costs
no CPU: the kernel parks it on the socket's wait queue and wakes it when bytes or buffer
space arrive.  So a silent client, or one that does not read its echo, now blocks only
its own thread, and every other client is served.  The code still reads like a story.

The trap is the cost of a thread, paid per client, with no limit:
- memory: each thread reserves a stack (8 MiB of address space by default on Linux,
  1 MiB on Windows), commits some of it, and the kernel keeps its own stack and task
  structure; ten thousand idle clients are ten thousand threads;
- count: the number of threads is set by the clients, not by the server.  Sooner or later
  creating one fails (RLIMIT_NPROC, kernel.threads-max, address space), and a server that
  lets that exception escape dies for everyone.  Here the new connection is refused (closed)
  and the server keeps serving the clients it has;
- scheduling: many runnable threads mean context switches, and in CPython they also take
  turns on one interpreter lock, so threads add waiting capacity, not computing capacity.

Threads are daemons: on SIGTERM or Ctrl-C the main thread (the only one Python delivers
signals to) leaves accept() and the process exits without waiting for clients; the kernel
closes their sockets.  emit() writes each line in one call, so lines never interleave.
"""

from __future__ import annotations

import threading

from implementations._common import Options, listen, run
from implementations.blocking import serve_client


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
            worker = threading.Thread(target=serve_client, args=(conn, options), daemon=True)
            try:
                worker.start()
            except RuntimeError:  # "can't start new thread": refuse this one, keep the others
                conn.close()


if __name__ == "__main__":
    run(main, "Threaded echo/print server: one thread per connection.")
