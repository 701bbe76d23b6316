"""Vision data: ``builtin:digits``, ``tfds:<image dataset>`` and ``dir:<image folders>``.

Every source yields ``(image, label)`` with ``image`` float32 pixel values in [0, 255] of shape
``(S, S, C)`` (resized to the network's input size) and ``label`` an int64 class index. The model
itself rescales to [0, 1], so a served model takes raw pixel values or encoded images.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dlsuite.apps.common.data import (
    Splits,
    class_folder_splits,
    load_tfds,
    parse_source,
    source_fingerprint,
    three_way_split,
)
from dlsuite.apps.vision.backbones import DEFAULT_BACKBONE_INPUT_SIZE
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
    """``--image-size``, else the network's own: 224 for a pretrained ``--backbone``."""
    from dlsuite.apps.vision.models import DEFAULT_INPUT_SIZE  # models/ imports Keras

    if config.image_size:
        return config.image_size
    return DEFAULT_BACKBONE_INPUT_SIZE if config.backbone else DEFAULT_INPUT_SIZE[config.model]


def _resize(size: int) -> Any:
    import tensorflow as tf

    def resize(image: Any, label: Any) -> tuple[Any, Any]:
        image = tf.image.resize(tf.cast(image, tf.float32), (size, size), method="bilinear")
        return tf.clip_by_value(image, 0.0, 255.0), tf.cast(label, tf.int64)

    return resize


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
    parts = three_way_split(dataset, len(images), config)
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
            "fingerprint": source_fingerprint(
                "builtin",
                "scikit-learn load_digits",
                generator_version=sklearn.__version__,
                arrays=(digits.images, digits.target),
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
            "fingerprint": source_fingerprint("tfds", name, tfds_info=info),
        },
    )


def _directory(path: Path, size: int, config: VisionConfig) -> Splits:
    import tensorflow as tf

    resize = _resize(size)

    def decode(file: Any, label: Any) -> tuple[Any, Any]:  # -> ((size, size, 3) float32, label)
        image = tf.io.decode_image(tf.io.read_file(file), channels=3, expand_animations=False)
        return resize(image, label)

    def images(files: list[str], labels: list[int]) -> Any:
        paths = tf.data.Dataset.from_tensor_slices((files, tf.constant(labels, tf.int64)))
        return paths.map(decode)

    parts, class_names, how, groups = class_folder_splits(
        path, IMAGE_EXTENSIONS, f"images ({', '.join(IMAGE_EXTENSIONS)})", images, config
    )
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
            "preprocessing": f"decoded as RGB, bilinear resize to {size}x{size}; {how}",
            "groups": groups,
            "fingerprint": source_fingerprint("dir", str(path), how=how, groups=groups),
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
