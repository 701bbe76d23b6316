"""Why a classifier decided: Grad-CAM maps, integrated gradients, token attributions, and the
``explain`` signature of an export.

- `grad_cam` (Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via
  Gradient-based Localization", ICCV 2017): the feature maps of a convolutional layer (the last
  one with a spatial map, or one named) weighted by the spatial mean of the gradient of the class
  score (the "logits" layer's output, before the softmax) and rectified; one map per example at
  the layer's resolution (image rows x columns; time frames x frequency bins for a keyword
  spotter's spectrogram).
- `integrated_gradients` (Sundararajan, Taly and Yan, "Axiomatic Attribution for Deep
  Networks", ICML 2017): ``(x - x') * mean over the straight path from the baseline x' (zeros:
  a black image, silence) to x of the gradient of the class probability``, by the trapezoid rule
  over ``steps`` intervals; an attribution per input value, which sums to ``f(x) - f(x')``
  (completeness, reported as the check of the approximation). Or with respect to the output of
  a named layer: a keyword spotter's normalised features (a time x frequency map), as its
  level-invariant front end defeats the path from silence.
- `token_attributions`: integrated gradients of a text classifier on the output of its
  embedding layer (strings are not differentiable), summed over the embedding dimension: one
  attribution per token.
- `explain_function`: the integrated gradients of a model as a `tf.function` of core
  TensorFlow ops, for an ``explain`` signature in an export.

`dlsuite.apps.common.plots.plot_heat_maps` and `plot_token_attributions` draw them for the
examples `examples_per_class` picks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from dlsuite.base.validation import check_positive_int

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

LOGITS_LAYER = "logits"  # the dense layer before the softmax of every suite classifier
EMBEDDING_LAYER = "embedding"  # the token embedding layer of every suite text classifier


def _scores_tensor(model: Any) -> Any:
    """The symbolic output of ``model``'s "logits" layer if it has one, else its output."""
    names = {layer.name for layer in model.layers}
    return model.get_layer(LOGITS_LAYER).output if LOGITS_LAYER in names else model.outputs[0]


def class_scores_model(model: Any) -> Any:
    """``model`` up to its layer named "logits" (the pre-softmax class scores (B, K)) if it has
    one, as a `keras.Model` sharing its weights; else ``model`` itself."""
    import keras

    scores = _scores_tensor(model)
    return model if scores is model.outputs[0] else keras.Model(model.inputs, scores)


def last_conv_layer(model: Any) -> str:
    """The name of ``model``'s last top-level layer with a 4-D output (B, h, w, C) larger than
    1 x 1 in space, from its first convolution on: the feature maps Grad-CAM weighs (the input
    and preprocessing layers before it, e.g. a `Rescaling` before a flattening head, are pixels,
    not feature maps). A nested model (a pretrained backbone) counts as a convolution."""
    import keras

    convolutions = [
        i
        for i, layer in enumerate(model.layers)
        if "Conv" in type(layer).__name__ or isinstance(layer, keras.Model)
    ]
    for layer in reversed(model.layers[convolutions[0] :] if convolutions else []):
        shape = tuple(getattr(_call_tensors(layer)[1], "shape", ()))  # a list has no shape
        if len(shape) == 4 and None not in shape[1:3] and shape[1] * shape[2] > 1:
            return str(layer.name)
    raise ValueError(
        f"model {model.name!r} has no convolution with a 4-D (batch, height, width, channels) "
        "output larger than 1x1, so no convolutional feature map for Grad-CAM: use "
        "integrated_gradients instead"
    )


def examples_per_class(labels: ArrayLike, per_class: int = 2) -> Any:
    """Indices (int64, class by class, in order) of the first ``per_class`` examples of every
    class present in ``labels`` (N,): the examples to explain."""
    import numpy as np

    check_positive_int(per_class=per_class)
    labels = np.asarray(labels)
    chosen = [np.flatnonzero(labels == c)[:per_class] for c in np.unique(labels)]
    return np.concatenate(chosen).astype(np.int64) if chosen else np.zeros(0, np.int64)


