"""Bag-of-embeddings text classifier: the mean of the token embeddings, then a linear layer."""

import keras

from dlsuite.apps.common.models import classifier_head
from dlsuite.apps.nlp.classify.models._common import check_arguments, text_input


def build_bag_of_embeddings(tokenizer, num_classes, *, embedding_dim=64, dropout=0.1):
    """Builds the averaged-embedding baseline, named "bag_of_embeddings".

    Joulin et al., "Bag of Tricks for Efficient Text Classification" (fastText, EACL 2017): word
    order is ignored; the padding-masked mean of the token embeddings feeds a linear classifier.

    Args:
        tokenizer: an `apps.nlp.tokenizers.Tokenizer` with a `sequence_length` (inside the model).
        num_classes: number of classes, >= 2.
        embedding_dim: embedding width. Defaults to 64.
        dropout: dropout before the classifier, in [0, 1). Defaults to 0.1.

    Returns:
        A model mapping strings `(batch,)` to probabilities `(batch, num_classes)`.
    """
    check_arguments("bag_of_embeddings", tokenizer, num_classes, dropout)
    text, ids = text_input(tokenizer)  # (B,) -> (B, T)
    x = keras.layers.Embedding(
        tokenizer.vocabulary_size(), embedding_dim, mask_zero=True, name="embedding"
    )(ids)
    x = keras.layers.GlobalAveragePooling1D(name="mean_embedding")(x)  # (B, E), padding excluded
    return keras.Model(text, classifier_head(x, num_classes, dropout), name="bag_of_embeddings")
