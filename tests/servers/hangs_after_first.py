"""A print server that serves its first client, then never accepts again: the seed's
poll program after a client reconnects, or any server stuck in a blocking call.  Every
later client waits in the backlog with no answer.

Usage: hangs_after_first.py PORT
"""

import signal
import socket
import sys


def main() -> None:
    server = socket.create_server(("127.0.0.1", int(sys.argv[1])), backlog=8)
    conn, _ = server.accept()
    with conn:
        while data := conn.recv(4096):
            sys.stdout.buffer.write(data + b"\n")
            sys.stdout.buffer.flush()
    signal.pause()  # stuck: until SIGTERM, with the listener open


if __name__ == "__main__":
    main()
