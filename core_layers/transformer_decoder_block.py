"""Transformer decoder block (Vaswani et al. 2017) with a key/value cache, pre- or post-norm."""

import keras
from keras import ops

from dlsuite.base.validation import check_positive_int
from dlsuite.core_layers.cached_multi_head_attention import CachedMultiHeadAttention


@keras.saving.register_keras_serializable(package="dlsuite")
class TransformerDecoderBlock(keras.layers.Layer):
    """Causal self-attention, optional cross-attention to an encoder, and a feed-forward network.

    One decoder layer of Vaswani et al., "Attention Is All You Need" (NeurIPS 2017), section 3.1:
    masked multi-head self-attention, multi-head attention over the encoder output (only when the
    block is built with an `encoder_sequence`, as for translation; a decoder-only language model
    such as GPT, Radford et al. 2018, has none), then a position-wise feed-forward network
    `dense(activation(dense(x)))`; each sub-layer has dropout and a residual connection.
    `norm_first=False` is the paper's post-norm `x = norm(x + sublayer(x))`; `norm_first=True`
    is the pre-norm `x = x + sublayer(norm(x))` of GPT-2 (Radford et al. 2019), which trains
    without learning-rate warmup (Xiong et al. 2020).

    With a `self_attention_cache` (`CachedMultiHeadAttention`), the block decodes incrementally:
    it processes only the new tokens at `self_attention_cache_update_index` and returns the
    updated cache; the result equals the full causal forward pass at those positions.

    Args:
        num_heads: positive int, attention heads; must divide the model width.
        intermediate_dim: positive int, hidden width of the feed-forward network.
        dropout: dropout rate after each sub-layer and on the attention probabilities.
            Defaults to 0.
        activation: feed-forward activation. Defaults to `"gelu"`.
        layer_norm_epsilon: layer normalization epsilon. Defaults to 1e-5.
        norm_first: bool, pre-norm (True) or post-norm (False). Defaults to True.
        kernel_initializer: initializer of every kernel. Defaults to `"glorot_uniform"`.
        bias_initializer: initializer of every bias. Defaults to `"zeros"`.
        **kwargs: base layer arguments.

    Call arguments:
        decoder_sequence: `(B, T, dim)` decoder input.
        encoder_sequence: `(B, S, dim_enc)` encoder output; required by (and only allowed for)
            a block with cross-attention, unless `cross_attention_cache` is given.
        decoder_padding_mask: optional bool `(B, T)` (with a cache: `(B, cache_length)`), True
            for real tokens.
        encoder_padding_mask: optional bool `(B, S)`, True for real encoder tokens.
        use_causal_mask: bool, causal self-attention. Defaults to True.
        self_attention_cache: optional `(B, 2, cache_length, num_heads, dim // num_heads)`.
        self_attention_cache_update_index: position of the first decoder token in the cache.
        cross_attention_cache: optional static `(B, 2, S, num_heads, dim // num_heads)` encoder
            keys and values from `compute_cross_attention_cache`.
        training: bool, whether dropout is active.

    Returns:
        `(B, T, dim)`; with a `self_attention_cache`, `(output, updated_cache)`.

    Input shape:
        `(batch, length, dim)` (and `(batch, source_length, dim_enc)` for the encoder sequence).

    Output shape:
        `(batch, length, dim)`.

    Example:
    >>> block = TransformerDecoderBlock(num_heads=2, intermediate_dim=16)
    >>> block(keras.ops.ones((2, 5, 8))).shape
    TensorShape([2, 5, 8])
    """

    def __init__(
        self,
        num_heads,
        intermediate_dim,
        dropout=0.0,
        activation="gelu",
        layer_norm_epsilon=1e-5,
        norm_first=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_positive_int(num_heads=num_heads, intermediate_dim=intermediate_dim)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"`dropout` expected a float in [0, 1). Received: dropout={dropout}")
        if not layer_norm_epsilon > 0:
            raise ValueError(
                "`layer_norm_epsilon` expected a positive float. "
                f"Received: layer_norm_epsilon={layer_norm_epsilon}"
            )
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.dropout = dropout
        self.activation = keras.activations.get(activation)
        self.layer_norm_epsilon = layer_norm_epsilon
        self.norm_first = bool(norm_first)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.supports_masking = True

    def _attention(self, name, width):
        return CachedMultiHeadAttention(
            num_heads=self.num_heads,
            key_dim=width // self.num_heads,
            dropout=self.dropout,
            kernel_initializer=keras.initializers.get(
                keras.initializers.serialize(self.kernel_initializer)
            ),
            bias_initializer=keras.initializers.get(
                keras.initializers.serialize(self.bias_initializer)
            ),
            dtype=self.dtype_policy,
            name=name,
        )

    def _dense(self, units, name, activation=None):
        return keras.layers.Dense(
            units,
            activation=activation,
            name=name,
            dtype=self.dtype_policy,
            kernel_initializer=keras.initializers.get(
                keras.initializers.serialize(self.kernel_initializer)
            ),
            bias_initializer=keras.initializers.get(
                keras.initializers.serialize(self.bias_initializer)
            ),
        )

    def _norm(self, name):
        return keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, name=name, dtype=self.dtype_policy
        )

    def build(self, decoder_sequence_shape, encoder_sequence_shape=None):
        if len(decoder_sequence_shape) != 3:
            raise ValueError(
                f"{self.__class__.__name__} expected a 3D input (batch, length, dim). "
                f"Received: decoder_sequence_shape={decoder_sequence_shape}"
            )
        width = decoder_sequence_shape[-1]
        if width % self.num_heads:
            raise ValueError(
                f"the model width {width} must be divisible by num_heads={self.num_heads}"
            )
        self.self_attention = self._attention("self_attention", width)
        self.self_attention.build(decoder_sequence_shape, decoder_sequence_shape)
        self.self_attention_norm = self._norm("self_attention_norm")
        self.self_attention_norm.build(decoder_sequence_shape)
        self.has_cross_attention = encoder_sequence_shape is not None
        if self.has_cross_attention:
            self.cross_attention = self._attention("cross_attention", width)
            self.cross_attention.build(decoder_sequence_shape, encoder_sequence_shape)
            self.cross_attention_norm = self._norm("cross_attention_norm")
            self.cross_attention_norm.build(decoder_sequence_shape)
        self.intermediate_dense = self._dense(
            self.intermediate_dim, "intermediate_dense", self.activation
        )
        self.intermediate_dense.build(decoder_sequence_shape)
        self.output_dense = self._dense(width, "output_dense")
        self.output_dense.build((*decoder_sequence_shape[:-1], self.intermediate_dim))
        self.feedforward_norm = self._norm("feedforward_norm")
        self.feedforward_norm.build(decoder_sequence_shape)
        self.dropout_layer = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy)

    def _residual(self, x, norm, sublayer, training):
        """Pre-norm `x + f(norm(x))` or post-norm `norm(x + f(x))`;
        `sublayer` returns (y, extra).
        """
        y, extra = sublayer(norm(x) if self.norm_first else x)
        x = x + self.dropout_layer(y, training=training)
        return (x if self.norm_first else norm(x)), extra

    def call(
        self,
        decoder_sequence,
        encoder_sequence=None,
        decoder_padding_mask=None,
        encoder_padding_mask=None,
        use_causal_mask=True,
        self_attention_cache=None,
        self_attention_cache_update_index=None,
        cross_attention_cache=None,
        training=None,
    ):
        if not self.has_cross_attention and (
            encoder_sequence is not None or cross_attention_cache is not None
        ):
            raise ValueError(
                "this block was built without cross-attention: build it with an encoder_sequence"
            )
        if self.has_cross_attention and encoder_sequence is None and cross_attention_cache is None:
            raise ValueError(
                "this block has cross-attention: pass encoder_sequence or cross_attention_cache"
            )

        def self_attend(x):
            result = self.self_attention(
                x,
                padding_mask=decoder_padding_mask,
                use_causal_mask=use_causal_mask,
                cache=self_attention_cache,
                cache_update_index=self_attention_cache_update_index,
                training=training,
            )
            return result if self_attention_cache is not None else (result, None)

        # (B, T, dim)
        x, cache = self._residual(decoder_sequence, self.self_attention_norm, self_attend, training)
        if self.has_cross_attention:

            def cross_attend(x):
                if cross_attention_cache is not None:
                    y, _ = self.cross_attention(
                        x,
                        padding_mask=encoder_padding_mask,
                        cache=cross_attention_cache,
                        training=training,
                    )
                    return y, None
                return self.cross_attention(
                    x, encoder_sequence, padding_mask=encoder_padding_mask, training=training
                ), None

            x, _ = self._residual(x, self.cross_attention_norm, cross_attend, training)

        def feedforward(x):
            return self.output_dense(self.intermediate_dense(x)), None  # (B, T, dim)

        x, _ = self._residual(x, self.feedforward_norm, feedforward, training)
        return x if self_attention_cache is None else (x, cache)

    def compute_cross_attention_cache(self, encoder_sequence):
        """The static cross-attention cache `(B, 2, S, num_heads, dim // num_heads)`
        of an encoder output.
        """
        if not self.has_cross_attention:
            raise ValueError("this block was built without cross-attention")
        attention = self.cross_attention
        return ops.stack(
            (attention.key_dense(encoder_sequence), attention.value_dense(encoder_sequence)), axis=1
        )

    def compute_output_shape(self, decoder_sequence_shape, encoder_sequence_shape=None):
        return tuple(decoder_sequence_shape)

    def compute_output_spec(self, decoder_sequence, self_attention_cache=None, **kwargs):
        output = keras.KerasTensor(decoder_sequence.shape, dtype=self.compute_dtype)
        if self_attention_cache is None:
            return output
        return output, keras.KerasTensor(
            self_attention_cache.shape, dtype=self_attention_cache.dtype
        )

    def get_config(self):
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "intermediate_dim": self.intermediate_dim,
            "dropout": self.dropout,
            "activation": keras.activations.serialize(self.activation),
            "layer_norm_epsilon": self.layer_norm_epsilon,
            "norm_first": self.norm_first,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        }
