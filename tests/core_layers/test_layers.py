"""Every layer of `core_layers` registered under "dlsuite" goes through the same checks.

To cover a new layer, add one `LayerCase` line to `LAYER_CASES`.
"""

import importlib
import inspect
import pkgutil

import keras
import pytest

from dlsuite import core_layers
from dlsuite.core_layers import (
    MFCC,
    PCEN,
    BasicResidualBlock,
    BottleneckResidualBlock,
    CachedMultiHeadAttention,
    DCGANDiscriminatorBlock,
    DCGANGeneratorBlock,
    ImageNetPreprocessing,
    LocalResponseNormalization,
    LogMelSpectrogram,
    LSTMBlock,
    PositionalEmbedding,
    RestrictedBoltzmannMachine,
    SpecAugment,
    STFTMagnitude,
    TransformerDecoderBlock,
    TransformerEncoderBlock,
)
from tests.core_layers.layer_checks import LAYER_CHECKS, LayerCase

LAYER_CASES = [
    LayerCase(BasicResidualBlock, {"filters": 4}, (2, 6, 6, 4)),
    LayerCase(BasicResidualBlock, {"filters": 6, "strides": 2}, (2, 7, 7, 3)),
    LayerCase(BasicResidualBlock, {"filters": 2, "kernel_regularizer": "l2"}, (1, 4, 4, 2)),
    LayerCase(BottleneckResidualBlock, {"filters": 2, "strides": 2}, (2, 6, 6, 3)),
    LayerCase(BottleneckResidualBlock, {"filters": 2, "epsilon": 1e-3}, (2, 5, 5, 8)),
    LayerCase(LocalResponseNormalization, {}, (2, 5, 5, 8)),
    LayerCase(ImageNetPreprocessing, {"mode": "caffe"}, (2, 4, 4, 3)),
    LayerCase(ImageNetPreprocessing, {"mode": "torch"}, (1, 3, 3, 3)),
    LayerCase(STFTMagnitude, {"frame_length_ms": 25, "frame_step_ms": 10}, (2, 1600)),
    LayerCase(LogMelSpectrogram, {"num_mel_bins": 16, "fmax": 7000.0}, (2, 1600)),
    LayerCase(
        MFCC,
        {"num_mfcc": 5, "num_mel_bins": 8, "power": 1.0, "log_offset": 1.0, "frame_step_ms": 20},
        (2, 1600),
    ),
    LayerCase(LogMelSpectrogram, {"num_mel_bins": 8, "log": False}, (2, 1600)),
    LayerCase(PCEN, {"smooth_coef": 0.1, "learn_smooth_coef": True}, (2, 6, 10)),
    LayerCase(SpecAugment, {"freq_mask_param": 3, "time_mask_param": 2, "seed": 1}, (2, 6, 10)),
    LayerCase(DCGANGeneratorBlock, {"filters": 3}, (2, 3, 3, 4)),
    LayerCase(DCGANGeneratorBlock, {"filters": 2, "normalization": "none"}, (2, 2, 2, 3)),
    LayerCase(DCGANDiscriminatorBlock, {"filters": 3}, (2, 6, 6, 2)),
    LayerCase(DCGANDiscriminatorBlock, {"filters": 2, "normalization": "batch"}, (2, 5, 5, 3)),
    LayerCase(DCGANDiscriminatorBlock, {"filters": 2, "normalization": "layer"}, (2, 4, 4, 3)),
    LayerCase(RestrictedBoltzmannMachine, {"units": 3}, (2, 5)),
    LayerCase(RestrictedBoltzmannMachine, {"units": 2, "k": 3}, (1, 4)),
    LayerCase(RestrictedBoltzmannMachine, {"units": 3, "label_units": 2}, (2, 5)),
    LayerCase(CachedMultiHeadAttention, {"num_heads": 2, "key_dim": 3}, (2, 5, 4)),
    LayerCase(
        CachedMultiHeadAttention,
        {"num_heads": 1, "key_dim": 2, "dropout": 0.1, "seed": 1},
        (2, 3, 4),
    ),
    LayerCase(TransformerDecoderBlock, {"num_heads": 2, "intermediate_dim": 8}, (2, 5, 4)),
    LayerCase(
        TransformerDecoderBlock,
        {
            "num_heads": 1,
            "intermediate_dim": 6,
            "norm_first": False,
            "dropout": 0.1,
            "activation": "relu",
        },
        (2, 4, 6),
    ),
    LayerCase(
        PositionalEmbedding,
        {"vocabulary_size": 10, "output_dim": 4, "max_length": 8},
        (2, 5),
        "int32",
    ),
    LayerCase(
        PositionalEmbedding,
        {
            "vocabulary_size": 12,
            "output_dim": 3,
            "max_length": 6,
            "position": "learned",
            "mask_zero": True,
        },
        (2, 6),
        "int32",
    ),
    LayerCase(TransformerEncoderBlock, {"num_heads": 2, "intermediate_dim": 8}, (2, 5, 4)),
    LayerCase(
        TransformerEncoderBlock,
        {
            "num_heads": 1,
            "intermediate_dim": 6,
            "norm_first": False,
            "dropout": 0.1,
            "activation": "gelu",
        },
        (2, 4, 6),
    ),
    LayerCase(LSTMBlock, {"units": 3}, (2, 5, 4)),
    LayerCase(
        LSTMBlock,
        {
            "units": 2,
            "num_layers": 2,
            "bidirectional": False,
            "return_sequences": True,
            "dropout": 0.1,
        },
        (2, 4, 3),
    ),
]


