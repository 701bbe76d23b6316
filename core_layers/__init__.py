"""Reusable, serializable Keras 3 layers, registered under the package name "dlsuite".

Layers (one per module, named after the class):
- `BasicResidualBlock`: two 3x3 conv + BN residual block (He et al. 2015, CIFAR ResNets).
- `BottleneckResidualBlock`: 1x1 -> 3x3 -> 1x1 residual block (He et al. 2015, ResNet-50).
- `LocalResponseNormalization`: cross-channel LRN (Krizhevsky et al. 2012, AlexNet).
- `STFTMagnitude`, `LogMelSpectrogram`, `MFCC`: audio front end on `tf.signal` (waveform in).
- `SpecAugment`: time and frequency masking, training only (Park et al. 2019).
- `DCGANGeneratorBlock`: transposed conv + BN + ReLU upsampling block (Radford et al. 2015).
- `DCGANDiscriminatorBlock`: strided conv + norm + leaky ReLU block (Radford et al. 2015).
- `RestrictedBoltzmannMachine`: binary RBM with CD-k and Gibbs sampling (Hinton et al. 2006).

Every layer is checked by the shared test `tests/core_layers/test_layers.py`; adding a layer
means adding one line to its `LAYER_CASES`.
"""

from core_layers.basic_residual_block import BasicResidualBlock
from core_layers.bottleneck_residual_block import BottleneckResidualBlock
from core_layers.dcgan_discriminator_block import DCGANDiscriminatorBlock
from core_layers.dcgan_generator_block import DCGANGeneratorBlock
from core_layers.local_response_normalization import LocalResponseNormalization
from core_layers.restricted_boltzmann_machine import RestrictedBoltzmannMachine
from core_layers.log_mel_spectrogram import LogMelSpectrogram
from core_layers.mfcc import MFCC
from core_layers.spec_augment import SpecAugment
from core_layers.stft_magnitude import STFTMagnitude

__all__ = [
    "BasicResidualBlock",
    "BottleneckResidualBlock",
    "DCGANDiscriminatorBlock",
    "DCGANGeneratorBlock",
    "LocalResponseNormalization",
    "RestrictedBoltzmannMachine",
    "LogMelSpectrogram",
    "MFCC",
    "SpecAugment",
    "STFTMagnitude",
]
