"""Vision data sources other than the built-in digits: tfds (mocked offline) and image folders."""

from __future__ import annotations

import numpy as np
import pytest

from dlsuite.apps.vision.config import VisionConfig
from dlsuite.apps.vision.data import load_splits


def test_tfds_mnist_loads_with_real_loading_code(tmp_path):
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=20, data_dir=str(tmp_path)):
        splits = load_splits(VisionConfig(data="tfds:mnist", data_dir=str(tmp_path)))
        assert splits.class_names == [str(i) for i in range(10)]
        assert splits.input_shape == (32, 32, 1)
        assert splits.info["kind"] == "tfds" and splits.info["version"]
        assert set(splits.sizes) == {"train", "validation", "test"}
        image, label = next(iter(splits.train))
        assert image.shape == (32, 32, 1) and image.dtype == "float32"
        assert 0 <= int(label) < 10


def test_tfds_training_runs_offline(tmp_path):
    import tensorflow_datasets as tfds

    from tests.apps.conftest import train_tiny

    with tfds.testing.mock_data(num_examples=64, data_dir=str(tmp_path / "tfds")):
        result = train_tiny(
            tmp_path,
            data="tfds:cifar10",
            data_dir=str(tmp_path / "tfds"),
            model="resnet20",
            epochs=1,
            batch_size=16,
            max_train_examples=32,
        )
    assert result.metrics["data"]["source"] == "tfds:cifar10"
    assert result.metrics["data"]["input_shape"] == [32, 32, 3]
    assert np.isfinite(result.metrics["final"]["test"]["loss"])


def _write_digit_folders(root, per_class: int = 12):
    """Real handwritten digits (scikit-learn) written as PNG files, one folder per class."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    counts = {}
    for image, label in zip(digits.images, digits.target, strict=True):
        if counts.get(label, 0) >= per_class or label > 2:
            continue
        counts[label] = counts.get(label, 0) + 1
        folder = root / f"class_{label}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray((image * 255 / 16).astype(np.uint8)).save(folder / f"{counts[label]}.png")


def test_image_folders_split_into_train_validation_test(tmp_path):
    _write_digit_folders(tmp_path / "digits")
    splits = load_splits(
        VisionConfig(data=f"dir:{tmp_path / 'digits'}", image_size=16, model="lenet5")
    )
    assert splits.class_names == ["class_0", "class_1", "class_2"]
    assert sum(splits.sizes.values()) == 36
    assert splits.input_shape == (16, 16, 3)
    labels = sorted(
        int(y) for _, y in splits.train.concatenate(splits.validation).concatenate(splits.test)
    )
    assert labels == [0] * 12 + [1] * 12 + [2] * 12


def test_image_folders_with_train_and_test_subfolders(tmp_path):
    _write_digit_folders(tmp_path / "d" / "train", per_class=10)
    _write_digit_folders(tmp_path / "d" / "test", per_class=3)
    splits = load_splits(VisionConfig(data=f"dir:{tmp_path / 'd'}", image_size=32))
    assert splits.sizes["test"] == 9
    assert splits.sizes["train"] + splits.sizes["validation"] == 30


def test_missing_image_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_splits(VisionConfig(data=f"dir:{tmp_path / 'nope'}"))
    (tmp_path / "empty" / "a").mkdir(parents=True)
    with pytest.raises(ValueError, match="no images"):
        load_splits(VisionConfig(data=f"dir:{tmp_path / 'empty'}"))


def test_augmentation_layers_change_training_batches_only():
    import tensorflow as tf

    from dlsuite.apps.vision.data import augmentation

    layer = augmentation(VisionConfig(augment=("crop", "flip", "translate")), 32)
    batch = tf.random.uniform((4, 32, 32, 1), 0, 255)
    assert layer(batch, training=True).shape == (4, 32, 32, 1)
    assert not np.allclose(layer(batch, training=True), batch)
    assert augmentation(VisionConfig(), 32) is None
