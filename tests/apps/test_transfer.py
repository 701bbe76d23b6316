"""Fine-tuning's parts on tiny models: freeze-then-unfreeze, the backbone's learning rate, class
weights, where pretrained weights come from, the backbones' input normalisation, Grad-CAM through a
nested backbone (apps/common/transfer.py, apps/vision/models/pretrained.py)."""

from __future__ import annotations

import numpy as np
import pytest


def _nested_model(seed: int = 0):
    """A model with a nested "backbone" (conv + batch norm), its batch norm frozen as a
    pretrained backbone's is."""
    import keras

    from dlsuite.apps.common.transfer import freeze_batch_norm

    keras.utils.set_random_seed(seed)
    image = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same")(image)
    x = keras.layers.BatchNormalization()(x)
    backbone = keras.Model(image, keras.layers.ReLU()(x), name="backbone")
    inputs = keras.Input((8, 8, 3), name="image")
    freeze_batch_norm(backbone)
    features = backbone(inputs)
    pooled = keras.layers.GlobalAveragePooling2D(name="pool")(features)
    logits = keras.layers.Dense(3, name="logits")(pooled)
    outputs = keras.layers.Activation("softmax", name="probabilities")(logits)
    return keras.Model(inputs, outputs)


def _weights(layer) -> list[np.ndarray]:
    return [np.array(w) for w in layer.get_weights()]


def test_fine_tune_schedule_trains_the_head_alone_then_the_backbone():
    import keras

    from dlsuite.apps.common.transfer import FineTuneSchedule, scale_learning_rate

    model = _nested_model()
    optimizer = keras.optimizers.Adam(1e-2)
    scale_learning_rate(optimizer, model.get_layer("backbone").trainable_weights, 0.1)
    model.compile(optimizer, loss="sparse_categorical_crossentropy")
    start = {name: _weights(model.get_layer(name)) for name in ("backbone", "logits")}
    snapshots: list[dict[str, list[np.ndarray]]] = []

    class Snapshot(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            snapshots.append({n: _weights(self.model.get_layer(n)) for n in start})

    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 8, 8, 3)).astype("float32")
    y = rng.integers(0, 3, size=32)
    history = model.fit(
        x,
        y,
        epochs=4,
        batch_size=8,
        verbose=0,
        callbacks=[FineTuneSchedule("backbone", 2, True), Snapshot()],
    )
    assert history.history["backbone_trainable"] == [0.0, 0.0, 1.0, 1.0]
    for epoch in (0, 1):  # frozen: the backbone bit-identical, the head trained
        for before, after in zip(start["backbone"], snapshots[epoch]["backbone"], strict=True):
            np.testing.assert_array_equal(before, after)
        assert not np.array_equal(start["logits"][0], snapshots[epoch]["logits"][0])
    kernel_before, kernel_after = start["backbone"][0], snapshots[3]["backbone"][0]
    assert not np.array_equal(kernel_before, kernel_after)  # unfrozen: trained
    # batch normalization stays in inference mode: its moving statistics never move
    for index in (4, 5):  # moving mean, moving variance (after conv kernel, bias, gamma, beta)
        np.testing.assert_array_equal(start["backbone"][index], snapshots[3]["backbone"][index])


@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_scale_learning_rate_scales_only_the_given_variables_steps(name):
    import keras

    from dlsuite.apps.common.transfer import scale_learning_rate

    scaled, plain = keras.Variable(np.zeros(3, "float32")), keras.Variable(np.zeros(3, "float32"))
    optimizer = keras.optimizers.SGD(0.5) if name == "sgd" else keras.optimizers.Adam(0.5)
    scale_learning_rate(optimizer, [scaled], 0.1)
    gradient = np.ones(3, "float32")
    optimizer.apply([gradient, gradient], [scaled, plain])
    # SGD: -lr * g; Adam's first step: -lr * g / (|g| + eps), about -lr
    np.testing.assert_allclose(np.array(plain), -0.5, rtol=1e-5)
    np.testing.assert_allclose(np.array(scaled), -0.05, rtol=1e-5)
    with pytest.raises(ValueError, match="multiplier"):
        scale_learning_rate(optimizer, [scaled], 0.0)


