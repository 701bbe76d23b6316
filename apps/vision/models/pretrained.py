"""A classifier on a pretrained backbone: ``keras.applications`` families and KerasHub presets.

The model takes float32 pixels in [0, 255] like every suite vision model, repeats a grey channel
to RGB, applies the backbone's own input normalisation in the graph, calls the backbone (a layer
named "backbone"; pretrained, its batch normalization stays in inference mode with the pretrained
statistics, as the Keras transfer-learning guide does; from ``--weights none`` it trains as
usual), and ends with global average pooling and the suite's classifier head. Freezing and the
backbone's learning rate are the trainer's (`apps.common.transfer`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras

from dlsuite.apps.common.models import classifier_head
from dlsuite.apps.common.transfer import (
    BACKBONE_LAYER,
    PretrainedClassifier,
    PretrainedWeights,
    freeze_batch_norm,
    keras_cache_dir,
    missing_weights_error,
)
from dlsuite.apps.vision.backbones import KERAS_APPLICATIONS, KERAS_HUB
from dlsuite.apps.vision.models._common import check_arguments
from dlsuite.core_layers import ImageNetPreprocessing

# Batch-normalization momentum of a backbone trained from random weights. The families' own
# (0.999 in MobileNetV3, MobileNetV2 and EfficientNetV2) suits ImageNet's millions of steps; after
# the few hundred of a small folder their moving statistics are still near the initial 0 and 1,
# and the trained model scores at chance in inference mode (measured: MobileNetV3Small, 100
# digits, 20 epochs: 19% at 0.999, 83% at 0.9).
RANDOM_INIT_BN_MOMENTUM = 0.9


def build_pretrained_classifier(
    backbone: str,
    weights: str,
    input_shape: tuple[int, int, int],
    num_classes: int,
    *,
    dropout: float = 0.0,
) -> PretrainedClassifier:
    """A classifier of ``num_classes`` on the pretrained ``backbone``.

    Args:
        backbone: a `KERAS_APPLICATIONS` family name, or "kerashub" (``weights`` is then a
            KerasHub preset folder).
        weights: "imagenet" (the file in Keras' cache; never downloaded), a weights file of the
            family without its top (.h5 or .weights.h5), a KerasHub preset folder, or "none"
            (random weights).
        input_shape: (height, width, channels) of the images, 1 or 3 channels.

    Returns:
        The model, mapping float32 pixels ``(B, *input_shape)`` in [0, 255] to float32 class
        probabilities ``(B, num_classes)``, with where its weights came from.

    Raises:
        FileNotFoundError: weights not on this machine (the message names the three ways).
        ValueError: an unknown backbone, bad arguments, or weights that do not fit the family.
    """
    name = f"{backbone.lower()}_finetuned"
    check_arguments(name, input_shape, num_classes, dropout, min_size=8)
    if input_shape[-1] not in (1, 3):
        raise ValueError(
            f"{name}: a pretrained backbone takes grey or RGB images. "
            f"Received: input_shape={tuple(input_shape)!r}"
        )
    inputs = keras.Input(shape=tuple(input_shape), dtype="float32", name="image")
    x = inputs
    if input_shape[-1] == 1:
        x = keras.layers.Concatenate(name="grey_to_rgb")([x, x, x])  # (B, H, W, 3)
    rgb_shape = (*input_shape[:2], 3)
    if backbone == KERAS_HUB:
        network, preprocess, source, description = _keras_hub(weights)
        library = "keras_hub"
    elif backbone in KERAS_APPLICATIONS:
        network, source = _keras_application(backbone, weights, rgb_shape)
        mode = KERAS_APPLICATIONS[backbone][0]
        preprocess = ImageNetPreprocessing(mode, name="preprocessing")
        description = (
            "inside the backbone (its own rescaling and normalization)"
            if mode == "none"
            else f"ImageNetPreprocessing(mode={mode!r}), as keras.applications' preprocess_input"
        )
        library = "keras.applications"
    else:
        raise ValueError(
            f"unknown backbone {backbone!r}; known: {', '.join(KERAS_APPLICATIONS)}, {KERAS_HUB}"
        )
    if source.path is not None:
        freeze_batch_norm(network)  # inference mode throughout, as the Keras guide's recipe
    x = preprocess(x)
    x = network(x)  # (B, h, w, C)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)  # (B, C)
    outputs = classifier_head(x, num_classes, dropout)  # (B, num_classes)
    model = keras.Model(inputs, outputs, name=name)
    return PretrainedClassifier(model, library, source, description)


def _keras_application(
    family: str, weights: str, rgb_shape: tuple[int, int, int]
) -> tuple[keras.Model, PretrainedWeights]:
    """The ``keras.applications`` family without its top, named "backbone", and its weights."""
    constructor = getattr(keras.applications, family)
    cache_file = KERAS_APPLICATIONS[family][1]
    if weights == "none":
        source = PretrainedWeights.random()
    elif weights == "imagenet":
        cached = keras_cache_dir() / cache_file
        if not cached.is_file():
            raise missing_weights_error(family, cache_file)
        source = PretrainedWeights.at(weights, "keras-cache", cached)
    else:
        path = Path(weights).expanduser()
        if path.is_dir():
            raise ValueError(
                f"--weights {weights} is a folder: a KerasHub preset goes with --backbone "
                f"{KERAS_HUB}; for {family} give a weights file (.h5 or .weights.h5)"
            )
        if not path.is_file():
            raise FileNotFoundError(
                f"--weights {weights}: no such file. Expected imagenet, none, or a weights file "
                f"of {family} without its top (.h5 or .weights.h5)"
            )
        source = PretrainedWeights.at(weights, "file", path)
    try:
        network = constructor(
            include_top=False,
            weights=source.path,
            input_shape=rgb_shape,
            name=BACKBONE_LAYER,
        )
    except ValueError as error:
        if source.path is None:
            raise
        raise ValueError(
            f"the weights in {source.path} do not fit keras.applications.{family} without its "
            f"top at input {rgb_shape} ({error})"
        ) from None
    if source.path is None:
        for layer in network.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.momentum = RANDOM_INIT_BN_MOMENTUM
    return network, source


def _keras_hub(preset: str) -> tuple[Any, Any, PretrainedWeights, str]:
    """The backbone of a KerasHub preset folder, named "backbone", its image converter (or the
    identity when the preset has none), the weights record and a description."""
    folder = Path(preset).expanduser()
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(
            f"--backbone {KERAS_HUB} expects --weights DIR, a KerasHub preset folder with "
            f"config.json and model.weights.h5 (as Backbone.save_to_preset writes). "
            f"Received: --weights {preset}"
        )
    import keras_hub

    network = keras_hub.models.Backbone.from_preset(str(folder), name=BACKBONE_LAYER)
    if (folder / "image_converter.json").is_file():
        converter = keras_hub.layers.ImageConverter.from_preset(str(folder), name="preprocessing")
        description = f"the preset's {type(converter).__name__} (image_converter.json)"
    else:
        converter = keras.layers.Identity(name="preprocessing")
        description = "none (the preset has no image_converter.json)"
    return network, converter, PretrainedWeights.at(preset, "kerashub-preset", folder), description
