"""FLOPs counted from a model's graph, and the training-compute estimate built on them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

FLOPS_METHOD = (
    "forward FLOPs per example counted by TensorFlow's graph profiler on the inference graph at "
    "batch size 1 (a multiply-add counts as 2); training FLOPs = 3 x forward FLOPs x examples seen "
    "(the backward pass costs about twice the forward pass)"
)


def forward_flops(model: Any, input_shape: Sequence[int], dtype: str = "float32") -> int:
    """Floating-point operations of one forward pass on one example of ``input_shape``."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    spec = tf.TensorSpec([1, *input_shape], dtype)
    concrete = tf.function(lambda x: model(x, training=False)).get_concrete_function(spec)
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