def _given_targets(targets: Any, n: int) -> Any:
    """``targets`` as (n,) int64, or None (explain the predicted classes)."""
    import numpy as np

    if targets is None:
        return None
    chosen = np.asarray(targets).astype(np.int64)
    if chosen.shape != (n,):
        raise ValueError(f"`targets` expected {n} class ids. Received: shape={chosen.shape}")
    return chosen


def _batches(n: int, batch_size: int, given: Any) -> list[tuple[slice, Any]]:
    """``(rows, targets or None)`` of each batch of ``n`` examples."""
    check_positive_int(batch_size=batch_size)
    rows = [slice(i, i + batch_size) for i in range(0, n, batch_size)]
    return [(row, None if given is None else given[row]) for row in rows]


class GradCam(NamedTuple):
    """What `grad_cam` returns."""

    maps: Any  # (N, h, w) float32 in [0, 1], each example's map divided by its maximum
    targets: Any  # (N,) int64, the explained class of each example
    report: dict[str, Any]  # JSON-ready: method, layer, score, target, map_shape, empty_maps


def grad_cam(
    model: Any,
    x: ArrayLike,
    *,
    targets: ArrayLike | None = None,
    layer: str | None = None,
    batch_size: int = 64,
) -> GradCam:
    """Grad-CAM maps of ``model`` for inputs ``x`` (N, ...), as the model takes them.

    ``map = relu(sum_c alpha_c A_c)``, ``A`` the feature maps (h, w, C) of ``layer`` (default:
    `last_conv_layer`), ``alpha_c`` the spatial mean of the gradient of the class score (the
    "logits" layer's output when the model has one) with respect to ``A_c``. A map is all
    zeros where no feature map has a positive weight, which can happen when a flattening dense
    head (not a global average pooling) follows the layer; ``report["empty_maps"]`` counts them.

    Args:
        targets: class ids (N,) to explain; default the predicted classes.
        layer: a top-level layer with a (B, h, w, C) output.
    """
    import keras
    import numpy as np
    import tensorflow as tf

    inputs = np.asarray(x)
    given = _given_targets(targets, len(inputs))
    name = last_conv_layer(model) if layer is None else layer
    features = _call_tensors(model.get_layer(name))[1]
    if len(features.shape) != 4:
        raise ValueError(
            f"`layer` expected a layer with a (batch, height, width, channels) output. "
            f"Received: layer={name!r} with output shape {tuple(features.shape)}"
        )
    scores_tensor = _scores_tensor(model)
    probe = keras.Model(model.inputs, [features, scores_tensor])

    @tf.function(reduce_retracing=True)
    def cam(batch: Any, target: Any) -> Any:
        with tf.GradientTape() as tape:
            maps, scores = probe(batch, training=False)
            scores = tf.cast(scores, tf.float32)
            if target is None:
                target = tf.argmax(scores, axis=-1)
            score = tf.gather(scores, target, batch_dims=1)
        weights = tf.reduce_mean(tape.gradient(score, maps), axis=[1, 2])  # (B, C)
        heat = tf.nn.relu(tf.einsum("bhwc,bc->bhw", tf.cast(maps, tf.float32), weights))
        top = tf.reduce_max(heat, axis=[1, 2], keepdims=True)
        return tf.math.divide_no_nan(heat, top), target  # (B, h, w), (B,)

    results = [
        cam(tf.constant(inputs[rows]), target)
        for rows, target in _batches(len(inputs), batch_size, given)
    ]
    maps = np.concatenate([heat.numpy() for heat, _ in results]).astype(np.float32)
    report = {
        "method": "Grad-CAM (Selvaraju et al. 2017)",
        "layer": name,
        "score": "logits" if scores_tensor is not model.outputs[0] else "model output",
        "target": "predicted class" if given is None else "given class",
        "map_shape": list(maps.shape[1:]),
        "empty_maps": int(np.sum(maps.reshape(len(maps), -1).max(axis=1) == 0)),
    }
    return GradCam(maps, np.concatenate([t.numpy() for _, t in results]).astype(np.int64), report)


