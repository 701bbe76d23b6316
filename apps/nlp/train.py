"""Train and evaluate an NLP model: ``train_and_evaluate(config)`` (the CLI calls this) and
``evaluate_run(run_dir, split)``, each that of ``config.task``'s package (`apps.nlp.classify.train`,
`apps.nlp.translate.train`, `apps.nlp.lm.train`), imported only when asked for.
"""

from __future__ import annotations

import importlib
from typing import Any

from dlsuite.apps.common import trainer
from dlsuite.apps.common.runs import run_config
from dlsuite.apps.common.strategy import prepare_strategy
from dlsuite.apps.nlp.config import NLPConfig


def train_and_evaluate(config: NLPConfig) -> trainer.TrainResult:
    """Train ``config.model`` for ``config.task`` on ``config.data``;
    returns the run with its metrics.
    """
    prepare_strategy(config.strategy, config.replicas)  # before the data touches TensorFlow
    task = importlib.import_module(f"dlsuite.apps.nlp.{config.task}.train")
    return task.train_and_evaluate(config)


def evaluate_run(run_dir: Any, split: str = "test") -> dict[str, Any]:
    """Evaluate a finished run's model on a held-out split; writes the report files."""
    task = importlib.import_module(f"dlsuite.apps.nlp.{run_config(run_dir).task}.train")
    return task.evaluate_run(run_dir, split)
