"""``python -m dlsuite.serving.server``: the same as ``dlsuite serve``."""

import sys

from dlsuite.serving.server.commands import main

sys.exit(main())
