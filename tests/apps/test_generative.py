"""The generative app: GAN steps, sample-quality metrics, a tiny run, export and its marked
output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.apps.conftest import export_once

TINY = dict(
    data="builtin:digits",
    epochs=2,
    batch_size=32,
    max_train_examples=128,
    verbose=0,
    seed=3,
    num_eval_samples=200,
    evaluator_epochs=1,
    sample_grid_classes=2,
    filters=16,
    latent_dim=16,
)


@pytest.fixture(scope="module")
def tiny_gan_run(tmp_path_factory):
    """A finished 2-epoch conditional DCGAN run on 128 digits (with EMA)."""
    from dlsuite.apps.generative.config import GenerativeConfig
    from dlsuite.apps.generative.train import train_and_evaluate

    root = tmp_path_factory.mktemp("gen")
    return train_and_evaluate(GenerativeConfig(**TINY, ema_momentum=0.9, run_root=str(root)))


def _batch(n=8, size=16, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 255, (n, size, size, 1)).astype("float32"), (np.arange(n) % 10).astype(
        "int64"
    )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"model": "vae"}, "model="),
        ({"image_size": 18}, "image_size=18"),
        ({"ema_momentum": 1.0}, "ema_momentum=1.0"),
        ({"optimizer": "sgd"}, "Adam"),
        ({"n_critic": 0}, "n_critic=0"),
        ({"clip_norm": 1.0}, "clip-norm"),
    ],
)
def test_config_rejects_bad_values(kwargs, message):
    from dlsuite.apps.generative.config import GenerativeConfig

    with pytest.raises(ValueError, match=message):
        GenerativeConfig(**kwargs)


@pytest.mark.parametrize("model, critic_steps", [("dcgan", 1), ("wgan_gp", 3)])
def test_one_train_step_moves_both_networks_and_counts_critic_steps(model, critic_steps):
    import keras
    import tensorflow as tf

    from dlsuite.apps.generative.gan import build_gan

    gan = build_gan(
        model=model, latent_dim=8, image_shape=(16, 16, 1), filters=8, num_classes=10, n_critic=3
    )
    gan.compile(
        d_optimizer=keras.optimizers.Adam(1e-3),
        g_optimizer=keras.optimizers.Adam(1e-3),
        run_eagerly=True,
    )
    weights = gan.generator.trainable_weights + gan.discriminator.trainable_weights
    before = [w.numpy().copy() for w in weights]
    x, y = _batch()
    logs = gan.fit(tf.data.Dataset.from_tensor_slices((x, y)).batch(8), epochs=1, verbose=0).history
    assert np.isfinite(logs["d_loss"][0]) and np.isfinite(logs["g_loss"][0])
    unchanged = [
        w.path for w, old in zip(weights, before, strict=True) if np.array_equal(w.numpy(), old)
    ]
    # The Wasserstein loss D(fake) - D(real) and the penalty do not depend on the critic's
    # output bias.
    assert unchanged == (["psi/bias"] if model == "wgan_gp" else [])
    assert int(gan.optimizer.iterations) == critic_steps and int(gan.g_optimizer.iterations) == 1
    assert gan(x).shape == (8, 10)  # one discriminator logit per class (projection)


def test_generator_ema_replaces_the_weights_at_the_end_of_training(tmp_path):
    import keras
    import tensorflow as tf

    from dlsuite.apps.generative.gan import build_gan
    from dlsuite.apps.generative.samples import SampleGrids

    gan = build_gan(model="dcgan", latent_dim=8, image_shape=(8, 8, 1), filters=8, num_classes=None)
    gan.compile(
        d_optimizer=keras.optimizers.Adam(1e-2),
        g_optimizer=keras.optimizers.Adam(1e-2, use_ema=True, ema_momentum=0.5),
        run_eagerly=True,
    )
    raw = []
    record = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: raw.append(
            [w.numpy().copy() for w in gan.generator.trainable_weights]
        )
    )
    x, y = _batch(12, 8)
    grids = SampleGrids(tmp_path, lambda model: {}, rows=1, model_label="test", seed=0)
    gan.fit(
        tf.data.Dataset.from_tensor_slices((x, y)).batch(4),
        epochs=1,
        verbose=0,
        callbacks=[record, grids],
    )
    expected = raw[0]  # Keras: the average starts at the weights after the first step
    for weights in raw[1:]:
        expected = [0.5 * e + 0.5 * w for e, w in zip(expected, weights, strict=True)]
    for want, got in zip(expected, gan.generator.trainable_weights, strict=True):
        np.testing.assert_allclose(got.numpy(), want, atol=1e-6)
    assert any(
        not np.allclose(e, r) for e, r in zip(expected, raw[-1], strict=True)
    )  # the EMA differs from the raw weights
    assert (tmp_path / "samples" / "final.png").is_file()


def test_backup_restores_both_optimizers_with_ema(tmp_path):
    """A resumed GAN continues with the Adam moments (and EMA) of both networks,
    not fresh optimizers."""
    import keras
    import tensorflow as tf

    from dlsuite.apps.common.callbacks import AtomicBackupAndRestore
    from dlsuite.apps.generative.gan import build_gan

    def compiled():
        gan = build_gan(
            model="dcgan", latent_dim=8, image_shape=(8, 8, 1), filters=8, num_classes=10
        )
        gan.compile(
            d_optimizer=keras.optimizers.Adam(1e-3),
            g_optimizer=keras.optimizers.Adam(1e-3, use_ema=True, ema_momentum=0.9),
        )
        return gan

    class Killed(Exception):
        pass

    def kill(epoch, logs):
        raise Killed  # after the backup of epoch 1, as a SIGKILL would

    x, y = _batch(16, 8)
    gan = compiled()
    with pytest.raises(Killed):
        gan.fit(
            tf.data.Dataset.from_tensor_slices((x, y)).batch(8),
            epochs=2,
            verbose=0,
            callbacks=[
                AtomicBackupAndRestore(tmp_path),
                keras.callbacks.LambdaCallback(on_epoch_end=kill),
            ],
        )
    resumed = compiled()
    backup = AtomicBackupAndRestore(tmp_path)
    backup.set_model(resumed)
    backup.on_train_begin()
    for name in ("optimizer", "g_optimizer"):
        saved, restored = getattr(gan, name), getattr(resumed, name)
        assert int(restored.iterations) == 2
        for a, b in zip(saved.variables, restored.variables, strict=True):
            np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=f"{name} {a.path}")
    assert resumed._initial_epoch == 1  # noqa: SLF001


@pytest.mark.slow
def test_two_worker_gan_trains_like_two_replicas_in_one_process(tmp_path):
    """The GAN's own train_step under MultiWorkerMirroredStrategy
    (the shared custom loop, two processes)."""
    from tests.apps.launching import REPO, Launch

    options = {**TINY, "max_train_examples": 64, "num_eval_samples": 100}
    argv = [
        arg for key, value in options.items() for arg in (f"--{key.replace('_', '-')}", str(value))
    ]
    # The reference runs in its own process too: collective instance keys left by earlier
    # MirroredStrategy runs in the pytest process can collide with a new strategy's. It runs
    # while the workers train (its own run id, no ports): the two jobs share nothing.
    log = tmp_path / "mirrored.log"
    with log.open("w") as out:
        reference = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dlsuite",
                "train",
                "generative",
                *argv,
                "--strategy",
                "mirrored",
                "--replicas",
                "2",
                "--loop",
                "custom",
                "--run-root",
                str(tmp_path),
                "--run-id",
                "mirrored",
            ],
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    job = Launch(tmp_path, "two-workers", "generative", *argv)
    try:
        assert job.wait() == 0, "".join(job.lines[-40:])
        reference.wait(timeout=300)
    finally:
        if reference.poll() is None:
            reference.kill()
            reference.wait()
    workers = json.loads((tmp_path / "generative" / "two-workers" / "metrics.json").read_text())
    assert workers["loop"] == "custom" and workers["replicas"] == 2
    assert workers["strategy"] in ("MultiWorkerMirroredStrategy", "CollectiveAllReduceStrategy")
    assert reference.returncode == 0, log.read_text()[-6000:]
    mirrored = json.loads((tmp_path / "generative" / "mirrored" / "metrics.json").read_text())
    assert mirrored["replicas"] == 2 and mirrored["epochs_completed"] == 2
    for a, b in zip(workers["history"], mirrored["history"], strict=True):
        assert a["d_loss"] == pytest.approx(b["d_loss"], abs=1e-4)
        assert a["g_loss"] == pytest.approx(b["g_loss"], abs=1e-4)
        assert np.isfinite(a["val_FID-digits"])


def test_gan_keras_round_trip(tmp_path):
    import keras
    import tensorflow as tf

    from dlsuite.apps.generative.gan import build_gan

    gan = build_gan(model="dcgan", latent_dim=8, image_shape=(8, 8, 1), filters=8, num_classes=3)
    gan.save(tmp_path / "gan.keras")
    restored = keras.saving.load_model(tmp_path / "gan.keras", compile=False)
    x, _ = _batch(4, 8)
    z, labels = tf.random.normal((4, 8), seed=1), tf.constant([0, 1, 2, 0])
    np.testing.assert_allclose(restored(x), gan(x), atol=1e-6)
    np.testing.assert_allclose(restored.generate(z, labels), gan.generate(z, labels), atol=1e-6)
    assert restored.num_classes == 3 and restored.loss_name == "nonsaturating"


def test_frechet_distance_and_inception_score_on_known_cases():
    from dlsuite.apps.generative.quality import frechet_distance, inception_score

    rng = np.random.default_rng(0)
    a = rng.standard_normal((4000, 3))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    # Same covariance, mean shifted by (2, 0, 0): the distance is |shift|^2 = 4
    # (up to sampling noise).
    assert frechet_distance(a, a + np.array([2.0, 0, 0])) == pytest.approx(4.0, abs=1e-6)
    # N(0, I) vs N(0, 4I) in 3-d: 3 * (1 + 4 - 2 * 2) = 3.
    assert frechet_distance(a, 2 * rng.standard_normal((4000, 3))) == pytest.approx(3.0, rel=0.1)
    assert inception_score(np.eye(10)[np.arange(100) % 10]) == pytest.approx(10.0, rel=1e-6)
    assert inception_score(np.eye(10)[np.zeros(100, int)]) == pytest.approx(1.0, rel=1e-6)


def _digit_pngs(size):
    """The 1,797 real scikit-learn digits as (size x size) PNG bytes, unmarked."""
    import tensorflow as tf
    from sklearn.datasets import load_digits

    images = load_digits().images[..., None].astype(np.float32) * (255.0 / 16.0)
    images = tf.cast(tf.round(tf.image.resize(images, (size, size))), tf.uint8).numpy()
    return images, [tf.io.encode_png(image).numpy() for image in images]


def test_detect_mark_command_exit_codes(tmp_path, capsys):
    from dlsuite.cli import main
    from dlsuite.serving.marking import encode_marked_png

    images, pngs = _digit_pngs(16)
    (tmp_path / "real.png").write_bytes(pngs[0])
    (tmp_path / "fake.png").write_bytes(encode_marked_png(images[1], "m", 2))
    assert main(["detect-mark", str(tmp_path / "fake.png")]) == 0
    line = capsys.readouterr().out
    assert "AI-GENERATED" in line and "watermark=yes (z=" in line and "lsb=yes (match 1.000" in line
    assert (
        main(["detect-mark", "--json", str(tmp_path / "fake.png"), str(tmp_path / "real.png")]) == 1
    )
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["ai_generated"] for line in lines] == [True, False]
    assert [line["watermark"]["detected"] for line in lines] == [True, False]
    assert [line["lsb_watermark"]["detected"] for line in lines] == [True, False]


def test_tiny_run_writes_marked_grids_gif_and_sample_metrics(tiny_gan_run):
    from dlsuite.serving.marking import detect_mark

    run = tiny_gan_run.run.path
    metrics = json.loads((run / "metrics.json").read_text())
    evaluation = metrics["evaluation"]
    assert metrics["app"] == "generative" and metrics["model"] == "cdcgan"
    assert evaluation["split"] == "test" and evaluation["num_generated"] == 200
    assert evaluation["FID-digits"] > 0 and 1.0 <= evaluation["IS-digits"] <= 10.0
    assert 0.0 <= evaluation["class_accuracy"] <= 1.0 and len(evaluation["confusion_matrix"]) == 10
    assert all(
        "val_FID-digits" in record and "val_class_accuracy" in record
        for record in metrics["history"]
    )
    assert metrics["synthetic_content_marking"]["machine_readable"] is True
    samples = run / "samples"
    names = sorted(p.name for p in samples.iterdir())
    assert names == ["epoch_001.png", "epoch_002.png", "final.png", "training.gif"]
    for name in names:
        report = detect_mark((samples / name).read_bytes())
        assert report["watermark"]["detected"] and report["lsb_watermark"]["detected"], name
        assert report["text_mark"] == name.endswith(".png"), name
    from PIL import Image

    with Image.open(samples / "training.gif") as gif:
        assert gif.n_frames == 2


@pytest.fixture(scope="module")
def exported_gan(tiny_gan_run, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny run exported once as ``<base>/digit-gan/1``, shared by the export and serving
    tests (which only read it)."""
    return export_once(tiny_gan_run, "digit-gan", tmp_path_factory)


