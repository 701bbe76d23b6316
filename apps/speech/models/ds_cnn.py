"""DS-CNN keyword spotter (Zhang et al. 2017, "Hello Edge")."""

import keras

from dlsuite.apps.common.models import classifier_head
from dlsuite.apps.speech.models._common import check_arguments, waveform_front_end


def build_ds_cnn(
    num_samples,
    num_classes,
    *,
    frontend=None,
    spec_augment=True,
    dropout=0.1,
    filters=64,
    num_blocks=4,
    seed=None,
):
    """Builds a depthwise-separable CNN keyword spotter named "ds_cnn".

    Zhang, Suda, Lai and Chandra, "Hello Edge: Keyword Spotting on Microcontrollers" (2017),
    DS-CNN-S: a 10x4 conv with stride 2 and `filters` maps, then `num_blocks` blocks of
    3x3 depthwise conv -> BN -> ReLU -> 1x1 pointwise conv -> BN -> ReLU, global average pooling
    and a dense classifier. About 23k parameters at the defaults (10 MFCCs, 12 classes); built
    for microcontrollers, so it also converts to an int8 TFLite model.

    Args:
        num_samples: waveform length in samples.
        num_classes: number of keywords, >= 2.
        frontend: `waveform_front_end` options (default PCEN of 40 mel energies, 40 ms window,
            20 ms hop; Hello Edge used 10 MFCCs).
        spec_augment: SpecAugment masks in training. Defaults to True.
        dropout: dropout before the classifier, in [0, 1). Defaults to 0.1.
        filters: feature maps of every layer. Defaults to 64.
        num_blocks: depthwise-separable blocks. Defaults to 4.
        seed: SpecAugment seed.

    Returns:
        A model mapping float32 waveforms `(batch, num_samples)` to probabilities
        `(batch, num_classes)`.
    """
    check_arguments("ds_cnn", num_samples, num_classes, dropout)
    inputs, x = waveform_front_end(num_samples, frontend, spec_augment, seed)  # (B, T, F)
    frames, channels = x.shape[1], x.shape[2]
    x = keras.layers.Reshape((frames, channels, 1), name="as_image")(x)  # (B, T, F, 1)
    x = keras.layers.Conv2D(
        filters, (10, 4), strides=2, padding="same", use_bias=False, name="conv"
    )(x)  # (B, T/2, F/2, C)
    x = keras.layers.BatchNormalization(momentum=0.9, name="conv_bn")(x)
    x = keras.layers.ReLU(name="conv_relu")(x)
    for i in range(1, num_blocks + 1):
        x = keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False, name=f"dw{i}")(x)
        x = keras.layers.BatchNormalization(momentum=0.9, name=f"dw{i}_bn")(x)
        x = keras.layers.ReLU(name=f"dw{i}_relu")(x)
        x = keras.layers.Conv2D(filters, 1, use_bias=False, name=f"pw{i}")(x)  # (B, T/2, F/2, C)
        x = keras.layers.BatchNormalization(momentum=0.9, name=f"pw{i}_bn")(x)
        x = keras.layers.ReLU(name=f"pw{i}_relu")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)  # (B, C)
    return keras.Model(inputs, classifier_head(x, num_classes, dropout), name="ds_cnn")
