"""Stacked, optionally bidirectional LSTM that respects padding masks."""

import keras

from dlsuite.base.validation import check_positive_int


@keras.saving.register_keras_serializable(package="dlsuite")
class LSTMBlock(keras.layers.Layer):
    """``num_layers`` stacked `keras.layers.LSTM` layers,
    each optionally wrapped in `Bidirectional`.

    LSTM: Hochreiter & Schmidhuber, "Long Short-Term Memory" (Neural Computation 1997); both
    directions concatenated: Schuster & Paliwal, "Bidirectional Recurrent Neural Networks" (1997);
    stacking as in Graves et al. 2013. Padding steps (the Keras mask of the input) are skipped: the
    state carries over them, so padded and unpadded sequences give the same result. Dropout is
    applied between stacked layers.

    Args:
        units: units per direction.
        num_layers: stacked layers. Defaults to 1.
        bidirectional: run each layer in both directions and concatenate. Defaults to True.
        return_sequences: return every step of the last layer, else only its final state
            (for the backward direction: its state after reading the whole sequence).
            Defaults to False.
        dropout: dropout between stacked layers. Defaults to 0.
        **kwargs: base layer arguments.

    Call arguments:
        inputs: float tensor ``(batch, length, features)``.
        mask: optional bool ``(batch, length)``, True for real steps.
        training: bool, enables dropout.

    Input shape:
        ``(batch, length, features)``.

    Output shape:
        ``(batch, length, units * directions)`` with ``return_sequences``,
        else ``(batch, units * directions)``.

    Example:
    >>> LSTMBlock(4, num_layers=2)(keras.ops.ones((2, 5, 3))).shape
    TensorShape([2, 8])
    """

    def __init__(
        self, units, num_layers=1, bidirectional=True, return_sequences=False, dropout=0.0, **kwargs
    ):
        super().__init__(**kwargs)
        check_positive_int(units=units, num_layers=num_layers)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"`dropout` expected a float in [0, 1). Received: dropout={dropout}")
        self.units = units
        self.num_layers = num_layers
        self.bidirectional = bool(bidirectional)
        self.return_sequences = bool(return_sequences)
        self.dropout = float(dropout)
        self.supports_masking = True
        self.recurrent_layers = []
        for i in range(num_layers):
            sequences = self.return_sequences or i < num_layers - 1
            layer = keras.layers.LSTM(
                units, return_sequences=sequences, dtype=self.dtype_policy, name=f"lstm_{i}"
            )
            if self.bidirectional:
                layer = keras.layers.Bidirectional(
                    layer, dtype=self.dtype_policy, name=f"bidirectional_{i}"
                )
            self.recurrent_layers.append(layer)
        self.dropout_layer = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy)

    def build(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(
                f"{self.__class__.__name__} expected a 3D input (batch, length, features). "
                f"Received: input_shape={input_shape}"
            )
        shape = tuple(input_shape)
        for layer in self.recurrent_layers:
            layer.build(shape)
            shape = (*shape[:2], self._width)

    @property
    def _width(self):
        return self.units * (2 if self.bidirectional else 1)

    def call(self, inputs, mask=None, training=False):
        x = inputs
        for i, layer in enumerate(self.recurrent_layers):
            if i:
                x = self.dropout_layer(x, training=training)
            x = layer(x, mask=mask, training=training)  # (B, L, width) or (B, width) for the last
        return x

    def compute_mask(self, inputs, mask=None):
        return mask if self.return_sequences else None

    def compute_output_shape(self, input_shape):
        if self.return_sequences:
            return (*input_shape[:2], self._width)
        return (input_shape[0], self._width)

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "num_layers": self.num_layers,
            "bidirectional": self.bidirectional,
            "return_sequences": self.return_sequences,
            "dropout": self.dropout,
        }