def test_export_generate_signature_matches_the_generator_and_marks_output(
    tiny_gan_run, exported_gan
):
    import keras
    import tensorflow as tf

    from dlsuite.apps.generative.quality import generate_pixels
    from dlsuite.serving.marking import detect_mark, embed_watermark
    from dlsuite.serving.warmup import read_warmup_requests

    version = exported_gan
    assert version.name == "1" and version.parent.name == "digit-gan"
    loaded = tf.saved_model.load(str(version))
    out = loaded.signatures["generate"](
        num_samples=tf.constant(3), class_ids=tf.constant([4, 7, 1]), seed=tf.constant(5, tf.int64)
    )
    assert out["class_ids"].numpy().tolist() == [4, 7, 1]
    gan = keras.saving.load_model(tiny_gan_run.run.path / "model.keras", compile=False)
    expected = generate_pixels(gan, 3, np.array([4, 7, 1], np.int32), seed=5).astype(np.uint8)
    images = out["images"].numpy()  # the generator's pixels marked in the graph, as in NumPy
    np.testing.assert_array_equal(images, np.array([embed_watermark(image) for image in expected]))
    for png, image in zip(out["png_bytes"].numpy(), images, strict=True):
        report = detect_mark(png)
        assert report["watermark"]["detected"] and report["lsb_watermark"]["detected"]
        assert report["text"]["Model"] == "digit-gan" and report["text"]["Model-Version"] == "1"
        np.testing.assert_array_equal(tf.io.decode_png(png).numpy(), image)
    cyclic = loaded.signatures["serving_default"](
        num_samples=tf.constant(12),
        class_ids=tf.constant([], tf.int32),
        seed=tf.constant(0, tf.int64),
    )
    assert cyclic["class_ids"].numpy().tolist() == [i % 10 for i in range(12)]
    manifest = json.loads((version / "assets.extra" / "manifest.json").read_text())
    assert "AI-generated" in manifest["synthetic_content_marking"]["method"]
    assert "Art. 50(2)" in manifest["synthetic_content_marking"]["notes"]
    assert manifest["evaluation"]["metrics"]["FID-digits"] > 0
    assert "class_accuracy" in manifest["evaluation"]["metrics"]
    assert len(list(read_warmup_requests(version))) == 4


