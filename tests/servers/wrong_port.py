"""An echo server that ignores the port it is given and listens on a hard-coded one.

The hard-coded port is 19999 unless WRONG_PORT is set: tests set it to a free port so
that two of them never fight over one.
Usage: wrong_port.py PORT
"""

import os
import socket
import sys

HARD_CODED = int(os.environ.get("WRONG_PORT", "19999"))


def main() -> None:
    int(sys.argv[1])  # read, then ignored: the bug this server stands for
    with socket.create_server(("127.0.0.1", HARD_CODED)) as listener:
        while True:
            conn, _ = listener.accept()
            with conn:
                while data := conn.recv(4096):
                    conn.sendall(data)


if __name__ == "__main__":
    main()
