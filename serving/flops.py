"""FLOPs counted from a model's graph, and the training-compute estimate built on them."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

FLOPS_METHOD = (
    "forward FLOPs per example counted by TensorFlow's graph profiler on the inference graph at "
    "batch size 1 (a multiply-add counts as 2); training FLOPs = 3 x forward FLOPs x examples seen "
    "(the backward pass costs about twice the forward pass)"
)


_EINSUM_REGISTERED: list[bool] = []


def _register_einsum_flops() -> None:
    """Teach the profiler ``Einsum`` (Keras' `EinsumDense` and `MultiHeadAttention` use it).

    TensorFlow's flops registry has no entry for it, so attention layers counted 0 FLOPs. A
    contraction of two operands costs 2 x the product of every index size (multiply + add);
    an ellipsis stands for the broadcast dimensions of the operand with the most of them.
    """
    if _EINSUM_REGISTERED:
        return

    from tensorflow.python.framework import graph_util, ops

    def einsum_flops(graph: Any, node: Any) -> Any:
        operands = node.attr["equation"].s.decode().replace(" ", "").split("->")[0].split(",")
        sizes: dict[str, int] = {}
        ellipsis = 1
        # node.input may end with "^name" control inputs, which have no operand in the equation
        for labels, name in zip(operands, node.input, strict=False):
            shape = graph_util.tensor_shape_from_node_def_name(graph, name)
            shape.assert_is_fully_defined()
            dims = shape.as_list()
            named = labels.replace("...", "")
            if "..." in labels:
                start = labels.index("...")
                extra = dims[start : len(dims) - (len(named) - start)]
                ellipsis = max(ellipsis, math.prod(extra))
                dims = dims[:start] + dims[start + len(extra) :]
            sizes.update(zip(named, dims, strict=True))
        factor = 2 if len(operands) > 1 else 1
        return ops.OpStats("flops", factor * ellipsis * math.prod(sizes.values()))

    ops.RegisterStatistics("Einsum", "flops")(einsum_flops)
    _EINSUM_REGISTERED.append(True)


def forward_flops(model: Any, input_shape: Sequence[int], dtype: str = "float32") -> int:
    """Floating-point operations of one forward pass on one example of ``input_shape``."""
    import tensorflow as tf

    return forward_flops_of(model, tf.TensorSpec([1, *input_shape], dtype))


def forward_flops_of(model: Any, inputs: Any) -> int:
    """Floating-point operations of ``model(inputs)``: ``inputs`` is a ``tf.TensorSpec`` or a
    list or dict of them (a model with several inputs), fully defined, batch 1."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    _register_einsum_flops()

    concrete = tf.function(lambda x: model(x, training=False)).get_concrete_function(inputs)
    frozen = convert_variables_to_constants_v2(concrete)
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    profile = tf.compat.v1.profiler.profile(
        graph=frozen.graph, run_meta=tf.compat.v1.RunMetadata(), cmd="op", options=options
    )
    return int(profile.total_float_ops)


def training_flops(flops_per_example: int, examples_seen: int) -> float:
    """Training compute estimate: forward + backward (about 2x forward) per example seen."""
    return 3.0 * flops_per_example * examples_seen
