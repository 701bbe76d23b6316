"""Reusable, serializable Keras 3 layers, registered under the package name "dlsuite".

Layers (one per module, named after the class):
- `BasicResidualBlock`: two 3x3 conv + BN residual block (He et al. 2015, CIFAR ResNets).
- `BottleneckResidualBlock`: 1x1 -> 3x3 -> 1x1 residual block (He et al. 2015, ResNet-50).
- `ImageNetPreprocessing`: a `keras.applications` family's input normalisation (caffe, tf, torch).
- `LocalResponseNormalization`: cross-channel LRN (Krizhevsky et al. 2012, AlexNet).
- `STFTMagnitude`, `LogMelSpectrogram`, `MFCC`: audio front end on `tf.signal` (waveform in).
- `PCEN`: per-channel energy normalization of mel energies, trainable (Wang et al. 2017).
- `SpecAugment`: time and frequency masking, training only (Park et al. 2019).
- `DCGANGeneratorBlock`: transposed conv + BN + ReLU upsampling block (Radford et al. 2015).
- `DCGANDiscriminatorBlock`: strided conv + norm + leaky ReLU block (Radford et al. 2015).
- `RestrictedBoltzmannMachine`: binary RBM with CD-k and Gibbs sampling (Hinton et al. 2006).
- `CachedMultiHeadAttention`: Keras multi-head attention plus causal/padding masks and a key/value
  cache for incremental decoding (Vaswani et al. 2017; KerasHub's design).
- `PositionalEmbedding`: token embedding plus sinusoidal or learned positions, padding mask
  (Vaswani et al. 2017).
- `TransformerEncoderBlock`: self-attention and feed-forward with padding mask; pre- or post-norm
  (Vaswani et al. 2017).
- `LSTMBlock`: stacked, optionally bidirectional LSTM with masking (Hochreiter & Schmidhuber 1997).
- `TransformerDecoderBlock`: causal self-attention (cached), optional cross-attention, feed-forward;
  pre- or post-norm (Vaswani et al. 2017; Radford et al. 2019).

Every layer is checked by the shared test `tests/core_layers/test_layers.py`; adding a layer
means adding one line to its `LAYER_CASES`.
"""

from dlsuite.core_layers.basic_residual_block import BasicResidualBlock
from dlsuite.core_layers.bottleneck_residual_block import BottleneckResidualBlock
from dlsuite.core_layers.cached_multi_head_attention import CachedMultiHeadAttention
from dlsuite.core_layers.dcgan_discriminator_block import DCGANDiscriminatorBlock
from dlsuite.core_layers.dcgan_generator_block import DCGANGeneratorBlock
from dlsuite.core_layers.imagenet_preprocessing import ImageNetPreprocessing
from dlsuite.core_layers.local_response_normalization import LocalResponseNormalization
from dlsuite.core_layers.log_mel_spectrogram import LogMelSpectrogram
from dlsuite.core_layers.lstm_block import LSTMBlock
from dlsuite.core_layers.mfcc import MFCC
from dlsuite.core_layers.pcen import PCEN
from dlsuite.core_layers.positional_embedding import PositionalEmbedding
from dlsuite.core_layers.restricted_boltzmann_machine import RestrictedBoltzmannMachine
from dlsuite.core_layers.spec_augment import SpecAugment
from dlsuite.core_layers.stft_magnitude import STFTMagnitude
from dlsuite.core_layers.transformer_decoder_block import TransformerDecoderBlock
from dlsuite.core_layers.transformer_encoder_block import TransformerEncoderBlock

__all__ = [
    "BasicResidualBlock",
    "BottleneckResidualBlock",
    "CachedMultiHeadAttention",
    "DCGANDiscriminatorBlock",
    "DCGANGeneratorBlock",
    "ImageNetPreprocessing",
    "LocalResponseNormalization",
    "LSTMBlock",
    "PositionalEmbedding",
    "RestrictedBoltzmannMachine",
    "LogMelSpectrogram",
    "MFCC",
    "PCEN",
    "SpecAugment",
    "STFTMagnitude",
    "TransformerDecoderBlock",
    "TransformerEncoderBlock",
]
