"""Train and evaluate a keyword spotter: ``train_and_evaluate(config)`` (the CLI calls this)."""

from __future__ import annotations

from typing import Any

from apps.common import trainer
from apps.common.evaluation import evaluate_classifier, evaluate_classifier_run
from apps.speech.config import SpeechConfig
from apps.speech.data import augmentation, load_splits

APP = "speech"


def frontend_options(config: SpeechConfig) -> dict[str, Any]:
    """The model's front-end arguments from the config."""
    return {"features": config.features, "sample_rate": config.sample_rate, "frame_length_ms": config.window_ms,
            "frame_step_ms": config.hop_ms, "num_mel_bins": config.num_mel_bins, "num_mfcc": config.num_mfcc,
            "fmin": config.fmin, "fmax": config.fmax}


def build(config: SpeechConfig, num_classes: int) -> Any:
    from apps.speech.models import build_model

    return build_model(config.model, config.clip_samples, num_classes, frontend=frontend_options(config),
                       spec_augment="specaugment" in config.augment, dropout=config.dropout, seed=config.seed)


def compile_classifier(model: Any, optimizer: Any, jit_compile: bool = False, decay_steps: int | None = None) -> None:
    """Sparse categorical cross-entropy and accuracy; with ``decay_steps``, cosine learning-rate decay.

    The decay rebuilds the trainer's optimizer from its config with a `keras.optimizers.schedules.CosineDecay`
    from its learning rate to 0 (Loshchilov & Hutter 2017, without restarts).
    """
    import keras

    if decay_steps:
        config = optimizer.get_config()
        schedule = keras.optimizers.schedules.CosineDecay(float(config["learning_rate"]), decay_steps)
        optimizer = type(optimizer).from_config({**config, "learning_rate": schedule})
    model.compile(optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(), jit_compile=jit_compile,
                  metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")])


def decay_steps(config: SpeechConfig, splits: Any) -> int | None:
    """Optimizer steps of the whole run for the cosine schedule (None for a constant rate)."""
    import math

    if config.lr_schedule == "constant":
        return None
    examples = min(splits.sizes["train"], config.max_train_examples or splits.sizes["train"])
    return config.epochs * math.ceil(examples / config.batch_size)


def train_and_evaluate(config: SpeechConfig) -> trainer.TrainResult:
    """Train ``config.model`` on ``config.data``; returns the run with its metrics."""
    splits = load_splits(config)

    def evaluate(model: Any, run: Any, test_batches: Any) -> dict[str, Any]:
        return evaluate_classifier(model, test_batches, splits.class_names, run.path)

    return trainer.train_and_evaluate(
        app=APP,
        config=config,
        splits=splits,
        build_model=lambda: build(config, len(splits.class_names)),
        compile_model=lambda model, optimizer, jit: compile_classifier(model, optimizer, jit, decay_steps(config, splits)),
        evaluate=evaluate,
        augment=augmentation(config),
    )



def evaluate_run(run_dir: Any, split: str = "test") -> dict[str, Any]:
    """Evaluate a finished run's model on a held-out split; writes the report files."""
    return evaluate_classifier_run(run_dir, split)
