"""Vision data: ``builtin:digits``, ``tfds:<image dataset>`` and ``dir:<image folders>``.

Every source yields ``(image, label)`` with ``image`` float32 pixel values in [0, 255] of shape
``(S, S, C)`` (resized to the network's input size) and ``label`` an int64 class index. The model
itself rescales to [0, 1], so a served model takes raw pixel values or encoded images.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dlsuite.apps.common.data import Splits, load_tfds, parse_source, split_by_index
from dlsuite.apps.vision.config import VisionConfig

BUILTIN = ("digits",)
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


def load_splits(config: VisionConfig) -> Splits:
    """Train/validation/test splits of ``config.data`` at ``image_size(config)``."""
    spec = parse_source(config.data)
    size = image_size(config)
    if spec.kind == "builtin":
        return _builtin(spec.name, size, config)
    if spec.kind == "tfds":
        return _tfds(spec.name, size, config)
    return _directory(Path(spec.name), size, config)


def image_size(config: VisionConfig) -> int:
    from dlsuite.apps.vision.models import DEFAULT_INPUT_SIZE  # models/ imports Keras

    return config.image_size or DEFAULT_INPUT_SIZE[config.model]


def _resize(size: int) -> Any:
    import tensorflow as tf

    def resize(image: Any, label: Any) -> tuple[Any, Any]:
        image = tf.image.resize(tf.cast(image, tf.float32), (size, size), method="bilinear")
        return tf.clip_by_value(image, 0.0, 255.0), tf.cast(label, tf.int64)

    return resize


def _fractions(config: VisionConfig) -> dict[str, float]:
    test = config.test_fraction
    validation = config.validation_fraction * (1.0 - test)
    return {"train": 1.0 - test - validation, "validation": validation, "test": test}


def _builtin(name: str, size: int, config: VisionConfig) -> Splits:
    import numpy as np
    import sklearn
    import tensorflow as tf
    from sklearn.datasets import load_digits

    if name != "digits":
        raise ValueError(f"unknown builtin vision dataset {name!r}; known: {BUILTIN}")
    # 1797 real handwritten digits, 8x8, 17 grey levels, bundled with scikit-learn
    digits = load_digits()
    images = (digits.images.astype(np.float32) * (255.0 / 16.0))[..., np.newaxis]  # (N, 8, 8, 1)
    dataset = tf.data.Dataset.from_tensor_slices((images, digits.target.astype(np.int64)))
    dataset = dataset.map(_resize(size))
    parts = split_by_index(dataset, len(images), _fractions(config), config.split_seed)
    return Splits(
        train=parts["train"][0],
        validation=parts["validation"][0],
        test=parts["test"][0],
        class_names=[str(i) for i in range(10)],
        input_shape=(size, size, 1),
        sizes={k: v[1] for k, v in parts.items()},
        info={
            "source": config.data,
            "kind": "builtin",
            "name": "digits",
            "version": (
                f"scikit-learn {sklearn.__version__} load_digits "
                "(UCI optical recognition of handwritten digits)"
            ),
            "preprocessing": (
                f"8x8 grey levels 0-16 scaled to 0-255, bilinear resize to {size}x{size}; "
                f"seeded split (split_seed={config.split_seed})"
            ),
        },
    )


def _tfds(name: str, size: int, config: VisionConfig) -> Splits:
    datasets, sizes, info = load_tfds(name, config.data_dir, config.validation_fraction)
    label = info.features["label"]
    channels = info.features["image"].shape[-1] or 3
    resize = _resize(size)
    splits = {k: ds.map(resize) for k, ds in datasets.items()}
    return Splits(
        train=splits["train"],
        validation=splits["validation"],
        test=splits["test"],
        class_names=list(label.names),
        input_shape=(size, size, channels),
        sizes=sizes,
        info={
            "source": config.data,
            "kind": "tfds",
            "name": name,
            "version": str(info.version),
            "preprocessing": f"uint8 pixels as float32 0-255, bilinear resize to {size}x{size}",
        },
    )


def _directory(path: Path, size: int, config: VisionConfig) -> Splits:
    import keras

    if not path.is_dir():
        raise FileNotFoundError(f"image folder {path} does not exist")
    has_splits = (path / "train").is_dir() and (path / "test").is_dir()
    roots = {"all": path} if not has_splits else {"train": path / "train", "test": path / "test"}
    loaded = {}
    for key, root in roots.items():
        count = sum(1 for p in root.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
        if count == 0:
            raise ValueError(
                f"no images ({', '.join(IMAGE_EXTENSIONS)}) in class folders under {root}"
            )
        ds = keras.utils.image_dataset_from_directory(
            root,
            labels="inferred",
            label_mode="int",
            image_size=(size, size),
            batch_size=None,
            shuffle=False,
            color_mode="rgb",
        )
        loaded[key] = (ds, count)
    class_names = list(loaded["all" if not has_splits else "train"][0].class_names)
    resize = _resize(size)
    if has_splits:
        train_all, n_train = loaded["train"]
        parts = split_by_index(
            train_all.map(resize),
            n_train,
            {"train": 1.0 - config.validation_fraction, "validation": config.validation_fraction},
            config.split_seed,
        )
        test, n_test = loaded["test"][0].map(resize), loaded["test"][1]
        parts["test"] = (test, n_test)
    else:
        ds, n = loaded["all"]
        parts = split_by_index(ds.map(resize), n, _fractions(config), config.split_seed)
    return Splits(
        train=parts["train"][0],
        validation=parts["validation"][0],
        test=parts["test"][0],
        class_names=class_names,
        input_shape=(size, size, 3),
        sizes={k: v[1] for k, v in parts.items()},
        info={
            "source": config.data,
            "kind": "dir",
            "name": str(path),
            "version": None,
            "preprocessing": (
                f"decoded as RGB, resized to {size}x{size} "
                "by keras.utils.image_dataset_from_directory; "
                f"{'train/ and test/ folders' if has_splits else 'seeded split'} "
                f"(split_seed={config.split_seed})"
            ),
        },
    )


def augmentation(config: VisionConfig, size: int) -> Any:
    """A Keras preprocessing pipeline for ``config.augment`` (None when empty)."""
    import keras

    if not config.augment:
        return None
    layers: list[Any] = []
    if "crop" in config.augment:  # pad by 1/8 and crop back at random (the CIFAR ResNet recipe)
        layers += [
            keras.layers.ZeroPadding2D(max(1, size // 8)),
            keras.layers.RandomCrop(size, size, seed=config.seed),
        ]
    if "flip" in config.augment:
        layers.append(keras.layers.RandomFlip("horizontal", seed=config.seed))
    if "translate" in config.augment:
        layers.append(
            keras.layers.RandomTranslation(0.1, 0.1, fill_mode="constant", seed=config.seed)
        )
    return keras.Sequential(layers, name="augmentation")
