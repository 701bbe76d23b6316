"""Run directories, ``runs/<app>/<run-id>/`` (layout in docs/architecture.md): opening one to
train into, and reading a finished (or unfinished) one back: its config, metrics, data and model.

A run is complete once ``metrics.json`` exists. Running the same command again while a run with
the same config hash is unfinished resumes that run (its ``backup/`` holds Keras
`BackupAndRestore` state), which is how an interrupted or killed training continues.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np

from dlsuite.apps.common.registry import app_module, config_from_run
from dlsuite.base.files import atomic_write_json, read_json

CONFIG_FILE = "config.json"
HISTORY_FILE = "history.jsonl"
METRICS_FILE = "metrics.json"
BACKUP_DIR = "backup"
EXAMPLES_DIR = "examples"  # a recorded run's sample of its data: examples/<split>.npy
RECORDED_APP = "keras"  # the ``app`` of a run `RunRecorder` wrote: a user's own Keras code


@dataclasses.dataclass(frozen=True)
class RunDir:
    """Paths of one run directory."""

    path: Path
    app: str
    resumed: bool

    @property
    def run_id(self) -> str:
        return self.path.name

    @property
    def config_file(self) -> Path:
        return self.path / CONFIG_FILE

    @property
    def history_file(self) -> Path:
        return self.path / HISTORY_FILE

    @property
    def metrics_file(self) -> Path:
        return self.path / METRICS_FILE

    @property
    def backup_dir(self) -> Path:
        return self.path / BACKUP_DIR

    @property
    def log_dir(self) -> Path:
        return self.path / "logs"

    @property
    def checkpoint_dir(self) -> Path:
        return self.path / "checkpoints"

    @property
    def model_file(self) -> Path:
        return self.path / "model.keras"

    def save_model(self, model: Any) -> None:
        """Write ``model.keras`` under a temporary name, then rename it (never half-written)."""
        import os

        tmp = self.path / ".model.tmp.keras"
        model.save(tmp)
        os.replace(tmp, self.model_file)

    def read_history(self) -> list[dict[str, Any]]:
        """Per-epoch records, one per epoch number (a re-run epoch replaces the earlier record)."""
        if not self.history_file.is_file():
            return []
        by_epoch: dict[int, dict[str, Any]] = {}
        for line in self.history_file.read_text(encoding="utf-8").splitlines():
            if line.strip():
                record = json.loads(line)
                by_epoch[int(record["epoch"])] = record
        return [by_epoch[e] for e in sorted(by_epoch)]

    def append_history(self, record: dict[str, Any]) -> None:
        """Append one epoch record (a single short append; readers tolerate re-run epochs)."""
        with open(self.history_file, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, sort_keys=True) + "\n")

    def write_metrics(self, metrics: dict[str, Any]) -> None:
        atomic_write_json(self.metrics_file, metrics)


def is_complete(path: Path) -> bool:
    """Whether the run in ``path`` finished (its ``metrics.json``, written last, exists)."""
    return (path / METRICS_FILE).is_file()


def open_run(app: str, config: Any) -> RunDir:
    """Create a run directory for ``config`` or reopen the unfinished run it should resume.

    ``config`` is an app's `TrainingConfig`. With an explicit ``run_id`` that run is resumed if it
    is unfinished, and refused if it is complete. Without one, the newest unfinished run of the same
    config hash is resumed (unless ``resume`` is off), else a new ``<UTC time>-<hash>`` run starts.
    """
    root = Path(config.run_root) / app
    digest = config.config_hash()
    if config.run_id is not None:
        if "/" in config.run_id or config.run_id in ("", ".", ".."):
            raise ValueError(f"run_id must be a plain folder name. Received: {config.run_id!r}")
        path = root / config.run_id
        if is_complete(path):
            raise ValueError(f"run {path} is already complete; choose another --run-id")
        if path.is_dir() and not config.resume:
            raise ValueError(f"run {path} exists; pass --resume or choose another --run-id")
        return _start(path, app, config, resumed=path.is_dir())
    unfinished = newest_unfinished_run(root, digest) if config.resume else None
    if unfinished is not None:
        return _start(unfinished, app, config, resumed=True)
    return _start(root / new_run_id(digest), app, config, resumed=False)


def newest_unfinished_run(root: Path, digest: str) -> Path | None:
    """The newest unfinished run of config hash ``digest`` under ``root`` (``runs/<app>``)."""
    if not root.is_dir():
        return None
    unfinished = sorted(
        p
        for p in root.glob(f"*-{digest}")
        if p.is_dir() and not is_complete(p) and (p / CONFIG_FILE).is_file()
    )
    return unfinished[-1] if unfinished else None


def new_run_id(digest: str) -> str:
    """``<UTC time>-<config hash>``: the id of a new run."""
    return f"{dt.datetime.now(dt.UTC).strftime('%Y%m%dT%H%M%S%fZ')}-{digest}"


def _start(path: Path, app: str, config: Any, resumed: bool) -> RunDir:
    return start_run(
        path, app, {**config.to_dict(), "config_hash": config.config_hash()}, resumed=resumed
    )


def start_run(path: Path, app: str, config_json: dict[str, Any], *, resumed: bool) -> RunDir:
    """Create ``path`` (if needed) and write its ``config.json``: ``config_json`` plus the ``app``
    and ``run_id`` keys every run directory has. Returns the `RunDir`."""
    path.mkdir(parents=True, exist_ok=True)
    run = RunDir(path=path, app=app, resumed=resumed)
    atomic_write_json(run.config_file, {**config_json, "app": app, "run_id": run.run_id})
    return run


def load_run(run_dir: str | Path) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """``(config, metrics or None)`` of a run directory, with clear errors for a wrong path."""
    path = Path(run_dir)
    if not (path / CONFIG_FILE).is_file():
        raise FileNotFoundError(f"{path} is not a run directory (no {CONFIG_FILE})")
    config = read_json(path / CONFIG_FILE)
    metrics = read_json(path / METRICS_FILE) if is_complete(path) else None
    return config, metrics


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

    A suite run's data is reloaded; a run `RunRecorder` wrote gives the sample of its data it kept
    (`recorded_examples`). `dlsuite convert` passes this to
    `dlsuite.serving.tflite_from_run.convert_from_run`, which checks and calibrates on them.
    """
    config_file = Path(run_dir) / CONFIG_FILE
    if config_file.is_file() and read_json(config_file).get("app") == RECORDED_APP:
        rows = recorded_examples(run_dir, split)
        if rows is None:
            raise ValueError(
                f"{run_dir} keeps no sample of its data (RunRecorder keeps one when its data= "
                "holds arrays or a tf.data dataset); pass examples from a file instead"
            )
        if shuffle:
            rows = rows[np.random.default_rng(0).permutation(len(rows))]
        return list(rows[:count])
    dataset = dataset_for_run(run_dir, split)
    if shuffle:
        dataset = dataset.shuffle(min(10 * count, 10_000), seed=0)
    examples = [features.numpy() for features, _ in dataset.take(count)]
    if not examples:
        raise ValueError(f"the {split!r} split of {run_dir} has no examples")
    return examples


