"""Keras callbacks every run uses:
per-epoch history on disk, backup/restore, TensorBoard, best model.

They are cheap beside a training step, even for a model as small as LeNet-5
(benchmarks/training_overhead.py): none has a per-batch hook (Keras's `TensorBoard` writes
every batch's scalars even with ``update_freq="epoch"``), the end-of-epoch backup copies the
variables on the training thread and writes them in the background, and the best model is kept
in memory and written once, at the end of training.
"""

from __future__ import annotations

import io
import os
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import keras
import numpy as np

from dlsuite.apps.common.runs import RunDir
from dlsuite.base.files import atomic_write_bytes, atomic_write_json, read_json

STATE_FILE = "state.json"


class HistoryRecorder(keras.callbacks.Callback):
    """Append each finished epoch's logs (and its wall time) to the run's ``history.jsonl``.

    Unlike Keras's in-memory ``History``, the record survives a killed process, so a resumed run's
    ``metrics.json`` and learning curves cover every epoch. Listed before `BackupAndRestore`, so an
    epoch is recorded no later than it is backed up; a re-run epoch replaces its earlier record.
    """

    def __init__(self, run: RunDir) -> None:
        super().__init__()
        self.run = run
        self._started = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        record = {"epoch": epoch + 1, "epoch_time_s": time.perf_counter() - self._started}
        record.update({k: float(v) for k, v in (logs or {}).items()})
        self.run.append_history(record)


def training_state(model: Any) -> list[Any]:
    """The variables a backup holds: the model's (weights, seed states) and every optimizer's
    (``model.optimizer`` and any other optimizer attribute, e.g. a GAN's ``g_optimizer``:
    iterations, moments, EMA), in a fixed order."""
    optimizers: dict[int, Any] = {}
    for value in (model.optimizer, *vars(model).values()):
        if isinstance(value, keras.optimizers.Optimizer):
            optimizers.setdefault(id(value), value)
    state = list(model.variables)
    for optimizer in optimizers.values():
        state += optimizer.variables
    return state


class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """`BackupAndRestore` at the end of every epoch, written off the training thread, consistent
    if the process is killed at any instant.

    At an epoch's end the variables of `training_state` are copied to host arrays (on the training
    thread: the copy is what the next step cannot change) and a background thread writes them to a
    new ``.npz`` file (temporary name, then rename), then replaces ``state.json`` (epoch, file)
    atomically, then deletes the previous file. Restoring reads ``state.json``, so variables and
    epoch always belong together. One write is in flight at most: the next epoch's end waits for
    it, so a kill loses at most the epoch in progress and the one being written. Keras's own
    callback writes ``latest.weights.h5`` in place (a kill during the write leaves a file that can
    no longer be opened) and on the training thread.
    """

    def __init__(self, backup_dir: str | os.PathLike[str]) -> None:
        super().__init__(backup_dir=str(backup_dir), save_freq="epoch", delete_checkpoint=True)
        self._writer: ThreadPoolExecutor | None = None
        self._pending: Future[None] | None = None

    def _save_model(self) -> None:
        arrays = host_copy(training_state(self.model))
        self._wait()
        if self._writer is None:
            self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="backup")
        self._pending = self._writer.submit(self._write, self._current_epoch, arrays)

    def _write(self, epoch: int, arrays: list[np.ndarray]) -> None:
        folder = Path(self.backup_dir)
        folder.mkdir(parents=True, exist_ok=True)
        name = f"epoch{epoch:05d}.npz"
        buffer = io.BytesIO()
        np.savez(buffer, *arrays)
        atomic_write_bytes(folder / name, buffer.getvalue())
        atomic_write_json(folder / STATE_FILE, {"epoch": epoch, "variables": name})
        for old in folder.glob("*.npz"):
            if old.name != name:
                old.unlink(missing_ok=True)

    def _wait(self) -> None:
        """Finish the write in flight (raising its error, if any)."""
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self._wait()
        if self._writer is not None:
            self._writer.shutdown()
            self._writer = None
        super().on_train_end(logs)

    def _load_model(self) -> None:
        folder = Path(self.backup_dir)
        state_path = folder / STATE_FILE
        if not state_path.is_file():
            return
        state = read_json(state_path)
        if self.model.optimizer is not None and not self.model.optimizer.built:
            self.model.optimizer.build(self.model.trainable_variables)
        with np.load(folder / state["variables"]) as saved:
            arrays = [saved[f"arr_{i}"] for i in range(len(saved.files))]
        variables = training_state(self.model)
        shapes = [tuple(v.shape) for v in variables]
        if shapes != [a.shape for a in arrays]:
            raise ValueError(
                f"the backup in {folder} holds {len(arrays)} variables that do not match this "
                f"model's {len(variables)} (another model or optimizer); delete {folder} to "
                "start the run again"
            )
        _assign(variables, arrays)
        self.model._initial_epoch = int(state["epoch"])  # noqa: SLF001 - Keras's own resume hook


