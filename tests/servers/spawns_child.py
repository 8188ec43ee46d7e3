"""A sequential echo server that first starts a child process which outlives nothing:
the portable (Windows) counterpart of daemonizes.py.  The child is detached from the
server's console group and sleeps until killed; only a whole-tree teardown ends it.
Usage: spawns_child.py PORT
"""

import socket
import subprocess
import sys


def main() -> None:
    flags = getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"],
                     creationflags=flags)
    with socket.create_server(("127.0.0.1", int(sys.argv[1]))) as listener:
        while True:
            conn, _ = listener.accept()
            with conn:
                while data := conn.recv(4096):
                    conn.sendall(data)


if __name__ == "__main__":
    main()
