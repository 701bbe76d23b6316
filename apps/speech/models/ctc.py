"""Small CTC speech recogniser in the spirit of DeepSpeech 2 (Amodei et al. 2016)."""

import keras

from dlsuite.apps.common.models import classifier_head
from dlsuite.apps.speech.models._common import check_arguments, waveform_front_end
from dlsuite.base.validation import check_positive_int

CELLS = ("gru", "lstm")


def build_ctc(
    num_samples,
    num_classes,
    *,
    frontend=None,
    spec_augment=True,
    dropout=0.1,
    filters=128,
    units=128,
    rnn_layers=1,
    cell="gru",
    time_stride=2,
    seed=None,
):
    """Builds a convolutional + bidirectional recurrent character recogniser named "ctc".

    Amodei et al., "Deep Speech 2: End-to-End Speech Recognition in English and Mandarin" (ICML
    2016), scaled down for a CPU: the in-model front end (log-mel by default), a 1-D convolution
    over time (`filters` maps, kernel 5, stride `time_stride`, batch norm, ReLU) that shortens the
    sequence, `rnn_layers` bidirectional GRU or LSTM layers (Hochreiter & Schmidhuber 1997; Cho et
    al. 2014) of `units` per direction, and a per-frame softmax over the characters with the CTC
    blank (`apps.speech.ctc.TOKENS`), trained with CTC loss (Graves et al. 2006). DS2's 2-D
    convolutions over time and frequency cost several times the FLOPs (by our count) for these short
    utterances; the 1-D convolution treats the mel bins as channels. DS2 stacks up to seven
    recurrent layers; one of 128 units per direction learns the built-in phrases faster on a CPU
    than two of 96, as each layer is a chain of sequential steps (measured on held-out voices
    with the same training compute, 12 against 8 epochs: CER 9.6-11.6% against 13.8-16.3%
    over two seeds).

    With a 20 ms hop and `time_stride=2`, the model emits one frame per 40 ms: a 2 s clip gives 50
    frames, enough for the up-to-20-character transcripts of the built-in phrases (CTC needs one
    frame per character plus one between repeated characters). SpecAugment time masks are kept
    short (at most 40 ms each), so they hide parts of sounds, never whole words, which the
    model could not guess from context in random phrases.

    Args:
        num_samples: waveform length in samples.
        num_classes: output classes per frame: characters + 1 (the blank, class 0).
        frontend: `waveform_front_end` options. Defaults to 40 log-mel bins, 40 ms windows,
            20 ms hop unless given.
        spec_augment: SpecAugment masks in training (True, False, or `SpecAugment` arguments).
        dropout: dropout before the per-frame classifier, in [0, 1). Defaults to 0.1.
        filters: feature maps of the convolution. Defaults to 128.
        units: recurrent units per direction. Defaults to 128.
        rnn_layers: bidirectional recurrent layers, >= 1. Defaults to 1.
        cell: "gru" or "lstm". Defaults to "gru".
        time_stride: stride of the convolution in frames, >= 1. Defaults to 2.
        seed: SpecAugment seed.

    Returns:
        A model mapping float32 waveforms `(batch, num_samples)` to per-frame probabilities
        `(batch, frames, num_classes)`, frames = ceil(feature frames / time_stride).
    """
    check_arguments("ctc", num_samples, num_classes, dropout)
    if cell not in CELLS:
        raise ValueError(f"ctc: `cell` expected one of {CELLS}. Received: cell={cell!r}")
    check_positive_int(filters=filters, units=units, rnn_layers=rnn_layers, time_stride=time_stride)
    options = {
        "features": "log_mel",
        "frame_length_ms": 40.0,
        "frame_step_ms": 20.0,
        **(frontend or {}),
    }
    if spec_augment is True:
        spec_augment = {"time_mask_param": max(1, round(40.0 / options["frame_step_ms"]))}
    inputs, x = waveform_front_end(num_samples, options, spec_augment, seed)  # (B, T, F)
    x = keras.layers.Conv1D(
        filters, 5, strides=time_stride, padding="same", use_bias=False, name="conv"
    )(x)  # (B, T', C)
    x = keras.layers.BatchNormalization(momentum=0.9, name="conv_bn")(x)
    x = keras.layers.ReLU(name="conv_relu")(x)
    layer = keras.layers.GRU if cell == "gru" else keras.layers.LSTM
    for i in range(1, rnn_layers + 1):
        x = keras.layers.Bidirectional(layer(units, return_sequences=True), name=f"bi{cell}{i}")(
            x
        )  # (B, T', 2U)
    return keras.Model(
        inputs, classifier_head(x, num_classes, dropout), name="ctc"
    )  # (B, T', classes)
