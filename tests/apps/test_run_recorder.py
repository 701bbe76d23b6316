"""`dlsuite.RunRecorder`: your own ``model.fit`` or custom loop writes a suite run directory."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.apps.conftest import MANIFEST_INFO

FEATURES = 6


def _data(count: int = 96, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(count, FEATURES)).astype("float32")
    return x, (x.sum(axis=1) > 0).astype("int32")


def _model(name: str = "tiny_mlp"):
    import keras

    model = keras.Sequential(
        [keras.Input((FEATURES,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(2)],
        name=name,
    )
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def _event_files(run_dir: Path) -> list[Path]:
    return sorted((run_dir / "logs").rglob("events.out.tfevents.*"))


@pytest.fixture(scope="module")
def fit_run(tmp_path_factory):
    """A 3-epoch ``model.fit`` recorded by `dlsuite.RunRecorder`: ``(run_dir, model, history)``."""
    import dlsuite

    x, y = _data()
    run_dir = tmp_path_factory.mktemp("recorded") / "run"
    recorder = dlsuite.RunRecorder(
        run_dir,
        data={"name": "sign-of-sum", "train": (x[:64], y[:64]), "validation": (x[64:], y[64:])},
        config={"seed": 3, "note": "tiny"},
        batch_size=16,
    )
    history = _model().fit(
        x[:64],
        y[:64],
        validation_data=(x[64:], y[64:]),
        epochs=3,
        batch_size=16,
        verbose=0,
        callbacks=[recorder],
    )
    return run_dir, history.model, history.history


def test_fit_writes_a_complete_run_whose_history_matches_fit(fit_run):
    from dlsuite.apps.common.runs import RunDir, is_complete, load_run

    run_dir, model, history = fit_run
    assert is_complete(run_dir)
    config, metrics = load_run(run_dir)
    records = RunDir(path=run_dir, app="keras", resumed=False).read_history()
    assert [r["epoch"] for r in records] == [1, 2, 3]
    for key, values in history.items():
        assert [r[key] for r in records] == pytest.approx(values)
    assert metrics["history"] == records
    assert metrics["final"]["validation"]["loss"] == pytest.approx(history["val_loss"][-1])
    best = min(range(3), key=lambda e: history["val_loss"][e])
    assert metrics["best"]["val_loss"] == {"value": history["val_loss"][best], "epoch": best + 1}

    assert config["app"] == "keras" and config["loop"] == "fit"
    assert (config["epochs"], config["steps_per_epoch"], config["batch_size"]) == (3, 4, 16)
    assert config["optimizer"]["class_name"] == "Adam" and config["note"] == "tiny"
    assert config["loss"]["class_name"] == "SparseCategoricalCrossentropy"
    assert config["num_params"] == model.count_params() == metrics["num_params"]
    assert [layer["params"] for layer in config["layers"]] == [56, 18]

    assert metrics["examples_seen"] == 64 * 3
    assert metrics["flops_per_example"] > 0
    assert metrics["training_flops"] == 3.0 * metrics["flops_per_example"] * 64 * 3
    assert metrics["wall_time_s"] == pytest.approx(sum(r["epoch_time_s"] for r in records))
    assert metrics["data"]["splits"] == {"train": 64, "validation": 32}
    assert metrics["data"]["input_shape"] == [FEATURES]
    assert (metrics["replicas"], metrics["devices"]["count"], metrics["seed"]) == (1, 1, 3)
    assert metrics["energy"]["tool"] == "codecarbon"  # measured from fit's start to its end
    assert metrics["energy"]["duration_s"] >= metrics["wall_time_s"]
    assert (run_dir / "learning_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert {p.parent.name for p in _event_files(run_dir)} == {"train", "validation"}


def test_a_recorded_run_builds_a_valid_manifest(fit_run, tmp_path):
    from dlsuite.serving.manifest import build_manifest, load_person_fields, write_manifest

    run_dir, model, _ = fit_run
    version_dir = tmp_path / "tiny" / "1"
    model.export(str(version_dir), verbose=False)
    manifest = build_manifest(
        run_dir=run_dir,
        version_dir=version_dir,
        name="tiny",
        version=1,
        person=load_person_fields(MANIFEST_INFO),
    )
    written = json.loads(write_manifest(version_dir, manifest).read_text())  # validates
    training = written["training"]
    assert training["data"]["sources"][0] == {
        "kind": "other",
        "name": "sign-of-sum",
        "version": None,
        "source": None,
    }
    assert training["examples_seen"] == 192 and training["energy"]["energy_kwh"] > 0
    assert written["model"]["parameter_count"] == model.count_params()
    assert written["evaluation"]["other_splits"]["validation"]["loss"] > 0


def test_a_recorded_run_keeps_its_model_a_sample_and_fingerprints_of_its_data(fit_run):
    import keras

    from dlsuite.apps.common.fingerprint import ARRAYS_METHOD, arrays_fingerprint

    run_dir, model, _ = fit_run
    metrics = json.loads((run_dir / "metrics.json").read_text())
    x, y = _data()
    fingerprints = metrics["data"]["fingerprints"]
    assert set(fingerprints) == {"train", "validation"}
    assert fingerprints["train"] == arrays_fingerprint(x[:64], y[:64])
    assert fingerprints["validation"]["method"] == ARRAYS_METHOD
    assert fingerprints["validation"]["value"] != fingerprints["train"]["value"]
    # fewer rows than keep_examples (200): all of them, as given
    np.testing.assert_array_equal(np.load(run_dir / "examples" / "train.npy"), x[:64])
    np.testing.assert_array_equal(np.load(run_dir / "examples" / "validation.npy"), x[64:])
    reloaded = keras.saving.load_model(run_dir / "model.keras")
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_a_tf_data_source_is_sampled_and_fingerprinted_whatever_its_order(tmp_path):
    import tensorflow as tf

    import dlsuite
    from dlsuite.apps.common.fingerprint import DATASET_METHOD

    x, y = _data(100)
    shuffled = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(100, seed=1).batch(16)
    in_order = tf.data.Dataset.from_tensor_slices((x, y)).batch(10)
    recorder = dlsuite.RunRecorder(
        tmp_path / "run", data={"train": shuffled, "files": Path(__file__)}, keep_examples=40
    )
    _model().fit(shuffled, epochs=1, steps_per_epoch=3, verbose=0, callbacks=[recorder])
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    data = metrics["data"]
    assert data["fingerprints"]["train"]["method"] == DATASET_METHOD
    assert data["fingerprints"]["train"]["rows"] == 100
    assert (
        data["fingerprints"]["train"]
        == dlsuite.RunRecorder(tmp_path / "other", data=in_order).data.fingerprints["train"]
    )
    assert data["fingerprints"]["files"]["files"] == 1
    assert data["source"] == str(Path(__file__))
    rows = np.load(tmp_path / "run" / "examples" / "train.npy")
    assert rows.shape == (40, FEATURES)
    assert {tuple(r) for r in rows} <= {tuple(r) for r in x}
    # fit was given 3 steps of 16: 48 examples seen, not the dataset's 100
    assert metrics["examples_seen"] == 48
    assert not (tmp_path / "other").exists()


def test_dlsuite_export_and_int8_convert_work_on_a_recorded_run(fit_run, tmp_path):
    from dlsuite.cli import main
    from dlsuite.serving.manifest import manifest_path
    from dlsuite.serving.warmup import warmup_inputs

    run_dir, model, _ = fit_run
    assert (
        main(
            [
                "export",
                str(run_dir),
                "--name",
                "tiny",
                "--model-base-path",
                str(tmp_path),
                "--manifest-info",
                str(MANIFEST_INFO),
            ]
        )
        == 0
    )
    version = tmp_path / "tiny" / "1"
    manifest = json.loads(manifest_path(version).read_text())
    assert manifest["training"]["run_dir"] == str(run_dir)
    warmup = warmup_inputs(version, "serving_default")
    x, _ = _data()
    (rows,) = warmup.values()
    np.testing.assert_array_equal(rows, x[64:68])  # the first kept validation rows
    assert main(["convert", str(version), "--quantize", "int8"]) == 0
    report = json.loads((tmp_path / "tiny" / "tflite" / "1" / "report.json").read_text())["int8"]
    assert report["examples"] == {"source": "run", "run_dir": str(run_dir)}
    assert report["representative_examples"] == 64  # the kept training rows
    assert report["check"]["num_examples"] == 32  # the kept validation rows (no test split)
    assert report["check"]["top1_agreement"] >= 0.9


def test_an_interrupted_fit_leaves_the_run_incomplete(tmp_path):
    import keras

    import dlsuite
    from dlsuite.apps.common.runs import is_complete

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise RuntimeError("interrupted")

    x, y = _data(32)
    run_dir = tmp_path / "run"
    recorder = dlsuite.RunRecorder(run_dir, data=(x, y))
    with pytest.raises(RuntimeError, match="interrupted"):
        _model().fit(x, y, epochs=4, batch_size=16, verbose=0, callbacks=[recorder, Interrupt()])
    assert not is_complete(run_dir)
    assert (run_dir / "config.json").is_file()
    assert len((run_dir / "history.jsonl").read_text().splitlines()) == 2
    assert not list(run_dir.glob("*.png")) and not list(run_dir.glob(".*tmp"))
    complete = tmp_path / "done"
    _model().fit(x, y, epochs=1, verbose=0, callbacks=[dlsuite.RunRecorder(complete)])
    assert is_complete(complete)
    with pytest.raises(ValueError, match="already holds a complete run"):
        dlsuite.RunRecorder(complete)


def test_a_custom_loop_writes_the_same_files(tmp_path):
    import tensorflow as tf

    import dlsuite
    from dlsuite.apps.common.runs import is_complete, load_run

    x, y = _data(64)
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    model = _model("loop_mlp")
    loss_fn, optimizer = model.loss, model.optimizer
    recorder = dlsuite.RunRecorder(tmp_path / "run", data=dataset, config={"seed": 1})
    with pytest.raises(RuntimeError, match="inside `with recorder.loop"):
        recorder.log_epoch(0, {"loss": 1.0})
    losses = []
    with recorder.loop(model, epochs=2) as rec:
        for epoch in range(2):
            total = 0.0
            for xb, yb in dataset:
                with tf.GradientTape() as tape:
                    loss = loss_fn(yb, model(xb, training=True))
                grads = tape.gradient(loss, model.trainable_variables)
                optimizer.apply(grads, model.trainable_variables)
                total += float(loss)
            losses.append(total / 4)
            rec.log_epoch(epoch, {"loss": losses[-1]})

    run_dir = tmp_path / "run"
    assert is_complete(run_dir)
    config, metrics = load_run(run_dir)
    assert (config["loop"], config["epochs"], config["batch_size"]) == ("custom", 2, 16)
    assert [r["loss"] for r in metrics["history"]] == pytest.approx(losses)
    assert metrics["data"]["splits"] == {"train": 64} and metrics["examples_seen"] == 128
    assert metrics["flops_per_example"] > 0 and metrics["best"]["loss"]["value"] == min(losses)
    assert (run_dir / "learning_curves.png").is_file() and _event_files(run_dir)
    with pytest.raises(RuntimeError, match="inside `with recorder.loop"):
        recorder.log_epoch(2, {"loss": 1.0})
    with pytest.raises(ValueError, match="one RunRecorder records one run"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[recorder])


def test_a_custom_loop_that_raises_leaves_the_run_incomplete(tmp_path):
    import dlsuite
    from dlsuite.apps.common.runs import is_complete

    with pytest.raises(ZeroDivisionError):
        with dlsuite.RunRecorder(tmp_path / "run").loop(_model(), epochs=2) as rec:
            rec.log_epoch(0, {"loss": 1.0})
            1 / 0  # noqa: B018 - the failure under test
    assert not is_complete(tmp_path / "run")
    assert len((tmp_path / "run" / "history.jsonl").read_text().splitlines()) == 1


def test_a_custom_loop_of_an_uncompiled_model_is_refused_naming_compile(tmp_path):
    import keras

    import dlsuite

    model = keras.Sequential([keras.Input((FEATURES,)), keras.layers.Dense(2)], name="raw")
    with pytest.raises(ValueError, match=r"'raw' is not compiled: call model.compile"):
        with dlsuite.RunRecorder(tmp_path / "run").loop(model, epochs=1):
            pass


_MIRRORED_FIT = """
import sys

