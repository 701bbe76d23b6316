"""Small CNN keyword spotter (Sainath & Parada 2015, "cnn-trad-fpool3", scaled down)."""

import keras

from dlsuite.apps.common.models import classifier_head
from dlsuite.apps.speech.models._common import check_arguments, waveform_front_end


def build_cnn(
    num_samples,
    num_classes,
    *,
    frontend=None,
    spec_augment=True,
    dropout=0.1,
    filters=32,
    seed=None,
):
    """Builds a two-layer convolutional keyword spotter named "cnn".

    Sainath and Parada, "Convolutional Neural Networks for Small-footprint Keyword Spotting"
    (Interspeech 2015), cnn-trad-fpool3: a conv layer with a tall time filter, max-pooling in
    frequency only (pool 3), a second conv, a low-rank linear layer and a dense layer. Filter
    sizes are scaled to the feature map (the paper: 20x8 then 10x4 over 32 frames x 40 mel bins).

    Args:
        num_samples: waveform length in samples.
        num_classes: number of keywords, >= 2.
        frontend: `waveform_front_end` options.
        spec_augment: SpecAugment masks in training. Defaults to True.
        dropout: dropout before the dense layers, in [0, 1). Defaults to 0.1.
        filters: feature maps of both conv layers (the paper: 64). Defaults to 32.
        seed: SpecAugment seed.

    Returns:
        A model mapping float32 waveforms `(batch, num_samples)` to probabilities
        `(batch, num_classes)`.
    """
    check_arguments("cnn", num_samples, num_classes, dropout)
    inputs, x = waveform_front_end(num_samples, frontend, spec_augment, seed)  # (B, T, F)
    frames, channels = x.shape[1], x.shape[2]
    x = keras.layers.Reshape((frames, channels, 1), name="as_image")(x)  # (B, T, F, 1)
    k1 = (min(20, frames // 2), min(8, max(1, channels // 4)))
    x = keras.layers.Conv2D(filters, k1, padding="same", activation="relu", name="conv1")(
        x
    )  # (B, T, F, C)
    x = keras.layers.MaxPooling2D((1, 3) if channels >= 9 else (1, 1), name="fpool3")(
        x
    )  # (B, T, F/3, C)
    k2 = (min(10, frames // 4), min(4, max(1, channels // 8)))
    x = keras.layers.Conv2D(filters, k2, padding="same", activation="relu", name="conv2")(
        x
    )  # (B, T, F/3, C)
    x = keras.layers.MaxPooling2D((2, 1), name="tpool2")(x)  # (B, T/2, F/3, C)
    x = keras.layers.Flatten(name="flatten")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    x = keras.layers.Dense(32, name="low_rank_linear")(x)  # (B, 32)
    x = keras.layers.Dense(128, activation="relu", name="dnn")(x)  # (B, 128)
    return keras.Model(inputs, classifier_head(x, num_classes, dropout), name="cnn")