def _integrated_gradients(function: Callable[[Any], Any], x: Any, targets: Any, steps: int) -> Any:
    """Integrated gradients (B, ...) of ``function(x)[b, targets[b]]`` with respect to ``x``
    (B, ...) float32 from a zero baseline, trapezoid rule over ``steps`` intervals (TensorFlow
    ops; a `tf.range` loop, so one copy of the model in a traced graph)."""
    import tensorflow as tf

    total = tf.zeros_like(x)
    for i in tf.range(steps + 1):
        point = tf.cast(i, tf.float32) / steps * x
        with tf.GradientTape() as tape:
            tape.watch(point)
            score = tf.gather(tf.cast(function(point), tf.float32), targets, batch_dims=1)
        weight = tf.where((i == 0) | (i == steps), 0.5, 1.0)
        total += weight * tape.gradient(score, point)
    return x * total / steps


def _explained(function: Callable[[Any], Any], x: Any, target: Any, steps: int) -> Any:
    """``(attributions (B, ...), targets (B,), f(x) - f(0) (B,))`` of `_integrated_gradients`
    for ``target`` (B,), or for the argmax of ``function(x)`` when ``target`` is None."""
    import tensorflow as tf

    scores = tf.cast(function(x), tf.float32)
    if target is None:
        target = tf.argmax(scores, axis=-1)
    baseline = tf.cast(function(tf.zeros_like(x)), tf.float32)
    difference = tf.gather(scores, target, batch_dims=1) - tf.gather(baseline, target, batch_dims=1)
    return _integrated_gradients(function, x, target, steps), target, difference


def _completeness(attributions: Any, difference: Any) -> dict[str, Any]:
    """How far ``attributions`` (N, ...) sum to ``difference`` (N,) = f(x) - f(baseline)."""
    import numpy as np

    sums = attributions.reshape(len(attributions), -1).sum(axis=1)
    gap = np.abs(sums - difference)
    return {
        "max_abs_error": float(gap.max()),
        "max_relative_error": float((gap / np.maximum(np.abs(difference), 1e-3)).max()),
        "mean_score_difference": float(np.mean(difference)),
    }


class Attributions(NamedTuple):
    """What `integrated_gradients` returns."""

    attributions: Any  # float32 (N, ...), x's shape or the layer output's: shares of f(x) - f(0)
    targets: Any  # (N,) int64, the explained class of each example
    report: dict[str, Any]  # JSON-ready: method, layer, baseline, steps, target, completeness


def _split_at(model: Any, name: str) -> tuple[Any, Any]:
    """``(front, back)`` around ``model``'s layer ``name``: ``front`` maps the model's input to
    ``[layer input, layer output]``, ``back`` maps them to the model's output (the layer input
    carries what is computed from it downstream, such as a text embedding's padding mask)."""
    import keras

    if name not in {layer.name for layer in model.layers}:
        raise ValueError(f"model {model.name!r} has no layer named {name!r} (`layer`)")
    layer_input, layer_output = _call_tensors(model.get_layer(name))
    front = keras.Model(model.inputs, [layer_input, layer_output])
    back = keras.Model([layer_input, layer_output], model.outputs[0])
    return front, back


def _call_tensors(layer: Any) -> tuple[Any, Any]:
    """``layer``'s symbolic (input, output) where the model calls it. A nested model (a pretrained
    backbone) has two graph nodes, its own and its call in the outer model; Keras'
    ``layer.input`` / ``layer.output`` are the first's, so the last node is read here."""
    node = layer._inbound_nodes[-1]
    inputs, outputs = list(node.input_tensors), list(node.output_tensors)
    return (
        inputs[0] if len(inputs) == 1 else inputs,
        outputs[0] if len(outputs) == 1 else outputs,
    )


