"""Connectionist temporal classification for the speech recogniser:
characters, loss, decoders, metric.

Graves, Fernández, Gomez and Schmidhuber, "Connectionist Temporal Classification: Labelling
Unsegmented Sequence Data with Recurrent Neural Networks" (ICML 2006). The recogniser outputs a
softmax over `TOKENS` for every frame: id 0 is the CTC blank, ids 1.. are the characters of
`VOCABULARY` (space, apostrophe, a-z). A transcript is a row of character ids padded with 0 at
the end (0 is never a character, so the padding is unambiguous); its length is its count of
non-zero ids.

Decoding (`decode`): greedy (best path: argmax per frame, merge repeats, drop blanks) or beam
search (`tf.nn.ctc_beam_search_decoder` through `keras.ops.ctc_decode`, no language model), both
in-graph, so a SavedModel returns text.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import pairwise
from typing import Any

import keras
import numpy as np
import tensorflow as tf

VOCABULARY = " 'abcdefghijklmnopqrstuvwxyz"
BLANK = 0
# Display names in id order (the manifest's class names,
# TFLite's labels.txt: one non-empty line each).
TOKENS = ("<blank>", "<space>", *VOCABULARY[1:])
NUM_CLASSES = len(TOKENS)
DECODERS = ("greedy", "beam_search")
_EPSILON = 1e-7  # floor of the probabilities before the log


def normalize(text: str) -> str:
    """Lower case, with runs of whitespace as one space and none at the ends."""
    return " ".join(text.lower().split())


def unknown_characters(text: str) -> list[str]:
    """Characters of ``normalize(text)`` that are not in `VOCABULARY`, sorted."""
    return sorted(set(normalize(text)) - set(VOCABULARY))


def encode(text: str) -> list[int]:
    """``text`` (normalized) -> character ids 1..;
    raises `ValueError` naming characters outside `VOCABULARY`."""
    bad = unknown_characters(text)
    if bad:
        raise ValueError(
            f"characters {bad} are outside the recogniser's vocabulary {VOCABULARY!r}. "
            f"Received: {text!r}"
        )
    return [VOCABULARY.index(c) + 1 for c in normalize(text)]


def encode_batch(texts: Iterable[str], length: int | None = None) -> np.ndarray:
    """int64 ``(N, length)`` character ids padded with 0
    (default length: the longest transcript)."""
    ids = [encode(t) for t in texts]
    width = max((len(i) for i in ids), default=0) if length is None else length
    if any(len(i) > width for i in ids):
        raise ValueError(f"a transcript is longer than length={width}")
    out = np.zeros((len(ids), width), np.int64)
    for row, values in enumerate(ids):
        out[row, : len(values)] = values
    return out


def decode_ids(ids: Iterable[int]) -> str:
    """Character ids (0 and negative ids skipped) -> text."""
    return "".join(VOCABULARY[i - 1] for i in ids if i > 0)


def min_frames(ids: Iterable[int]) -> int:
    """Frames CTC needs to emit a transcript:
    one per character plus a blank between repeated characters."""
    ids = [i for i in ids if i > 0]
    return int(len(ids) + sum(a == b for a, b in pairwise(ids)))


def log_probabilities(probabilities: Any) -> Any:
    """float32 ``log(max(p, 1e-7))`` of ``(B, T, C)`` per-frame probabilities."""
    return tf.math.log(tf.maximum(tf.cast(probabilities, tf.float32), _EPSILON))


def decode(probabilities: Any, method: str = "greedy", beam_width: int = 16) -> Any:
    """``(B, T, C)`` per-frame probabilities -> int32 ``(B, T)`` character ids, -1 after the end.

    ``method`` is "greedy" (best path) or "beam_search" (``beam_width`` beams, the best path kept).
    """
    if method not in DECODERS:
        raise ValueError(f"method expected one of {DECODERS}. Received: method={method!r}")
    logits = log_probabilities(probabilities)  # (B, T, C)
    lengths = tf.fill(tf.shape(logits)[:1], tf.shape(logits)[1])  # (B,) every frame is real audio
    decoded, _ = keras.ops.ctc_decode(
        logits, lengths, strategy=method, beam_width=beam_width, top_paths=1, mask_index=BLANK
    )  # (1, B, T)
    return decoded[0]


def ids_to_strings(ids: Any) -> Any:
    """int ``(B, L)`` character ids (0 or -1 = nothing) -> tf.string ``(B,)``, in-graph."""
    table = tf.constant(["", *VOCABULARY])  # id 0 and the -1 padding map to ""
    return tf.strings.reduce_join(tf.gather(table, tf.maximum(tf.cast(ids, tf.int32), 0)), axis=-1)


def transcribe(probabilities: Any, method: str = "greedy", beam_width: int = 16) -> Any:
    """``(B, T, C)`` per-frame probabilities -> tf.string ``(B,)`` transcripts, in-graph."""
    return ids_to_strings(decode(probabilities, method, beam_width))


@keras.saving.register_keras_serializable(package="dlsuite")
class CTCLoss(keras.losses.Loss):
    """CTC negative log-likelihood of padded character ids under per-frame probabilities.

    ``y_true`` is int ``(B, L)`` character ids padded with 0 (`BLANK`); each row's length is its
    count of non-zero ids. ``y_pred`` is the model's softmax ``(B, T, C)`` with the blank at 0;
    every frame counts. Per example the loss is ``-log p(transcript | audio)`` (`tf.nn.ctc_loss`),
    so ``call`` returns ``(B,)`` values (the custom training loop takes them unreduced).

    Args:
        name: loss name. Defaults to "ctc".
        reduction: Keras loss reduction. Defaults to "sum_over_batch_size".
    """

    def __init__(
        self, name: str = "ctc", reduction: str = "sum_over_batch_size", **kwargs: Any
    ) -> None:
        super().__init__(name=name, reduction=reduction, **kwargs)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        # Sparse labels (the padding zeros dropped) select TensorFlow's CTC kernel (CTCLoss,
        # cuDNN on a GPU); dense labels would run a scan in TF ops, the same values about twice
        # as slowly on a CPU.
        labels = tf.sparse.from_dense(tf.cast(y_true, tf.int32))  # (B, L), only the non-zero ids
        logits = log_probabilities(y_pred)  # (B, T, C)
        logit_length = tf.fill(tf.shape(logits)[:1], tf.shape(logits)[1])  # (B,)
        return tf.nn.ctc_loss(
            labels, logits, None, logit_length, logits_time_major=False, blank_index=BLANK
        )  # (B,)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "reduction": self.reduction}


@keras.saving.register_keras_serializable(package="dlsuite")
class CharacterErrorRate(keras.metrics.Metric):
    """Character error rate of greedy decoding: total edit distance / total reference characters.

    Accumulates `tf.edit_distance` between the greedy transcripts of ``y_pred`` ``(B, T, C)`` and
    the padded character ids ``y_true`` ``(B, L)`` over every batch (a corpus-level rate, not a mean
    of per-example rates).

    Args:
        name: metric name. Defaults to "cer".
    """

    def __init__(self, name: str = "cer", **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self.errors = self.add_variable(shape=(), initializer="zeros", name="errors")
        self.characters = self.add_variable(shape=(), initializer="zeros", name="characters")

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        truth = tf.sparse.from_dense(tf.cast(y_true, tf.int64))  # padding zeros dropped
        hypothesis = tf.sparse.from_dense(
            tf.cast(decode(y_pred, "greedy") + 1, tf.int64)
        )  # -1 padding -> 0
        hypothesis = tf.SparseTensor(
            hypothesis.indices, hypothesis.values - 1, hypothesis.dense_shape
        )
        distance = tf.edit_distance(hypothesis, truth, normalize=False)  # (B,)
        self.errors.assign_add(tf.reduce_sum(distance))
        self.characters.assign_add(tf.cast(tf.shape(truth.values)[0], tf.float32))

    def result(self) -> Any:
        return tf.math.divide_no_nan(self.errors, self.characters)

    def reset_state(self) -> None:
        self.errors.assign(0.0)
        self.characters.assign(0.0)