def test_wgan_gp_is_selectable_by_name(tmp_path, capsys):
    from dlsuite.apps.generative.config import GenerativeConfig
    from dlsuite.apps.generative.train import train_and_evaluate

    result = train_and_evaluate(
        GenerativeConfig(
            **{**TINY, "epochs": 1, "max_train_examples": 64},
            model="wgan_gp",
            conditional=False,
            n_critic=2,
            run_root=str(tmp_path),
        )
    )
    metrics = result.metrics
    assert metrics["model"] == "wgan_gp" and metrics["epochs_completed"] == 1
    assert (
        np.isfinite(metrics["history"][0]["d_loss"])
        and "class_accuracy" not in metrics["evaluation"]
    )
    assert metrics["evaluation"]["FID-digits"] > 0
    # `dlsuite evaluate` of an unconditional model prints the sample-quality figures
    # (no class table).
    from dlsuite.cli import main

    capsys.readouterr()
    assert main(["evaluate", str(result.run.path)]) == 0
    out = capsys.readouterr().out
    printed = json.loads(out[out.index("{") :])
    assert printed["split"] == "test" and printed["FID-digits"] > 0


@pytest.fixture(scope="module")
def served_gan(exported_gan, tmp_path_factory):
    from tests.serving.conftest import start_server

    server = start_server(
        ["--model_name=digit-gan", f"--model_base_path={exported_gan.parent}"],
        tmp_path_factory.mktemp("log") / "server.log",
        ready_model="digit-gan",
    )
    yield server, exported_gan
    server.stop()


