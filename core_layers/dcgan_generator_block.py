"""DCGAN generator block: strided transposed convolution, batch norm, ReLU
(Radford et al., 2015).
"""

import keras

from dlsuite.base.validation import check_positive_int
from dlsuite.core_layers._validation import check_4d_input, check_batch_norm

NORMALIZATIONS = ("batch", "none")


@keras.saving.register_keras_serializable(package="dlsuite")
class DCGANGeneratorBlock(keras.layers.Layer):
    """Upsampling block of a DCGAN generator: `relu(bn(conv_transpose(x)))`.

    Radford, Metz and Chintala, "Unsupervised Representation Learning with Deep Convolutional
    Generative Adversarial Networks" (ICLR 2016, arXiv:1511.06434), section 3: fractionally-strided
    convolutions instead of upsampling layers, batch normalization in the generator, ReLU
    activations, N(0, 0.02) weight initialization. The convolution has no bias when batch
    normalization follows it. Channels-last only.

    Args:
        filters: positive int, number of output channels.
        kernel_size: positive int, square kernel size. Defaults to 4.
        strides: positive int, upsampling factor. Defaults to 2.
        normalization: `"batch"` (default) or `"none"`.
        momentum: batch normalization momentum. Defaults to 0.9.
        epsilon: batch normalization epsilon. Defaults to 1e-5.
        **kwargs: base layer arguments (`name`, `dtype`, `trainable`, ...).

    Call arguments:
        inputs: float tensor of shape `(batch, height, width, channels)`.
        training: bool, whether batch normalization uses batch statistics.

    Input shape:
        `(batch, height, width, channels)`.

    Output shape:
        `(batch, height * strides, width * strides, filters)`.

    Example:
    >>> block = DCGANGeneratorBlock(filters=16)
    >>> block(keras.ops.ones((2, 4, 4, 32))).shape
    TensorShape([2, 8, 8, 16])
    """

    def __init__(
        self,
        filters,
        kernel_size=4,
        strides=2,
        normalization="batch",
        momentum=0.9,
        epsilon=1e-5,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_positive_int(filters=filters)
        check_positive_int(kernel_size=kernel_size)
        check_positive_int(strides=strides)
        check_batch_norm(momentum, epsilon)
        if normalization not in NORMALIZATIONS:
            raise ValueError(
                f"`normalization` expected one of {NORMALIZATIONS}. "
                f"Received: normalization={normalization!r}"
            )
        self.filters = filters
        self.kernel_size = kernel_size
        self.strides = strides
        self.normalization = normalization
        self.momentum = momentum
        self.epsilon = epsilon

    def build(self, input_shape):
        check_4d_input(self, input_shape)
        self.conv = keras.layers.Conv2DTranspose(
            self.filters,
            self.kernel_size,
            strides=self.strides,
            padding="same",
            use_bias=self.normalization == "none",
            kernel_initializer=keras.initializers.RandomNormal(stddev=0.02),
            dtype=self.dtype_policy,
            name="conv_transpose",
        )
        self.conv.build(input_shape)
        self.norm = None
        if self.normalization == "batch":
            self.norm = keras.layers.BatchNormalization(
                momentum=self.momentum, epsilon=self.epsilon, dtype=self.dtype_policy, name="bn"
            )
            self.norm.build(self.conv.compute_output_shape(input_shape))

    def call(self, inputs, training=None):
        x = self.conv(inputs)  # (B, H*s, W*s, F)
        if self.norm is not None:
            x = self.norm(x, training=training)
        return keras.ops.relu(x)

    def compute_output_shape(self, input_shape):
        batch, height, width, _ = input_shape
        scale = lambda n: None if n is None else n * self.strides  # noqa: E731
        return (batch, scale(height), scale(width), self.filters)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "normalization": self.normalization,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
        }
