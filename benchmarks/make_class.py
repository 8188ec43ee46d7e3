"""Build a synthetic class for timing ``ioconform grade`` on many submissions.

    python benchmarks/make_class.py OUT_DIR --count 50 [--seed N] [--with-fork-bomb]
    ioconform grade --course OUT_DIR/course.toml OUT_DIR

Copies the fixture submissions of tests/fixtures/course/ round-robin (in an order shuffled
by --seed) into OUT_DIR/<name>-<k>/, gives each manifest a unique ``name``, and copies
course.toml beside them.  The fork bomb is left out unless --with-fork-bomb is given: only
grade it inside the sandbox.  Built programs in the fixtures are not copied.
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import sys
from pathlib import Path

COURSE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "course"
FORK_BOMB = "fork-bomb"
_IGNORE = shutil.ignore_patterns("server", "echo_server", "*.o", "__pycache__")
_NAME = re.compile(r'^name\s*=\s*"[^"]*"', re.MULTILINE)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path, help="folder to create the class in (must not exist "
                    "or be empty)")
    ap.add_argument("--count", type=int, default=50, help="number of submissions (50)")
    ap.add_argument("--seed", type=int, default=0, help="shuffles the round-robin order")
    ap.add_argument("--with-fork-bomb", action="store_true",
                    help="include the fork bomb (grade only with the sandbox on)")
    args = ap.parse_args(argv)
    if args.count < 1:
        ap.error("--count must be at least 1")
    if args.out.exists() and any(args.out.iterdir()):
        ap.error(f"{args.out} is not empty")

    fixtures = sorted(p for p in COURSE.iterdir() if (p / "ioconform.toml").is_file())
    if not args.with_fork_bomb:
        fixtures = [p for p in fixtures if p.name != FORK_BOMB]
    random.Random(args.seed).shuffle(fixtures)

    args.out.mkdir(parents=True, exist_ok=True)
    shutil.copy2(COURSE / "course.toml", args.out / "course.toml")
    for k in range(args.count):
        src = fixtures[k % len(fixtures)]
        name = f"{src.name}-{k}"
        dst = args.out / name
        shutil.copytree(src, dst, ignore=_IGNORE)
        manifest = dst / "ioconform.toml"
        text = manifest.read_text(encoding="utf-8")
        text, n = _NAME.subn(f'name = "{name}"', text, count=1)
        if n == 0:
            text = f'name = "{name}"\n' + text
        manifest.write_text(text, encoding="utf-8")
    print(f"{args.count} submissions from {len(fixtures)} fixtures in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