@pytest.mark.slow
def test_served_generate_over_rest_returns_marked_pngs(served_gan):
    import base64

    import requests
    import tensorflow as tf

    from dlsuite.serving.marking import detect_mark

    server, version = served_gan
    status = requests.get(f"{server.rest}/v1/models/digit-gan", timeout=10).json()
    assert (
        status["model_version_status"][0]["state"] == "AVAILABLE"
    )  # after replaying the warmup requests
    body = {
        "signature_name": "generate",
        "inputs": {"num_samples": 4, "class_ids": [3], "seed": 11},
    }
    answer = requests.post(
        f"{server.rest}/v1/models/digit-gan:predict", json=body, timeout=60
    ).json()
    outputs = answer["outputs"]
    assert outputs["class_ids"] == [3, 3, 3, 3]
    images = np.array(outputs["images"], dtype=np.uint8)
    assert images.shape == (4, 16, 16, 1)
    local = tf.saved_model.load(str(version)).signatures["generate"](
        num_samples=tf.constant(4), class_ids=tf.constant([3]), seed=tf.constant(11, tf.int64)
    )
    np.testing.assert_array_equal(images, local["images"].numpy())  # same seed, same images
    for item, image in zip(outputs["png_bytes"], images, strict=True):
        png = base64.b64decode(item["b64"])
        report = detect_mark(png)
        assert report["text"]["AI-generated"] == "true" and report["watermark"]["detected"]
        np.testing.assert_array_equal(tf.io.decode_png(png).numpy(), image)


