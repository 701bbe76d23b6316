"""The input normalisations of ``keras.applications`` backbones, as a serializable layer."""

import keras
from keras import ops

# keras.applications.imagenet_utils' ImageNet statistics (RGB order, pixels in [0, 255] or [0, 1]).
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
TORCH_MEAN = (0.485, 0.456, 0.406)
TORCH_STD = (0.229, 0.224, 0.225)
MODES = ("caffe", "tf", "torch", "none")


@keras.saving.register_keras_serializable(package="dlsuite")
class ImageNetPreprocessing(keras.layers.Layer):
    """What ``keras.applications.<family>.preprocess_input`` does, inside the model graph.

    Modes (``keras.applications.imagenet_utils.preprocess_input``):
    - ``"caffe"`` (ResNet, VGG): RGB to BGR, then the ImageNet mean of each channel subtracted;
    - ``"tf"`` (ResNetV2, MobileNetV2, Inception, Xception): scaled to [-1, 1];
    - ``"torch"`` (DenseNet): scaled to [0, 1], then each channel standardised with the ImageNet
      mean and standard deviation;
    - ``"none"`` (MobileNetV3, EfficientNet, ConvNeXt: the backbone normalises its own input):
      the identity.
    No weights; core TensorFlow ops only, so it serves and converts to TFLite with the model.

    Args:
        mode: one of "caffe", "tf", "torch", "none".
        **kwargs: base layer arguments.

    Input shape:
        `(batch, height, width, 3)`, RGB pixels in [0, 255].

    Output shape:
        Same as the input.
    """

    def __init__(self, mode="tf", **kwargs):
        super().__init__(**kwargs)
        if mode not in MODES:
            raise ValueError(f"`mode` expected one of {MODES}. Received: mode={mode!r}")
        self.mode = mode

    def call(self, inputs):
        x = ops.cast(inputs, self.compute_dtype)
        if self.mode == "caffe":
            return ops.flip(x, axis=-1) - ops.convert_to_tensor(CAFFE_MEAN_BGR, x.dtype)
        if self.mode == "tf":
            return x / 127.5 - 1.0
        if self.mode == "torch":
            mean = ops.convert_to_tensor(TORCH_MEAN, x.dtype)
            std = ops.convert_to_tensor(TORCH_STD, x.dtype)
            return (x / 255.0 - mean) / std
        return x

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}
