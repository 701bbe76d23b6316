"""Transformer encoder text classifier."""

import keras

from dlsuite.apps.common.models import classifier_head
from dlsuite.apps.nlp.classify.models._common import check_arguments, text_input
from dlsuite.core_layers import PositionalEmbedding, TransformerEncoderBlock


def build_transformer(
    tokenizer,
    num_classes,
    *,
    embedding_dim=64,
    num_layers=2,
    num_heads=4,
    intermediate_dim=128,
    position_embedding="sinusoidal",
    norm_first=True,
    dropout=0.1,
):
    """Builds a Transformer encoder with mean pooling over the tokens, named "transformer".

    Vaswani et al., "Attention Is All You Need" (NeurIPS 2017): token + position embedding
    (`core_layers.PositionalEmbedding`), ``num_layers`` `core_layers.TransformerEncoderBlock`s
    that never attend to padding, a final layer normalization for pre-norm blocks, and the
    padding-masked mean of the token states as the text vector (instead of BERT's [CLS] token).

    Args:
        tokenizer: an `apps.nlp.tokenizers.Tokenizer` with a `sequence_length` (inside the model).
        num_classes: number of classes, >= 2.
        embedding_dim: model width, a multiple of `num_heads`. Defaults to 64.
        num_layers: encoder blocks. Defaults to 2.
        num_heads: attention heads. Defaults to 4.
        intermediate_dim: feed-forward width. Defaults to 128.
        position_embedding: "sinusoidal" or "learned". Defaults to "sinusoidal".
        norm_first: pre-norm (True) or post-norm (False) blocks. Defaults to True.
        dropout: dropout on the embeddings, inside the blocks and before the classifier.
            Defaults to 0.1.

    Returns:
        A model mapping strings `(batch,)` to probabilities `(batch, num_classes)`.
    """
    check_arguments("transformer", tokenizer, num_classes, dropout)
    text, ids = text_input(tokenizer)  # (B,) -> (B, T)
    x = PositionalEmbedding(
        tokenizer.vocabulary_size(),
        embedding_dim,
        max_length=tokenizer.sequence_length,
        position=position_embedding,
        mask_zero=True,
        name="embedding",
    )(ids)  # (B, T, E)
    if dropout:
        x = keras.layers.Dropout(dropout, name="embedding_dropout")(x)
    for i in range(num_layers):
        x = TransformerEncoderBlock(
            num_heads, intermediate_dim, dropout=dropout, norm_first=norm_first, name=f"encoder_{i}"
        )(x)  # (B, T, E)
    if norm_first:
        x = keras.layers.LayerNormalization(epsilon=1e-6, name="final_norm")(x)
    x = keras.layers.GlobalAveragePooling1D(name="mean_tokens")(x)  # (B, E), padding excluded
    return keras.Model(text, classifier_head(x, num_classes, dropout), name="transformer")
