"""`python -m tests.e2e.chaos`."""

import sys

from .cli import main

sys.exit(main())
