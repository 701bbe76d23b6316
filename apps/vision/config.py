"""Vision training config and its named presets."""

from __future__ import annotations

import dataclasses

from dlsuite.apps.common.config import FineTuningOptions, TrainingConfig, option
from dlsuite.apps.vision.backbones import BACKBONE_NAMES, KERAS_HUB

AUGMENTATIONS = ("crop", "flip", "translate")
MODEL_NAMES = ("lenet5", "alexnet", "resnet20", "resnet32", "resnet56", "resnet50")


@dataclasses.dataclass(frozen=True)
class VisionConfig(FineTuningOptions, TrainingConfig):
    """Image classification: which network, at which input size, with which augmentation."""

    # Defaults tuned so `dlsuite train vision --model lenet5 --data builtin:digits` meets the
    # quality bar (>= 97% held-out accuracy) on a CPU in well under 3 minutes.
    epochs: int = option(30, "number of epochs")
    batch_size: int = option(32, "GLOBAL batch size, split evenly across replicas")
    learning_rate: float = option(2e-3, "initial learning rate")
    model: str = option("lenet5", "network", choices=MODEL_NAMES)
    image_size: int | None = option(
        None, "square input size in pixels; default: the network's own (32, or 224 for resnet50)"
    )
    augment: tuple[str, ...] = option(
        (),
        "training augmentations as Keras preprocessing layers "
        "(comma list of crop, flip, translate)",
    )
    dropout: float = option(
        0.0, "dropout rate before the classifier (networks that have a dropout layer)"
    )
    label_smoothing: float = option(0.0, "label smoothing of the cross-entropy loss")
    backbone: str | None = option(
        None,
        "fine-tune a pretrained backbone instead of training --model from scratch: a "
        "keras.applications family (ResNet50, MobileNetV3Small, EfficientNetV2B0, ...) or "
        "kerashub (--weights DIR, a KerasHub preset folder); its own input normalisation is in "
        "the graph and its batch normalization stays in inference mode",
        choices=BACKBONE_NAMES,
    )
    weights: str = option(
        "imagenet",
        "the --backbone's weights: imagenet (the file in Keras' cache, ~/.keras/models; never "
        "downloaded), a weights file of the family without its top (.h5, .weights.h5), a "
        "KerasHub preset folder (--backbone kerashub), or none (random weights)",
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.model not in MODEL_NAMES:
            raise ValueError(f"model expected one of {MODEL_NAMES}. Received: model={self.model!r}")
        unknown = [a for a in self.augment if a not in AUGMENTATIONS]
        if unknown:
            raise ValueError(
                f"augment expected a list of {AUGMENTATIONS}. Received: augment={unknown}"
            )
        if self.image_size is not None and self.image_size < 8:
            raise ValueError(
                f"image_size expected at least 8. Received: image_size={self.image_size}"
            )
        self.check_fine_tuning()
        self._check_backbone()
        for name in ("dropout", "label_smoothing"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(
                    f"{name} expected a number in [0, 1). Received: {name}={getattr(self, name)}"
                )

    def _check_backbone(self) -> None:
        if self.backbone is None:
            return
        if self.backbone not in BACKBONE_NAMES:
            raise ValueError(
                f"backbone expected one of {BACKBONE_NAMES}. Received: backbone={self.backbone!r}"
            )
        if self.backbone == KERAS_HUB and self.weights in ("imagenet", "none"):
            raise ValueError(
                f"--backbone {KERAS_HUB} takes its architecture and weights from --weights DIR, "
                f"a KerasHub preset folder. Received: weights={self.weights!r}"
            )

    @property
    def pretrained_backbone(self) -> bool:
        """Whether the ``backbone`` starts from pretrained weights (not ``--weights none``)."""
        return self.weights != "none"


PRESETS: dict[str, VisionConfig] = {
    # The quality-bar run: LeNet-5 on scikit-learn's handwritten digits, >= 97% held-out accuracy.
    "lenet5-digits": VisionConfig(model="lenet5", data="builtin:digits", augment=("translate",)),
    "lenet5-mnist": VisionConfig(model="lenet5", data="tfds:mnist", epochs=10, batch_size=128),
    "resnet20-cifar10": VisionConfig(
        model="resnet20",
        data="tfds:cifar10",
        epochs=180,
        batch_size=128,
        optimizer="sgd",
        learning_rate=0.1,
        augment=("crop", "flip"),
    ),
    "alexnet-cifar10": VisionConfig(
        model="alexnet",
        data="tfds:cifar10",
        epochs=60,
        batch_size=128,
        dropout=0.5,
        augment=("crop", "flip"),
    ),
}
CONFIG_CLASS = VisionConfig