from dlsuite.apps.common.strategy import configure_cpu_replicas

configure_cpu_replicas(2)
import tensorflow as tf

import dlsuite
from tests.apps.test_run_recorder import _data, _model

strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    model = _model("mirrored_mlp")
x, y = _data(64)
recorder = dlsuite.RunRecorder(sys.argv[1], data=(x, y), batch_size=32)
model.fit(x, y, epochs=2, batch_size=32, verbose=0, callbacks=[recorder])
"""


def test_mirrored_strategy_records_its_replicas(tmp_path):
    """In a process of its own: collective instance keys left by MirroredStrategy runs earlier in
    the pytest process can collide with a new strategy's (as in tests/apps/test_generative.py)."""
    import os
    import subprocess
    import sys

    from dlsuite.apps.common.runs import load_run

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root), "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run(
        [sys.executable, "-c", _MIRRORED_FIT, str(tmp_path / "run")],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    config, metrics = load_run(tmp_path / "run")
    assert (config["strategy"], config["replicas"]) == ("MirroredStrategy", 2)
    assert (metrics["replicas"], metrics["devices"]["count"]) == (2, 2)
    assert metrics["per_replica_batch_size"] == 16
    assert metrics["energy"]["tool"] == "codecarbon"


def test_bad_arguments_name_the_fix(tmp_path):
    import dlsuite

    with pytest.raises(ValueError, match="recorded by RunRecorder itself"):
        dlsuite.RunRecorder(tmp_path, config={"epochs": 3})
    with pytest.raises(ValueError, match="unknown key"):
        dlsuite.RunRecorder(tmp_path, data={"nmae": "typo"})
    with pytest.raises(ValueError, match="describe it with a mapping"):
        dlsuite.RunRecorder(tmp_path, data=object())
    with pytest.raises(TypeError, match="mapping or a dataclass"):
        dlsuite.RunRecorder(tmp_path, config=[("seed", 1)])
    with pytest.raises(ValueError, match="keep_examples must be >= 0"):
        dlsuite.RunRecorder(tmp_path, keep_examples=-1)
    with pytest.raises(FileNotFoundError, match="cannot fingerprint"):
        dlsuite.RunRecorder(tmp_path, data={"files": tmp_path / "missing"})


def test_importing_dlsuite_stays_cheap():
    """`dlsuite.RunRecorder` is a lazy attribute: ``import dlsuite`` imports no TensorFlow."""
    import subprocess
    import sys

    code = (
        "import sys, dlsuite; assert 'RunRecorder' in dir(dlsuite); "
        "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
