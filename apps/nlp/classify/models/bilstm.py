"""Bidirectional (stacked) LSTM text classifier."""

import keras

from dlsuite.apps.common.models import classifier_head
from dlsuite.apps.nlp.classify.models._common import check_arguments, text_input
from dlsuite.core_layers import LSTMBlock


def build_bilstm(tokenizer, num_classes, *, embedding_dim=64, units=64, num_layers=1, dropout=0.1):
    """Builds a bidirectional LSTM over the token embeddings, named "bilstm".

    `core_layers.LSTMBlock` (Hochreiter & Schmidhuber 1997; Schuster & Paliwal 1997) skips the
    padding; the final states of both directions, concatenated, feed the classifier.

    Args:
        tokenizer: an `apps.nlp.tokenizers.Tokenizer` with a `sequence_length` (inside the model).
        num_classes: number of classes, >= 2.
        embedding_dim: embedding width. Defaults to 64.
        units: LSTM units per direction. Defaults to 64.
        num_layers: stacked bidirectional layers. Defaults to 1.
        dropout: dropout between LSTM layers and before the classifier, in [0, 1). Defaults to 0.1.

    Returns:
        A model mapping strings `(batch,)` to probabilities `(batch, num_classes)`.
    """
    check_arguments("bilstm", tokenizer, num_classes, dropout)
    text, ids = text_input(tokenizer)  # (B,) -> (B, T)
    x = keras.layers.Embedding(
        tokenizer.vocabulary_size(), embedding_dim, mask_zero=True, name="embedding"
    )(ids)
    x = LSTMBlock(units, num_layers=num_layers, bidirectional=True, dropout=dropout, name="bilstm")(
        x
    )  # (B, 2U)
    return keras.Model(text, classifier_head(x, num_classes, dropout), name="bilstm")
