"""``python -m inctrl``: the command line (see :mod:`inctrl.cli`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
