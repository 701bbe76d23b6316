"""Text generation with a GPT-style model:
temperature, top-k and top-p sampling over a key/value cache.

Everything here is TensorFlow graph code, so the same function is the in-memory `TextGenerator`
and the exported ``generate`` signature (`apps.nlp.lm.export`):

1. each prompt is tokenized by the model's own tokenizer and prefixed with ``[START]`` (as every
   training document is); a prompt that does not leave room for ``max_new_tokens`` in the
   context of ``sequence_length`` tokens keeps only its last tokens;
2. the prompts are right-padded into one ``(B, sequence_length)`` buffer; one forward pass over
   the shortest prompt fills the key/value cache (prefill);
3. a `tf.while_loop` then feeds one token per step at position ``index - 1`` through
   ``model.call_with_cache`` and picks the token at ``index``: a row still inside its prompt
   keeps its prompt token, a generating row takes the sampled token, a finished row pads.
   A row finishes at ``[END]`` or after its ``max_new_tokens``; the loop stops when all have.

Sampling per row (``sample_tokens``): logits / temperature; keep the ``top_k`` most likely tokens
(0 = all; Fan et al. 2018); then the smallest set whose probability reaches ``top_p`` (nucleus
sampling, Holtzman et al. 2020; 1.0 = all); draw by inverting the CDF with a uniform number from
``tf.random.stateless_uniform(seed=[seed, position])``, so a request's output depends only on its
own seed, not on which other requests share its batch. Temperature 0 is greedy (argmax).
Without the cache (``use_cache=False``, for the benchmark) every step re-runs the whole prefix.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import tensorflow as tf

from dlsuite.apps.nlp.tokenizers import END_ID, PAD_ID, START_ID

DEFAULT_MAX_NEW_TOKENS = 32
_NEG = -1e9  # logit of a filtered token (finite, so softmax never sees only -inf)


def check_sampling(max_new_tokens: Any, temperature: Any, top_k: Any, top_p: Any) -> list[Any]:
    """Graph assertions naming the bad argument (TF Serving answers them with INVALID_ARGUMENT)."""
    return [
        tf.debugging.assert_non_negative(max_new_tokens, message="max_new_tokens expected >= 0"),
        tf.debugging.assert_non_negative(
            temperature, message="temperature expected >= 0 (0 = greedy)"
        ),
        tf.debugging.assert_non_negative(
            top_k, message="top_k expected >= 0 (0 = no top-k filter)"
        ),
        tf.debugging.assert_positive(top_p, message="top_p expected in (0, 1]"),
        tf.debugging.assert_less_equal(top_p, 1.0, message="top_p expected in (0, 1]"),
    ]


def sample_tokens(
    logits: Any, temperature: Any, top_k: Any, top_p: Any, seeds: Any, position: Any
) -> Any:
    """One token per row from ``logits`` (B, V); all other arguments are per row (B,)."""
    logits = tf.cast(logits, tf.float32)  # (B, V)
    vocab = tf.shape(logits)[1]
    greedy = tf.argmax(logits, axis=-1, output_type=tf.int32)  # (B,)
    scaled = logits / tf.maximum(temperature, 1e-6)[:, None]
    sorted_logits, order = tf.math.top_k(scaled, k=vocab)  # (B, V) descending, (B, V) token ids
    ranks = tf.range(vocab)[None, :]  # (1, V)
    k = tf.where(top_k > 0, tf.minimum(top_k, vocab), vocab)[:, None]  # (B, 1)
    sorted_logits = tf.where(ranks < k, sorted_logits, _NEG)
    mass_before = tf.cumsum(tf.nn.softmax(sorted_logits), axis=-1, exclusive=True)  # (B, V)
    keep = (ranks < k) & ((mass_before < top_p[:, None]) | (ranks == 0))
    probabilities = tf.nn.softmax(tf.where(keep, sorted_logits, _NEG))  # (B, V)
    uniform = tf.map_fn(
        lambda s: tf.random.stateless_uniform([], tf.stack([s, position])),
        seeds,
        fn_output_signature=tf.float32,
    )  # (B,)
    below = tf.reduce_sum(
        tf.cast(tf.cumsum(probabilities, axis=-1) < uniform[:, None], tf.int32), axis=-1
    )
    choice = tf.minimum(
        below, tf.reduce_sum(tf.cast(keep, tf.int32), axis=-1) - 1
    )  # rounding stays in the kept set
    sampled = tf.gather(order, choice, batch_dims=1)  # (B,)
    return tf.where(temperature > 0, sampled, greedy)


def prompt_buffer(
    tokenizer: Any, prompts: Any, max_new_tokens: Any, length: int
) -> tuple[Any, Any, Any]:
    """``(buffer (B, L) int32, prompt_lengths (B,), ends (B,))``:
    ``[START]`` + prompt ids, right-padded.

    ``max_new_tokens`` is clipped to ``length - 1``; a prompt keeps its last
    ``length - max_new_tokens`` tokens, and generation for a row stops at ``ends`` = prompt length
    + max_new_tokens.
    """
    ids = tokenizer.tokenize(prompts)  # (B, None) ragged
    starts = tf.fill([ids.nrows(), 1], START_ID)
    ids = tf.concat(
        [tf.RaggedTensor.from_tensor(starts), tf.cast(ids, tf.int32)], axis=1
    )  # (B, None)
    max_new = tf.clip_by_value(tf.cast(max_new_tokens, tf.int32), 0, length - 1)  # (B,)
    lengths = tf.cast(ids.row_lengths(), tf.int32)  # (B,)
    drop = tf.maximum(lengths - (length - max_new), 0)  # (B,) tokens cut from the left
    rows = ids.value_rowids()
    position = tf.range(tf.shape(ids.flat_values)[0]) - tf.cast(
        tf.gather(ids.row_starts(), rows), tf.int32
    )
    kept = position >= tf.gather(drop, rows)
    ids = tf.RaggedTensor.from_value_rowids(ids.flat_values[kept], rows[kept], nrows=ids.nrows())
    prompt_lengths = lengths - drop
    buffer = ids.to_tensor(PAD_ID, shape=[None, length])  # (B, L)
    return buffer, prompt_lengths, prompt_lengths + max_new


def generate_ids(
    model: Any,
    buffer: Any,
    prompt_lengths: Any,
    ends: Any,
    temperature: Any,
    top_k: Any,
    top_p: Any,
    seeds: Any,
    use_cache: bool = True,
) -> Any:
    """Fill ``buffer`` (B, L) after each prompt; returns it (PAD after a row's end or ``[END]``)."""
    length = buffer.shape[1]
    batch = tf.shape(buffer)[0]
    first = tf.reduce_min(prompt_lengths)  # every row has >= 1 token ([START])
    columns = tf.range(length)[None, :]  # (1, L)

    def next_logits(index: Any, buffer: Any, cache: Any) -> tuple[Any, Any]:
        if use_cache:
            logits, cache = model.call_with_cache(
                buffer[:, index - 1 : index], cache, index - 1
            )  # (B, 1, V)
            return logits[:, 0], cache
        logits = model(buffer[:, :index], training=False)  # (B, index, V): the whole prefix again
        return logits[:, -1], cache

    def step(index: Any, buffer: Any, cache: Any, done: Any) -> tuple[Any, Any, Any, Any]:
        logits, cache = next_logits(index, buffer, cache)
        sampled = sample_tokens(logits, temperature, top_k, top_p, seeds, index)  # (B,)
        in_prompt = index < prompt_lengths
        writing = ~in_prompt & ~done
        token = tf.where(in_prompt, buffer[:, index], tf.where(writing, sampled, PAD_ID))
        done = done | (writing & ((sampled == END_ID) | (index + 1 >= ends)))
        buffer = tf.where(columns == index, token[:, None], buffer)
        return index + 1, buffer, cache, done

    if use_cache:
        _, cache = model.call_with_cache(
            buffer[:, :first], model.empty_cache(batch, length), 0
        )  # prefill
    else:
        cache = tf.zeros([0])
    done = prompt_lengths >= ends  # (B,) nothing to generate
    _, buffer, _, _ = tf.while_loop(
        lambda index, buffer, cache, done: (index < tf.reduce_max(ends)) & ~tf.reduce_all(done),
        step,
        (first, buffer, cache, done),
        maximum_iterations=length,
    )
    return buffer


def generate_strings(
    model: Any,
    tokenizer: Any,
    prompts: Any,
    max_new_tokens: Any,
    temperature: Any,
    top_k: Any,
    top_p: Any,
    seeds: Any,
    use_cache: bool = True,
) -> dict[str, Any]:
    """Graph function behind the ``generate`` signature: per-row arguments (B,) in, texts out.

    Returns ``{"completion": string (B,), "text": string (B,), "num_tokens": int32 (B,)}``: the
    new text only (a leading ``##`` piece continues the prompt's last word), the prompt and the
    new text detokenized together (as the tokenizer normalizes text: lowercased, punctuation
    spaced), and how many tokens were generated (``[END]`` not counted).
    """
    with tf.control_dependencies(check_sampling(max_new_tokens, temperature, top_k, top_p)):
        prompts = tf.identity(prompts)
    buffer, prompt_lengths, ends = prompt_buffer(
        tokenizer, prompts, max_new_tokens, model.sequence_length
    )
    buffer = generate_ids(
        model,
        buffer,
        prompt_lengths,
        ends,
        tf.cast(temperature, tf.float32),
        tf.cast(top_k, tf.int32),
        tf.cast(top_p, tf.float32),
        tf.cast(seeds, tf.int32),
        use_cache,
    )
    columns = tf.range(model.sequence_length)[None, :]
    new = (columns >= prompt_lengths[:, None]) & (buffer != PAD_ID)  # (B, L)
    completion = tokenizer.detokenize(tf.where(new, buffer, PAD_ID))
    num_tokens = tf.reduce_sum(tf.cast(new & (buffer != END_ID), tf.int32), axis=1)
    return {
        "completion": completion,
        "text": tokenizer.detokenize(buffer),
        "num_tokens": num_tokens,
    }


GENERATE_SIGNATURE = (
    tf.TensorSpec([None], tf.string, name="prompt"),
    tf.TensorSpec([None], tf.int32, name="max_new_tokens"),
    tf.TensorSpec([None], tf.float32, name="temperature"),
    tf.TensorSpec([None], tf.int32, name="top_k"),
    tf.TensorSpec([None], tf.float32, name="top_p"),
    tf.TensorSpec([None], tf.int32, name="seed"),
)


class TextGenerator:
    """In-memory generation with a trained `GPTLanguageModel` (the exported signature's graph).

    ``TextGenerator(model)(["return the number of items in"], max_new_tokens=8)`` returns the greedy
    continuations as strings; ``generate`` also returns the full texts and token counts. The graph
    is traced once per ``use_cache`` value and reused.
    """

    def __init__(self, model: Any, tokenizer: Any = None) -> None:
        self.model = model
        self.tokenizer = model.tokenizer if tokenizer is None else tokenizer
        if self.tokenizer is None:
            raise ValueError("the model carries no tokenizer; pass tokenizer=")
        self._functions: dict[bool, Any] = {}

    def function(self, use_cache: bool = True) -> Any:
        """The compiled graph, traced once per ``use_cache``:
        ``(prompt, max_new_tokens, ...) -> dict``.
        """
        if use_cache not in self._functions:
            # plain graph code: tracing without autograph is faster
            @tf.autograph.experimental.do_not_convert
            def run(*args: Any) -> dict[str, Any]:
                return generate_strings(self.model, self.tokenizer, *args, use_cache=use_cache)

            self._functions[use_cache] = tf.function(run, input_signature=GENERATE_SIGNATURE)
        return self._functions[use_cache]

    def generate(
        self,
        prompts: Sequence[str],
        max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
        temperature: float = 0.0,
        top_k: int = 0,
        top_p: float = 1.0,
        seed: int = 0,
        use_cache: bool = True,
    ) -> dict[str, Any]:
        """``{"completion": [str], "text": [str], "num_tokens": [int]}`` per prompt
        (same arguments for all).
        """
        checks = (
            ("max_new_tokens", max_new_tokens, max_new_tokens >= 0),
            ("temperature", temperature, temperature >= 0),
            ("top_k", top_k, top_k >= 0),
            ("top_p", top_p, 0 < top_p <= 1),
        )
        for name, value, ok in checks:
            if not ok:
                raise ValueError(
                    f"{name} expected {'a value in (0, 1]' if name == 'top_p' else '>= 0'}. "
                    f"Received: {name}={value}"
                )
        n = len(prompts)
        outputs = self.function(use_cache)(
            tf.constant(list(prompts), tf.string),
            tf.fill([n], int(max_new_tokens)),
            tf.fill([n], float(temperature)),
            tf.fill([n], int(top_k)),
            tf.fill([n], float(top_p)),
            tf.fill([n], int(seed)),
        )
        return {
            "completion": [s.decode("utf-8") for s in outputs["completion"].numpy()],
            "text": [s.decode("utf-8") for s in outputs["text"].numpy()],
            "num_tokens": outputs["num_tokens"].numpy().tolist(),
        }

    def __call__(self, prompts: Sequence[str], **options: Any) -> list[str]:
        return self.generate(prompts, **options)["completion"]
