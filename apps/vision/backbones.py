"""The pretrained backbones ``dlsuite train vision --backbone`` knows (no Keras import here, so
the config can check names).

Each ``keras.applications`` family maps to its input normalisation (a mode of
`dlsuite.core_layers.ImageNetPreprocessing`; "none" where the network normalises its own input)
and to the name of the file ``keras.applications.<family>(weights="imagenet", include_top=False)``
downloads into Keras' cache (``~/.keras/models``), where ``--weights imagenet`` looks for it.
``kerashub`` takes the architecture, the weights and the image converter from a KerasHub preset
folder (``--weights DIR``).
"""

from __future__ import annotations

KERAS_APPLICATIONS: dict[str, tuple[str, str]] = {
    "ResNet50": ("caffe", "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    "ResNet101": ("caffe", "resnet101_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    "ResNet50V2": ("tf", "resnet50v2_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    "MobileNetV2": ("tf", "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5"),
    "MobileNetV3Small": ("none", "weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5"),
    "MobileNetV3Large": ("none", "weights_mobilenet_v3_large_224_1.0_float_no_top_v2.h5"),
    "EfficientNetB0": ("none", "efficientnetb0_notop.h5"),
    "EfficientNetV2B0": ("none", "efficientnetv2-b0_notop.h5"),
    "EfficientNetV2S": ("none", "efficientnetv2-s_notop.h5"),
    "DenseNet121": ("torch", "densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    "InceptionV3": ("tf", "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    "Xception": ("tf", "xception_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    "ConvNeXtTiny": ("none", "convnext_tiny_notop.h5"),
}
KERAS_HUB = "kerashub"
BACKBONE_NAMES = (*KERAS_APPLICATIONS, KERAS_HUB)
DEFAULT_BACKBONE_INPUT_SIZE = 224  # the ImageNet size every family above was trained at