def _attribution_function(model: Any, layer: str | None, steps: int) -> Callable[..., Any]:
    """``attribute(inputs (B, ...), target (B,) or None) -> (attributions, layer input, targets
    (B,), f(x) - f(0) (B,))``: `_explained` on the model's input (``layer`` None; the layer
    input returned is ``inputs``) or on ``layer``'s output, in TensorFlow ops."""
    import tensorflow as tf

    if layer is None:

        def attribute(inputs: Any, target: Any) -> Any:
            attributions, target, difference = _explained(
                lambda b: model(b, training=False), tf.cast(inputs, tf.float32), target, steps
            )
            return attributions, inputs, target, difference

        return attribute
    front, back = _split_at(model, layer)

    def attribute_layer(inputs: Any, target: Any) -> Any:
        layer_input, outputs = front(inputs)
        # A new tensor, without a Keras mask attached: `back` computes masks from the layer input.
        outputs = tf.identity(tf.cast(outputs, tf.float32))

        def probabilities(v: Any) -> Any:
            return back([layer_input, v], training=False)

        attributions, target, difference = _explained(probabilities, outputs, target, steps)
        return attributions, layer_input, target, difference

    return attribute_layer


def _attribute(
    model: Any, x: Any, layer: str | None, targets: Any, steps: int, batch_size: int
) -> tuple[Any, Any, Any, Any, bool]:
    """`_attribution_function` over ``x`` in batches: NumPy ``(attributions, layer inputs,
    targets, f(x) - f(0), targets given)``."""
    import numpy as np
    import tensorflow as tf

    check_positive_int(steps=steps)
    if len(model.inputs) != 1:
        raise ValueError(f"attributions expected a model with one input. Received: {model.inputs}")
    floating = str(model.inputs[0].dtype).startswith("float")
    if layer is None and not floating:
        raise ValueError(
            f"integrated gradients need a differentiable input; the model takes "
            f"{model.inputs[0].dtype}: pass `layer` (e.g. its token embedding layer), or use "
            "token_attributions for text"
        )
    inputs = np.asarray(x, dtype=np.float32 if floating else None)
    given = _given_targets(targets, len(inputs))
    attribute = tf.function(_attribution_function(model, layer, steps), reduce_retracing=True)
    results = [
        attribute(tf.constant(inputs[rows]), target)
        for rows, target in _batches(len(inputs), batch_size, given)
    ]
    attributions, layer_inputs, chosen, difference = (
        np.concatenate([r[k].numpy() for r in results]) for k in range(4)
    )
    return attributions, layer_inputs, chosen.astype(np.int64), difference, given is not None


def integrated_gradients(
    model: Any,
    x: ArrayLike,
    *,
    layer: str | None = None,
    targets: ArrayLike | None = None,
    steps: int = 50,
    batch_size: int = 32,
) -> Attributions:
    """Integrated gradients of ``model``'s class probability for inputs ``x`` (N, ...), with
    respect to the input (a float input: pixels, waveforms) or to the output of ``layer``, from
    the all-zeros baseline.

    A keyword spotter's front end normalises the level of the clip (PCEN, then per-utterance
    mean and variance normalisation), so its output hardly moves along the path from silence
    except very near it, which no affordable number of steps resolves (completeness fails):
    attribute its normalised features instead, the output of its layer "cmvn" (a time x
    frequency map, zeros = each channel at its mean). Text: `token_attributions`.

    Args:
        layer: a top-level layer of ``model``; None: the model's input.
        targets: class ids (N,) to explain; default the predicted classes.
        steps: trapezoid intervals of the path integral (Sundararajan et al.: 20 to 300).

    Returns:
        `Attributions`; ``report["completeness"]`` compares ``sum(attributions)`` with
        ``f(x) - f(0)`` per example (``max_abs_error``, ``max_relative_error`` (relative to
        ``|f(x) - f(0)|``, at least 1e-3), ``mean_score_difference``): a few percent at most
        when ``steps`` suffice.
    """
    attributions, _, chosen, difference, given = _attribute(
        model, x, layer, targets, steps, batch_size
    )
    report = {
        "method": "integrated gradients of the class probability (Sundararajan et al. 2017)",
        "layer": "input" if layer is None else layer,
        "baseline": "zeros",
        "steps": steps,
        "target": "given class" if given else "predicted class",
        "completeness": _completeness(attributions, difference),
    }
    return Attributions(attributions, chosen, report)