def test_balanced_class_weights_are_scikit_learns_and_zero_for_an_empty_class():
    from sklearn.utils.class_weight import compute_class_weight

    from dlsuite.apps.common.transfer import balanced_class_weights, class_weight_record

    labels = np.array([0] * 30 + [1] * 10 + [3] * 5)
    weights = balanced_class_weights(labels, ["a", "b", "c", "d"])
    expected = compute_class_weight("balanced", classes=np.array([0, 1, 3]), y=labels)
    np.testing.assert_allclose([weights[0], weights[1], weights[3]], expected)
    assert weights[2] == 0.0
    record = class_weight_record(weights, ["a", "b", "c", "d"])
    assert record["mode"] == "balanced" and record["weights"]["a"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="empty"):
        balanced_class_weights([], ["a", "b"])


def test_pretrained_weights_record_a_files_and_a_folders_digest(tmp_path):
    import hashlib

    from dlsuite.apps.common.fingerprint import files_fingerprint
    from dlsuite.apps.common.transfer import PretrainedWeights

    file = tmp_path / "w.h5"
    file.write_bytes(b"weights")
    record = PretrainedWeights.at(str(file), "file", file).describe()
    assert record == {
        "spec": str(file),
        "source": "file",
        "path": str(file.resolve()),
        "sha256": hashlib.sha256(b"weights").hexdigest(),
    }
    folder = PretrainedWeights.at("dir", "kerashub-preset", tmp_path)
    assert folder.sha256 == files_fingerprint(tmp_path)["value"].removeprefix("sha256:")
    assert PretrainedWeights.random().describe()["sha256"] is None
    with pytest.raises(FileNotFoundError, match="not found"):
        PretrainedWeights.at("x", "file", tmp_path / "missing.h5")


def test_the_cache_file_names_are_the_ones_keras_applications_downloads(monkeypatch):
    """Each family is built with weights="imagenet" while Keras' downloader is replaced by one
    that records the file name asked for (nothing is downloaded). At 75x75 (InceptionV3's
    smallest input) MobileNetV2 asks for its 224 file, as for any size it has no file of."""
    import keras
    from keras.src.utils import file_utils

    from dlsuite.apps.vision.backbones import KERAS_APPLICATIONS

    class Asked(Exception):
        pass

    def record(fname, *args, **kwargs):
        raise Asked(fname)

    monkeypatch.setattr(file_utils, "get_file", record)
    for family, (_, cache_file) in KERAS_APPLICATIONS.items():
        with pytest.raises(Asked) as asked:
            getattr(keras.applications, family)(include_top=False, input_shape=(75, 75, 3))
        assert asked.value.args[0] == cache_file, family
        keras.backend.clear_session()


def test_imagenet_weights_come_from_keras_cache_or_a_clear_error(tmp_path, monkeypatch):
    import keras

    from dlsuite.apps.vision.backbones import KERAS_APPLICATIONS
    from dlsuite.apps.vision.models.pretrained import build_pretrained_classifier

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError) as error:
        build_pretrained_classifier("MobileNetV3Small", "imagenet", (32, 32, 3), 4)
    message = str(error.value)
    cache_file = KERAS_APPLICATIONS["MobileNetV3Small"][1]
    assert str(tmp_path / "models" / cache_file) in message
    for way in ("(1) copy the file", "(2) --weights PATH", "(3) --backbone kerashub --weights DIR"):
        assert way in message

    # a file in the cache under the name Keras downloads is what "imagenet" loads
    keras.utils.set_random_seed(3)
    source = keras.applications.MobileNetV3Small(
        include_top=False, weights=None, input_shape=(32, 32, 3)
    )
    (tmp_path / "models").mkdir()
    source.save(tmp_path / "models" / cache_file)  # the legacy HDF5 form Keras' files have
    built = build_pretrained_classifier("MobileNetV3Small", "imagenet", (32, 32, 1), 4)
    assert built.weights.source == "keras-cache"
    assert built.weights.path == str(tmp_path / "models" / cache_file)
    for expected, loaded in zip(
        source.get_weights(), built.model.get_layer("backbone").get_weights(), strict=True
    ):
        np.testing.assert_array_equal(expected, loaded)


