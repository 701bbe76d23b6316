"""Transformer encoder block: self-attention and feed-forward sub-layers (Vaswani et al. 2017)."""

import keras
from keras import ops

from dlsuite.base.validation import check_positive_int


@keras.saving.register_keras_serializable(package="dlsuite")
class TransformerEncoderBlock(keras.layers.Layer):
    """Multi-head self-attention and a position-wise feed-forward network, each with a residual.

    Vaswani et al., "Attention Is All You Need" (NeurIPS 2017), section 3.1: post-norm
    ``LayerNorm(x + Dropout(Sublayer(x)))``. Pre-norm ``x + Dropout(Sublayer(LayerNorm(x)))``
    (Xiong et al. 2020, "On Layer Normalization in the Transformer Architecture") trains stably
    without warmup; a pre-norm stack wants a final `LayerNormalization` after its last block.
    The attention is `keras.layers.MultiHeadAttention` with ``num_heads`` heads of width
    ``d_model / num_heads``; the feed-forward network is
    ``Dense(intermediate_dim, activation) -> Dense(d_model)``.
    Padding positions (the Keras mask of the input, e.g. from `PositionalEmbedding(mask_zero=True)`)
    are never attended to, and the mask is passed on.

    Args:
        num_heads: attention heads; must divide the input width.
        intermediate_dim: hidden width of the feed-forward network.
        dropout: dropout on each sub-layer's output before the residual sum. Defaults to 0.
        attention_dropout: dropout on the attention weights. Defaults to 0.
        activation: feed-forward activation. Defaults to "relu".
        layer_norm_epsilon: layer normalization epsilon. Defaults to 1e-6.
        norm_first: pre-norm (True) or post-norm (False). Defaults to True.
        kernel_initializer: initializer of every kernel. Defaults to "glorot_uniform".
        **kwargs: base layer arguments.

    Call arguments:
        inputs: float tensor ``(batch, length, d_model)``.
        mask: optional bool ``(batch, length)``, True for real tokens (Keras passes it along).
        training: bool, enables dropout.

    Input shape:
        ``(batch, length, d_model)``.

    Output shape:
        Same as the input.

    Example:
    >>> TransformerEncoderBlock(num_heads=2, intermediate_dim=16)(keras.ops.ones((2, 5, 8))).shape
    TensorShape([2, 5, 8])
    """

    def __init__(
        self,
        num_heads,
        intermediate_dim,
        dropout=0.0,
        attention_dropout=0.0,
        activation="relu",
        layer_norm_epsilon=1e-6,
        norm_first=True,
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_positive_int(num_heads=num_heads, intermediate_dim=intermediate_dim)
        for name, value in (("dropout", dropout), ("attention_dropout", attention_dropout)):
            if not 0.0 <= value < 1.0:
                raise ValueError(f"`{name}` expected a float in [0, 1). Received: {name}={value}")
        if not layer_norm_epsilon > 0:
            raise ValueError(
                f"`layer_norm_epsilon` expected a positive float. "
                f"Received: layer_norm_epsilon={layer_norm_epsilon}"
            )
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.dropout = float(dropout)
        self.attention_dropout = float(attention_dropout)
        self.activation = keras.activations.get(activation)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.norm_first = bool(norm_first)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.supports_masking = True

    def build(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(
                f"{self.__class__.__name__} expected a 3D input (batch, length, d_model). "
                f"Received: input_shape={input_shape}"
            )
        width = input_shape[-1]
        if width % self.num_heads:
            raise ValueError(
                f"{self.__class__.__name__}: the input width {width} is not divisible by "
                f"num_heads={self.num_heads}"
            )
        dense = dict(kernel_initializer=self.kernel_initializer, dtype=self.dtype_policy)
        self.attention = keras.layers.MultiHeadAttention(
            self.num_heads,
            width // self.num_heads,
            dropout=self.attention_dropout,
            name="attention",
            **dense,
        )
        self.attention.build(input_shape, input_shape)
        self.attention_norm = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, name="attention_norm", dtype=self.dtype_policy
        )
        self.attention_norm.build(input_shape)
        self.ff_hidden = keras.layers.Dense(
            self.intermediate_dim, activation=self.activation, name="ff_hidden", **dense
        )
        self.ff_hidden.build(input_shape)
        self.ff_output = keras.layers.Dense(width, name="ff_output", **dense)
        self.ff_output.build((*input_shape[:-1], self.intermediate_dim))
        self.ff_norm = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, name="ff_norm", dtype=self.dtype_policy
        )
        self.ff_norm.build(input_shape)
        self.dropout_layer = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy)

    def _attend(self, x, mask, training):
        # Key padding mask (B, 1, L): every query ignores padded keys.
        attention_mask = None if mask is None else ops.cast(mask, "bool")[:, None, :]
        y = self.attention(x, x, attention_mask=attention_mask, training=training)  # (B, L, d)
        return self.dropout_layer(y, training=training)

    def _feed_forward(self, x, training):
        return self.dropout_layer(self.ff_output(self.ff_hidden(x)), training=training)  # (B, L, d)

    def call(self, inputs, mask=None, training=False):
        x = inputs
        if self.norm_first:
            x = x + self._attend(self.attention_norm(x), mask, training)
            return x + self._feed_forward(self.ff_norm(x), training)
        x = self.attention_norm(x + self._attend(x, mask, training))
        return self.ff_norm(x + self._feed_forward(x, training))

    def compute_mask(self, inputs, mask=None):
        return mask

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "intermediate_dim": self.intermediate_dim,
            "dropout": self.dropout,
            "attention_dropout": self.attention_dropout,
            "activation": keras.activations.serialize(self.activation),
            "layer_norm_epsilon": self.layer_norm_epsilon,
            "norm_first": self.norm_first,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        }
