"""How far a classifier's confidence can be trusted: expected calibration error and temperature
scaling (Guo, Pleiss, Sun and Weinberger, "On Calibration of Modern Neural Networks", ICML 2017).

- `expected_calibration_error`: the top-class probabilities in equal-width bins; ECE is the
  example-weighted mean gap between each bin's accuracy and its mean confidence (section 2).
  `dlsuite.apps.common.plots.plot_reliability_diagram` draws its bins.
- `fit_temperature`: the one scalar ``T > 0`` that minimises the negative log-likelihood of
  ``softmax(logits / T)`` on held-out (validation) examples (section 4.2); the predicted classes
  do not change, only the confidences.
- `TemperatureScaling`: a Keras layer that applies a fitted ``T`` to a model's output, so an
  export can serve calibrated probabilities.

Every suite classifier ends in a float32 softmax layer named "probabilities" (after a dense layer
named "logits"), so its output is probabilities, not logits. The log of a softmax differs from
its logits by one constant per row, which the softmax cancels, so temperature scaling applies to
log-probabilities exactly as to logits: fit on ``np.log(np.maximum(probabilities,
MIN_PROBABILITY))`` (what `TemperatureScaling` computes) and append the layer to the model.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import keras

from dlsuite.base.validation import check_positive_int

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

ECE_BINS = 15  # Guo et al. use 15 bins
MIN_PROBABILITY = 1e-30  # probabilities are clipped here before their log (float32-normal)
TEMPERATURE_BOUNDS = (0.05, 20.0)  # the search interval of `fit_temperature`
# Fewer validation examples than this fit no temperature: the fit follows a handful of them (5
# all-correct examples drive T to its lower bound and double the test ECE); Guo et al. (2017)
# fit on 5,000.
MIN_TEMPERATURE_EXAMPLES = 50


def _check_predictions(scores: Any, labels: Any, what: str) -> tuple[Any, Any]:
    """``(scores (N, K) float64, labels (N,) int64)``; raises `ValueError` naming the bad one."""
    import numpy as np

    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels)
    if scores.ndim != 2 or scores.shape[0] == 0 or scores.shape[1] < 2:
        raise ValueError(
            f"`{what}` expected a non-empty (examples, classes) array with at least 2 classes. "
            f"Received: {what}.shape={scores.shape}"
        )
    if labels.shape != (scores.shape[0],) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"`labels` expected {scores.shape[0]} integer class ids, one per row of `{what}`. "
            f"Received: labels.shape={labels.shape}, dtype={labels.dtype}"
        )
    if labels.min() < 0 or labels.max() >= scores.shape[1]:
        raise ValueError(
            f"`labels` expected class ids in [0, {scores.shape[1]}). "
            f"Received: min={labels.min()}, max={labels.max()}"
        )
    return scores, labels.astype(np.int64)


def expected_calibration_error(
    probabilities: ArrayLike, labels: ArrayLike, bins: int = ECE_BINS
) -> dict[str, Any]:
    """Expected calibration error of class ``probabilities`` (N, K) for true ``labels`` (N,).

    Each example's confidence is its top-class probability; bin ``m`` of ``bins`` holds the
    confidences in ``((m - 1) / bins, m / bins]``. ``ECE = sum_m |B_m| / N * |acc(B_m) -
    conf(B_m)|`` (Guo et al. 2017, eq. 3), between 0 (calibrated) and 1.

    Returns:
        A JSON-ready dict: ``method``; ``ece``; ``bins``; ``num_examples``; ``accuracy`` and
        ``mean_confidence`` over all examples; ``per_bin``, a list of ``bins`` dicts with
        ``lower``, ``upper``, ``count``, ``confidence`` and ``accuracy`` (the last two None for
        an empty bin).
    """
    import numpy as np

    check_positive_int(bins=bins)
    scores, label_ids = _check_predictions(probabilities, labels, "probabilities")
    confidence = scores.max(axis=1)
    correct = scores.argmax(axis=1) == label_ids
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    per_bin, ece = [], 0.0
    for m in range(bins):
        members = index == m
        row: dict[str, Any] = {
            "lower": float(edges[m]),
            "upper": float(edges[m + 1]),
            "count": int(members.sum()),
            "confidence": None,
            "accuracy": None,
        }
        if row["count"]:
            row["confidence"] = float(confidence[members].mean())
            row["accuracy"] = float(correct[members].mean())
            ece += row["count"] / len(label_ids) * abs(row["accuracy"] - row["confidence"])
        per_bin.append(row)
    return {
        "method": "expected calibration error: equal-width bins of the top-class probability "
        "(Guo et al. 2017)",
        "ece": float(ece),
        "bins": bins,
        "num_examples": int(len(label_ids)),
        "accuracy": float(correct.mean()),
        "mean_confidence": float(confidence.mean()),
        "per_bin": per_bin,
    }


def _softmax_statistics(logits: Any, labels: Any, beta: float) -> tuple[float, float]:
    """``(NLL, dNLL/dbeta)`` of ``softmax(beta * logits)`` (N, K) for ``labels`` (N,), means.

    ``NLL(beta) = mean(logsumexp(beta z) - beta z_label)``; its derivative is
    ``mean(E_p[z] - z_label)`` with ``p = softmax(beta z)``.
    """
    import numpy as np

    z = beta * logits
    top = z.max(axis=1, keepdims=True)
    weights = np.exp(z - top)
    norm = weights.sum(axis=1)
    true = logits[np.arange(len(labels)), labels]
    nll = np.mean(top[:, 0] + np.log(norm) - beta * true)
    slope = np.mean((weights * logits).sum(axis=1) / norm - true)
    return float(nll), float(slope)


def fit_temperature(logits: ArrayLike, labels: ArrayLike) -> dict[str, Any]:
    """The temperature ``T`` minimising the NLL of ``softmax(logits / T)`` for ``labels``.

    The NLL is convex in ``1 / T`` (a log-sum-exp of linear functions of it, minus a linear
    term), so its minimum in `TEMPERATURE_BOUNDS` is unique: found by bisection on the sign of
    its derivative (60 halvings, far below float precision), or a bound if the derivative keeps
    its sign there. Fit on the validation split, never the test split.

    Args:
        logits: (N, K) pre-softmax scores, or log-probabilities (the same up to a per-row
            constant): for the suite's classifiers, which output probabilities,
            ``np.log(np.maximum(probabilities, MIN_PROBABILITY))``. Finite values.
        labels: (N,) true class ids.

    Returns:
        A JSON-ready dict: ``method``; ``temperature`` (> 1: the model was overconfident);
        ``nll_before`` and ``nll_after`` (mean negative log-likelihood at T = 1 and at ``T``);
        ``num_examples``.
    """
    import numpy as np

    scores, label_ids = _check_predictions(logits, labels, "logits")
    if not np.all(np.isfinite(scores)):
        raise ValueError(
            "`logits` expected finite values; for probabilities pass "
            "np.log(np.maximum(probabilities, MIN_PROBABILITY))"
        )
    low, high = 1.0 / TEMPERATURE_BOUNDS[1], 1.0 / TEMPERATURE_BOUNDS[0]  # beta = 1 / T
    if _softmax_statistics(scores, label_ids, low)[1] >= 0:
        beta = low
    elif _softmax_statistics(scores, label_ids, high)[1] <= 0:
        beta = high
    else:
        for _ in range(60):
            beta = (low + high) / 2
            if _softmax_statistics(scores, label_ids, beta)[1] > 0:
                high = beta
            else:
                low = beta
    return {
        "method": "temperature scaling: softmax(logits / T), T minimising the validation "
        "negative log-likelihood (Guo et al. 2017)",
        "temperature": 1.0 / beta,
        "nll_before": _softmax_statistics(scores, label_ids, 1.0)[0],
        "nll_after": _softmax_statistics(scores, label_ids, beta)[0],
        "num_examples": int(len(label_ids)),
    }


@keras.saving.register_keras_serializable(package="dlsuite")
class TemperatureScaling(keras.layers.Layer):
    """Calibrated probabilities ``softmax(log(p) / temperature)`` of class probabilities ``p``.

    Appended to a classifier that ends in a softmax (every suite classifier), with the
    temperature from `fit_temperature`: ``keras.Model(model.inputs,
    TemperatureScaling(t)(model.outputs[0]))``. The argmax is unchanged. Probabilities are
    clipped to `MIN_PROBABILITY` before the log and computed in float32; no weights.

    Args:
        temperature: ``T > 0``; 1 leaves the probabilities unchanged.
        **kwargs: base layer arguments.

    Call arguments:
        inputs: class probabilities ``(batch, classes)``.

    Output shape:
        Same as the input.

    Example:
    >>> TemperatureScaling(2.0)(keras.ops.convert_to_tensor([[0.8, 0.2]])).numpy().round(3)
    array([[0.667, 0.333]], dtype=float32)
    """

    def __init__(self, temperature: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if (
            isinstance(temperature, bool)
            or not isinstance(temperature, (int, float))
            or not 0 < temperature < math.inf
        ):
            raise ValueError(
                f"`temperature` expected a finite number > 0 (from fit_temperature). "
                f"Received: temperature={temperature!r}"
            )
        self.temperature = float(temperature)

    def call(self, inputs: Any) -> Any:
        p = keras.ops.cast(inputs, "float32")
        scaled = keras.ops.log(keras.ops.maximum(p, MIN_PROBABILITY)) / self.temperature
        return keras.ops.cast(keras.ops.softmax(scaled, axis=-1), self.compute_dtype)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "temperature": self.temperature}
