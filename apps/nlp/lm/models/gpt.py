"""GPT-style decoder-only language model with a key/value cache for generation."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from dlsuite.base.validation import check_positive_int
from dlsuite.core_layers import PositionalEmbedding, TransformerDecoderBlock


@keras.saving.register_keras_serializable(package="dlsuite")
class GPTLanguageModel(keras.Model):
    """Token + position embedding, N causal decoder blocks, tied or untied output.

    The decoder-only Transformer of Radford et al. 2018 ("Improving Language Understanding by
    Generative Pre-Training") in its GPT-2 form (Radford et al. 2019): learned positions, pre-norm
    blocks and a final layer normalization, embeddings initialized from N(0, 0.02). The output
    logits reuse the token embedding matrix (`tie_embeddings`, Press & Wolf 2017) or come from
    their own projection. With ``position="sinusoidal"`` the positions are Vaswani et al.'s fixed
    sinusoids and the token embeddings are scaled by sqrt(hidden_dim), as in that paper.
    Trained with next-token cross-entropy on windows of ``sequence_length`` tokens.

    ``call(token_ids)`` is the full causal forward pass; ``call_with_cache`` processes only new
    tokens at a position, reading and updating the per-layer key/value cache
    (`core_layers.CachedMultiHeadAttention`), which `apps.nlp.lm.generation` uses to decode.
    The tokenizer is kept as an attribute, so the saved model carries it
    (it is not used in ``call``).

    Args:
        vocabulary_size: number of token ids.
        sequence_length: context length (positions of the position embedding).
        position: "learned" (GPT) or "sinusoidal" position embedding
            (`core_layers.PositionalEmbedding`).
        num_layers: decoder blocks.
        num_heads: attention heads per block.
        hidden_dim: model width.
        intermediate_dim: feed-forward width.
        dropout: dropout rate on the embeddings and inside the blocks.
        norm_first: pre-norm (GPT-2) or post-norm (Vaswani et al. 2017) blocks.
        tie_embeddings: output logits from the token embedding matrix.
        tokenizer: the `apps.nlp.tokenizers.Tokenizer` whose ids the model reads, or None.

    Call arguments:
        token_ids: int `(B, T)`, T <= sequence_length.

    Returns:
        float32 logits `(B, T, vocabulary_size)`: position t predicts token t + 1.
    """

    def __init__(
        self,
        vocabulary_size: int,
        sequence_length: int,
        num_layers: int,
        num_heads: int,
        hidden_dim: int,
        intermediate_dim: int,
        position: str = "learned",
        dropout: float = 0.0,
        norm_first: bool = True,
        tie_embeddings: bool = True,
        tokenizer: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_positive_int(
            vocabulary_size=vocabulary_size,
            sequence_length=sequence_length,
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
        self.vocabulary_size = vocabulary_size
        self.sequence_length = sequence_length
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.hidden_dim = hidden_dim
        self.intermediate_dim = intermediate_dim
        self.position = position
        self.dropout = dropout
        self.norm_first = bool(norm_first)
        self.tie_embeddings = bool(tie_embeddings)
        self.tokenizer = tokenizer
        init = keras.initializers.RandomNormal(stddev=0.02)
        self.embedding = PositionalEmbedding(
            vocabulary_size,
            hidden_dim,
            max_length=sequence_length,
            position=position,
            scale=position == "sinusoidal",
            embeddings_initializer=init,
            name="embedding",
        )
        self.embedding_dropout = keras.layers.Dropout(dropout, name="embedding_dropout")
        self.blocks = [
            TransformerDecoderBlock(
                num_heads,
                intermediate_dim,
                dropout=dropout,
                norm_first=norm_first,
                name=f"decoder_block_{i}",
            )
            for i in range(num_layers)
        ]
        self.final_norm = (
            keras.layers.LayerNormalization(epsilon=1e-5, name="final_norm") if norm_first else None
        )
        self.output_projection = (
            None
            if tie_embeddings
            else keras.layers.Dense(
                vocabulary_size, kernel_initializer=init, name="output_projection"
            )
        )

    @property
    def head_dim(self) -> int:
        return self.hidden_dim // self.num_heads

    def build(self, input_shape: Any) -> None:
        self.embedding.build(input_shape)
        hidden = (input_shape[0], input_shape[1], self.hidden_dim)
        for block in self.blocks:
            block.build(hidden)
        if self.final_norm is not None:
            self.final_norm.build(hidden)
        if self.output_projection is not None:
            self.output_projection.build(hidden)
        self.built = True

    def _embed(self, token_ids: Any, start: Any, training: Any) -> Any:
        x = self.embedding(ops.cast(token_ids, "int32"), start_index=start)  # (B, T, D)
        return self.embedding_dropout(x, training=training)

    def _logits(self, x: Any) -> Any:
        if self.final_norm is not None:
            x = self.final_norm(x)
        if self.output_projection is not None:
            logits = self.output_projection(x)
        else:
            embeddings = ops.cast(self.embedding.token_embedding.embeddings, x.dtype)  # (V, D)
            logits = ops.matmul(x, ops.transpose(embeddings))  # (B, T, V)
        return ops.cast(logits, "float32")

    def call(self, token_ids: Any, training: Any = None) -> Any:
        x = self._embed(token_ids, 0, training)
        for block in self.blocks:
            x = block(x, training=training)  # (B, T, D), causal
        return self._logits(x)

    def empty_cache(self, batch_size: Any, length: int | None = None) -> Any:
        """Zeros `(B, num_layers, 2, length, num_heads, head_dim)` in the compute dtype."""
        length = self.sequence_length if length is None else length
        return ops.zeros(
            (batch_size, self.num_layers, 2, length, self.num_heads, self.head_dim),
            dtype=self.compute_dtype,
        )

    def call_with_cache(
        self, token_ids: Any, cache: Any, cache_update_index: Any
    ) -> tuple[Any, Any]:
        """Logits `(B, T, V)` of tokens at positions `index .. index + T - 1`
        and the updated cache.
        """
        x = self._embed(token_ids, cache_update_index, False)
        caches = []
        for i, block in enumerate(self.blocks):
            x, layer_cache = block(
                x,
                self_attention_cache=cache[:, i],
                self_attention_cache_update_index=cache_update_index,
            )
            caches.append(layer_cache)
        return self._logits(x), ops.stack(caches, axis=1)

    def non_embedding_params(self) -> int:
        """Parameters without the token/position embeddings and output projection
        (Kaplan et al. 2020's N).
        """
        count = sum(block.count_params() for block in self.blocks)
        return count + (self.final_norm.count_params() if self.final_norm is not None else 0)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "vocabulary_size": self.vocabulary_size,
            "sequence_length": self.sequence_length,
            "num_layers": self.num_layers,
            "num_heads": self.num_heads,
            "hidden_dim": self.hidden_dim,
            "intermediate_dim": self.intermediate_dim,
            "position": self.position,
            "dropout": self.dropout,
            "norm_first": self.norm_first,
            "tie_embeddings": self.tie_embeddings,
            "tokenizer": None if self.tokenizer is None else keras.layers.serialize(self.tokenizer),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> GPTLanguageModel:
        config = dict(config)
        if config.get("tokenizer") is not None:
            import dlsuite.apps.nlp.tokenizers  # noqa: F401  (registers the tokenizer classes)

            config["tokenizer"] = keras.layers.deserialize(config["tokenizer"])
        return cls(**config)


def build_gpt(
    vocabulary_size: int,
    sequence_length: int = 128,
    num_layers: int = 2,
    num_heads: int = 4,
    hidden_dim: int = 128,
    intermediate_dim: int = 512,
    **options: Any,
) -> GPTLanguageModel:
    """A new `GPTLanguageModel`, built for windows of ``sequence_length`` tokens.

    Int token ids ``(B, T)``, T <= ``sequence_length`` -> float32 logits
    ``(B, T, vocabulary_size)``. ``options`` are the model's other arguments (``position``,
    ``dropout``, ``norm_first``, ``tie_embeddings``, ``tokenizer``, ``name``).
    """
    model = GPTLanguageModel(
        vocabulary_size,
        sequence_length,
        num_layers,
        num_heads,
        hidden_dim,
        intermediate_dim,
        **options,
    )
    model.build((None, sequence_length))
    return model