def registered_layer_classes() -> set[type]:
    """Classes defined in any `core_layers` module and registered under the "dlsuite" package."""
    found = set()
    for module_info in pkgutil.iter_modules(core_layers.__path__, f"{core_layers.__name__}."):
        module = importlib.import_module(module_info.name)
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if obj.__module__ == module.__name__ and issubclass(obj, keras.layers.Layer):
                if keras.saving.get_registered_name(obj).startswith("dlsuite>"):
                    found.add(obj)
    return found


def test_every_registered_layer_has_a_case_and_is_exported():
    registered = registered_layer_classes()
    assert registered, "no dlsuite layers found in core_layers"
    missing = sorted(cls.__name__ for cls in registered - {case.layer_cls for case in LAYER_CASES})
    assert not missing, f"add a LayerCase to LAYER_CASES for: {missing}"
    unexported = sorted(
        cls.__name__ for cls in registered if getattr(core_layers, cls.__name__, None) is not cls
    )
    assert not unexported, f"export these from core_layers/__init__.py: {unexported}"
    for cls in registered:
        for section in ("Args:", "Input shape:", "Output shape:"):
            assert section in (cls.__doc__ or ""), f"{cls.__name__} docstring lacks {section!r}"


@pytest.mark.parametrize("check", LAYER_CHECKS, ids=lambda check: check.__name__)
@pytest.mark.parametrize("case", LAYER_CASES, ids=lambda case: case.id)
def test_layer(case, check, tmp_path):
    check(case, tmp_path)


@pytest.mark.parametrize(
    "layer_cls, kwargs, message",
    [
        (BasicResidualBlock, {"filters": 0}, "Received: filters=0"),
        (BasicResidualBlock, {"filters": 4, "strides": 1.5}, "Received: strides=1.5"),
        (BottleneckResidualBlock, {"filters": 4, "expansion": 0}, "expansion=0"),
        (LocalResponseNormalization, {"depth_radius": -1}, "Received: depth_radius=-1"),
        (LocalResponseNormalization, {"bias": 0}, "Received: bias=0"),
        (STFTMagnitude, {"sample_rate": 0}, "Received: sample_rate=0"),
        (STFTMagnitude, {"fft_length": 128}, "Received: fft_length=128"),
        (LogMelSpectrogram, {"fmax": 9000.0}, "fmax=9000.0"),
        (MFCC, {"num_mfcc": 50, "num_mel_bins": 40}, "Received: num_mfcc=50"),
        (SpecAugment, {"num_time_masks": -1}, "Received: num_time_masks=-1"),
        (DCGANGeneratorBlock, {"filters": 4, "normalization": "layer"}, "normalization='layer'"),
        (DCGANDiscriminatorBlock, {"filters": 4, "negative_slope": -1}, "negative_slope=-1"),
        (RestrictedBoltzmannMachine, {"units": 4, "k": 0}, "Received: k=0"),
        (RestrictedBoltzmannMachine, {"units": 4, "label_units": -1}, "Received: label_units=-1"),
        (CachedMultiHeadAttention, {"num_heads": 0, "key_dim": 2}, "Received: num_heads=0"),
        (
            TransformerDecoderBlock,
            {"num_heads": 2, "intermediate_dim": 0},
            "Received: intermediate_dim=0",
        ),
        (
            TransformerDecoderBlock,
            {"num_heads": 2, "intermediate_dim": 4, "dropout": 1.0},
            "Received: dropout=1.0",
        ),
        (
            PositionalEmbedding,
            {"vocabulary_size": 0, "output_dim": 4},
            "Received: vocabulary_size=0",
        ),
        (PositionalEmbedding, {"vocabulary_size": 5, "output_dim": 3}, "Received: output_dim=3"),
        (
            PositionalEmbedding,
            {"vocabulary_size": 5, "output_dim": 4, "position": "rotary"},
            "position='rotary'",
        ),
        (
            TransformerEncoderBlock,
            {"num_heads": 2, "intermediate_dim": -1},
            "Received: intermediate_dim=-1",
        ),
        (
            TransformerEncoderBlock,
            {"num_heads": 2, "intermediate_dim": 4, "attention_dropout": 1.5},
            "Received: attention_dropout=1.5",
        ),
        (LSTMBlock, {"units": 0}, "Received: units=0"),
        (LSTMBlock, {"units": 2, "dropout": -0.1}, "Received: dropout=-0.1"),
    ],
)
def test_invalid_arguments(layer_cls, kwargs, message):
    with pytest.raises(ValueError, match=message):
        layer_cls(**kwargs)
