"""Keras callbacks every run uses:
per-epoch history on disk, backup/restore, TensorBoard, best model.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import keras

from dlsuite.apps.common.runs import RunDir
from dlsuite.base.files import atomic_write_json, read_json

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


class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """Keras `BackupAndRestore` whose backup is consistent if the process is killed at any instant.

    Keras writes ``latest.weights.h5`` in place, so a kill during the write leaves a file that can
    no longer be opened and the run cannot resume. Here each backup goes to a new file (temporary
    name, then rename), and ``state.json`` (epoch, batch, weights file) is replaced atomically after
    it; the previous weights are deleted only then. Restoring reads ``state.json``, so weights and
    epoch always belong together.
    """

    def __init__(self, backup_dir: str | os.PathLike[str], save_freq: str | int = "epoch") -> None:
        super().__init__(backup_dir=str(backup_dir), save_freq=save_freq, delete_checkpoint=True)

    def _save_model(self) -> None:
        folder = Path(self.backup_dir)
        folder.mkdir(parents=True, exist_ok=True)
        name = f"epoch{self._current_epoch:05d}-batch{self._last_batch_seen:07d}.weights.h5"
        tmp = folder / f"tmp-{name}"
        self.model.save_weights(str(tmp), overwrite=True)
        os.replace(tmp, folder / name)
        atomic_write_json(
            folder / STATE_FILE,
            {"epoch": self._current_epoch, "batch": self._last_batch_seen, "weights": name},
        )
        for old in folder.glob("*.weights.h5"):
            if old.name != name:
                old.unlink(missing_ok=True)

    def _load_model(self) -> None:
        folder = Path(self.backup_dir)
        state_path = folder / STATE_FILE
        if not state_path.is_file():
            return
        state = read_json(state_path)
        if self.model.optimizer is not None and not self.model.optimizer.built:
            self.model.optimizer.build(self.model.trainable_variables)
        self.model.load_weights(str(folder / state["weights"]))
        self.model._initial_epoch = int(state["epoch"])  # noqa: SLF001 - Keras's own resume hook


def standard_callbacks(run: RunDir, monitor: str = "val_loss") -> list[keras.callbacks.Callback]:
    """History on disk, `BackupAndRestore` (resume after a kill), TensorBoard, best checkpoint."""
    run.checkpoint_dir.mkdir(parents=True, exist_ok=True)
    return [
        HistoryRecorder(run),
        AtomicBackupAndRestore(run.backup_dir),
        keras.callbacks.TensorBoard(log_dir=str(run.log_dir), histogram_freq=0, write_graph=False),
        keras.callbacks.ModelCheckpoint(
            filepath=str(run.checkpoint_dir / "best.keras"), monitor=monitor, save_best_only=True
        ),
    ]
