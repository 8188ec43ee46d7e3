"""A sequential echo server that first tries to read what a sandbox should hide from it:
each path given (a classmate's file, the class folder, /etc/shadow, a symlink out of its
folder), reporting ``PATH: read N bytes`` (a file), ``PATH: listed N entries`` (a folder)
or ``PATH: hidden (ERRNO)`` on stdout, then ``done``; then it serves.
Usage: reads_outside.py PORT [--exit] PATH... (or @FILE: the paths one a line in FILE,
so that no absolute path in the command is bound into the sandbox for it).  With
``--exit`` it exits (status 3) instead of serving: what it printed is then in its
diagnosis, as a student would use it to smuggle files into feedback.
"""

import errno
import os
import socket
import sys


def _try(path: str) -> str:
    try:
        if os.path.isdir(path):
            return f"listed {len(os.listdir(path))} entries"
        with open(path, "rb") as f:
            return f"read {len(f.read())} bytes"
    except OSError as e:
        return f"hidden ({errno.errorcode.get(e.errno or 0, e.errno)})"


def main() -> None:
    listener = socket.create_server(("127.0.0.1", int(sys.argv[1])))
    paths = [a for a in sys.argv[2:] if a != "--exit"]
    if paths[:1] and paths[0].startswith("@"):
        with open(paths[0][1:], encoding="utf-8") as f:
            paths = f.read().splitlines()
    for path in paths:
        print(f"{path}: {_try(path)}", flush=True)
    print("done", flush=True)
    if "--exit" in sys.argv:
        sys.exit(3)
    with listener:
        while True:
            conn, _ = listener.accept()
            with conn:
                while data := conn.recv(4096):
                    conn.sendall(data)


if __name__ == "__main__":
    main()
