"""Greedy and beam-search decoding with a key/value cache, written with TensorFlow graph ops.

Both run inside a `tf.function` (the exported ``translate`` signatures) as a `tf.while_loop`
over positions, and work eagerly too. The decoder is a step function

    ``step(token_ids (N, 1), state, static, index) -> (logits (N, V), new state)``

where ``state`` is a nested structure of tensors with N rows that the step updates (the
self-attention key/value cache) and ``static`` a nested structure of tensors with N rows that it
only reads (the encoder's cross-attention keys/values and padding mask). Decoding starts from
`START_ID`, never emits the padding or start ids, and stops a sequence at `END_ID`; positions after
the end are padding (0).

Beam search keeps ``beam_size`` hypotheses per example (Sutskever et al. 2014; Wu et al. 2016,
"Google's Neural Machine Translation System", section 7): at every step each live hypothesis is
extended by every token, and the ``beam_size`` best candidates by length-normalized log
probability ``log p(y) / lp(y)``, ``lp(y) = ((5 + |y|) / 6) ** alpha`` (GNMT's length penalty,
|y| counting the end token), survive; a finished hypothesis stays in the beam with its score.
The state rows of the surviving hypotheses are gathered at each step, so the cache follows them.

`translate_texts` runs either on a `TransformerSeq2Seq`, strings in and strings out (the evaluation
and the exported signatures).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tensorflow as tf

from dlsuite.apps.nlp.tokenizers import END_ID, PAD_ID, START_ID
from dlsuite.base.validation import check_positive_int

NEG = -1e9  # log probability of an impossible token (finite, so sums never give NaN)
Step = Callable[[Any, Any, Any, Any], tuple[Any, Any]]


def _log_probs(logits: Any, finished: Any) -> Any:
    """(..., V) log-softmax where live rows may not emit PAD/START
    and finished rows only emit PAD at 0 cost.
    """
    logp = tf.nn.log_softmax(tf.cast(logits, tf.float32), axis=-1)  # (..., V)
    vocab = tf.range(tf.shape(logp)[-1])
    banned = (vocab == PAD_ID) | (vocab == START_ID)  # (V,)
    logp = tf.where(banned, NEG, logp)
    pad_only = tf.where(vocab == PAD_ID, 0.0, NEG)  # (V,)
    return tf.where(finished[..., None], pad_only, logp)


def greedy_search(
    step: Step, state: Any, static: Any, batch_size: Any, max_length: int
) -> tuple[Any, Any]:
    """The most likely token at every step:
    ids ``(B, max_length)`` and their log probability ``(B,)``.
    """

    def body(
        i: Any, tokens: Any, state: Any, sequences: Any, scores: Any, finished: Any
    ) -> tuple[Any, ...]:
        logits, state = step(tokens, state, static, i)  # (B, V)
        logp = _log_probs(logits, finished)
        best = tf.argmax(logp, axis=-1, output_type=tf.int32)  # (B,)
        scores = scores + tf.gather(logp, best, batch_dims=1)
        sequences = tf.where(
            tf.range(max_length)[None, :] == i, best[:, None], sequences
        )  # column i = best
        return i + 1, best[:, None], state, sequences, scores, finished | (best == END_ID)

    def cond(i: Any, tokens: Any, state: Any, sequences: Any, scores: Any, finished: Any) -> Any:
        return (i < max_length) & ~tf.reduce_all(finished)

    start = (
        tf.constant(0),
        tf.fill([batch_size, 1], START_ID),
        state,
        tf.zeros([batch_size, max_length], tf.int32),
        tf.zeros([batch_size], tf.float32),
        tf.zeros([batch_size], tf.bool),
    )
    _, _, _, sequences, scores, _ = tf.while_loop(cond, body, start)
    return sequences, scores


def length_penalty(length: Any, alpha: float) -> Any:
    """GNMT's ``((5 + length) / 6) ** alpha`` (Wu et al. 2016, eq. 14)."""
    return tf.pow((5.0 + tf.cast(length, tf.float32)) / 6.0, alpha)


