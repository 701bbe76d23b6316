"""The shared training machinery, exercised through the vision app."""

from __future__ import annotations

import json
from pathlib import Path

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
    with pytest.raises(ValueError, match="`batch_size` expected a positive integer"):
        VisionConfig(batch_size=0)
    with pytest.raises(ValueError, match="model expected one of"):
        VisionConfig(model="vgg")
    with pytest.raises(ValueError, match="augment expected"):
        VisionConfig(augment=("rotate",))
    assert override(config, {"epochs": 3}).epochs == 3
    with pytest.raises(ValueError, match="lr_schedule expected one of"):
        VisionConfig(lr_schedule="linear")
    with pytest.raises(ValueError, match="`warmup_steps` expected a positive integer"):
        VisionConfig(warmup_steps=0)


def test_lr_schedule_auto_is_each_apps_default():
    from dlsuite.apps.generative.config import PRESETS as GENERATIVE_PRESETS
    from dlsuite.apps.generative.config import GenerativeConfig
    from dlsuite.apps.nlp.config import PRESETS as NLP_PRESETS
    from dlsuite.apps.nlp.config import NLPConfig
    from dlsuite.apps.nlp.lm.scaling_study import member_config
    from dlsuite.apps.speech.config import PRESETS as SPEECH_PRESETS
    from dlsuite.apps.speech.config import SpeechConfig
    from dlsuite.apps.vision.config import PRESETS as VISION_PRESETS

    defaults = {
        "constant": [VisionConfig(), *VISION_PRESETS.values(), GenerativeConfig()],
        "cosine": [SpeechConfig(), *SPEECH_PRESETS.values(), NLPConfig()],
        "transformer": [NLPConfig(task="translate", model="transformer_seq2seq")],
    }
    defaults["constant"] += GENERATIVE_PRESETS.values()
    for config in NLP_PRESETS.values():
        defaults["transformer" if config.task == "translate" else "cosine"].append(config)
    for schedule, configs in defaults.items():
        for config in configs:
            assert config.lr_schedule == "auto"
            assert config.effective_lr_schedule == schedule, (schedule, config)
    scaling = member_config(NLP_PRESETS["gpt-pydocs"], 1, 32, 2, Path("runs"))
    assert scaling.effective_lr_schedule == "constant"
    assert SpeechConfig(lr_schedule="constant").effective_lr_schedule == "constant"
    assert VisionConfig(lr_schedule="transformer").effective_lr_schedule == "transformer"
    assert GenerativeConfig(model="dbn", lr_schedule="cosine").effective_lr_schedule == "cosine"
    with pytest.raises(ValueError, match="constant learning rate"):
        GenerativeConfig(lr_schedule="cosine")


def test_learning_rate_schedules():
    import keras

    from dlsuite.apps.common.optimization import learning_rate_schedule, make_optimizer

    assert learning_rate_schedule("constant", 3e-3, 100, 10) == 3e-3
    cosine = learning_rate_schedule("cosine", 3e-3, 100, 10)
    assert float(cosine(0)) == pytest.approx(3e-3) and float(cosine(50)) == pytest.approx(1.5e-3)
    assert float(cosine(100)) == pytest.approx(0.0, abs=1e-9)
    warmup = learning_rate_schedule("transformer", 2e-3, 100, 300)  # warmup past the run's end
    assert float(warmup(149)) == pytest.approx(1e-3, rel=1e-5)
    assert float(warmup(299)) == pytest.approx(2e-3, rel=1e-5)
    assert float(warmup(1199)) == pytest.approx(1e-3, rel=1e-5)
    with pytest.raises(ValueError, match="schedule expected one of"):
        learning_rate_schedule("auto", 1e-3, 100, 10)
    optimizer = make_optimizer("sgd", 0.1, "cosine", total_steps=10, clipnorm=1.0)
    assert isinstance(optimizer, keras.optimizers.SGD) and optimizer.clipnorm == 1.0
    rate = optimizer.get_config()["learning_rate"]
    assert rate["class_name"] == "CosineDecay" and rate["config"]["decay_steps"] == 10


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
    assert metrics["lr_schedule"] == "constant"
    assert metrics["num_params"] == 61706
    # LeNet-5 at 32x32: 416,520 multiply-adds = 833,040 FLOPs, plus biases, pooling and rescaling.
    assert 833_040 <= metrics["flops_per_example"] <= 833_040 * 1.03
    assert metrics["training_flops"] == 3 * metrics["flops_per_example"] * metrics["examples_seen"]
    assert metrics["devices"]["count"] == 1 and metrics["devices"]["kind"] == "CPU"
    assert metrics["strategy"] == "default"  # --strategy auto on a host without GPUs
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


def test_the_schedule_spans_the_whole_run(tmp_path):
    result = train_tiny(tmp_path, lr_schedule="cosine", epochs=1)
    assert result.metrics["lr_schedule"] == "cosine"
    optimizer = result.model.optimizer
    rate = optimizer.get_config()["learning_rate"]
    assert rate["class_name"] == "CosineDecay" and rate["config"]["decay_steps"] == 128 // 32
    assert int(optimizer.iterations) == 4 and float(optimizer.learning_rate) == pytest.approx(0.0)
