"""Keras callbacks every run uses: per-epoch history on disk, backup/restore, TensorBoard, best model."""

from __future__ import annotations

import time
from typing import Any

import keras

from apps.common.rundir import RunDir


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


def standard_callbacks(run: RunDir, monitor: str = "val_loss") -> list[keras.callbacks.Callback]:
    """History on disk, `BackupAndRestore` (resume after a kill), TensorBoard, best checkpoint."""
    run.checkpoint_dir.mkdir(parents=True, exist_ok=True)
    return [
        HistoryRecorder(run),
        keras.callbacks.BackupAndRestore(backup_dir=str(run.backup_dir), save_freq="epoch", delete_checkpoint=True),
        keras.callbacks.TensorBoard(log_dir=str(run.log_dir), histogram_freq=0, write_graph=False),
        keras.callbacks.ModelCheckpoint(
            filepath=str(run.checkpoint_dir / "best.keras"), monitor=monitor, save_best_only=True
        ),
    ]
