"""Local response normalization across channels (Krizhevsky et al., 2012)."""

import keras
import tensorflow as tf

from dlsuite.core_layers._validation import check_4d_input


@keras.saving.register_keras_serializable(package="dlsuite")
class LocalResponseNormalization(keras.layers.Layer):
    """Local response normalization across channels, as in AlexNet.

    Krizhevsky, Sutskever and Hinton, "ImageNet Classification with Deep Convolutional Neural
    Networks" (NeurIPS 2012), section 3.3:
    `b[..., c] = a[..., c] / (bias + alpha * sum(a[..., c'] ** 2)) ** beta`, the sum running over
    the channels `c - depth_radius .. c + depth_radius`. Wraps
    `tf.nn.local_response_normalization` (TensorFlow backend only). The defaults are the paper's
    (n = 5 channels, so `depth_radius=2`; k = 2; alpha = 1e-4; beta = 0.75); note that, as in the
    paper and unlike Caffe, `alpha` is not divided by the window size. The computation runs in
    float32 and the result is cast back to the layer's compute dtype, so the layer works under
    the `mixed_float16` / `mixed_bfloat16` policies. No weights.

    Args:
        depth_radius: non-negative int, half-width of the channel window. Defaults to 2.
        bias: positive float, the additive constant k. Defaults to 2.0.
        alpha: non-negative float, the scale. Defaults to 1e-4.
        beta: non-negative float, the exponent. Defaults to 0.75.
        **kwargs: base layer arguments (`name`, `dtype`, `trainable`, ...).

    Call arguments:
        inputs: float tensor of shape `(batch, height, width, channels)`.

    Input shape:
        `(batch, height, width, channels)`.

    Output shape:
        Same as the input.

    Example:
    >>> lrn = LocalResponseNormalization()
    >>> lrn(keras.ops.ones((1, 4, 4, 8))).shape
    TensorShape([1, 4, 4, 8])
    """

    def __init__(self, depth_radius=2, bias=2.0, alpha=1e-4, beta=0.75, **kwargs):
        super().__init__(**kwargs)
        if isinstance(depth_radius, bool) or not isinstance(depth_radius, int) or depth_radius < 0:
            raise ValueError(
                "`depth_radius` expected a non-negative integer. "
                f"Received: depth_radius={depth_radius!r}"
            )
        if not bias > 0:
            raise ValueError(f"`bias` expected a positive float. Received: bias={bias!r}")
        if not alpha >= 0:
            raise ValueError(f"`alpha` expected a non-negative float. Received: alpha={alpha!r}")
        if not beta >= 0:
            raise ValueError(f"`beta` expected a non-negative float. Received: beta={beta!r}")
        self.depth_radius = depth_radius
        self.bias = float(bias)
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.supports_masking = True

    def build(self, input_shape):
        check_4d_input(self, input_shape)

    def call(self, inputs):
        x = tf.cast(inputs, tf.float32)  # (B, H, W, C)
        x = tf.nn.local_response_normalization(
            x, depth_radius=self.depth_radius, bias=self.bias, alpha=self.alpha, beta=self.beta
        )
        return tf.cast(x, self.compute_dtype)  # (B, H, W, C)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {
            **super().get_config(),
            "depth_radius": self.depth_radius,
            "bias": self.bias,
            "alpha": self.alpha,
            "beta": self.beta,
        }
