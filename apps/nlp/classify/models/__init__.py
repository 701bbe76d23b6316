"""Text classifiers (task "classify"), one builder per model, looked up by name.

Each `build_<name>(tokenizer, num_classes, **options)` returns a functional model named after the
model that takes a string input "text" `(batch,)`, tokenizes it inside (`apps.nlp.tokenizers`) and
ends with a float32 softmax layer "probabilities":

- "bag_of_embeddings": mean of the token embeddings (Joulin et al. 2017, fastText).
- "bilstm": bidirectional LSTM (Hochreiter & Schmidhuber 1997; Schuster & Paliwal 1997).
- "transformer": Transformer encoder (Vaswani et al. 2017).
"""

from collections.abc import Callable

import keras

from dlsuite.apps.nlp.classify.models.bag_of_embeddings import build_bag_of_embeddings
from dlsuite.apps.nlp.classify.models.bilstm import build_bilstm
from dlsuite.apps.nlp.classify.models.transformer import build_transformer

CLASSIFIERS: dict[str, Callable[..., keras.Model]] = {
    "bag_of_embeddings": build_bag_of_embeddings,
    "bilstm": build_bilstm,
    "transformer": build_transformer,
}


def build_classifier(name: str, tokenizer, num_classes: int, **options) -> keras.Model:
    """Builds the classifier registered as `name` in `CLASSIFIERS`
    with the builder's keyword `options`.
    """
    if name not in CLASSIFIERS:
        raise ValueError(
            f"Unknown text classifier {name!r}. Known classifiers: {', '.join(CLASSIFIERS)}"
        )
    return CLASSIFIERS[name](tokenizer, num_classes, **options)


__all__ = [
    "CLASSIFIERS",
    "build_bag_of_embeddings",
    "build_bilstm",
    "build_classifier",
    "build_transformer",
]
