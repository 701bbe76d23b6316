"""The suite's app models by name, as fresh (untrained) ``keras.Model``s: `get` and `names`.

As ``keras.applications`` and KerasHub do, a name gives an architecture and keyword arguments
size it::

    model = dlsuite.models.get("resnet20", num_classes=10, input_shape=(32, 32, 3))
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])

Every model is built (it can be exported with `dlsuite.export` as it is); all are functional but
``gpt`` and ``transformer_seq2seq``, subclassed models with decoding methods (their default export
signature takes the token ids as float32; pass ``signatures=`` for int32). ``B`` is the batch:

* vision classifiers ``lenet5``, ``alexnet``, ``resnet20``, ``resnet32``, ``resnet56``,
  ``resnet50``: float32 pixels in [0, 255] ``(B, H, W, C)`` -> class probabilities
  ``(B, num_classes)``; ``num_classes`` is required, ``input_shape`` defaults to the app's
  (32x32x3, 224x224x3 for ``resnet50``);
* speech models ``speech_dnn``, ``speech_cnn``, ``speech_ds_cnn``, ``speech_bilstm_attention``
  (keyword spotters): float32 waveform ``(B, num_samples)`` -> ``(B, num_classes)``; and
  ``speech_ctc`` (recogniser): ``(B, num_samples)`` -> per-frame probabilities
  ``(B, frames, num_classes)``; ``num_classes`` is required, ``num_samples`` defaults to 16000
  (one second at 16 kHz), the MFCC front end is inside the model;
* ``dcgan_generator``: noise ``z (B, latent_dim)`` (and ``labels (B,)`` with ``num_classes``) ->
  images in [-1, 1] ``(B, S, S, C)``; ``dcgan_discriminator``: images ``(B, S, S, C)`` -> logits
  ``(B, 1)`` (``(B, num_classes)`` with ``num_classes``); ``image_shape`` defaults to 16x16x1;
* text classifiers ``text_transformer``, ``text_bilstm``, ``text_bag_of_embeddings``: strings
  ``(B,)`` -> class probabilities ``(B, num_classes)``, the tokenizer inside the model;
  ``num_classes`` is required, and either ``tokenizer=`` (an `apps.nlp.tokenizers.Tokenizer`
  with a ``sequence_length``) or ``texts=`` (training strings: a list or a ``tf.data`` dataset of
  scalar strings) to learn one from, sized by ``vocab_size`` (8000), ``sequence_length`` (64)
  and ``tokenizer_kind`` (``"word"`` or ``"wordpiece"``);
* ``gpt`` (decoder-only language model): int token ids ``(B, T)``, ``T <= sequence_length``
  (128) -> next-token logits ``(B, T, vocabulary_size)``; ``vocabulary_size`` is required;
* ``transformer_seq2seq`` (translation encoder-decoder): ONE int tensor
  ``(B, source_length + target_length)``, the source ids then the decoder input ids (both 32
  by default, 0 = padding) -> logits ``(B, target_length, target_vocabulary_size)``;
  ``source_vocabulary_size`` and ``target_vocabulary_size`` are required.

The other keyword arguments are the app builder's (e.g. ``dropout``); `get` names the accepted
ones when it is given another.
"""

from __future__ import annotations

import functools
import importlib
import inspect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import keras


@dataclass(frozen=True)
class _Entry:
    """Where a model's builder lives, the leading positional arguments it is given (``args``)
    and the keyword defaults `get` adds.
    """

    module: str
    builder: str
    defaults: dict[str, Any] = field(default_factory=dict)
    args: tuple[Any, ...] = ()


def _vision(builder: str, size: int = 32) -> _Entry:
    return _Entry("dlsuite.apps.vision.models", builder, {"input_shape": (size, size, 3)})


def _speech(builder: str) -> _Entry:
    return _Entry("dlsuite.apps.speech.models", builder, {"num_samples": 16000})


def _text(architecture: str) -> _Entry:
    return _Entry("dlsuite.apps.nlp.classify.models", "build_text_classifier", args=(architecture,))


_GAN = {"image_shape": (16, 16, 1), "filters": 64}
_MODELS: dict[str, _Entry] = {
    "lenet5": _vision("build_lenet5"),
    "alexnet": _vision("build_alexnet"),
    "resnet20": _vision("build_resnet20"),
    "resnet32": _vision("build_resnet32"),
    "resnet56": _vision("build_resnet56"),
    "resnet50": _vision("build_resnet50", size=224),
    "speech_dnn": _speech("build_dnn"),
    "speech_cnn": _speech("build_cnn"),
    "speech_ds_cnn": _speech("build_ds_cnn"),
    "speech_bilstm_attention": _speech("build_bilstm_attention"),
    "speech_ctc": _speech("build_ctc"),
    "dcgan_generator": _Entry(
        "dlsuite.apps.generative.gan", "build_generator", {"latent_dim": 64, **_GAN}
    ),
    "dcgan_discriminator": _Entry("dlsuite.apps.generative.gan", "build_discriminator", _GAN),
    "text_transformer": _text("transformer"),
    "text_bilstm": _text("bilstm"),
    "text_bag_of_embeddings": _text("bag_of_embeddings"),
    "gpt": _Entry("dlsuite.apps.nlp.lm.models.gpt", "build_gpt"),
    "transformer_seq2seq": _Entry("dlsuite.apps.nlp.translate.models.seq2seq", "build_seq2seq"),
}


def names() -> list[str]:
    """The model names `get` accepts, sorted."""
    return sorted(_MODELS)


def get(name: str, **kwargs: Any) -> keras.Model:
    """A new, untrained ``keras.Model`` of the suite's model ``name`` (module docstring: shapes).

    Args:
        name: one of `names()`, e.g. ``"resnet20"``.
        **kwargs: the sizes and options of that model, e.g. ``num_classes=10,
            input_shape=(32, 32, 3)``; they override the defaults of the module docstring.

    Raises:
        ValueError: ``name`` is unknown (the message lists the known names), an argument has
            a bad value, or (``gpt``, ``transformer_seq2seq``) a keyword their model class does
            not take (Keras names it).
        TypeError: an argument the model does not take, or a required one missing (the message
            lists the accepted arguments).
    """
    if name not in _MODELS:
        raise ValueError(f"unknown model {name!r}; dlsuite.models.names() are: {names()}")
    entry = _MODELS[name]
    builder = functools.partial(
        getattr(importlib.import_module(entry.module), entry.builder), *entry.args
    )
    arguments = {**entry.defaults, **kwargs}
    signature = inspect.signature(builder)
    try:
        signature.bind(**arguments)
    except TypeError as err:
        accepted = ", ".join(
            f"**{p.name}" if p.kind is p.VAR_KEYWORD else p.name
            for p in signature.parameters.values()
        )
        raise TypeError(
            f"dlsuite.models.get({name!r}, ...): {err}; {name} takes: {accepted}"
        ) from None
    return builder(**arguments)


__all__ = ["get", "names"]
