"""The suite's public Keras 3 layers, for your own models: ``dlsuite.layers.<Name>``.

Each is a ``keras.layers.Layer`` registered for serialization under the package ``"dlsuite"``
(a saved ``.keras`` file reloads them with ``keras.saving.load_model`` once this module, or
`dlsuite.core_layers`, is imported). Shapes, ``B`` the batch:

* `BasicResidualBlock`, `BottleneckResidualBlock`: images ``(B, H, W, C)`` ->
  ``(B, H/s, W/s, filters)`` (``filters * expansion`` for the bottleneck), ``s`` the stride;
* `LocalResponseNormalization`: ``(B, H, W, C)`` -> the same shape;
* `ImageNetPreprocessing`: RGB pixels ``(B, H, W, 3)`` in [0, 255] -> the same shape, normalised
  as a ``keras.applications`` family expects (caffe, tf, torch);
* `STFTMagnitude`, `LogMelSpectrogram`, `MFCC`: waveforms ``(B, samples)`` -> ``(B, frames, bins)``;
* `PCEN`: mel energies ``(B, frames, bins)`` -> the same, per-channel energy normalised;
* `SpecAugment`: features ``(B, frames, bins)`` -> the same, masked in training only;
* `DCGANGeneratorBlock`: ``(B, H, W, C)`` -> ``(B, sH, sW, filters)`` (``s`` the stride, 2);
  `DCGANDiscriminatorBlock`: ``(B, H, W, C)`` -> ``(B, H/2, W/2, filters)``;
* `RestrictedBoltzmannMachine`: binary visible units ``(B, visible)`` -> hidden probabilities
  ``(B, units)``;
* `PositionalEmbedding`: token ids ``(B, T)`` -> ``(B, T, output_dim)``, with a padding mask;
* `CachedMultiHeadAttention`, `TransformerEncoderBlock`, `TransformerDecoderBlock`: sequences
  ``(B, T, D)`` -> ``(B, T, D)``;
* `LSTMBlock`: ``(B, T, D)`` -> ``(B, T, units)`` (``2 * units`` bidirectional) or ``(B, units)``.

Each class's docstring gives its arguments. Example::

    x = keras.Input((None,), dtype="int32")
    h = dlsuite.layers.PositionalEmbedding(1000, 32, max_length=64, mask_zero=True)(x)
    h = dlsuite.layers.TransformerEncoderBlock(num_heads=2, intermediate_dim=64)(h)  # (B, T, 32)
"""

from dlsuite.core_layers import *  # noqa: F403 - the public layers, by name
from dlsuite.core_layers import __all__  # noqa: F401 - the same names
