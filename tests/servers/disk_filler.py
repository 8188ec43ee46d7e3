"""Listens on PORT, then writes files in its working folder and in /tmp until a write
fails, printing what stopped it (``cwd EFBIG``, ``/tmp ENOSPC`` ...); then idles.  With
``--signal`` it keeps SIGXFSZ's default action (Python ignores it), so the file size
limit kills it instead.

Usage: disk_filler.py PORT [--signal]
"""

import errno
import os
import signal
import socket
import sys
import time

CHUNK = b"x" * (1 << 20)


def fill(folder: str, label: str) -> None:
    n = 0
    while True:
        try:
            with open(os.path.join(folder, f"filler-{n}.bin"), "wb") as f:
                while True:
                    f.write(CHUNK)
                    f.flush()
        except OSError as e:
            print(label, errno.errorcode.get(e.errno or 0, str(e)), flush=True)
            if e.errno != errno.EFBIG:
                return
        n += 1


def main() -> None:
    if "--signal" in sys.argv:
        signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
    with socket.create_server(("127.0.0.1", int(sys.argv[1]))):
        fill(".", "cwd")
        fill("/tmp", "/tmp")
        print("done", flush=True)
        while True:
            time.sleep(3600)


if __name__ == "__main__":
    main()
