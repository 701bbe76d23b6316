"""Tokenizers trained on the training split and saved inside the model,
so clients send plain strings.

Two Keras layers with one interface (`Tokenizer`), registered under "dlsuite" so a model that
holds one survives ``model.save``/``keras.saving.load_model`` and `keras.export.ExportArchive`:

- `WordTokenizer`: one id per word, looked up with `keras.layers.TextVectorization`.
- `WordPieceTokenizer`: subwords, BERT's greedy longest-match-first WordPiece split written with
  core TensorFlow ops (no custom op library, so the SavedModel serves anywhere TensorFlow does);
  the vocabulary is learned by `apps.nlp.wordpiece_vocab`.

Both lowercase (optional), put spaces around punctuation and symbols, split on white space, and
share the special ids below. ``tokenizer(strings)`` gives int32 ids ``(B, T)`` padded with 0;
``tokenizer.tokenize(strings)`` gives them ragged and untruncated (for the LM and translation
tasks, which add `START_ID`/`END_ID` themselves); ``tokenizer.detokenize(ids)`` turns ids back
into strings. `train_tokenizer` learns a vocabulary from the training texts; `describe_tokenizer`
says what metrics.json and the manifest record about one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import keras
import tensorflow as tf

from dlsuite.apps.nlp.wordpiece_vocab import JOINER, learn_wordpiece_vocabulary
from dlsuite.base.validation import check_positive_int

PAD, UNK, START, END = "", "[UNK]", "[START]", "[END]"
SPECIAL_TOKENS = (PAD, UNK, START, END)
PAD_ID, UNK_ID, START_ID, END_ID = range(4)
TOKENIZER_KINDS = ("word", "wordpiece")


def pretokenize(texts: Any, lowercase: bool = True) -> Any:
    """Strings -> strings of space-separated words;
    punctuation and symbols become words of their own.

    Unicode lowercasing (optional), then every punctuation or symbol character is surrounded by
    spaces, and runs of white space, separators and control characters become one space.
    """
    x = tf.convert_to_tensor(texts, tf.string)
    if lowercase:
        x = tf.strings.lower(x, encoding="utf-8")
    x = tf.strings.regex_replace(x, r"([\pP\pS])", r" \1 ")
    x = tf.strings.regex_replace(x, r"[[:space:]\pZ\pC]+", " ")
    return tf.strings.strip(x)


def split_words(texts: Any, lowercase: bool = True) -> Any:
    """(B,) strings -> (B, None) ragged words, as both tokenizers see them."""
    words = tf.strings.split(pretokenize(texts, lowercase), sep=" ")  # (B, None)
    return tf.ragged.boolean_mask(words, tf.strings.length(words) > 0)


class Tokenizer(keras.layers.Layer):
    """What every tokenizer does; subclasses implement `tokenize` (and may change `_join`).

    Args:
        vocabulary: list of tokens; index = id. Starts with `SPECIAL_TOKENS`
            (``""`` padding 0, ``"[UNK]"`` 1, ``"[START]"`` 2, ``"[END]"`` 3).
        sequence_length: ids per text from ``call``: longer texts are truncated, shorter ones padded
            with 0. None pads to the longest text of the batch.
        lowercase: lowercase the text first. Defaults to True.
        **kwargs: base layer arguments.

    Call arguments:
        inputs: string tensor ``(batch,)`` or ``(batch, 1)``.

    Returns:
        int32 ids ``(batch, sequence_length)``.
    """

    def __init__(
        self,
        vocabulary: Sequence[str],
        sequence_length: int | None = None,
        lowercase: bool = True,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        vocabulary = [str(token) for token in vocabulary]
        if tuple(vocabulary[: len(SPECIAL_TOKENS)]) != SPECIAL_TOKENS:
            raise ValueError(
                f"vocabulary expected to start with {list(SPECIAL_TOKENS)}. "
                f"Received: vocabulary[:4]={vocabulary[:4]}"
            )
        if len(set(vocabulary)) != len(vocabulary):
            duplicates = sorted(token for token, n in Counter(vocabulary).items() if n > 1)
            raise ValueError(
                f"vocabulary expected unique tokens. Received duplicates: {duplicates[:10]}"
            )
        if sequence_length is not None and (
            isinstance(sequence_length, bool)
            or not isinstance(sequence_length, int)
            or sequence_length <= 0
        ):
            raise ValueError(
                f"`sequence_length` expected a positive integer or None. "
                f"Received: sequence_length={sequence_length!r}"
            )
        self.vocabulary = vocabulary
        self.sequence_length = sequence_length
        self.lowercase = bool(lowercase)
        self.supports_masking = False
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True

    def build(self, input_shape: Any = None) -> None:
        # The lookup table is made from the vocabulary, not from the input shape.
        self.lookup.build(None)

    def vocabulary_size(self) -> int:
        return len(self.vocabulary)

    def tokenize(self, inputs: Any) -> Any:
        """(B,) strings -> (B, None) ragged int32 ids, untruncated, without padding."""
        raise NotImplementedError

    def call(self, inputs: Any) -> Any:
        x = tf.convert_to_tensor(inputs, tf.string)
        if x.shape.rank == 2:
            x = tf.squeeze(x, axis=1)  # (B, 1) -> (B,)
        ids = self.tokenize(x)  # (B, None) ragged
        if self.sequence_length is None:
            dense = ids.to_tensor(PAD_ID)
        else:
            dense = ids[:, : self.sequence_length].to_tensor(
                PAD_ID, shape=[None, self.sequence_length]
            )
        # EnsureShape keeps a static batch static in the graph itself
        # (the FLOP profiler reads it there).
        return tf.ensure_shape(dense, [x.shape[0], self.sequence_length])

    def detokenize(self, ids: Any) -> Any:
        """(B, T) int ids -> (B,) strings:
        stops at the first `END_ID`, drops padding and `START_ID`.
        """
        ids = tf.cast(tf.convert_to_tensor(ids), tf.int32)  # (B, T)
        before_end = tf.cumsum(tf.cast(ids == END_ID, tf.int32), axis=-1) == 0
        keep = before_end & (ids != PAD_ID) & (ids != START_ID)
        tokens = tf.gather(
            tf.constant(self.vocabulary), tf.clip_by_value(ids, 0, len(self.vocabulary) - 1)
        )
        text = tf.strings.reduce_join(
            tf.ragged.boolean_mask(tokens, keep), axis=-1, separator=" "
        )  # (B,)
        return self._join(text)

    def _join(self, text: Any) -> Any:
        return text

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> tuple[int | None, ...]:
        return (input_shape[0], self.sequence_length)

    def compute_output_spec(self, inputs: Any) -> Any:
        return keras.KerasTensor((inputs.shape[0], self.sequence_length), dtype="int32")

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "vocabulary": list(self.vocabulary),
            "sequence_length": self.sequence_length,
            "lowercase": self.lowercase,
        }


@keras.saving.register_keras_serializable(package="dlsuite")
class WordTokenizer(Tokenizer):
    """One id per word: `pretokenize`, split on spaces,
    look up with `keras.layers.TextVectorization`.

    Words not in the vocabulary get `UNK_ID`. Arguments as `Tokenizer`.

    Example:
    >>> tok = WordTokenizer(["", "[UNK]", "[START]", "[END]", "hello", "!"], sequence_length=4)
    >>> tok(tf.constant(["Hello world!"])).numpy().tolist()
    [[4, 1, 5, 0]]
    """

    def __init__(
        self,
        vocabulary: Sequence[str],
        sequence_length: int | None = None,
        lowercase: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(vocabulary, sequence_length, lowercase, **kwargs)
        # TextVectorization adds "" (0) and "[UNK]" (1) itself; the rest keep their ids.
        self.lookup = keras.layers.TextVectorization(
            standardize=None,
            split="whitespace",
            output_mode="int",
            ragged=True,
            vocabulary=self.vocabulary[2:],
            name="lookup",
        )

    def tokenize(self, inputs: Any) -> Any:
        words = tf.strings.reduce_join(
            split_words(inputs, self.lowercase), axis=-1, separator=" "
        )  # (B,)
        return tf.cast(self.lookup(words), tf.int32)  # (B, None)


@keras.saving.register_keras_serializable(package="dlsuite")
class WordPieceTokenizer(Tokenizer):
    """Subword ids: `pretokenize`, then each word split greedily into the longest vocabulary pieces.

    BERT's WordPiece split (Devlin et al. 2019; Wu et al. 2016): from the start of a word, take
    the longest piece in the vocabulary (``##``-prefixed when it continues the word) and repeat;
    a word with no complete split, or longer than ``max_chars_per_word`` characters, becomes one
    `UNK_ID`. Done with core TensorFlow ops for the distinct words of the batch at once: a
    `tf.while_loop` in which every word not yet done looks up (`keras.layers.StringLookup`) its
    substrings at its position, from the longest vocabulary piece's length down, and takes the
    longest found. ``detokenize`` glues ``##`` pieces to the piece before them.

    Args:
        vocabulary, sequence_length, lowercase: as `Tokenizer`.
        max_chars_per_word: longest word split into pieces (characters). Defaults to 24.
        **kwargs: base layer arguments.
    """

    def __init__(
        self,
        vocabulary: Sequence[str],
        sequence_length: int | None = None,
        lowercase: bool = True,
        max_chars_per_word: int = 24,
        **kwargs: Any,
    ) -> None:
        super().__init__(vocabulary, sequence_length, lowercase, **kwargs)
        check_positive_int(max_chars_per_word=max_chars_per_word)
        self.max_chars_per_word = max_chars_per_word
        self.lookup = keras.layers.StringLookup(
            vocabulary=self.vocabulary[2:],
            mask_token=PAD,
            oov_token=UNK,
            num_oov_indices=1,
            output_mode="int",
            name="lookup",
        )
        # Longest piece in characters: the candidates tried at each position, longest first.
        self._longest_piece = (
            max(len(t.removeprefix(JOINER)) for t in self.vocabulary[len(SPECIAL_TOKENS) :])
            if len(self.vocabulary) > len(SPECIAL_TOKENS)
            else 1
        )

    def _split(self, words: Any) -> Any:
        """(W,) distinct words -> (W, S) piece ids in order, -1 after a word's last piece.

        Each step looks up, for the words not yet done, the substrings of every length from the
        longest piece down to 1 at their position, and takes the longest that is in the vocabulary.
        """
        count = tf.shape(words)[0]
        chars = tf.strings.length(words, unit="UTF8_CHAR")  # (W,)
        lengths = tf.range(self._longest_piece, 0, -1, dtype=tf.int32)  # (M,), longest first

        def step(i: Any, position: Any, failed: Any, pieces: Any) -> tuple[Any, Any, Any, Any]:
            todo = tf.where((position < chars) & ~failed)[:, 0]  # (A,) words still being split
            at = tf.gather(position, todo)  # (A,)
            size = tf.gather(chars, todo)
            starts = tf.broadcast_to(
                at[:, None], [tf.shape(todo)[0], self._longest_piece]
            )  # (A, M)
            candidates = tf.strings.substr(
                tf.broadcast_to(tf.gather(words, todo)[:, None], tf.shape(starts)),
                starts,
                tf.broadcast_to(lengths[None, :], tf.shape(starts)),
                unit="UTF8_CHAR",
            )  # (A, M)
            candidates = tf.where(starts > 0, JOINER + candidates, candidates)
            ids = tf.cast(self.lookup(candidates), tf.int32)  # (A, M); 0 or 1: not a piece
            found = (ids > UNK_ID) & (at[:, None] + lengths[None, :] <= size[:, None])
            best = tf.argmax(
                tf.cast(found, tf.int32), axis=1, output_type=tf.int32
            )  # first = longest
            has = tf.reduce_any(found, axis=1)  # (A,)
            index = todo[:, None]
            piece = tf.where(has, tf.gather(ids, best, batch_dims=1), -1)
            row = tf.tensor_scatter_nd_update(tf.fill([count], -1), index, piece)  # (W,)
            pieces = tf.tensor_scatter_nd_update(pieces, [[i]], row[None, :])  # row i of (L, W)
            position = tf.tensor_scatter_nd_add(
                position, index, tf.where(has, tf.gather(lengths, best), 0)
            )
            failed = tf.tensor_scatter_nd_update(failed, index, ~has)
            return i + 1, position, failed, pieces

        def more(i: Any, position: Any, failed: Any, pieces: Any) -> Any:
            return tf.reduce_any((position < chars) & ~failed)

        failed = chars > self.max_chars_per_word
        steps, _, failed, pieces = tf.while_loop(
            more,
            step,
            (0, tf.zeros([count], tf.int32), failed, tf.fill([self.max_chars_per_word, count], -1)),
            maximum_iterations=self.max_chars_per_word,
        )
        pieces = tf.transpose(
            pieces[: tf.maximum(steps, 1)]
        )  # (W, S), S >= 1 so a failed word has room for [UNK]
        unknown = tf.one_hot(
            tf.zeros([count], tf.int32),
            tf.shape(pieces)[1],
            on_value=UNK_ID,
            off_value=-1,
            dtype=tf.int32,
        )  # (W, S): one [UNK] per failed word
        return tf.where(failed[:, None], unknown, pieces)

    def tokenize(self, inputs: Any) -> Any:
        words = split_words(inputs, self.lowercase)  # (B, None words)
        distinct, index = tf.unique(words.flat_values)  # (W,), (all words,)
        pieces = tf.gather(self._split(distinct), index)  # (all words, L)
        pieces = tf.ragged.boolean_mask(pieces, pieces >= 0)  # (all words, None)
        return words.with_flat_values(pieces).merge_dims(1, 2)  # (B, None)

    def _join(self, text: Any) -> Any:
        return tf.strings.regex_replace(text, " " + JOINER, "")

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "max_chars_per_word": self.max_chars_per_word}


def count_words(texts: Any, lowercase: bool = True, batch_size: int = 1024) -> Counter[str]:
    """Word counts of ``texts`` (a dataset of scalar strings, or an iterable of str),
    split as the tokenizers do.
    """
    dataset = (
        texts
        if isinstance(texts, tf.data.Dataset)
        else tf.data.Dataset.from_tensor_slices(tf.constant(list(texts), tf.string))
    )
    counts: Counter[str] = Counter()
    for batch in (
        dataset.batch(batch_size).map(lambda x: pretokenize(x, lowercase)).as_numpy_iterator()
    ):
        for line in batch:
            counts.update(word for word in line.decode("utf-8").split(" ") if word)
    return counts


def train_tokenizer(
    kind: str,
    texts: Any,
    vocab_size: int,
    sequence_length: int | None = None,
    lowercase: bool = True,
    name: str = "tokenizer",
    **options: Any,
) -> Tokenizer:
    """Learn a ``kind`` ("word" or "wordpiece") tokenizer of at most ``vocab_size`` ids
    from ``texts``.

    ``texts`` is a dataset of scalar strings or an iterable of str (the training split only).
    word: the ``vocab_size - 4`` most frequent words (ties alphabetical). wordpiece: see
    `apps.nlp.wordpiece_vocab.learn_wordpiece_vocabulary`. ``options`` go to the tokenizer class.
    """
    if kind not in TOKENIZER_KINDS:
        raise ValueError(
            f"tokenizer expected one of {TOKENIZER_KINDS}. Received: tokenizer={kind!r}"
        )
    counts = count_words(texts, lowercase)
    if not counts:
        raise ValueError("cannot train a tokenizer: the training texts contain no words")
    if kind == "word":
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        vocabulary = [*SPECIAL_TOKENS, *(w for w, _ in ranked if w not in SPECIAL_TOKENS)][
            :vocab_size
        ]
        return WordTokenizer(vocabulary, sequence_length, lowercase, name=name, **options)
    max_chars = options.get("max_chars_per_word", 24)
    vocabulary = learn_wordpiece_vocabulary(
        {w: c for w, c in counts.items() if len(w) <= max_chars},
        vocab_size,
        reserved_tokens=SPECIAL_TOKENS,
    )
    return WordPieceTokenizer(vocabulary, sequence_length, lowercase, name=name, **options)


def describe_tokenizer(tokenizer: Tokenizer) -> dict[str, Any]:
    """What metrics.json and the manifest record about a tokenizer."""
    return {
        "kind": type(tokenizer).__name__,
        "vocabulary_size": tokenizer.vocabulary_size(),
        "sequence_length": tokenizer.sequence_length,
        "lowercase": tokenizer.lowercase,
    }