class BestModel(keras.callbacks.Callback):
    """Write the model of the epoch with the lowest ``monitor`` (e.g. ``val_loss``) to ``path``.

    An improvement only copies the model's variables to host memory; the file is written once,
    when training ends (a `.keras` file of the best weights, then the final weights are put back).
    A resumed run's best is that of the epochs the resumed process trained.
    """

    def __init__(self, path: str | os.PathLike[str], monitor: str = "val_loss") -> None:
        super().__init__()
        self.path = Path(path)
        self.monitor = monitor
        self._best = np.inf
        self._weights: list[np.ndarray] | None = None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        value = (logs or {}).get(self.monitor)
        if value is not None and float(value) < self._best:
            self._best = float(value)
            self._weights = host_copy(self.model.variables)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self._weights is None:
            return
        final = host_copy(self.model.variables)
        _assign(self.model.variables, self._weights)
        tmp = self.path.with_name(f".tmp-{self.path.name}")
        self.model.save(tmp)
        os.replace(tmp, self.path)
        _assign(self.model.variables, final)


class EpochSummaries(keras.callbacks.Callback):
    """TensorBoard scalars once per epoch: ``logs/train`` and ``logs/validation`` event files with
    ``epoch_<metric>`` (and ``epoch_learning_rate``), named as Keras's `TensorBoard` names them.
    The writers flush when training ends (and on TensorBoard's own schedule before)."""

    def __init__(self, log_dir: str | os.PathLike[str]) -> None:
        super().__init__()
        self.log_dir = Path(log_dir)
        self._writers: dict[str, Any] = {}

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        import tensorflow as tf

        self._writers = {
            part: tf.summary.create_file_writer(str(self.log_dir / part))
            for part in ("train", "validation")
        }

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        import tensorflow as tf

        values: dict[str, dict[str, float]] = {"train": {}, "validation": {}}
        for key, value in (logs or {}).items():
            part = "validation" if key.startswith("val_") else "train"
            values[part][key.removeprefix("val_")] = float(value)
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None and "learning_rate" not in values["train"]:
            values["train"]["learning_rate"] = float(
                keras.ops.convert_to_numpy(optimizer.learning_rate)
            )
        for part, scalars in values.items():
            with self._writers[part].as_default():
                for name, value in scalars.items():
                    tf.summary.scalar(f"epoch_{name}", value, step=epoch)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers = {}


def host_copy(variables: list[Any]) -> list[np.ndarray]:
    """The current values of ``variables`` as NumPy arrays (copies: later updates leave them)."""
    return [np.array(keras.ops.convert_to_numpy(v), copy=True) for v in variables]


def _assign(variables: list[Any], arrays: list[np.ndarray]) -> None:
    for variable, array in zip(variables, arrays, strict=True):
        variable.assign(array)


def standard_callbacks(run: RunDir, monitor: str = "val_loss") -> list[keras.callbacks.Callback]:
    """History on disk, `BackupAndRestore` (resume after a kill), TensorBoard (epoch scalars), best
    model by lowest ``monitor``."""
    run.checkpoint_dir.mkdir(parents=True, exist_ok=True)
    return [
        HistoryRecorder(run),
        AtomicBackupAndRestore(run.backup_dir),
        EpochSummaries(run.log_dir),
        BestModel(run.checkpoint_dir / "best.keras", monitor=monitor),
    ]
