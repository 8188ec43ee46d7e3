"""A server that prints terminal escape sequences, C1 controls, a bidi override and
GitHub workflow commands, then exits without listening: everything it printed ends up
in its failure's diagnosis, where it must be shown inert.
Usage: prints_escapes.py PORT
"""

import sys

HOSTILE = ("\x1b]0;pwned\x07\x1b[2J\x1b[6n\x9b31m\u202eevil\u202c\n"
           "::add-mask::secret\n  ::stop-commands::x\n##[error]forged\n")

sys.stdout.write(HOSTILE)
sys.stderr.write(HOSTILE)
sys.stdout.flush()
sys.exit(3)