@pytest.mark.slow
def test_served_generate_over_grpc_with_cyclic_classes(served_gan):
    from dlsuite.serving.client import grpc_predict
    from dlsuite.serving.marking import detect_mark

    server, _ = served_gan
    outputs = grpc_predict(
        server.grpc_target,
        "digit-gan",
        {"num_samples": 10, "class_ids": np.zeros([0], np.int32), "seed": 2},
        signature="generate",
    )
    assert outputs["class_ids"].tolist() == list(range(10))  # no class ids given: 0, 1, ..., 9
    assert outputs["images"].shape == (10, 16, 16, 1) and outputs["images"].dtype == np.uint8
    assert all(detect_mark(png)["ai_generated"] for png in outputs["png_bytes"])


@pytest.mark.parametrize("dataset", ["mnist", "fashion_mnist", "cifar10"])
def test_tfds_sources_train_offline(tmp_path, dataset):
    """The shared tfds loading code on tensorflow-datasets' mock data (no download)."""
    import tensorflow_datasets as tfds

    from dlsuite.apps.generative.config import GenerativeConfig
    from dlsuite.apps.generative.train import train_and_evaluate

    with tfds.testing.mock_data(num_examples=48, data_dir=str(tmp_path / "tfds")):
        result = train_and_evaluate(
            GenerativeConfig(
                **{
                    **TINY,
                    "epochs": 1,
                    "max_train_examples": 32,
                    "num_eval_samples": 40,
                    "data": f"tfds:{dataset}",
                    "data_dir": str(tmp_path / "tfds"),
                    "run_root": str(tmp_path),
                }
            )
        )
    metrics = result.metrics
    channels = 3 if dataset == "cifar10" else 1
    assert (
        metrics["data"]["source"] == f"tfds:{dataset}"
        and metrics["data"]["input_shape"][-1] == channels
    )
    assert metrics["epochs_completed"] == 1
    assert metrics["evaluation"][f"FID-{dataset}"] > 0


def test_image_folder_source_feeds_the_gan(tmp_path):
    """``dir:`` class folders through the shared image-folder source, at the GAN's image size."""
    import keras

    from dlsuite.apps.common.data import make_pipeline
    from dlsuite.apps.generative.config import GenerativeConfig
    from dlsuite.apps.generative.data import load_splits
    from dlsuite.apps.generative.gan import build_gan
    from tests.apps.test_vision_data import _write_digit_folders

    _write_digit_folders(tmp_path / "digits")
    splits = load_splits(GenerativeConfig(data=f"dir:{tmp_path / 'digits'}", image_size=16))
    assert splits.class_names == ["class_0", "class_1", "class_2"] and splits.input_shape == (
        16,
        16,
        3,
    )
    train = make_pipeline(splits.train, training=True, batch_size=8, seed=0)
    images, labels = next(iter(train))
    assert (
        images.shape[1:] == (16, 16, 3)
        and 0 <= float(images.numpy().min()) <= float(images.numpy().max()) <= 255
    )
    gan = build_gan(
        model="dcgan", latent_dim=8, image_shape=splits.input_shape, filters=8, num_classes=3
    )
    gan.compile(d_optimizer=keras.optimizers.Adam(1e-3), g_optimizer=keras.optimizers.Adam(1e-3))
    logs = gan.fit(train, epochs=1, verbose=0).history
    assert np.isfinite(logs["d_loss"][0]) and int(gan.g_optimizer.iterations) == len(list(train))
