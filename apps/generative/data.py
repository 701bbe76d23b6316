"""Generative data: the vision app's sources (``builtin:digits``, ``tfds:*``, ``dir:*``)
at the GAN's size.

`load_splits` returns the same `Splits` as `apps.vision.data.load_splits` (float32 pixels in
[0, 255], int64 labels, the same seeded held-out split); the GAN rescales to [-1, 1] itself.
"""

from __future__ import annotations

from dlsuite.apps.common.data import Splits
from dlsuite.apps.generative.config import GenerativeConfig
from dlsuite.apps.vision import data as vision_data
from dlsuite.apps.vision.config import VisionConfig


def load_splits(config: GenerativeConfig) -> Splits:
    """Train/validation/test splits of ``config.data`` at ``config.image_size``."""
    vision = VisionConfig(
        model="lenet5",
        data=config.data,
        data_dir=config.data_dir,
        image_size=config.image_size,
        split_seed=config.split_seed,
        validation_fraction=config.validation_fraction,
        test_fraction=config.test_fraction,
    )
    return vision_data.load_splits(vision)
