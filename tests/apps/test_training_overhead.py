"""The work around the training step is cheap: no per-batch hooks, background backups,
the best model kept in memory and written once; and the MFU a run reports."""

from __future__ import annotations

import json

import numpy as np
import pytest


def test_metrics_report_achieved_flops_and_mfu(tiny_run):
    metrics = json.loads((tiny_run.run.path / "metrics.json").read_text())
    assert metrics["achieved_flops_per_s"] == pytest.approx(
        metrics["training_flops"] / metrics["wall_time_s"]
    )
    # a 2-core CPU does at least 1 GFLOP/s of float32 matmul
    assert metrics["matmul_peak_flops_per_s"] > 1e9
    assert metrics["mfu"] == pytest.approx(
        metrics["achieved_flops_per_s"] / metrics["matmul_peak_flops_per_s"]
    )
    assert 0 < metrics["mfu"] < 1


def test_standard_callbacks_have_no_per_batch_hooks(tmp_path):
    from keras.src.utils import is_default

    from dlsuite.apps.common.callbacks import standard_callbacks
    from dlsuite.apps.common.runs import RunDir

    run = RunDir(path=tmp_path, app="vision", resumed=False)
    callbacks = standard_callbacks(run)
    assert callbacks[1].save_freq == "epoch"  # Keras's batch hook returns at once
    for callback in (c for i, c in enumerate(callbacks) if i != 1):
        for hook in ("on_train_batch_begin", "on_train_batch_end", "on_test_batch_end"):
            assert is_default(getattr(callback, hook)), f"{type(callback).__name__}.{hook}"


def _tiny_model():
    import keras

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    return model


def test_best_model_is_written_once_with_the_lowest_monitored_epoch(tmp_path):
    import keras

    from dlsuite.apps.common.callbacks import BestModel

    model = _tiny_model()
    best = BestModel(tmp_path / "best.keras")
    best.set_model(model)
    kernels = {}
    for epoch, val_loss in enumerate([3.0, 1.0, 2.0]):
        kernel = np.full((3, 2), float(epoch), dtype=np.float32)
        model.layers[0].kernel.assign(kernel)
        kernels[epoch] = kernel
        best.on_epoch_end(epoch, {"loss": 0.5, "val_loss": val_loss})
        assert not (tmp_path / "best.keras").exists(), "written only when training ends"
    best.on_train_end()
    saved = keras.saving.load_model(tmp_path / "best.keras", compile=False)
    np.testing.assert_array_equal(saved.layers[0].kernel.numpy(), kernels[1])
    np.testing.assert_array_equal(model.layers[0].kernel.numpy(), kernels[2])  # final weights back


def test_backup_is_written_in_the_background_and_restores_model_and_optimizer(tmp_path):
    import tensorflow as tf

    from dlsuite.apps.common.callbacks import STATE_FILE, AtomicBackupAndRestore

    x = np.arange(24, dtype=np.float32).reshape(8, 3) / 24
    data = tf.data.Dataset.from_tensor_slices((x, x[:, :2])).batch(4)
    model = _tiny_model()
    backup = AtomicBackupAndRestore(tmp_path / "backup")
    backup.set_model(model)
    backup.on_train_begin()
    model.fit(data, epochs=2, verbose=0)
    backup.on_epoch_end(1)
    backup._wait()  # noqa: SLF001 - the write in flight
    state = json.loads((tmp_path / "backup" / STATE_FILE).read_text())
    assert state == {"epoch": 2, "variables": "epoch00002.npz"}
    assert [p.name for p in (tmp_path / "backup").glob("*.npz")] == ["epoch00002.npz"]

    resumed = _tiny_model()
    restore = AtomicBackupAndRestore(tmp_path / "backup")
    restore.set_model(resumed)
    restore.on_train_begin()
    assert resumed._initial_epoch == 2  # noqa: SLF001
    assert int(resumed.optimizer.iterations) == 4
    for a, b in zip(
        model.variables + model.optimizer.variables,
        resumed.variables + resumed.optimizer.variables,
        strict=True,
    ):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    restore.on_train_end()
    assert not (tmp_path / "backup").exists()


def test_a_backup_of_another_model_is_refused_with_the_fix(tmp_path):
    import keras

    from dlsuite.apps.common.callbacks import AtomicBackupAndRestore

    model = _tiny_model()
    backup = AtomicBackupAndRestore(tmp_path)
    backup.set_model(model)
    backup.on_epoch_end(0)
    backup._wait()  # noqa: SLF001
    other = keras.Sequential([keras.Input((3,)), keras.layers.Dense(5)])
    other.compile(optimizer="adam", loss="mse")
    restore = AtomicBackupAndRestore(tmp_path)
    restore.set_model(other)
    with pytest.raises(ValueError, match="do not match.*delete"):
        restore.on_train_begin()
