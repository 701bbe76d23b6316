"""Bidirectional LSTM keyword spotter with attention pooling over time."""

import keras

from dlsuite.apps.common.models import classifier_head
from dlsuite.apps.speech.models._common import check_arguments, waveform_front_end


def build_bilstm_attention(
    num_samples, num_classes, *, frontend=None, spec_augment=True, dropout=0.1, units=64, seed=None
):
    """Builds a bidirectional LSTM with soft attention pooling, named "bilstm_attention".

    LSTM: Hochreiter and Schmidhuber, "Long Short-Term Memory" (Neural Computation 1997); run in
    both directions (Schuster and Paliwal 1997). A learned score per frame, softmax-normalized
    over time, weights the frames' hidden states into one clip vector (attention pooling in the
    style of de Andrade et al. 2018, "A neural attention model for speech command recognition").

    Args:
        num_samples: waveform length in samples.
        num_classes: number of keywords, >= 2.
        frontend: `waveform_front_end` options.
        spec_augment: SpecAugment masks in training. Defaults to True.
        dropout: dropout before the classifier, in [0, 1). Defaults to 0.1.
        units: LSTM units per direction. Defaults to 64.
        seed: SpecAugment seed.

    Returns:
        A model mapping float32 waveforms `(batch, num_samples)` to probabilities
        `(batch, num_classes)`.
    """
    check_arguments("bilstm_attention", num_samples, num_classes, dropout)
    inputs, x = waveform_front_end(num_samples, frontend, spec_augment, seed)  # (B, T, F)
    h = keras.layers.Bidirectional(keras.layers.LSTM(units, return_sequences=True), name="bilstm")(
        x
    )  # (B, T, 2U)
    # No bias: a constant added to every score cancels in the softmax over time (its gradient is 0).
    scores = keras.layers.Dense(1, use_bias=False, name="attention_score")(h)  # (B, T, 1)
    weights = keras.layers.Softmax(axis=1, name="attention_weights")(
        scores
    )  # (B, T, 1), sums to 1 over T
    pooled = keras.layers.Dot(axes=1, name="attention_pool")([weights, h])  # (B, 1, 2U)
    x = keras.layers.Flatten(name="clip_vector")(pooled)  # (B, 2U)
    return keras.Model(inputs, classifier_head(x, num_classes, dropout), name="bilstm_attention")
