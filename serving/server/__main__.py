"""``python -m serving.server``: the same as ``dlsuite serve``."""

import sys

from serving.server.commands import main

sys.exit(main())
