"""DNN keyword spotter over stacked frames
(after Hinton et al. 2012; Zhang et al. 2017, table 1)."""

import keras

from dlsuite.apps.common.models import classifier_head
from dlsuite.apps.speech.models._common import check_arguments, waveform_front_end


def build_dnn(
    num_samples,
    num_classes,
    *,
    frontend=None,
    spec_augment=True,
    dropout=0.1,
    units=(144, 144, 144),
    seed=None,
):
    """Builds a fully connected acoustic model named "dnn".

    Hinton et al., "Deep Neural Networks for Acoustic Modeling in Speech Recognition" (IEEE Signal
    Processing Magazine 2012): a feed-forward network over a window of stacked feature frames.
    As in Hello Edge's DNN (Zhang et al. 2017), the whole clip's frames are stacked into one
    vector and passed through ReLU layers of `units` (default 3 x 144).

    Args:
        num_samples: waveform length in samples.
        num_classes: number of keywords, >= 2.
        frontend: `waveform_front_end` options (features, window, hop, mel bins, ...).
        spec_augment: SpecAugment masks in training. Defaults to True.
        dropout: dropout after each hidden layer, in [0, 1). Defaults to 0.1.
        units: widths of the hidden layers.
        seed: SpecAugment seed.

    Returns:
        A model mapping float32 waveforms `(batch, num_samples)` to probabilities
        `(batch, num_classes)`.
    """
    check_arguments("dnn", num_samples, num_classes, dropout)
    inputs, x = waveform_front_end(num_samples, frontend, spec_augment, seed)  # (B, T, F)
    x = keras.layers.Flatten(name="stacked_frames")(x)  # (B, T * F)
    for i, width in enumerate(units):
        x = keras.layers.Dense(width, activation="relu", name=f"fc{i + 1}")(x)  # (B, width)
        if dropout and i < len(units) - 1:
            x = keras.layers.Dropout(dropout, name=f"dropout{i + 1}")(x)
    return keras.Model(inputs, classifier_head(x, num_classes, dropout), name="dnn")
