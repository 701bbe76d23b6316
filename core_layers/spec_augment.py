"""SpecAugment time and frequency masking (Park et al., 2019)."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="dlsuite")
class SpecAugment(keras.layers.Layer):
    """Random time and frequency masks on a spectrogram, during training only.

    Park et al., "SpecAugment: A Simple Data Augmentation Method for Automatic Speech
    Recognition" (Interspeech 2019), section 2: `num_freq_masks` bands of `f ~ U[0, F]`
    consecutive channels and `num_time_masks` spans of `t ~ U[0, T]` consecutive frames, placed
    uniformly, are set to `mask_value`; each example of the batch draws its own masks. Time
    warping is not implemented. At inference (`training=False`) the layer is the identity.
    No weights.

    Args:
        freq_mask_param: F, the largest frequency mask width (>= 0). Defaults to 8.
        num_freq_masks: number of frequency masks (>= 0). Defaults to 2.
        time_mask_param: T, the largest time mask width in frames (>= 0). Defaults to 10.
        num_time_masks: number of time masks (>= 0). Defaults to 2.
        mask_value: value written into the masks. Defaults to 0.
        seed: int or None, seed of the layer's random generator.
        **kwargs: base layer arguments.

    Call arguments:
        inputs: float tensor `(batch, frames, channels)`.
        training: bool; masks are applied only when True.

    Input shape:
        `(batch, frames, channels)`.

    Output shape:
        Same as the input.

    Example:
    >>> SpecAugment()(keras.ops.ones((2, 49, 40)), training=True).shape
    TensorShape([2, 49, 40])
    """

    def __init__(
        self,
        freq_mask_param=8,
        num_freq_masks=2,
        time_mask_param=10,
        num_time_masks=2,
        mask_value=0.0,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        for name, value in (
            ("freq_mask_param", freq_mask_param),
            ("num_freq_masks", num_freq_masks),
            ("time_mask_param", time_mask_param),
            ("num_time_masks", num_time_masks),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(
                    f"`{name}` expected a non-negative integer. Received: {name}={value!r}"
                )
        self.freq_mask_param = freq_mask_param
        self.num_freq_masks = num_freq_masks
        self.time_mask_param = time_mask_param
        self.num_time_masks = num_time_masks
        self.mask_value = float(mask_value)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(
                f"{self.__class__.__name__} expected a 3D input (batch, frames, channels). "
                f"Received: input_shape={input_shape}"
            )

    def _masks(self, batch, length, count, max_width):
        """(B, length) float 1.0 where any of `count` random spans of width <= max_width falls."""
        widths = keras.random.randint((batch, count), 0, max_width + 1, seed=self.seed_generator)
        room = ops.cast(ops.maximum(length - widths + 1, 1), "float32")  # (B, count)
        starts = ops.cast(
            keras.random.uniform((batch, count), seed=self.seed_generator) * room, "int32"
        )
        positions = ops.arange(length, dtype="int32")[None, None, :]  # (1, 1, L)
        # (B, count, L)
        inside = (positions >= starts[..., None]) & (positions < (starts + widths)[..., None])
        return ops.cast(ops.any(inside, axis=1), "float32")  # (B, L)

    def call(self, inputs, training=False):
        if not training or (self.num_freq_masks == 0 and self.num_time_masks == 0):
            return inputs
        shape = ops.shape(inputs)
        batch, frames, channels = shape[0], shape[1], shape[2]
        keep = ops.ones((batch, frames, channels), dtype="float32")
        if self.num_time_masks and self.time_mask_param:
            keep = (
                keep
                * (1.0 - self._masks(batch, frames, self.num_time_masks, self.time_mask_param))[
                    :, :, None
                ]
            )
        if self.num_freq_masks and self.freq_mask_param:
            keep = (
                keep
                * (1.0 - self._masks(batch, channels, self.num_freq_masks, self.freq_mask_param))[
                    :, None, :
                ]
            )
        keep = ops.cast(keep, inputs.dtype)
        return inputs * keep + ops.cast(self.mask_value, inputs.dtype) * (1 - keep)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {
            **super().get_config(),
            "freq_mask_param": self.freq_mask_param,
            "num_freq_masks": self.num_freq_masks,
            "time_mask_param": self.time_mask_param,
            "num_time_masks": self.num_time_masks,
            "mask_value": self.mask_value,
            "seed": self.seed,
        }