def test_weights_that_do_not_fit_or_do_not_exist_are_named(tmp_path):
    import keras

    from dlsuite.apps.vision.models.pretrained import build_pretrained_classifier

    other = keras.applications.MobileNetV3Small(
        include_top=False, weights=None, input_shape=(32, 32, 3), minimalistic=True
    )
    path = tmp_path / "minimalistic.weights.h5"
    other.save_weights(path)
    with pytest.raises(ValueError, match="do not fit keras.applications.MobileNetV3Small"):
        build_pretrained_classifier("MobileNetV3Small", str(path), (32, 32, 3), 4)
    with pytest.raises(FileNotFoundError, match="no such file"):
        build_pretrained_classifier("MobileNetV3Small", str(tmp_path / "no.h5"), (32, 32, 3), 4)
    with pytest.raises(ValueError, match="is a folder"):
        build_pretrained_classifier("MobileNetV3Small", str(tmp_path), (32, 32, 3), 4)
    with pytest.raises(FileNotFoundError, match="KerasHub preset folder"):
        build_pretrained_classifier("kerashub", str(tmp_path), (32, 32, 3), 4)
    with pytest.raises(ValueError, match="unknown backbone"):
        build_pretrained_classifier("VGG99", "none", (32, 32, 3), 4)


@pytest.mark.parametrize(
    ("mode", "module"), [("caffe", "resnet"), ("tf", "mobilenet_v2"), ("torch", "densenet")]
)
def test_imagenet_preprocessing_is_keras_applications_preprocess_input(mode, module):
    import keras

    from dlsuite.core_layers import ImageNetPreprocessing

    pixels = np.random.default_rng(1).uniform(0, 255, (2, 5, 5, 3)).astype("float32")
    expected = getattr(keras.applications, module).preprocess_input(pixels.copy())
    np.testing.assert_allclose(ImageNetPreprocessing(mode)(pixels), expected, rtol=1e-5, atol=1e-4)


def test_random_weights_train_batch_norm_and_pretrained_keep_it_in_inference_mode(tmp_path):
    import keras

    from dlsuite.apps.vision.models.pretrained import (
        RANDOM_INIT_BN_MOMENTUM,
        build_pretrained_classifier,
    )

    random = build_pretrained_classifier("MobileNetV3Small", "none", (32, 32, 1), 4)
    assert random.weights.source == "random" and random.library == "keras.applications"
    norms = [
        layer
        for layer in random.model.get_layer("backbone").layers
        if isinstance(layer, keras.layers.BatchNormalization)
    ]
    assert norms and all(layer.momentum == RANDOM_INIT_BN_MOMENTUM for layer in norms)
    path = tmp_path / "b.weights.h5"
    random.model.get_layer("backbone").save_weights(path)
    pretrained = build_pretrained_classifier("MobileNetV3Small", str(path), (32, 32, 1), 4)
    x = np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 1)).astype("float32")
    # training=True on the whole model leaves the pretrained backbone in inference mode
    np.testing.assert_allclose(
        pretrained.model(x, training=True), pretrained.model(x, training=False), atol=1e-6
    )
    assert pretrained.weights.source == "file"


def test_grad_cam_weighs_a_nested_backbones_feature_maps():
    from dlsuite.apps.common.explain import grad_cam, last_conv_layer

    model = _nested_model()
    assert last_conv_layer(model) == "backbone"
    x = np.random.default_rng(0).normal(size=(3, 8, 8, 3)).astype("float32")
    cam = grad_cam(model, x)
    assert cam.maps.shape == (3, 8, 8) and cam.report["layer"] == "backbone"


def test_config_refuses_what_cannot_be_fine_tuned():
    from dlsuite.apps.vision.config import VisionConfig

    assert VisionConfig(backbone="ResNet50").effective_freeze_epochs == 5
    assert VisionConfig(backbone="ResNet50", weights="none").effective_freeze_epochs == 0
    for fields, match in [
        ({"backbone": "VGG99"}, "backbone expected one of"),
        ({"backbone": "kerashub"}, "KerasHub preset folder"),
        ({"backbone": "ResNet50", "weights": "none", "freeze_epochs": 2}, "with --weights none"),
        ({"backbone": "ResNet50", "freeze_epochs": -1}, "freeze_epochs expected"),
        ({"backbone": "ResNet50", "backbone_lr_multiplier": 0.0}, "backbone_lr_multiplier"),
        ({"class_weight": "inverse"}, "class_weight expected"),
    ]:
        with pytest.raises(ValueError, match=match):
            VisionConfig(**fields)
