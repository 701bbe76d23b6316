"""Training overhead: per-epoch time of `dlsuite`'s training against a plain Keras ``fit``.

    python benchmarks/training_overhead.py --output benchmarks/results/training_overhead.json

For LeNet-5 and ResNet-20 on ``builtin:digits`` (batch 64), one process runs, in alternating
order over ``--rounds`` rounds, a plain ``model.fit(train, validation_data=val)`` and the suite's
`dlsuite.apps.common.trainer.train_and_evaluate` (run directory, history, backups, TensorBoard,
best checkpoint). Both use the same model (`dlsuite.apps.vision.models.build_model`), optimizer
(`make_optimizer`), compile (`compile_classifier`), seeding and tf.data pipelines
(`make_pipeline`), so they differ only in what the suite does around the step.

An epoch's time is the wall time from one ``on_epoch_begin`` to the next (the last epoch: to
``on_train_end``), taken by the first callback, so it includes every callback's end-of-epoch work.
The first epoch of each run (tracing) is left out. Prints per-epoch medians and their ratio; with
``--output``, also writes them as JSON. On a shared machine, compare the ratio, not the seconds.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import keras

from dlsuite.apps.common import trainer
from dlsuite.apps.common.data import make_pipeline
from dlsuite.apps.common.evaluation import evaluate_classifier
from dlsuite.apps.common.optimization import compile_classifier, make_optimizer
from dlsuite.apps.vision.config import VisionConfig
from dlsuite.apps.vision.data import load_splits
from dlsuite.apps.vision.models import build_model

# (model, training examples, epochs): small enough that both models run in a few minutes on 2 cores
CASES = {"lenet5": (None, 12), "resnet20": (256, 6)}


class EpochClock(keras.callbacks.Callback):
    """Wall time of each epoch, from its ``on_epoch_begin`` to the next one's (or training end)."""

    def __init__(self) -> None:
        super().__init__()
        self.stamps: list[float] = []

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.stamps.append(time.perf_counter())

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self.stamps.append(time.perf_counter())

    @property
    def epoch_times(self) -> list[float]:
        return [b - a for a, b in zip(self.stamps, self.stamps[1:], strict=False)]


def config_for(model: str, args: argparse.Namespace, run_root: str) -> VisionConfig:
    examples, epochs = CASES[model]
    return VisionConfig(
        model=model,
        data="builtin:digits",
        batch_size=args.batch_size,
        epochs=args.epochs or epochs,
        max_train_examples=examples,
        verbose=0,
        seed=1,
        run_root=run_root,
    )


def plain_fit(config: VisionConfig) -> list[float]:
    """A user's own ``fit`` of the suite's model on the suite's pipelines; its epoch times."""
    trainer.seed_everything(config.seed, deterministic=not config.jit_compile)
    splits = load_splits(config)
    model = build_model(config.model, splits.input_shape, len(splits.class_names))
    train_size = min(splits.sizes["train"], config.max_train_examples or splits.sizes["train"])
    optimizer = make_optimizer(
        config.optimizer,
        config.learning_rate,
        config.effective_lr_schedule,
        total_steps=config.epochs * math.ceil(train_size / config.batch_size),
        warmup_steps=config.warmup_steps,
    )
    compile_classifier(model, optimizer, config.jit_compile)
    pipeline = dict(
        batch_size=config.batch_size,
        seed=config.seed,
        cache=config.cache,
        shuffle_buffer=config.shuffle_buffer,
    )
    train = make_pipeline(
        splits.train, training=True, max_examples=config.max_train_examples, **pipeline
    )
    validation = make_pipeline(splits.validation, training=False, **pipeline)
    clock = EpochClock()
    model.fit(
        train,
        validation_data=validation,
        epochs=config.epochs,
        shuffle=False,
        callbacks=[clock],
        verbose=0,
    )
    return clock.epoch_times


def suite_fit(config: VisionConfig) -> tuple[list[float], dict[str, Any]]:
    """`trainer.train_and_evaluate` as the vision app calls it, timed by a first callback."""
    splits = load_splits(config)
    clock = EpochClock()
    result = trainer.train_and_evaluate(
        app="vision",
        config=config,
        splits=splits,
        build_model=lambda: build_model(config.model, splits.input_shape, len(splits.class_names)),
        compile_model=compile_classifier,
        evaluate=lambda model, run, test: evaluate_classifier(
            model, test, splits.class_names, run.path
        ),
        callbacks=lambda run: [clock],
    )
    return clock.epoch_times, result.metrics


def measure(model: str, args: argparse.Namespace) -> dict[str, Any]:
    """Alternate plain and suite runs of ``model``; per-epoch medians (first epochs left out)."""
    plain: list[float] = []
    suite: list[float] = []
    metrics: dict[str, Any] = {}
    for round_ in range(args.rounds):
        order = ("plain", "suite") if round_ % 2 == 0 else ("suite", "plain")
        for kind in order:
            with tempfile.TemporaryDirectory() as root:
                config = config_for(model, args, root)
                if kind == "plain":
                    plain += plain_fit(config)[1:]
                else:
                    times, metrics = suite_fit(config)
                    suite += times[1:]
    plain_median, suite_median = statistics.median(plain), statistics.median(suite)
    return {
        "model": model,
        "train_examples": metrics["examples_seen"] // metrics["epochs_completed"],
        "batch_size": args.batch_size,
        "epochs_timed": {"plain": len(plain), "suite": len(suite)},
        "plain_epoch_s": plain_median,
        "suite_epoch_s": suite_median,
        "ratio": suite_median / plain_median,
        "plain_epoch_times_s": plain,
        "suite_epoch_times_s": suite,
        "mfu": metrics.get("mfu"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--rounds", type=int, default=4, help="plain/suite pairs per model")
    parser.add_argument("--epochs", type=int, default=None, help="override the epochs per run")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--output", type=Path, default=None, help="write the results as JSON")
    args = parser.parse_args()

    results = [measure(model, args) for model in args.models]
    print(f"{'model':<10} {'examples':>8} {'plain s/epoch':>14} {'suite s/epoch':>14} {'ratio':>6}")
    for r in results:
        print(
            f"{r['model']:<10} {r['train_examples']:>8} {r['plain_epoch_s']:>14.3f} "
            f"{r['suite_epoch_s']:>14.3f} {r['ratio']:>6.2f}"
        )
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
