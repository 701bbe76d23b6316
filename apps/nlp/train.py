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


def evaluate_run(
    run_dir: Any, split: str = "test", robustness: str | None = None
) -> dict[str, Any]:
    """Evaluate a finished run's model on a held-out split; writes the report files.

    ``robustness``: the level of the evaluation beyond accuracy, for classify runs only."""
    name = run_config(run_dir).task
    task = importlib.import_module(f"dlsuite.apps.nlp.{name}.train")
    if robustness is None:
        return task.evaluate_run(run_dir, split)
    if name != "classify":
        raise ValueError(
            f"--robustness evaluates classifiers; this nlp run's task is {name!r}, not "
            "'classify': leave it out"
        )
    return task.evaluate_run(run_dir, split, robustness=robustness)
