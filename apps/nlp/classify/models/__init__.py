"""Text classifiers (task "classify"), one builder per model, looked up by name.

Each `build_<name>(tokenizer, num_classes, **options)` returns a functional model named after the
model that takes a string input "text" `(batch,)`, tokenizes it inside (`apps.nlp.tokenizers`) and
ends with a float32 softmax layer "probabilities":

- "bag_of_embeddings": mean of the token embeddings (Joulin et al. 2017, fastText).
- "bilstm": bidirectional LSTM (Hochreiter & Schmidhuber 1997; Schuster & Paliwal 1997).
- "transformer": Transformer encoder (Vaswani et al. 2017).

`build_classifier` builds one around a trained tokenizer (what the app does);
`build_text_classifier` also learns the tokenizer from training texts when not given one (what
`dlsuite.models.get("text_<name>", ...)` does).
"""

import inspect
from collections.abc import Callable
from typing import Any

import keras

from dlsuite.apps.nlp.classify.models.bag_of_embeddings import build_bag_of_embeddings
from dlsuite.apps.nlp.classify.models.bilstm import build_bilstm
from dlsuite.apps.nlp.classify.models.transformer import build_transformer

CLASSIFIERS: dict[str, Callable[..., keras.Model]] = {
    "bag_of_embeddings": build_bag_of_embeddings,
    "bilstm": build_bilstm,
    "transformer": build_transformer,
}


def build_classifier(name: str, tokenizer: Any, num_classes: int, **options: Any) -> keras.Model:
    """Builds the classifier registered as `name` in `CLASSIFIERS`
    with the builder's keyword `options`.
    """
    if name not in CLASSIFIERS:
        raise ValueError(
            f"Unknown text classifier {name!r}. Known classifiers: {', '.join(CLASSIFIERS)}"
        )
    builder = CLASSIFIERS[name]
    accepted = list(inspect.signature(builder).parameters)[2:]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise TypeError(
            f"text classifier {name!r} got unknown options {unknown}; it takes: "
            f"{', '.join(accepted)}"
        )
    return builder(tokenizer, num_classes, **options)


def build_text_classifier(
    name: str,
    num_classes: int,
    *,
    tokenizer: Any = None,
    texts: Any = None,
    vocab_size: int | None = None,
    sequence_length: int | None = None,
    tokenizer_kind: str | None = None,
    **options: Any,
) -> keras.Model:
    """The classifier `name` of `CLASSIFIERS` around ``tokenizer``, or around one learned from
    ``texts`` (the KerasHub habit: a model from a given tokenizer or from training data).

    The model maps strings ``(B,)`` to probabilities ``(B, num_classes)``.

    Args:
        name: a key of `CLASSIFIERS`, e.g. "transformer".
        num_classes: number of classes, >= 2.
        tokenizer: an `apps.nlp.tokenizers.Tokenizer` with a ``sequence_length``; or
        texts: the training strings (an iterable of str or a tf.data dataset of scalar strings)
            to learn a tokenizer from with `apps.nlp.tokenizers.train_tokenizer`.
        vocab_size: with ``texts``, the most token ids the learned tokenizer has. Defaults
            to 8000.
        sequence_length: with ``texts``, the tokens per text (longer texts are cut).
            Defaults to 64.
        tokenizer_kind: with ``texts``, "word" or "wordpiece". Defaults to "word".
        **options: the classifier builder's options (e.g. ``embedding_dim``, ``dropout``).

    Raises:
        ValueError: both or neither of ``tokenizer`` and ``texts``, tokenizer settings given
            with ``tokenizer``, a bad ``tokenizer_kind``, or ``texts`` one string.
    """
    from dlsuite.apps.nlp.tokenizers import TOKENIZER_KINDS, train_tokenizer

    settings = {
        "vocab_size": vocab_size,
        "sequence_length": sequence_length,
        "tokenizer_kind": tokenizer_kind,
    }
    if (tokenizer is None) == (texts is None):
        given = "both" if tokenizer is not None else "neither"
        raise ValueError(
            f"text classifier {name!r} needs either tokenizer= (a trained "
            "apps.nlp.tokenizers.Tokenizer) or texts= (training strings to learn one from); "
            f"it got {given}"
        )
    if tokenizer is not None:
        extra = sorted(key for key, value in settings.items() if value is not None)
        if extra:
            raise ValueError(
                f"text classifier {name!r}: {', '.join(extra)} size a tokenizer learned from "
                "texts=; with tokenizer= they come from that tokenizer: drop them"
            )
        return build_classifier(name, tokenizer, num_classes, **options)
    if isinstance(texts, (str, bytes)):
        raise ValueError(
            f"text classifier {name!r}: texts= expected many training strings (a list or a "
            f"tf.data dataset), not one string; wrap it in a list. Received: texts={texts!r}"
        )
    kind = "word" if tokenizer_kind is None else tokenizer_kind
    if kind not in TOKENIZER_KINDS:
        raise ValueError(
            f"tokenizer_kind expected one of {TOKENIZER_KINDS}. Received: tokenizer_kind={kind!r}"
        )
    tokenizer = train_tokenizer(
        kind,
        texts,
        8000 if vocab_size is None else vocab_size,
        64 if sequence_length is None else sequence_length,
    )
    return build_classifier(name, tokenizer, num_classes, **options)


__all__ = [
    "CLASSIFIERS",
    "build_bag_of_embeddings",
    "build_bilstm",
    "build_classifier",
    "build_text_classifier",
    "build_transformer",
]
