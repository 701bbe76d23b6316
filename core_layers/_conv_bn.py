"""Sublayer factories shared by the residual blocks (private): "same" convolutions without bias
and batch normalization, both in the owning layer's dtype policy and with its settings."""

import keras


def same_conv(layer, filters, kernel_size, strides, name):
    """A bias-free "same" `Conv2D` with `layer`'s initializer, regularizer and dtype policy."""
    return keras.layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding="same",
        use_bias=False,
        kernel_initializer=layer.kernel_initializer,
        kernel_regularizer=layer.kernel_regularizer,
        dtype=layer.dtype_policy,
        name=name,
    )


def batch_norm(layer, name):
    """`BatchNormalization` with `layer`'s momentum, epsilon and dtype policy."""
    return keras.layers.BatchNormalization(
        momentum=layer.momentum, epsilon=layer.epsilon, dtype=layer.dtype_policy, name=name
    )
