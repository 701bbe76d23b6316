"""``python -m dlsuite``: the same as the ``dlsuite`` command."""

import sys

from dlsuite.cli import main

sys.exit(main())
