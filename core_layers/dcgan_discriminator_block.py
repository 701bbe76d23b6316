"""DCGAN discriminator block: strided convolution, optional normalization, leaky ReLU."""

import keras

from dlsuite.base.validation import check_positive_int
from dlsuite.core_layers._validation import check_4d_input, conv_output_length

NORMALIZATIONS = ("batch", "layer", "none")


@keras.saving.register_keras_serializable(package="dlsuite")
class DCGANDiscriminatorBlock(keras.layers.Layer):
    """Downsampling block of a DCGAN discriminator or WGAN critic: `leaky_relu(norm(conv(x)))`.

    Radford et al., "Unsupervised Representation Learning with Deep Convolutional Generative
    Adversarial Networks" (ICLR 2016, arXiv:1511.06434), section 3: strided convolutions instead
    of pooling, leaky ReLU with slope 0.2, N(0, 0.02) initialization, batch normalization except
    on the first block. A WGAN-GP critic must not use batch normalization (the gradient penalty
    is per example; Gulrajani et al. 2017, section 4), so `"layer"` normalization (over height,
    width and channels) and `"none"` are offered. Channels-last only.

    Args:
        filters: positive int, number of output channels.
        kernel_size: positive int, square kernel size. Defaults to 4.
        strides: positive int, downsampling factor. Defaults to 2.
        normalization: `"batch"`, `"layer"` or `"none"` (default).
        negative_slope: float >= 0, slope of the leaky ReLU. Defaults to 0.2.
        **kwargs: base layer arguments (`name`, `dtype`, `trainable`, ...).

    Call arguments:
        inputs: float tensor of shape `(batch, height, width, channels)`.
        training: bool, whether batch normalization uses batch statistics.

    Input shape:
        `(batch, height, width, channels)`.

    Output shape:
        `(batch, ceil(height / strides), ceil(width / strides), filters)`.

    Example:
    >>> block = DCGANDiscriminatorBlock(filters=16)
    >>> block(keras.ops.ones((2, 8, 8, 1))).shape
    TensorShape([2, 4, 4, 16])
    """

    def __init__(
        self, filters, kernel_size=4, strides=2, normalization="none", negative_slope=0.2, **kwargs
    ):
        super().__init__(**kwargs)
        check_positive_int(filters=filters)
        check_positive_int(kernel_size=kernel_size)
        check_positive_int(strides=strides)
        if normalization not in NORMALIZATIONS:
            raise ValueError(
                f"`normalization` expected one of {NORMALIZATIONS}. "
                f"Received: normalization={normalization!r}"
            )
        if not negative_slope >= 0:
            raise ValueError(
                "`negative_slope` expected a float >= 0. "
                f"Received: negative_slope={negative_slope!r}"
            )
        self.filters = filters
        self.kernel_size = kernel_size
        self.strides = strides
        self.normalization = normalization
        self.negative_slope = float(negative_slope)

    def build(self, input_shape):
        check_4d_input(self, input_shape)
        self.conv = keras.layers.Conv2D(
            self.filters,
            self.kernel_size,
            strides=self.strides,
            padding="same",
            use_bias=self.normalization != "batch",
            kernel_initializer=keras.initializers.RandomNormal(stddev=0.02),
            dtype=self.dtype_policy,
            name="conv",
        )
        self.conv.build(input_shape)
        output_shape = self.conv.compute_output_shape(input_shape)
        self.norm = None
        if self.normalization == "batch":
            self.norm = keras.layers.BatchNormalization(
                momentum=0.9, epsilon=1e-5, dtype=self.dtype_policy, name="bn"
            )
        elif self.normalization == "layer":
            self.norm = keras.layers.LayerNormalization(
                axis=(1, 2, 3), epsilon=1e-5, dtype=self.dtype_policy, name="ln"
            )
        if self.norm is not None:
            self.norm.build(output_shape)

    def call(self, inputs, training=None):
        x = self.conv(inputs)  # (B, H/s, W/s, F)
        if self.norm is not None:
            x = self.norm(x, training=training)
        return keras.ops.leaky_relu(x, negative_slope=self.negative_slope)

    def compute_output_shape(self, input_shape):
        batch, height, width, _ = input_shape
        return (
            batch,
            conv_output_length(height, self.strides),
            conv_output_length(width, self.strides),
            self.filters,
        )

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "normalization": self.normalization,
            "negative_slope": self.negative_slope,
        }
