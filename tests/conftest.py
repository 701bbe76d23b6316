"""Suite-wide test set-up.

The CPU is split into two logical devices before TensorFlow initialises, so `MirroredStrategy`
tests can run two replicas in this process (`--strategy mirrored --replicas 2`); everything else
keeps using ``/cpu:0``.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

TEST_CPU_REPLICAS = 2


def pytest_configure(config) -> None:  # noqa: ANN001 - pytest hook
    from dlsuite.apps.common.strategy import configure_cpu_replicas

    configure_cpu_replicas(TEST_CPU_REPLICAS)


def pytest_collection_modifyitems(config, items) -> None:  # noqa: ANN001 - pytest hook
    """Quality-bar tests (the longest: real training) first, so that when they run with the rest
    (a plain ``pytest -n 2 --dist loadscope``: modules handed out in this order) the workers end at
    about the same time."""
    items.sort(key=lambda item: item.get_closest_marker("quality") is None)
