"""Reusable, serializable Keras 3 layers, registered under the package name "dlsuite".

Layers (one per module, named after the class):
- `BasicResidualBlock`: two 3x3 conv + BN residual block (He et al. 2015, CIFAR ResNets).
- `BottleneckResidualBlock`: 1x1 -> 3x3 -> 1x1 residual block (He et al. 2015, ResNet-50).
- `LocalResponseNormalization`: cross-channel LRN (Krizhevsky et al. 2012, AlexNet).

Every layer is checked by the shared test `tests/core_layers/test_layers.py`; adding a layer
means adding one line to its `LAYER_CASES`.
"""

from core_layers.basic_residual_block import BasicResidualBlock
from core_layers.bottleneck_residual_block import BottleneckResidualBlock
from core_layers.local_response_normalization import LocalResponseNormalization

__all__ = ["BasicResidualBlock", "BottleneckResidualBlock", "LocalResponseNormalization"]
