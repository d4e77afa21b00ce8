"""`python -m app.cli ...`: what the `landscape` script runs (tests start workers and servers this way)."""

import sys

from . import main

if __name__ == "__main__":  # imported alone (tests/app/test_imports.py), it runs nothing
    sys.exit(main())