class TokenAttributions(NamedTuple):
    """What `token_attributions` returns."""

    tokens: list[list[str]]  # each text's tokens, padding left out
    attributions: Any  # (N, T) float32, one per token position (0 at padding)
    targets: Any  # (N,) int64, the explained class of each example
    report: dict[str, Any]  # JSON-ready: as `integrated_gradients`'s


def token_attributions(
    model: Any,
    texts: ArrayLike,
    *,
    embedding: str = EMBEDDING_LAYER,
    targets: ArrayLike | None = None,
    steps: int = 50,
    batch_size: int = 32,
) -> TokenAttributions:
    """Integrated gradients of a text classifier's class probability on the output of its
    ``embedding`` layer (zero vectors as the baseline), summed over the embedding dimension:
    one attribution per token.

    Args:
        model: a Keras classifier of strings (B,) with a token embedding layer named
            ``embedding`` whose input is the token ids, made by a tokenizer layer with a
            ``vocabulary`` (id -> token).
        texts: strings (N,).
        targets: class ids (N,) to explain; default the predicted classes.
        steps: trapezoid intervals of the path integral.

    Returns:
        `TokenAttributions`; ``report["completeness"]`` as for `integrated_gradients`.
    """
    vocabularies = [layer.vocabulary for layer in model.layers if hasattr(layer, "vocabulary")]
    if not vocabularies:
        raise ValueError(f"model {model.name!r} has no tokenizer layer (with a `vocabulary`)")
    attributions, token_ids, chosen, difference, given = _attribute(
        model, texts, embedding, targets, steps, batch_size
    )
    report = {
        "method": "integrated gradients of the class probability on the token embeddings, "
        "summed over the embedding dimension (Sundararajan et al. 2017)",
        "layer": embedding,
        "baseline": "zero embedding vectors",
        "steps": steps,
        "target": "given class" if given else "predicted class",
        "completeness": _completeness(attributions, difference),
    }
    tokens = [[vocabularies[0][t] for t in row if t != 0] for row in token_ids]
    return TokenAttributions(tokens, attributions.sum(axis=-1), chosen, report)


def explain_function(model: Any, *, steps: int = 32, layer: str | None = None) -> Any:
    """A `tf.function` with its input signature, for an ``explain`` export signature:
    integrated gradients of ``model``'s predicted class, core TensorFlow ops only.

    A float input (B, ...) (pixels, waveforms) gives ``{"attributions", "class_ids": (B,)
    int64}``, the attributions float32 of the input's shape, or of ``layer``'s output when one
    is named (a keyword spotter's "cmvn": (B, frames, channels)). A string input (B,) (text
    classifiers) gives ``{"attributions": (B, T) float32 per token, "token_ids": (B, T)
    int32, "class_ids": (B,) int64}``, on ``layer``'s output (default `EMBEDDING_LAYER`).
    Add it to the model's other signatures:
    ``archive.add_endpoint("explain", explain_function(model))``.
    """
    import tensorflow as tf

    check_positive_int(steps=steps)
    if len(model.inputs) != 1:
        raise ValueError(f"explain_function expected a model with one input: {model.inputs}")
    source = model.inputs[0]
    dtype = tf.as_dtype(str(source.dtype))
    text = dtype == tf.string
    attribute = _attribution_function(
        model, EMBEDDING_LAYER if text and layer is None else layer, steps
    )

    @tf.function(input_signature=[tf.TensorSpec((None, *source.shape[1:]), dtype, source.name)])
    def explain(inputs: Any) -> dict[str, Any]:
        attributions, layer_input, class_ids, _ = attribute(inputs, None)
        if not text:
            return {"attributions": attributions, "class_ids": class_ids}
        return {
            "attributions": tf.reduce_sum(attributions, axis=-1),
            "token_ids": layer_input,
            "class_ids": class_ids,
        }

    return explain
