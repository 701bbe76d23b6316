"""Scale-out training: custom loop, input sharding, equivalence, launch, kill-and-resume,
k8s manifests.

In-process tests use the two logical CPUs that tests/conftest.py configures; tests that start worker
processes are marked slow.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from tests.apps.launching import Launch

if TYPE_CHECKING:
    from dlsuite.apps.common.trainer import TrainResult

TINY = dict(
    model="lenet5",
    data="builtin:digits",
    epochs=2,
    batch_size=32,
    max_train_examples=256,
    verbose=0,
    seed=3,
    robustness="off",  # its tests do not check the robustness evaluation
)
TINY_ARGS = [
    "--model",
    "lenet5",
    "--data",
    "builtin:digits",
    "--epochs",
    "6",
    "--batch-size",
    "32",
    "--max-train-examples",
    "256",
    "--verbose",
    "2",
    "--seed",
    "3",
]


def _train(tmp_path: Path, **overrides):
    from dlsuite.apps.vision.config import VisionConfig
    from dlsuite.apps.vision.train import train_and_evaluate

    return train_and_evaluate(VisionConfig(**{**TINY, "run_root": str(tmp_path), **overrides}))


def _two_cpus() -> bool:
    import tensorflow as tf

    return len(tf.config.list_logical_devices("CPU")) >= 2


def _assert_same_weights(a, b, atol=1e-4):
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_allclose(wa, wb, atol=atol, rtol=1e-3)


# --- options and dispatch -------------------------------------------------------------------


def test_loop_options_are_validated():
    from dlsuite.apps.vision.config import VisionConfig

    with pytest.raises(ValueError, match="clip_norm"):
        VisionConfig(clip_norm=0.0)
    with pytest.raises(ValueError, match="grad_accum_steps"):
        VisionConfig(grad_accum_steps=0)
    with pytest.raises(ValueError, match="multi_worker"):
        VisionConfig(strategy="multi_worker", loop="fit")


def test_auto_loop_choice_and_optimizer_options():
    from dlsuite.apps.common.custom_loop import optimizer_options, use_custom_loop
    from dlsuite.apps.vision.config import VisionConfig

    assert not use_custom_loop(VisionConfig(), 1)
    assert use_custom_loop(VisionConfig(strategy="multi_worker"), 2)
    assert use_custom_loop(VisionConfig(clip_norm=1.0, strategy="mirrored"), 2)
    assert not use_custom_loop(VisionConfig(clip_norm=1.0), 1)
    # The custom loop hands each replica grads / R after its own all-reduce: clip at c / R.
    assert optimizer_options(VisionConfig(clip_norm=1.0, grad_accum_steps=4), 2, True) == {
        "global_clipnorm": 0.5,
        "gradient_accumulation_steps": 4,
    }
    assert optimizer_options(VisionConfig(grad_accum_steps=1), 1, False) == {}


# --- the custom loop behaves like fit --------------------------------------------------------


@pytest.fixture(scope="module")
def fit_one_device(tmp_path_factory: pytest.TempPathFactory) -> TrainResult:
    """The tiny config trained with `fit` on one device (shared by two tests)."""
    return _train(tmp_path_factory.mktemp("fit-one"), loop="fit", strategy="one_device")


@pytest.fixture(scope="module")
def custom_one_device(tmp_path_factory: pytest.TempPathFactory) -> TrainResult:
    """The tiny config trained with the custom loop on one device (shared by two tests)."""
    return _train(tmp_path_factory.mktemp("custom-one"), loop="custom", strategy="one_device")


def test_custom_loop_matches_fit(fit_one_device, custom_one_device):
    fit, custom = fit_one_device, custom_one_device
    assert custom.metrics["loop"] == "custom" and fit.metrics["loop"] == "fit"
    assert set(custom.metrics) == set(fit.metrics)
    assert [set(r) for r in custom.metrics["history"]] == [set(r) for r in fit.metrics["history"]]
    # fit's symbolic build draws one extra pass over the reshuffled data, so the epochs see the
    # examples in another order: the same training, not the same numbers.
    for a, b in zip(fit.metrics["history"], custom.metrics["history"], strict=True):
        for key in ("loss", "val_loss"):
            assert a[key] == pytest.approx(b[key], rel=0.1), key
    assert custom.metrics["final"]["test"]["accuracy"] == pytest.approx(
        fit.metrics["final"]["test"]["accuracy"], abs=0.1
    )
    for name in (
        "metrics.json",
        "model.keras",
        "history.jsonl",
        "learning_curves.png",
        "checkpoints/best.keras",
    ):
        assert (custom.run.path / name).is_file(), name
    assert not (custom.run.path / "backup").exists()  # removed once training finished


def test_one_replica_equals_two_replicas(tmp_path, fit_one_device, custom_one_device):
    """Global batch B on one device == B/2 on each of two mirrored replicas
    (custom loop and fit)."""
    if not _two_cpus():
        pytest.skip("needs the two logical CPUs of tests/conftest.py")
    two = _train(tmp_path / "two", loop="custom", strategy="mirrored", replicas=2)
    assert two.metrics["replicas"] == 2 and two.metrics["per_replica_batch_size"] == 16
    _assert_same_weights(custom_one_device.model, two.model)
    fit_two = _train(tmp_path / "fit2", loop="fit", strategy="mirrored", replicas=2)
    _assert_same_weights(fit_one_device.model, fit_two.model)


@pytest.mark.slow
def test_a_script_can_call_train_and_evaluate_under_mirrored_replicas(tmp_path):
    """`train_and_evaluate` prepares its strategy itself: a script that calls it alone, in a fresh
    process, gets the CPU split into two replicas before the data touches TensorFlow."""
    config = {**TINY, "epochs": 1, "run_root": str(tmp_path), "strategy": "mirrored", "replicas": 2}
    script = (
        "from dlsuite.apps.vision.config import VisionConfig\n"
        "from dlsuite.apps.vision.train import train_and_evaluate\n"
        f"result = train_and_evaluate(VisionConfig(**{config!r}))\n"
        "print('replicas', result.metrics['replicas'])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "replicas 2" in done.stdout


SGD = dict(loop="custom", optimizer="sgd", learning_rate=0.05, epochs=1)


@pytest.fixture(scope="module")
def sgd_one_device(tmp_path_factory: pytest.TempPathFactory) -> TrainResult:
    """One epoch of plain SGD on one device, no clipping: the large-batch reference of the
    gradient accumulation test and the unclipped reference of the clipping test."""
    return _train(tmp_path_factory.mktemp("sgd-one"), strategy="one_device", **SGD)


def test_gradient_accumulation_equals_the_larger_batch(tmp_path, sgd_one_device):
    accumulated = _train(tmp_path / "acc", **SGD, batch_size=16, grad_accum_steps=2)
    _assert_same_weights(sgd_one_device.model, accumulated.model)


def test_clip_norm_over_two_replicas_equals_one(tmp_path, sgd_one_device):
    """Clipping acts on the global gradient: the same weights with 1 and 2 replicas."""
    if not _two_cpus():
        pytest.skip("needs the two logical CPUs of tests/conftest.py")
    kwargs = dict(SGD, clip_norm=0.5)
    one = _train(tmp_path / "one", strategy="one_device", **kwargs)
    two = _train(tmp_path / "two", strategy="mirrored", replicas=2, **kwargs)
    _assert_same_weights(one.model, two.model)
    unclipped = sgd_one_device
    assert not np.allclose(one.model.get_weights()[0], unclipped.model.get_weights()[0])


# --- input sharding --------------------------------------------------------------------------


def _index_pipeline(n: int, batch_size: int):
    import tensorflow as tf

    from dlsuite.apps.common.data import make_pipeline

    indices = tf.data.Dataset.range(n).map(lambda i: (i, i % 10))
    return make_pipeline(indices, batch_size=batch_size, training=True, seed=5, shuffle_buffer=n)


def test_two_workers_see_every_example_once_per_epoch():
    """The auto-shard rewrite each MultiWorkerMirroredStrategy worker applies (policy DATA)."""
    from tensorflow.python.distribute.input_ops import auto_shard_dataset

    n, workers = 200, 2
    seen = []
    for index in range(workers):
        shard = auto_shard_dataset(_index_pipeline(n, 16), workers, index, workers)
        seen.append(np.concatenate([x.numpy() for x, _ in shard]))
    assert len(np.intersect1d(seen[0], seen[1])) == 0, "an example was seen by both workers"
    everything = np.concatenate(seen)
    assert len(everything) == n and sorted(everything.tolist()) == list(range(n))


def test_two_replicas_see_every_example_once_per_epoch():
    if not _two_cpus():
        pytest.skip("needs the two logical CPUs of tests/conftest.py")
    import tensorflow as tf

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    dist = strategy.experimental_distribute_dataset(_index_pipeline(96, 16))
    per_replica: list[list[int]] = [[], []]
    for x, _ in dist:
        for r, values in enumerate(strategy.experimental_local_results(x)):
            per_replica[r].extend(values.numpy().tolist())
    assert not set(per_replica[0]) & set(per_replica[1])
    assert sorted(per_replica[0] + per_replica[1]) == list(range(96))


# --- launch ----------------------------------------------------------------------------------


def _worker_command(command: list[str]) -> list[str]:
    """`worker_command` with the CLI's parser of the training command, as `dlsuite launch` calls
    it."""
    from dlsuite.apps.common.launch import worker_command
    from dlsuite.cli.runs import train_config

    return worker_command(command, train_config)


def test_worker_command_adds_strategy_and_run_id(tmp_path):
    command = _worker_command(["dlsuite", "train", "vision", "--run-root", str(tmp_path)])
    assert command[command.index("--strategy") + 1] == "multi_worker"
    assert command[command.index("--run-id") + 1].endswith("-" + _config_hash(tmp_path))
    with pytest.raises(ValueError, match="multi_worker"):
        _worker_command(["dlsuite", "train", "vision", "--strategy", "mirrored"])
    with pytest.raises(ValueError, match="dlsuite train"):
        _worker_command(["python", "x.py"])
    with pytest.raises(ValueError, match="dlsuite train"):
        _worker_command(["/usr/bin/not-dlsuite", "train", "vision"])


def test_worker_command_resumes_the_newest_unfinished_run(tmp_path):
    root = tmp_path / "vision"
    digest = _config_hash(tmp_path)
    for run_id in (f"20240101T000000000000Z-{digest}", f"20240102T000000000000Z-{digest}"):
        (root / run_id).mkdir(parents=True)
        (root / run_id / "config.json").write_text("{}")
    (root / f"20240103T000000000000Z-{digest}").mkdir()  # no config.json: not a run
    command = _worker_command(["dlsuite", "train", "vision", "--run-root", str(tmp_path)])
    assert command[command.index("--run-id") + 1] == f"20240102T000000000000Z-{digest}"


@pytest.mark.parametrize(
    "program",
    [
        ["/opt/venv/bin/dlsuite"],
        [".venv/bin/dlsuite"],
        ["python", "-m", "dlsuite"],
        ["/usr/bin/python3.11", "-m", "dlsuite"],
        ["python3", "-m", "dlsuite"],
    ],
)
def test_worker_command_accepts_a_path_to_dlsuite_and_python_m(tmp_path, program):
    args = ["train", "vision", "--run-root", str(tmp_path), "--run-id", "r1"]
    assert _worker_command([*program, *args]) == _worker_command(["dlsuite", *args])


def _config_hash(tmp_path: Path) -> str:
    from dlsuite.apps.vision.config import VisionConfig

    return VisionConfig(run_root=str(tmp_path), strategy="multi_worker").config_hash()


def test_multi_worker_needs_a_run_id(monkeypatch):
    from dlsuite.apps.common.cluster import is_chief, local_run_config
    from dlsuite.apps.vision.config import VisionConfig

    with pytest.raises(ValueError, match="--run-id"):
        local_run_config(VisionConfig(strategy="multi_worker"))
    cluster = {
        "cluster": {"worker": ["localhost:1", "localhost:2"]},
        "task": {"type": "worker", "index": 1},
    }
    monkeypatch.setenv("TF_CONFIG", json.dumps(cluster))
    assert not is_chief()
    config = local_run_config(VisionConfig(strategy="multi_worker", run_id="r", run_root="runs"))
    assert config.run_root != "runs" and "dlsuite-worker1-" in config.run_root


@pytest.fixture(scope="module")
def two_worker_run(tmp_path_factory):
    """An uninterrupted 2-worker run of the tiny config (6 epochs)."""
    root = tmp_path_factory.mktemp("launch")
    job = Launch(root, "reference", "vision", *TINY_ARGS)
    code = job.wait()
    assert code == 0, "".join(job.lines[-40:])
    run = root / "vision" / "reference"
    return run, json.loads((run / "metrics.json").read_text()), job.lines


@pytest.mark.slow
def test_launch_two_workers_trains_like_one_process(two_worker_run, tmp_path):
    run, metrics, lines = two_worker_run
    assert metrics["strategy"] in ("MultiWorkerMirroredStrategy", "CollectiveAllReduceStrategy")
    assert metrics["replicas"] == 2
    assert metrics["loop"] == "custom" and metrics["epochs_completed"] == 6
    assert any(line.startswith("[worker 1] ") for line in lines)
    for name in (
        "config.json",
        "model.keras",
        "learning_curves.png",
        "evaluation.json",
        "checkpoints/best.keras",
    ):
        assert (run / name).is_file(), name
    # Only the chief wrote here: one TensorBoard writer (one process id in the event file names).
    writers = {p.name.split(".")[-3] for p in (run / "logs" / "train").iterdir()}
    assert len(writers) == 1
    # The same data and seed in one process, global batch 32 on one replica: the same curves.
    single = _train(tmp_path, loop="custom", strategy="one_device", epochs=6)
    for a, b in zip(metrics["history"], single.metrics["history"], strict=True):
        assert a["loss"] == pytest.approx(b["loss"], abs=1e-3)
    assert metrics["final"]["test"]["accuracy"] == pytest.approx(
        single.metrics["final"]["test"]["accuracy"], abs=0.01
    )


@pytest.mark.slow
def test_killed_worker_fails_the_job_and_relaunch_resumes(two_worker_run, tmp_path):
    _, reference, _ = two_worker_run
    run = tmp_path / "vision" / "ft"
    job = Launch(tmp_path, "ft", "vision", *TINY_ARGS)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and job.proc.poll() is None:
        history = run / "history.jsonl"
        if history.is_file() and len(history.read_text().splitlines()) >= 2:
            break
        time.sleep(0.05)
    pid = job.worker_pid(1)
    assert pid is not None and job.proc.poll() is None, "".join(job.lines[-40:])
    os.kill(pid, signal.SIGKILL)
    assert job.wait() != 0
    assert any("worker 1 exited" in line for line in job.lines)
    assert not (run / "metrics.json").exists()
    assert list((run / "backup").glob("checkpoint")), "the chief wrote no checkpoint"

    again = Launch(tmp_path, "ft", "vision", *TINY_ARGS)
    assert again.wait() == 0, "".join(again.lines[-40:])
    assert any("restored" in line for line in again.lines)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["resumed"] and metrics["epochs_completed"] == 6
    assert [r["epoch"] for r in metrics["history"]] == list(range(1, 7))
    for split in ("test", "validation"):
        assert metrics["final"][split]["accuracy"] == pytest.approx(
            reference["final"][split]["accuracy"], abs=0.06
        )


# --- Kubernetes and Vertex AI ------------------------------------------------------------------

TFJOB_SCHEMA = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "kubeflow.org/v1"},
        "kind": {"const": "TFJob"},
        "metadata": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"}
            },
        },
        "spec": {
            "type": "object",
            "required": ["tfReplicaSpecs"],
            "properties": {
                "tfReplicaSpecs": {
                    "type": "object",
                    "required": ["Chief"],
                    "additionalProperties": False,
                    "properties": {
                        "Chief": {"$ref": "#/$defs/replica"},
                        "Worker": {"$ref": "#/$defs/replica"},
                    },
                }
            },
        },
    },
    "$defs": {
        "replica": {
            "type": "object",
            "required": ["replicas", "restartPolicy", "template"],
            "properties": {
                "replicas": {"type": "integer", "minimum": 1},
                "restartPolicy": {"enum": ["Always", "OnFailure", "Never", "ExitCode"]},
                "template": {
                    "type": "object",
                    "required": ["spec"],
                    "properties": {
                        "spec": {
                            "type": "object",
                            "required": ["containers"],
                            "properties": {
                                "containers": {
                                    "type": "array",
                                    "minItems": 1,
                                    "items": {
                                        "type": "object",
                                        "required": ["name", "image", "command"],
                                        "properties": {
                                            "name": {"const": "tensorflow"},
                                            "image": {"type": "string"},
                                            "command": {
                                                "type": "array",
                                                "items": {"type": "string"},
                                            },
                                        },
                                    },
                                }
                            },
                        }
                    },
                },
            },
        }
    },
}


def test_k8s_writes_a_valid_tfjob(tmp_path, capsys):
    import jsonschema
    import yaml

    from dlsuite.cli import main

    out = tmp_path / "job.yaml"
    assert (
        main(
            [
                "k8s",
                "--workers",
                "3",
                "--image",
                "registry/dlsuite:0.1",
                "--gpus-per-worker",
                "2",
                "--pvc",
                "shared",
                "--name",
                "digits-mw",
                "-o",
                str(out),
                "--",
                "dlsuite",
                "train",
                "vision",
                "--model",
                "lenet5",
            ]
        )
        == 0
    )
    job = yaml.safe_load(out.read_text())
    jsonschema.validate(job, TFJOB_SCHEMA)
    specs = job["spec"]["tfReplicaSpecs"]
    assert specs["Chief"]["replicas"] == 1 and specs["Worker"]["replicas"] == 2
    for spec in specs.values():
        container = spec["template"]["spec"]["containers"][0]
        command = container["command"]
        assert command[:3] == ["dlsuite", "train", "vision"]
        assert command[command.index("--strategy") + 1] == "multi_worker"
        assert command[command.index("--run-id") + 1] == "digits-mw"
        assert command[command.index("--run-root") + 1].startswith(
            container["volumeMounts"][0]["mountPath"]
        )
        assert container["resources"]["limits"]["nvidia.com/gpu"] == 2
        assert (
            spec["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"] == "shared"
        )
    # The command parses with dlsuite's own parser.
    from dlsuite.cli import build_parser

    args = build_parser().parse_args(command[1:])
    assert args.strategy == "multi_worker"


def test_k8s_vertex_custom_job(capsys):
    from dlsuite.cli import main

    assert (
        main(
            [
                "k8s",
                "--vertex",
                "--workers",
                "4",
                "--image",
                "gcr.io/p/dlsuite",
                "--gpus-per-worker",
                "1",
                "--name",
                "digits",
                "--",
                "dlsuite",
                "train",
                "vision",
            ]
        )
        == 0
    )
    job = json.loads(capsys.readouterr().out)
    pools = job["jobSpec"]["workerPoolSpecs"]
    assert [p["replicaCount"] for p in pools] == [1, 3]
    assert pools[0]["machineSpec"]["acceleratorCount"] == 1
    spec = pools[0]["containerSpec"]
    assert spec["imageUri"] == "gcr.io/p/dlsuite" and spec["command"] == ["dlsuite"]
    assert "multi_worker" in spec["args"]
    with pytest.raises(ValueError, match="multi_worker"):
        from dlsuite.apps.common.k8s import tfjob

        tfjob(
            ["dlsuite", "train", "vision", "--strategy", "mirrored"], workers=2, image="x", name="a"
        )


@pytest.mark.parametrize("loop", ["fit", "custom"])
def test_mixed_float16_trains_with_loss_scaling(tmp_path, monkeypatch, loop):
    """The GPU path (mixed_float16 + LossScaleOptimizer), run on the CPU with the same code."""
    import keras

    from dlsuite.apps.common import trainer

    monkeypatch.setattr(
        trainer, "mixed_precision_policy", lambda enabled: "mixed_float16" if enabled else None
    )
    result = _train(tmp_path, mixed_precision=True, loop=loop, epochs=1)
    assert result.metrics["mixed_precision"] == "mixed_float16"
    assert isinstance(result.model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert result.model.get_layer("c1").compute_dtype == "float16"
    assert result.metrics["final"]["test"]["loss"] < np.log(10)  # better than chance: it learned
