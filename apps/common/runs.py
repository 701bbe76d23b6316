"""Reading finished (or unfinished) run directories back: their config, metrics and data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dlsuite.apps.common.registry import app_module, config_from_run
from dlsuite.apps.common.rundir import load_run

__all__ = [
    "load_run",
    "run_config",
    "dataset_for_run",
    "splits_for_run",
    "run_examples",
    "evaluate_run",
]


def run_config(run_dir: str | Path) -> Any:
    """The app config a run was trained with."""
    config_json, _ = load_run(run_dir)
    return config_from_run(config_json)


def splits_for_run(run_dir: str | Path) -> Any:
    """The run's `Splits` (same source, same seeded split, same preprocessing)."""
    config_json, _ = load_run(run_dir)
    return app_module(config_json["app"], "data").load_splits(config_from_run(config_json))


def dataset_for_run(run_dir: str | Path, split: str) -> Any:
    """One split of a run's data as an unbatched ``(model float input, label)`` dataset."""
    if split not in ("train", "validation", "test"):
        raise ValueError(f"split expected train, validation or test. Received: {split!r}")
    return getattr(splits_for_run(run_dir), split)


def run_examples(run_dir: str | Path, split: str, count: int, *, shuffle: bool = False) -> list:
    """Up to ``count`` single examples (numpy arrays, no labels) of one split of a run's data;
    ``shuffle`` draws them from a seeded shuffle instead of the first ones.

    `dlsuite convert` passes this to `dlsuite.serving.tflite.convert_from_run`, which checks and
    calibrates on such examples.
    """
    dataset = dataset_for_run(run_dir, split)
    if shuffle:
        dataset = dataset.shuffle(min(10 * count, 10_000), seed=0)
    examples = [features.numpy() for features, _ in dataset.take(count)]
    if not examples:
        raise ValueError(f"the {split!r} split of {run_dir} has no examples")
    return examples


def evaluate_run(run_dir: str | Path, split: str = "test") -> dict[str, Any]:
    """Evaluate a finished run on a held-out split with its app's ``evaluate_run``."""
    config_json, _ = load_run(run_dir)
    return app_module(config_json["app"], "train").evaluate_run(run_dir, split)


def load_trained_model(run_dir: str | Path) -> Any:
    """A finished run's ``model.keras`` without its optimizer state (for evaluation and export).

    Imports `core_layers` first, so the custom layers a model uses are registered.
    """
    import keras

    import dlsuite.core_layers  # noqa: F401

    path = Path(run_dir) / "model.keras"
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir} has no model.keras: the run is not complete")
    return keras.saving.load_model(path, compile=False)
