"""Basic (two 3x3 convolutions) residual block of He et al. (2015)."""

import keras

from dlsuite.base.validation import check_positive_int
from dlsuite.core_layers._conv_bn import batch_norm, same_conv
from dlsuite.core_layers._validation import check_4d_input, check_batch_norm, conv_output_length


@keras.saving.register_keras_serializable(package="dlsuite")
class BasicResidualBlock(keras.layers.Layer):
    """Basic residual block: `relu(bn(conv3x3(relu(bn(conv3x3(x))))) + shortcut(x))`.

    The block of the CIFAR-10 ResNets (ResNet-20/32/44/56/110) of He et al., "Deep Residual
    Learning for Image Recognition" (CVPR 2016, arXiv:1512.03385), section 4.2. The shortcut is
    the identity when the output has the shape of the input, otherwise a 1x1 convolution with
    the block's stride followed by batch normalization (the paper's projection "option B").
    Convolutions have no bias (batch normalization follows each one). Channels-last only.

    Args:
        filters: positive int, number of output channels of both 3x3 convolutions.
        strides: positive int, stride of the first 3x3 convolution (and of the projection);
            2 halves the spatial size. Defaults to 1.
        kernel_initializer: initializer of the convolution kernels. Defaults to `"he_normal"`.
        kernel_regularizer: optional regularizer of the convolution kernels.
        momentum: momentum of the batch normalization moving averages. Defaults to 0.99.
        epsilon: batch normalization epsilon. Defaults to 1e-3.
        **kwargs: base layer arguments (`name`, `dtype`, `trainable`, ...).

    Call arguments:
        inputs: float tensor of shape `(batch, height, width, channels)`.
        training: bool, whether batch normalization uses batch statistics.

    Input shape:
        `(batch, height, width, channels)`.

    Output shape:
        `(batch, ceil(height / strides), ceil(width / strides), filters)`.

    Example:
    >>> block = BasicResidualBlock(filters=32, strides=2)
    >>> block(keras.ops.ones((2, 16, 16, 16))).shape
    TensorShape([2, 8, 8, 32])
    """

    def __init__(
        self,
        filters,
        strides=1,
        kernel_initializer="he_normal",
        kernel_regularizer=None,
        momentum=0.99,
        epsilon=1e-3,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_positive_int(filters=filters)
        check_positive_int(strides=strides)
        check_batch_norm(momentum, epsilon)
        self.filters = filters
        self.strides = strides
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.momentum = momentum
        self.epsilon = epsilon

    def _conv(self, kernel_size, strides, name):
        return same_conv(self, self.filters, kernel_size, strides, name)

    def _norm(self, name):
        return batch_norm(self, name)

    def build(self, input_shape):
        check_4d_input(self, input_shape)
        self.conv1 = self._conv(3, self.strides, "conv1")
        self.norm1 = self._norm("norm1")
        self.conv2 = self._conv(3, 1, "conv2")
        self.norm2 = self._norm("norm2")
        self.conv1.build(input_shape)
        shape = self.conv1.compute_output_shape(input_shape)
        self.norm1.build(shape)
        self.conv2.build(shape)
        self.norm2.build(shape)
        self.use_projection = self.strides != 1 or input_shape[-1] != self.filters
        if self.use_projection:
            self.projection = self._conv(1, self.strides, "projection")
            self.projection_norm = self._norm("projection_norm")
            self.projection.build(input_shape)
            self.projection_norm.build(shape)

    def call(self, inputs, training=None):
        x = self.conv1(inputs)  # (B, H/s, W/s, F)
        x = keras.ops.relu(self.norm1(x, training=training))
        x = self.norm2(self.conv2(x), training=training)  # (B, H/s, W/s, F)
        shortcut = inputs
        if self.use_projection:
            shortcut = self.projection_norm(self.projection(inputs), training=training)
        return keras.ops.relu(x + shortcut)

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
            "strides": self.strides,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            "momentum": self.momentum,
            "epsilon": self.epsilon,
        }
