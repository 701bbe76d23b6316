"""Transformer encoder-decoder for translation (Vaswani et al. 2017),
with a key/value cache for decoding.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from dlsuite.base.validation import check_positive_int
from dlsuite.core_layers import (
    PositionalEmbedding,
    TransformerDecoderBlock,
    TransformerEncoderBlock,
)


@keras.saving.register_keras_serializable(package="dlsuite")
class TransformerSeq2Seq(keras.Model):
    """The Transformer of Vaswani et al., "Attention Is All You Need" (NeurIPS 2017),
    for translation.

    Source ids -> token + position embedding (`core_layers.PositionalEmbedding`, padding id 0
    masked) -> ``num_layers`` `core_layers.TransformerEncoderBlock`s. Target ids shifted right
    (``[START] y1 .. y(n-1)``) -> embedding -> ``num_layers`` `core_layers.TransformerDecoderBlock`s
    with causal self-attention and cross-attention to the encoder output -> logits over the
    target vocabulary. Trained with teacher forcing: position t predicts target token t.

    The model input is one int tensor, the source ids followed by the decoder input ids, so that
    the shared trainer (and its FLOP counter) sees a single input. For decoding
    (`apps.nlp.translate.decoding`), `encode` runs the encoder once, `cross_attention_caches`
    projects its keys and values for every decoder block once, and `decode_step` runs the decoder
    on new tokens only, reading and updating the self-attention key/value cache
    (`core_layers.CachedMultiHeadAttention`).
    Both tokenizers are kept as attributes so the saved model carries them.

    Args:
        source_vocabulary_size: number of source token ids.
        target_vocabulary_size: number of target token ids.
        source_length: source ids per example (S).
        target_length: decoder positions per example (T).
        num_layers: encoder blocks and decoder blocks (each).
        num_heads: attention heads.
        hidden_dim: model width, a multiple of `num_heads` (and even for sinusoidal positions).
        intermediate_dim: feed-forward width.
        dropout: dropout on the embeddings and inside the blocks.
        norm_first: pre-norm (with final layer normalizations) or the paper's post-norm blocks.
        position_embedding: "sinusoidal" (the paper) or "learned".
        source_tokenizer, target_tokenizer: `apps.nlp.tokenizers.Tokenizer`s, or None.

    Call arguments:
        inputs: int ``(B, S + T)``: source ids, then decoder input ids (0 = padding).

    Returns:
        float32 logits ``(B, T, target_vocabulary_size)``.
    """

    def __init__(
        self,
        source_vocabulary_size: int,
        target_vocabulary_size: int,
        source_length: int,
        target_length: int,
        num_layers: int = 2,
        num_heads: int = 4,
        hidden_dim: int = 64,
        intermediate_dim: int = 128,
        dropout: float = 0.1,
        norm_first: bool = True,
        position_embedding: str = "sinusoidal",
        source_tokenizer: Any = None,
        target_tokenizer: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_positive_int(
            source_vocabulary_size=source_vocabulary_size,
            target_vocabulary_size=target_vocabulary_size,
            source_length=source_length,
            target_length=target_length,
            num_layers=num_layers,
            num_heads=num_heads,
            hidden_dim=hidden_dim,
            intermediate_dim=intermediate_dim,
        )
        if hidden_dim % num_heads:
            raise ValueError(
                f"hidden_dim expected a multiple of num_heads={num_heads}. "
                f"Received: hidden_dim={hidden_dim}"
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"`dropout` expected a float in [0, 1). Received: dropout={dropout!r}")
        self.source_vocabulary_size = source_vocabulary_size
        self.target_vocabulary_size = target_vocabulary_size
        self.source_length = source_length
        self.target_length = target_length
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.hidden_dim = hidden_dim
        self.intermediate_dim = intermediate_dim
        self.dropout = float(dropout)
        self.norm_first = bool(norm_first)
        self.position_embedding = position_embedding
        self.source_tokenizer = source_tokenizer
        self.target_tokenizer = target_tokenizer
        self.source_embedding = PositionalEmbedding(
            source_vocabulary_size,
            hidden_dim,
            max_length=source_length,
            position=position_embedding,
            name="source_embedding",
        )
        self.target_embedding = PositionalEmbedding(
            target_vocabulary_size,
            hidden_dim,
            max_length=target_length,
            position=position_embedding,
            name="target_embedding",
        )
        self.embedding_dropout = keras.layers.Dropout(dropout, name="embedding_dropout")
        self.encoder_blocks = [
            TransformerEncoderBlock(
                num_heads,
                intermediate_dim,
                dropout=dropout,
                norm_first=norm_first,
                name=f"encoder_{i}",
            )
            for i in range(num_layers)
        ]
        self.decoder_blocks = [
            TransformerDecoderBlock(
                num_heads,
                intermediate_dim,
                dropout=dropout,
                norm_first=norm_first,
                name=f"decoder_{i}",
            )
            for i in range(num_layers)
        ]
        self.encoder_norm = (
            keras.layers.LayerNormalization(epsilon=1e-6, name="encoder_norm")
            if norm_first
            else None
        )
        self.decoder_norm = (
            keras.layers.LayerNormalization(epsilon=1e-6, name="decoder_norm")
            if norm_first
            else None
        )
        self.output_projection = keras.layers.Dense(
            target_vocabulary_size, name="output_projection"
        )

    @property
    def head_dim(self) -> int:
        return self.hidden_dim // self.num_heads

    def build(self, input_shape: Any) -> None:
        batch = input_shape[0]
        source, target = (batch, self.source_length), (batch, self.target_length)
        self.source_embedding.build(source)
        self.target_embedding.build(target)
        encoded = (batch, self.source_length, self.hidden_dim)
        decoded = (batch, self.target_length, self.hidden_dim)
        for block in self.encoder_blocks:
            block.build(encoded)
        for block in self.decoder_blocks:
            block.build(decoded, encoded)
        for norm, shape in ((self.encoder_norm, encoded), (self.decoder_norm, decoded)):
            if norm is not None:
                norm.build(shape)
        self.output_projection.build(decoded)
        self.built = True

    def encode(self, source_ids: Any, training: Any = None) -> tuple[Any, Any]:
        """Source ids ``(B, S)`` -> encoder output ``(B, S, D)``
        and its padding mask ``(B, S)`` (True = token).
        """
        source_ids = ops.cast(source_ids, "int32")
        mask = ops.not_equal(source_ids, 0)  # (B, S)
        x = self.embedding_dropout(
            self.source_embedding(source_ids), training=training
        )  # (B, S, D)
        for block in self.encoder_blocks:
            x = block(x, mask=mask, training=training)
        if self.encoder_norm is not None:
            x = self.encoder_norm(x)
        return x, mask

    def _logits(self, x: Any) -> Any:
        if self.decoder_norm is not None:
            x = self.decoder_norm(x)
        return ops.cast(self.output_projection(x), "float32")  # (B, T, V)

    def call(self, inputs: Any, training: Any = None) -> Any:
        inputs = ops.cast(inputs, "int32")
        encoded, source_mask = self.encode(inputs[:, : self.source_length], training)  # (B, S, D)
        target_ids = inputs[:, self.source_length :]  # (B, T)
        x = self.embedding_dropout(
            self.target_embedding(target_ids), training=training
        )  # (B, T, D)
        for block in self.decoder_blocks:
            x = block(
                x, encoded, encoder_padding_mask=source_mask, training=training
            )  # causal self-attention
        return self._logits(x)

    def cross_attention_caches(self, encoded: Any) -> list[Any]:
        """Per decoder block, the static keys/values ``(B, 2, S, heads, head_dim)``
        of the encoder output.
        """
        return [block.compute_cross_attention_cache(encoded) for block in self.decoder_blocks]

    def empty_cache(self, batch_size: Any, length: int | None = None) -> Any:
        """Zeros ``(B, num_layers, 2, length, heads, head_dim)``:
        the decoder self-attention cache.
        """
        length = self.target_length if length is None else length
        return ops.zeros(
            (batch_size, self.num_layers, 2, length, self.num_heads, self.head_dim),
            dtype=self.compute_dtype,
        )

    def decode_step(
        self, token_ids: Any, cache: Any, index: Any, cross_caches: list[Any], source_mask: Any
    ) -> tuple[Any, Any]:
        """Logits ``(B, t, V)`` of tokens ``(B, t)`` at positions ``index ..``
        and the updated cache.
        """
        x = self.target_embedding(ops.cast(token_ids, "int32"), start_index=index)  # (B, t, D)
        layers = []
        for i, block in enumerate(self.decoder_blocks):
            x, layer_cache = block(
                x,
                encoder_padding_mask=source_mask,
                self_attention_cache=cache[:, i],
                self_attention_cache_update_index=index,
                cross_attention_cache=cross_caches[i],
            )
            layers.append(layer_cache)
        return self._logits(x), ops.stack(layers, axis=1)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "source_vocabulary_size": self.source_vocabulary_size,
            "target_vocabulary_size": self.target_vocabulary_size,
            "source_length": self.source_length,
            "target_length": self.target_length,
            "num_layers": self.num_layers,
            "num_heads": self.num_heads,
            "hidden_dim": self.hidden_dim,
            "intermediate_dim": self.intermediate_dim,
            "dropout": self.dropout,
            "norm_first": self.norm_first,
            "position_embedding": self.position_embedding,
            "source_tokenizer": _serialize(self.source_tokenizer),
            "target_tokenizer": _serialize(self.target_tokenizer),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> TransformerSeq2Seq:
        config = dict(config)
        import dlsuite.apps.nlp.tokenizers  # noqa: F401  (registers the tokenizer classes)

        for key in ("source_tokenizer", "target_tokenizer"):
            if config.get(key) is not None:
                config[key] = keras.layers.deserialize(config[key])
        return cls(**config)


def _serialize(tokenizer: Any) -> Any:
    return None if tokenizer is None else keras.layers.serialize(tokenizer)


def build_seq2seq(
    source_vocabulary_size: int,
    target_vocabulary_size: int,
    source_length: int = 32,
    target_length: int = 32,
    **options: Any,
) -> TransformerSeq2Seq:
    """A new `TransformerSeq2Seq`, built for its one input of ``source_length + target_length`` ids.

    Int ``(B, source_length + target_length)`` (source ids, then decoder input ids) -> float32
    logits ``(B, target_length, target_vocabulary_size)``. ``options`` are the model's other
    arguments (``num_layers``, ``num_heads``, ``hidden_dim``, ``intermediate_dim``, ``dropout``,
    ``norm_first``, ``position_embedding``, the tokenizers, ``name``).
    """
    model = TransformerSeq2Seq(
        source_vocabulary_size, target_vocabulary_size, source_length, target_length, **options
    )
    model.build((None, source_length + target_length))
    return model