def beam_search(
    step: Step,
    state: Any,
    static: Any,
    batch_size: Any,
    max_length: int,
    beam_size: int,
    alpha: float = 0.6,
) -> tuple[Any, Any]:
    """Length-normalized beam search:
    the best hypothesis ``(B, max_length)`` and its normalized score ``(B,)``.

    ``state`` and ``static`` have ``B`` rows; they are repeated ``beam_size`` times here.
    """
    check_positive_int(beam_size=beam_size)
    k = beam_size
    rows = batch_size * k
    state = tf.nest.map_structure(lambda t: tf.repeat(t, k, axis=0), state)  # (B K, ...)
    static = tf.nest.map_structure(lambda t: tf.repeat(t, k, axis=0), static)
    offsets = tf.range(batch_size)[:, None] * k  # (B, 1): first row of each example

    def body(
        i: Any, tokens: Any, state: Any, sequences: Any, scores: Any, lengths: Any, finished: Any
    ) -> tuple[Any, ...]:
        logits, state = step(tokens, state, static, i)  # (B K, V)
        vocab = tf.shape(logits)[-1]
        logp = _log_probs(tf.reshape(logits, [batch_size, k, vocab]), finished)  # (B, K, V)
        candidates = scores[..., None] + logp  # (B, K, V) total log probability
        candidate_lengths = lengths + tf.cast(~finished, tf.int32)  # (B, K)
        normalized = candidates / length_penalty(candidate_lengths, alpha)[..., None]
        _, best = tf.math.top_k(
            tf.reshape(normalized, [batch_size, k * vocab]), k=k
        )  # (B, K) sorted
        beam, token = best // vocab, best % vocab  # (B, K) each
        scores = tf.gather(tf.reshape(candidates, [batch_size, k * vocab]), best, batch_dims=1)
        lengths = tf.gather(candidate_lengths, beam, batch_dims=1)
        finished = tf.gather(finished, beam, batch_dims=1) | (token == END_ID)
        sequences = tf.gather(sequences, beam, batch_dims=1)  # (B, K, L)
        sequences = tf.where(tf.range(max_length)[None, None, :] == i, token[..., None], sequences)
        source_rows = tf.reshape(beam + offsets, [-1])  # (B K,)
        state = tf.nest.map_structure(lambda t: tf.gather(t, source_rows), state)
        return i + 1, tf.reshape(token, [-1, 1]), state, sequences, scores, lengths, finished

    def cond(
        i: Any, tokens: Any, state: Any, sequences: Any, scores: Any, lengths: Any, finished: Any
    ) -> Any:
        return (i < max_length) & ~tf.reduce_all(finished)

    first_beam_only = tf.concat(
        [tf.zeros([1]), tf.fill([k - 1], NEG)], axis=0
    )  # identical beams at the start
    start = (
        tf.constant(0),
        tf.fill([rows, 1], START_ID),
        state,
        tf.zeros([batch_size, k, max_length], tf.int32),
        tf.tile(first_beam_only[None, :], [batch_size, 1]),
        tf.zeros([batch_size, k], tf.int32),
        tf.zeros([batch_size, k], tf.bool),
    )
    _, _, _, sequences, scores, lengths, _ = tf.while_loop(cond, body, start)
    normalized = scores / length_penalty(lengths, alpha)  # (B, K)
    best = tf.argmax(normalized, axis=-1, output_type=tf.int32)  # (B,)
    return tf.gather(sequences, best, batch_dims=1), tf.gather(normalized, best, batch_dims=1)


def translate_texts(
    model: Any,
    texts: Any,
    beam_size: int = 1,
    max_length: int | None = None,
    length_penalty: float = 0.6,
) -> tuple[Any, Any]:
    """Strings ``(B,)`` -> translations ``(B,)``
    and their (length-normalized, for beams) log probabilities.

    Greedy for ``beam_size`` 1, else beam search; at most ``max_length`` target tokens
    (default and upper bound: the model's ``target_length``).
    Graph-compatible (used by the export).
    """
    length = (
        model.target_length if max_length is None else min(int(max_length), model.target_length)
    )
    ids = model.source_tokenizer(texts)  # (B, S)
    encoded, source_mask = model.encode(ids, training=False)  # (B, S, D), (B, S)
    static = (model.cross_attention_caches(encoded), source_mask)
    batch = tf.shape(ids)[0]

    def step(tokens: Any, cache: Any, static: Any, index: Any) -> tuple[Any, Any]:
        logits, cache = model.decode_step(tokens, cache, index, static[0], static[1])  # (N, 1, V)
        return logits[:, -1], cache

    cache = model.empty_cache(batch)
    if beam_size == 1:
        sequences, scores = greedy_search(step, cache, static, batch, length)
    else:
        sequences, scores = beam_search(
            step, cache, static, batch, length, beam_size, length_penalty
        )
    return model.target_tokenizer.detokenize(sequences), scores
