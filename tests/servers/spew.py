"""Writes to stdout as fast as it can, forever: gigabytes if it is let run.

It never listens; the harness must still drain its output with bounded memory.
Usage: spew.py PORT
"""

import os
import sys

_LINE = b"spew " + b"x" * 1018 + b"\n"  # 1 KiB lines
_BLOCK = _LINE * 64


def main() -> None:
    int(sys.argv[1])
    while True:
        os.write(1, _BLOCK)


if __name__ == "__main__":
    main()
