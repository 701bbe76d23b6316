"""Every layer of `core_layers` registered under "dlsuite" goes through the same checks.

To cover a new layer, add one `LayerCase` line to `LAYER_CASES`.
"""

import importlib
import inspect
import pkgutil

import keras
import pytest

import core_layers
from core_layers import BasicResidualBlock, BottleneckResidualBlock, LocalResponseNormalization
from tests.core_layers.layer_checks import LAYER_CHECKS, LayerCase

LAYER_CASES = [
    LayerCase(BasicResidualBlock, {"filters": 4}, (2, 6, 6, 4)),
    LayerCase(BasicResidualBlock, {"filters": 6, "strides": 2}, (2, 7, 7, 3)),
    LayerCase(BasicResidualBlock, {"filters": 2, "kernel_regularizer": "l2"}, (1, 4, 4, 2)),
    LayerCase(BottleneckResidualBlock, {"filters": 2, "strides": 2}, (2, 6, 6, 3)),
    LayerCase(BottleneckResidualBlock, {"filters": 2, "epsilon": 1e-3}, (2, 5, 5, 8)),
    LayerCase(LocalResponseNormalization, {}, (2, 5, 5, 8)),
]


def registered_layer_classes() -> set[type]:
    """Classes defined in any `core_layers` module and registered under the "dlsuite" package."""
    found = set()
    for module_info in pkgutil.iter_modules(core_layers.__path__, "core_layers."):
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
    ],
)
def test_invalid_arguments(layer_cls, kwargs, message):
    with pytest.raises(ValueError, match=message):
        layer_cls(**kwargs)
