"""NLP data: ``load_splits(config)`` of ``config.task``'s package (`apps.nlp.classify.data`,
`apps.nlp.translate.data`, `apps.nlp.lm.data`), imported only when asked for.
"""

from __future__ import annotations

import importlib

from dlsuite.apps.common.data import Splits
from dlsuite.apps.nlp.config import NLPConfig


def load_splits(config: NLPConfig) -> Splits:
    """Train/validation/test splits of ``config.data`` for ``config.task``."""
    return importlib.import_module(f"dlsuite.apps.nlp.{config.task}.data").load_splits(config)
