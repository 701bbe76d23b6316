"""Vision classification models: one builder per model family, looked up by name.

- "lenet5": LeCun et al., "Gradient-Based Learning Applied to Document Recognition" (1998).
- "alexnet": Krizhevsky et al., "ImageNet Classification with Deep Convolutional Neural
  Networks" (NeurIPS 2012), scaled to small images.
- "resnet20", "resnet32", "resnet56": He et al., "Deep Residual Learning for Image
  Recognition" (CVPR 2016), CIFAR-10 variants (section 4.2).
- "resnet50": the same paper, ImageNet bottleneck variant (table 1).

Every builder is `build_<name>(input_shape, num_classes, *, dropout=..., ...) -> keras.Model`
and returns a functional model named after the model, taking float32 pixels in [0, 255]
(first layer `Rescaling(1/255)`) and ending with a float32 softmax layer "probabilities".
"""

from collections.abc import Callable

import keras

from dlsuite.apps.vision.models.alexnet import build_alexnet
from dlsuite.apps.vision.models.lenet5 import build_lenet5
from dlsuite.apps.vision.models.resnet50 import build_resnet50
from dlsuite.apps.vision.models.resnet_cifar import (
    build_resnet20,
    build_resnet32,
    build_resnet56,
    build_resnet_cifar,
)

MODELS: dict[str, Callable[..., keras.Model]] = {
    "lenet5": build_lenet5,
    "alexnet": build_alexnet,
    "resnet20": build_resnet20,
    "resnet32": build_resnet32,
    "resnet56": build_resnet56,
    "resnet50": build_resnet50,
}

DEFAULT_INPUT_SIZE: dict[str, int] = {
    "lenet5": 32,
    "alexnet": 32,
    "resnet20": 32,
    "resnet32": 32,
    "resnet56": 32,
    "resnet50": 224,
}


def build_model(
    name: str, input_shape: tuple[int, int, int], num_classes: int, **options
) -> keras.Model:
    """Builds the model registered as `name` in `MODELS` with the builder's keyword `options`.

    Raises:
        ValueError: for an unknown name (the message lists the known ones) or bad arguments.
    """
    if name not in MODELS:
        raise ValueError(f"Unknown vision model {name!r}. Known models: {', '.join(MODELS)}")
    return MODELS[name](input_shape, num_classes, **options)


__all__ = [
    "DEFAULT_INPUT_SIZE",
    "MODELS",
    "build_alexnet",
    "build_lenet5",
    "build_model",
    "build_resnet20",
    "build_resnet32",
    "build_resnet50",
    "build_resnet56",
    "build_resnet_cifar",
]
