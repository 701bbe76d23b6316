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
    """Train ``config.model`` (or fine-tune ``config.backbone``) on ``config.data``; returns the
    run with its metrics."""
    from dlsuite.apps.common.transfer import class_weights, fine_tuning_arguments

    prepare_strategy(config.strategy, config.replicas)  # before the data touches TensorFlow
    splits = load_splits(config)
    size = image_size(config)
    class_weight, extra_metrics = class_weights(config.class_weight, splits)
    options = {"dropout": config.dropout} if config.dropout else {}

    def compile_model(model: Any, optimizer: Any, jit: bool) -> None:
        compile_classifier(model, optimizer, jit, label_smoothing=config.label_smoothing)

    if config.backbone is None:
        from dlsuite.apps.vision.models import build_model

        model_arguments: dict[str, Any] = {
            "build_model": lambda: build_model(
                config.model, splits.input_shape, len(splits.class_names), **options
            ),
            "compile_model": compile_model,
        }
    else:
        from dlsuite.apps.vision.models.pretrained import build_pretrained_classifier

        backbone = config.backbone
        model_arguments = fine_tuning_arguments(
            lambda: build_pretrained_classifier(
                backbone, config.weights, splits.input_shape, len(splits.class_names), **options
            ),
            config,
            compile_model,
            extra_metrics,
        )
    return trainer.train_and_evaluate(
        app=APP,
        config=config,
        splits=splits,
        evaluate=classifier_evaluator(splits, config),
        augment=augmentation(config, size),
        extra_metrics=extra_metrics,
        class_weight=class_weight,
        **model_arguments,
    )


def evaluate_run(
    run_dir: Any, split: str = "test", robustness: str | None = None
) -> dict[str, Any]:
    """Evaluate a finished run's model on a held-out split; writes the report files
    (``robustness``: the level, default the run's own)."""
    return evaluate_classifier_run(run_dir, split, robustness=robustness)
