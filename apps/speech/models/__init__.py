"""Keyword spotting and speech recognition models: one builder per model, looked up by name.

- "dnn": Hinton et al. 2012 style DNN over stacked frames.
- "cnn": Sainath & Parada,
  "Convolutional Neural Networks for Small-footprint Keyword Spotting" (2015).
- "ds_cnn": Zhang et al., "Hello Edge: Keyword Spotting on Microcontrollers" (2017).
- "bilstm_attention": bidirectional LSTM (Hochreiter & Schmidhuber 1997) with attention pooling.
- "ctc": character recogniser in the spirit of Deep Speech 2 (Amodei et al. 2016), trained with CTC.

Every builder is
`build_<name>(num_samples, num_classes, *, frontend=..., spec_augment=..., dropout=...)`
and returns a functional model named after the model that takes a float32 waveform
`(batch, num_samples)` named "waveform" (the audio front end is inside the model) and ends with a
float32 softmax layer "probabilities": `(batch, num_classes)` for the keyword spotters,
`(batch, frames, num_classes)` per frame for "ctc".
"""

from collections.abc import Callable

import keras

from dlsuite.apps.speech.models.bilstm_attention import build_bilstm_attention
from dlsuite.apps.speech.models.cnn import build_cnn
from dlsuite.apps.speech.models.ctc import build_ctc
from dlsuite.apps.speech.models.dnn import build_dnn
from dlsuite.apps.speech.models.ds_cnn import build_ds_cnn

MODELS: dict[str, Callable[..., keras.Model]] = {
    "dnn": build_dnn,
    "cnn": build_cnn,
    "ds_cnn": build_ds_cnn,
    "bilstm_attention": build_bilstm_attention,
    "ctc": build_ctc,
}


def build_model(name: str, num_samples: int, num_classes: int, **options) -> keras.Model:
    """Builds the model registered as `name` in `MODELS` with the builder's keyword `options`."""
    if name not in MODELS:
        raise ValueError(f"Unknown speech model {name!r}. Known models: {', '.join(MODELS)}")
    return MODELS[name](num_samples, num_classes, **options)


__all__ = [
    "MODELS",
    "build_bilstm_attention",
    "build_cnn",
    "build_ctc",
    "build_dnn",
    "build_ds_cnn",
    "build_model",
]
