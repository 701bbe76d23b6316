"""The shared training machinery, exercised through the vision app."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dlsuite.apps.common.config import override
from dlsuite.apps.common.data import parse_source, split_by_index
from dlsuite.apps.vision.config import VisionConfig
from tests.apps.conftest import train_tiny


def test_config_rejects_unknown_keys_and_bad_values():
    config = VisionConfig()
    with pytest.raises(ValueError, match="unknown config keys \\['epoch'\\]"):
        override(config, {"epoch": 3})
    with pytest.raises(ValueError, match="batch_size expected a positive integer"):
        VisionConfig(batch_size=0)
    with pytest.raises(ValueError, match="model expected one of"):
        VisionConfig(model="vgg")
    with pytest.raises(ValueError, match="augment expected"):
        VisionConfig(augment=("rotate",))
    assert override(config, {"epochs": 3}).epochs == 3


def test_config_hash_ignores_where_a_run_is_stored():
    a = VisionConfig(run_root="/a", run_id="x")
    b = VisionConfig(run_root="/b")
    assert a.config_hash() == b.config_hash()
    assert a.config_hash() != VisionConfig(seed=1).config_hash()


@pytest.mark.parametrize("source", ["mnist", "tfds:", "s3:bucket", ""])
def test_bad_data_source_names_the_accepted_forms(source):
    with pytest.raises(ValueError, match="tfds:<name>, dir:<path> or builtin:<name>"):
        parse_source(source)


def test_split_by_index_is_a_partition():
    import tensorflow as tf

    parts = split_by_index(
        tf.data.Dataset.range(100), 100, {"train": 0.7, "validation": 0.1, "test": 0.2}, seed=3
    )
    seen = {name: sorted(int(i) for i in ds.as_numpy_iterator()) for name, (ds, _) in parts.items()}
    assert [len(seen[k]) for k in ("train", "validation", "test")] == [70, 10, 20]
    assert sorted(sum(seen.values(), [])) == list(range(100))
    again = split_by_index(
        tf.data.Dataset.range(100), 100, {"train": 0.7, "validation": 0.1, "test": 0.2}, seed=3
    )
    assert sorted(int(i) for i in again["test"][0].as_numpy_iterator()) == seen["test"]


def test_builtin_digits_splits():
    from dlsuite.apps.vision.data import load_splits

    splits = load_splits(VisionConfig())
    assert sum(splits.sizes.values()) == 1797
    assert splits.sizes["test"] == round(1797 * 0.2)
    assert splits.input_shape == (32, 32, 1)
    image, label = next(iter(splits.test))
    assert (
        image.shape == (32, 32, 1) and 0.0 <= float(np.min(image)) and float(np.max(image)) <= 255.0
    )
    assert 0 <= int(label) < 10


def test_run_directory_contents(tiny_run):
    run = tiny_run.run.path
    metrics = json.loads((run / "metrics.json").read_text())
    config = json.loads((run / "config.json").read_text())
    assert config["model"] == "lenet5" and config["app"] == "vision" and config["seed"] == 7
    for name in (
        "history.jsonl",
        "model.keras",
        "learning_curves.png",
        "evaluation.json",
        "confusion_matrix.png",
        "checkpoints/best.keras",
    ):
        assert (run / name).is_file(), name
    assert list((run / "logs").rglob("events.out.tfevents.*")), "no TensorBoard events"
    assert not (run / "backup").exists(), "backup state is removed after a finished run"
    assert [r["epoch"] for r in metrics["history"]] == [1, 2]
    assert metrics["examples_seen"] == 2 * 128
    assert metrics["num_params"] == 61706
    # LeNet-5 at 32x32: 416,520 multiply-adds = 833,040 FLOPs, plus biases, pooling and rescaling.
    assert 833_040 <= metrics["flops_per_example"] <= 833_040 * 1.03
    assert metrics["training_flops"] == 3 * metrics["flops_per_example"] * metrics["examples_seen"]
    assert metrics["devices"]["count"] == 1 and metrics["devices"]["kind"] == "CPU"
    assert metrics["data"]["splits"]["test"] == 359 and metrics["data"]["kind"] == "builtin"
    assert metrics["wall_time_s"] > 0
    evaluation = metrics["evaluation"]
    assert evaluation["split"] == "test" and evaluation["num_examples"] == 359
    assert sum(map(sum, evaluation["confusion_matrix"])) == 359
    assert evaluation["accuracy"] == pytest.approx(metrics["final"]["test"]["accuracy"], abs=1e-6)


def test_seeded_runs_are_reproducible(tmp_path, tiny_run):
    again = train_tiny(tmp_path)
    first = [r["loss"] for r in tiny_run.metrics["history"]]
    second = [r["loss"] for r in again.metrics["history"]]
    assert first == second
    for a, b in zip(tiny_run.model.get_weights(), again.model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_mirrored_two_replicas_split_the_global_batch(tmp_path):
    result = train_tiny(tmp_path, strategy="mirrored", replicas=2, epochs=1)
    metrics = result.metrics
    assert metrics["strategy"] == "MirroredStrategy" and metrics["replicas"] == 2
    assert metrics["devices"]["count"] == 2
    assert metrics["global_batch_size"] == 32 and metrics["per_replica_batch_size"] == 16
    assert np.isfinite(metrics["final"]["test"]["loss"])


def test_global_batch_must_divide_across_replicas(tmp_path):
    with pytest.raises(ValueError, match="must divide evenly across 2 replicas"):
        train_tiny(tmp_path, strategy="mirrored", replicas=2, batch_size=33)


def test_mixed_precision_and_xla(tmp_path):
    import tensorflow as tf

    result = train_tiny(tmp_path, mixed_precision=True, jit_compile=True, epochs=1)
    # float16 on a GPU (with loss scaling), bfloat16 on a CPU-only host
    policy, compute = (
        ("mixed_float16", "float16")
        if tf.config.list_physical_devices("GPU")
        else ("mixed_bfloat16", "bfloat16")
    )
    assert result.metrics["mixed_precision"] == policy
    assert result.metrics["jit_compile"] is True and result.model.jit_compile is True
    conv = result.model.get_layer("c1")
    assert conv.dtype_policy.name == policy and conv.compute_dtype == compute
    assert conv.kernel.dtype == "float32"
    assert result.model.output.dtype == "float32"
    assert np.isfinite(result.metrics["final"]["test"]["loss"])


def test_rerunning_a_finished_run_id_is_refused(tmp_path, tiny_run):
    run_id = tiny_run.run.run_id
    root = tiny_run.run.path.parent.parent
    with pytest.raises(ValueError, match="already complete"):
        train_tiny(root, run_id=run_id)
