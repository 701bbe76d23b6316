"""Token embedding plus a sinusoidal or learned position embedding (Vaswani et al. 2017)."""

import math

import keras
from keras import ops

from dlsuite.base.validation import check_positive_int

POSITIONS = ("sinusoidal", "learned")


@keras.saving.register_keras_serializable(package="dlsuite")
class PositionalEmbedding(keras.layers.Layer):
    """Token embedding scaled by sqrt(output_dim) plus a position embedding.

    Vaswani et al., "Attention Is All You Need" (NeurIPS 2017), section 3.4 (embeddings scaled
    by sqrt(d_model)) and 3.5: the sinusoidal encoding ``PE(pos, 2i) = sin(pos / 10000^(2i/d))``,
    ``PE(pos, 2i+1) = cos(pos / 10000^(2i/d))``, or a learned table of ``max_length`` positions
    (as in GPT, Radford et al. 2018). With ``mask_zero``, id 0 is padding and the layer emits the
    Keras mask ``ids != 0``, which masking-aware layers after it (attention, LSTM, pooling) use.

    Args:
        vocabulary_size: number of token ids (>= 1).
        output_dim: embedding width; even for sinusoidal positions.
        max_length: longest sequence (positions 0 .. max_length - 1). Defaults to 512.
        position: "sinusoidal" (no weights) or "learned". Defaults to "sinusoidal".
        mask_zero: treat id 0 as padding and emit a mask. Defaults to False.
        scale: multiply token embeddings by sqrt(output_dim). Defaults to True.
        embeddings_initializer: initializer of the token (and learned position) tables.
            Defaults to "uniform" (Keras' `Embedding` default).
        **kwargs: base layer arguments.

    Call arguments:
        inputs: int token ids ``(batch, length)``.
        start_index: position of the first token (int or scalar tensor), for decoding one step
            at a time with a key/value cache. Defaults to 0.

    Input shape:
        ``(batch, length)`` integer ids, ``start_index + length <= max_length`` when learned.

    Output shape:
        ``(batch, length, output_dim)``.

    Example:
    >>> PositionalEmbedding(100, 8, mask_zero=True)(keras.ops.array([[5, 7, 0]])).shape
    TensorShape([1, 3, 8])
    """

    def __init__(
        self,
        vocabulary_size,
        output_dim,
        max_length=512,
        position="sinusoidal",
        mask_zero=False,
        scale=True,
        embeddings_initializer="uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_positive_int(
            vocabulary_size=vocabulary_size, output_dim=output_dim, max_length=max_length
        )
        if position not in POSITIONS:
            raise ValueError(
                f"`position` expected one of {POSITIONS}. Received: position={position!r}"
            )
        if position == "sinusoidal" and output_dim % 2:
            raise ValueError(
                f"`output_dim` expected an even number for sinusoidal positions. "
                f"Received: output_dim={output_dim}"
            )
        self.vocabulary_size = vocabulary_size
        self.output_dim = output_dim
        self.max_length = max_length
        self.position = position
        self.mask_zero = bool(mask_zero)
        self.scale = bool(scale)
        self.embeddings_initializer = keras.initializers.get(embeddings_initializer)
        self.supports_masking = self.mask_zero
        self.token_embedding = keras.layers.Embedding(
            vocabulary_size,
            output_dim,
            embeddings_initializer=self.embeddings_initializer,
            mask_zero=mask_zero,
            dtype=self.dtype_policy,
            name="token_embedding",
        )

    def build(self, input_shape):
        self.token_embedding.build(input_shape)
        if self.position == "learned":
            self.position_embeddings = self.add_weight(
                shape=(self.max_length, self.output_dim),
                initializer=self.embeddings_initializer,
                name="position_embeddings",
            )

    def _sinusoids(self, positions):
        """(L,) positions -> (L, output_dim) float32, sin and cos interleaved."""
        half = self.output_dim // 2
        inverse = ops.exp(
            ops.arange(half, dtype="float32") * (-2.0 * math.log(10000.0) / self.output_dim)
        )
        angles = ops.cast(positions, "float32")[:, None] * inverse[None, :]  # (L, d/2)
        return ops.reshape(
            ops.stack([ops.sin(angles), ops.cos(angles)], axis=-1), (-1, self.output_dim)
        )

    def call(self, inputs, start_index=0):
        x = self.token_embedding(inputs)  # (B, L, d)
        if self.scale:
            x = x * ops.cast(math.sqrt(self.output_dim), x.dtype)
        # (L,)
        positions = ops.arange(ops.shape(inputs)[1], dtype="int32") + ops.cast(start_index, "int32")
        if self.position == "learned":
            table = ops.take(self.position_embeddings, positions, axis=0)  # (L, d)
        else:
            table = self._sinusoids(positions)
        return x + ops.cast(table, x.dtype)[None, :, :]

    def compute_mask(self, inputs, mask=None):
        if not self.mask_zero:
            return None
        return ops.not_equal(inputs, 0)

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.output_dim)

    def get_config(self):
        return {
            **super().get_config(),
            "vocabulary_size": self.vocabulary_size,
            "output_dim": self.output_dim,
            "max_length": self.max_length,
            "position": self.position,
            "mask_zero": self.mask_zero,
            "scale": self.scale,
            "embeddings_initializer": keras.initializers.serialize(self.embeddings_initializer),
        }
