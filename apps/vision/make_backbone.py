"""Make pretrained backbones offline, for trying and testing fine-tuning without ImageNet weights.

``python -m dlsuite.apps.vision.make_backbone OUT [--classes 0,1,2,3,4] [--epochs 30]
[--size 32]`` trains on scikit-learn's handwritten digits of ``--classes`` and writes:

- ``OUT/MobileNetV3Small.weights.h5``: ``keras.applications.MobileNetV3Small`` without its top
  (what ``--backbone MobileNetV3Small --weights FILE`` loads), trained by the suite itself
  (``dlsuite train vision --backbone MobileNetV3Small --weights none``; the run is kept in
  ``OUT/runs``);
- ``OUT/kerashub_resnet/``: a KerasHub preset folder (``config.json``, ``model.weights.h5``,
  ``image_converter.json``, ...) of a small ``keras_hub.models.ResNetBackbone`` trained as a
  ``ResNetImageClassifier`` with its own ``fit``, as KerasHub users do (what ``--backbone kerashub
  --weights DIR`` loads).

Fine-tuning them on the other digits (`make_folder --classes 5,6,7,8,9`) is a new task for a
network that has learned strokes, the way ImageNet weights serve a new photo task.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

KERAS_APPLICATIONS_BACKBONE = "MobileNetV3Small"
KERAS_HUB_PRESET = "kerashub_resnet"
PRETRAIN_TEST_FRACTION = 0.2  # of each class held out; the suite validates on a tenth of the rest


def pretrain_keras_application(
    out: str | Path, classes: Sequence[int], epochs: int = 30, size: int = 32, seed: int = 0
) -> Path:
    """Train ``MobileNetV3Small`` from random weights on the digits of ``classes`` with the suite;
    returns the backbone's weights file ``OUT/MobileNetV3Small.weights.h5``."""
    from dlsuite.apps.common.transfer import BACKBONE_LAYER
    from dlsuite.apps.vision.config import VisionConfig
    from dlsuite.apps.vision.make_folder import write_folder
    from dlsuite.apps.vision.train import train_and_evaluate

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        write_folder(folder, classes, size=size, seed=seed, test_fraction=PRETRAIN_TEST_FRACTION)
        config = VisionConfig(
            backbone=KERAS_APPLICATIONS_BACKBONE,
            weights="none",
            data=f"dir:{folder}",
            image_size=size,
            epochs=epochs,
            augment=("translate",),
            seed=seed,
            robustness="off",
            run_root=str(out / "runs"),
            verbose=0,
        )
        result = train_and_evaluate(config)
    path = out / f"{KERAS_APPLICATIONS_BACKBONE}.weights.h5"
    tmp = out / f".{path.name}.tmp.weights.h5"
    result.model.get_layer(BACKBONE_LAYER).save_weights(tmp)
    tmp.replace(path)
    print(
        f"{KERAS_APPLICATIONS_BACKBONE} on digits {list(classes)}: test accuracy "
        f"{result.metrics['final']['test']['accuracy']:.4f}; wrote {path}"
    )
    return path


def pretrain_keras_hub(
    out: str | Path, classes: Sequence[int], epochs: int = 30, size: int = 32, seed: int = 0
) -> Path:
    """Train a small KerasHub ``ResNetBackbone`` (basic blocks, 64 and 128 filters) on the digits
    of ``classes`` as a ``ResNetImageClassifier``; returns its preset folder."""
    import keras
    import keras_hub
    import numpy as np

    keras.utils.set_random_seed(seed)
    images, labels = _digit_arrays(classes, size)
    backbone = keras_hub.models.ResNetBackbone(
        input_conv_filters=[64],
        input_conv_kernel_sizes=[3],
        stackwise_num_filters=[64, 128],
        stackwise_num_blocks=[1, 1],
        stackwise_num_strides=[1, 2],
        block_type="basic_block",
        use_pre_activation=False,
        image_shape=(size, size, 3),
    )
    converter = keras_hub.layers.ResNetImageConverter(image_size=(size, size), scale=1.0 / 255)
    classifier = keras_hub.models.ResNetImageClassifier(
        backbone=backbone,
        num_classes=len(classes),
        preprocessor=keras_hub.models.ResNetImageClassifierPreprocessor(image_converter=converter),
    )
    classifier.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    order = np.random.default_rng(seed).permutation(len(images))
    held = len(order) // 5
    test, train = order[:held], order[held:]
    classifier.fit(images[train], labels[train], epochs=epochs, batch_size=32, verbose=0)
    accuracy = classifier.evaluate(images[test], labels[test], verbose=0, return_dict=True)
    folder = Path(out) / KERAS_HUB_PRESET
    classifier.save_to_preset(str(folder))
    print(
        f"KerasHub ResNetBackbone on digits {list(classes)}: held-out accuracy "
        f"{accuracy['accuracy']:.4f}; wrote {folder}"
    )
    return folder


def _digit_arrays(classes: Sequence[int], size: int) -> tuple[Any, Any]:
    """The digits of ``classes`` as RGB float32 pixels (N, size, size, 3) in [0, 255] and labels
    0..len(classes)-1."""
    import numpy as np
    import tensorflow as tf
    from sklearn.datasets import load_digits

    from dlsuite.apps.vision.make_folder import DIGIT_SCALE

    digits = load_digits()
    keep = np.isin(digits.target, classes)
    grey = (digits.images[keep] * DIGIT_SCALE).astype(np.float32)[..., np.newaxis]
    images = tf.image.resize(grey, (size, size)).numpy().repeat(3, axis=-1)
    labels = np.searchsorted(np.sort(classes), digits.target[keep])
    return images, labels


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", help="folder to write the weights file and the preset folder in")
    parser.add_argument("--classes", default="0,1,2,3,4", help="comma list of digits to learn")
    parser.add_argument("--epochs", type=int, default=30, help="training epochs of each")
    parser.add_argument("--size", type=int, default=32, help="image side in pixels")
    args = parser.parse_args(argv)
    classes = [int(c) for c in args.classes.split(",") if c.strip()]
    pretrain_keras_application(args.out, classes, args.epochs, args.size)
    pretrain_keras_hub(args.out, classes, args.epochs, args.size)


if __name__ == "__main__":
    main()
