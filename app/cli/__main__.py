"""`python -m app.cli ...`: what the `landscape` script runs (tests start workers and servers this way)."""

import sys

from . import main

sys.exit(main())
