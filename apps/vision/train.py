"""Train and evaluate a vision classifier: ``train_and_evaluate(config)`` (the CLI calls this)."""

from __future__ import annotations

from typing import Any

from dlsuite.apps.common import trainer
from dlsuite.apps.common.evaluation import evaluate_classifier, evaluate_classifier_run
from dlsuite.apps.vision.config import VisionConfig
from dlsuite.apps.vision.data import augmentation, image_size, load_splits

APP = "vision"


def compile_classifier(
    model: Any, optimizer: Any, jit_compile: bool = False, label_smoothing: float = 0.0
) -> None:
    """Sparse categorical cross-entropy (with optional label smoothing) and accuracy."""
    import keras

    if label_smoothing:
        num_classes = model.output_shape[-1]

        def loss(y_true: Any, y_pred: Any) -> Any:
            one_hot = keras.ops.one_hot(
                keras.ops.cast(keras.ops.reshape(y_true, (-1,)), "int32"), num_classes
            )
            return keras.losses.categorical_crossentropy(
                one_hot, y_pred, label_smoothing=label_smoothing
            )
    else:
        loss = keras.losses.SparseCategoricalCrossentropy()
    model.compile(
        optimizer=optimizer,
        loss=loss,
        jit_compile=jit_compile,
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )


def train_and_evaluate(config: VisionConfig) -> trainer.TrainResult:
    """Train ``config.model`` on ``config.data``; returns the run with its metrics."""
    from dlsuite.apps.vision.models import build_model

    splits = load_splits(config)
    size = image_size(config)
    num_classes = len(splits.class_names)

    def build() -> Any:
        options = {"dropout": config.dropout} if config.dropout else {}
        return build_model(config.model, splits.input_shape, num_classes, **options)

    def evaluate(model: Any, run: Any, test_batches: Any) -> dict[str, Any]:
        return evaluate_classifier(model, test_batches, splits.class_names, run.path)

    return trainer.train_and_evaluate(
        app=APP,
        config=config,
        splits=splits,
        build_model=build,
        compile_model=lambda model, opt, jit: compile_classifier(
            model, opt, jit, config.label_smoothing
        ),
        evaluate=evaluate,
        augment=augmentation(config, size),
    )


def evaluate_run(run_dir: Any, split: str = "test") -> dict[str, Any]:
    """Evaluate a finished run's model on a held-out split; writes the report files."""
    return evaluate_classifier_run(run_dir, split)