def recorded_examples(run_dir: str | Path, split: str) -> np.ndarray | None:
    """The rows of ``split`` a `RunRecorder` run kept (``examples/<split>.npy``), or None.

    A ``test`` split that was not given falls back to ``validation``, then ``train``: the rows
    then check a conversion against the SavedModel, not the model's accuracy.
    """
    folder = Path(run_dir) / EXAMPLES_DIR
    for name in (split, "validation", "train") if split == "test" else (split,):
        path = folder / f"{name}.npy"
        if path.is_file():
            return np.load(path, allow_pickle=False)
    return None


def evaluate_run(
    run_dir: str | Path, split: str = "test", robustness: str | None = None
) -> dict[str, Any]:
    """Evaluate a finished run on a held-out split with its app's ``evaluate_run``.

    ``robustness``: the level of the evaluation beyond accuracy ("off", "quick" or "full";
    classifiers: `apps.common.evaluation.robustness_report`; recognisers and policies:
    `perturbation_robustness`), default the run's own option; a GAN, translation or language
    model run refuses one.
    """
    config_json, _ = load_run(run_dir)
    evaluate = app_module(config_json["app"], "train").evaluate_run
    if robustness is None:
        return evaluate(run_dir, split)
    return evaluate(run_dir, split, robustness=robustness)


def load_trained_model(run_dir: str | Path, *, calibrated: bool = False) -> Any:
    """A finished run's ``model.keras`` without its optimizer state (for evaluation and export).

    Imports `core_layers` first, so the custom layers a model uses are registered (and KerasHub
    for a run fine-tuned from a KerasHub preset). A run whose ``metrics.json`` records a
    SavedModel backbone (the speech app's frozen feature extractor) holds
    a `keras.layers.TFSMLayer`, which reloads that folder's graph: Keras refuses it in safe mode,
    so such a run, and only such a run, is loaded with ``safe_mode=False`` (the run directory is
    the suite's own, written by its trainer; the folder must still be where training found it).
    With ``calibrated``, a classifier's probabilities go through `TemperatureScaling` with the
    temperature its evaluation fitted on the validation split (`run_temperature`).
    """
    import keras

    import dlsuite.core_layers  # noqa: F401

    path = Path(run_dir) / "model.keras"
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir} has no model.keras: the run is not complete")
    metrics = Path(run_dir) / METRICS_FILE
    transfer = (read_json(metrics).get("transfer") or {}) if metrics.is_file() else {}
    if transfer.get("library") == "keras_hub":
        import keras_hub  # noqa: F401 - registers the KerasHub backbone the model holds
    safe_mode = transfer.get("library") != "saved_model"
    model = keras.saving.load_model(path, compile=False, safe_mode=safe_mode)
    if not calibrated:
        return model
    from dlsuite.apps.common.calibration import TemperatureScaling

    if len(model.outputs) != 1:
        raise ValueError(
            f"temperature scaling applies to a classifier's one probabilities output; "
            f"{model.name} has {len(model.outputs)} outputs"
        )
    scaled = TemperatureScaling(run_temperature(run_dir), dtype="float32", name="temperature")(
        model.outputs[0]
    )
    return keras.Model(model.inputs, scaled, name=model.name)


def run_temperature(run_dir: str | Path) -> float:
    """The temperature a classifier run's evaluation fitted on its validation split
    (``evaluation.json`` ``robustness.calibration.temperature``)."""
    path = Path(run_dir) / "evaluation.json"
    report = read_json(path) if path.is_file() else {}
    fit = ((report.get("robustness") or {}).get("calibration") or {}).get("temperature") or {}
    if not fit.get("fitted"):
        raise ValueError(
            f"{run_dir} has no fitted temperature ({fit.get('reason') or 'no robustness report'}"
            "): run `dlsuite evaluate RUN --robustness quick` first, or export without --calibrate"
        )
    return float(fit["temperature"])
