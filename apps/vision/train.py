"""Train and evaluate a vision classifier: ``train_and_evaluate(config)`` (the CLI calls this)."""

from __future__ import annotations

from typing import Any

from dlsuite.apps.common import trainer
from dlsuite.apps.common.evaluation import (
    classifier_evaluator,
    evaluate_classifier_run,
)
from dlsuite.apps.common.optimization import compile_classifier
from dlsuite.apps.common.strategy import prepare_strategy
from dlsuite.apps.vision.config import VisionConfig
from dlsuite.apps.vision.data import augmentation, image_size, load_splits

APP = "vision"


def train_and_evaluate(config: VisionConfig) -> trainer.TrainResult:
    """Train ``config.model`` on ``config.data``; returns the run with its metrics."""
    from dlsuite.apps.vision.models import build_model

    prepare_strategy(config.strategy, config.replicas)  # before the data touches TensorFlow
    splits = load_splits(config)
    size = image_size(config)
    num_classes = len(splits.class_names)

    def build() -> Any:
        options = {"dropout": config.dropout} if config.dropout else {}
        return build_model(config.model, splits.input_shape, num_classes, **options)

    return trainer.train_and_evaluate(
        app=APP,
        config=config,
        splits=splits,
        build_model=build,
        compile_model=lambda model, opt, jit: compile_classifier(
            model, opt, jit, label_smoothing=config.label_smoothing
        ),
        evaluate=classifier_evaluator(splits, config),
        augment=augmentation(config, size),
    )


def evaluate_run(
    run_dir: Any, split: str = "test", robustness: str | None = None
) -> dict[str, Any]:
    """Evaluate a finished run's model on a held-out split; writes the report files
    (``robustness``: the level, default the run's own)."""
    return evaluate_classifier_run(run_dir, split, robustness=robustness)
