"""The self-check of a converted model: run the ``.tflite`` in the LiteRT interpreter and compare it
with the SavedModel it came from.

`self_check` runs the converted model on held-out examples through its one signature (named
inputs and outputs, the batch axis resized per call), compares its probabilities with the
SavedModel's (`savedmodel_predict`): top-1 agreement, largest and mean absolute difference, and
times one example at a time on one thread. `serving.tflite_convert.convert_version` writes nothing
unless it passes; `tflite_predict` runs a written ``.tflite`` the same way.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

_LATENCY_WARMUP = 3
_LATENCY_RUNS = 50
_PREDICT_CHUNK = 256


class ConversionError(ValueError):
    """A model that cannot be converted, or whose converted form fails the self-check."""


def tflite_predict(
    tflite_path: str | os.PathLike[str], examples: np.ndarray, *, output: str = "probabilities"
) -> np.ndarray:
    """Run a ``.tflite`` model on a batch ``examples`` ``(N, ...)``; returns its ``output``.

    Uses the model's signature runner (named inputs/outputs; the batch axis is resized per call).
    """
    outputs = _tflite_run(Path(tflite_path).read_bytes(), np.asarray(examples))
    if output not in outputs:
        raise ValueError(f"{tflite_path} has no output {output!r}; it has {sorted(outputs)}")
    return outputs[output]


def savedmodel_predict(tf, sig, input_name: str, batch: np.ndarray) -> dict[str, np.ndarray]:
    """A SavedModel signature's outputs on ``batch``, run in chunks, as numpy arrays."""
    chunks: dict[str, list[np.ndarray]] = {}
    for start in range(0, len(batch), _PREDICT_CHUNK):
        out = sig(**{input_name: tf.constant(batch[start : start + _PREDICT_CHUNK])})
        for key, value in out.items():
            chunks.setdefault(key, []).append(value.numpy())
    return {key: np.concatenate(values) for key, values in chunks.items()}


def _interpreter(model_bytes: bytes, num_threads: int | None = None):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=model_bytes, num_threads=num_threads)
    signatures = interpreter.get_signature_list()
    if len(signatures) != 1:
        raise ValueError(
            f"expected a .tflite model with one signature; it has {sorted(signatures)}"
        )
    return interpreter, next(iter(signatures))


def _tflite_run(model_bytes: bytes, batch: np.ndarray) -> dict[str, np.ndarray]:
    interpreter, key = _interpreter(model_bytes)
    runner = interpreter.get_signature_runner(key)
    ((input_name, detail),) = runner.get_input_details().items()
    batch = batch.astype(detail["dtype"], copy=False)
    chunks: dict[str, list[np.ndarray]] = {}
    for start in range(0, len(batch), _PREDICT_CHUNK):
        out = runner(**{input_name: batch[start : start + _PREDICT_CHUNK]})
        for name, value in out.items():
            chunks.setdefault(name, []).append(np.array(value))
    return {name: np.concatenate(values) for name, values in chunks.items()}


def _single_example_latency_ms(model_bytes: bytes, batch: np.ndarray) -> tuple[float, int]:
    """Mean wall time (ms) of one set-invoke-get on a batch of one, single thread."""
    interpreter, key = _interpreter(model_bytes, num_threads=1)
    runner = interpreter.get_signature_runner(key)
    ((_, detail),) = runner.get_input_details().items()
    outputs = [d["index"] for d in runner.get_output_details().values()]
    # The runner holds the interpreter's wrapper, which makes resizing refuse to run ("reference to
    # internal data"); with one signature (subgraph 0) its tensor indices are the interpreter's.
    del runner
    interpreter.resize_tensor_input(detail["index"], [1, *batch.shape[1:]])
    interpreter.allocate_tensors()
    runs = max(_LATENCY_RUNS, 1)
    times = []
    for i in range(_LATENCY_WARMUP + runs):
        example = batch[i % len(batch)][None].astype(detail["dtype"])
        start = time.perf_counter()
        interpreter.set_tensor(detail["index"], example)
        interpreter.invoke()
        for index in outputs:
            interpreter.get_tensor(index)
        if i >= _LATENCY_WARMUP:
            times.append(time.perf_counter() - start)
    return 1000.0 * float(np.mean(times)), runs


def self_check(model_bytes, check, expected, prob_key, labels, signature, quantize) -> dict:
    """The ``check`` figures of a report: the converted model against the SavedModel's outputs
    ``expected`` on ``check``; `ConversionError` when it does not run or its ``prob_key`` output
    is missing, misshapen or not finite."""
    try:
        got = _tflite_run(model_bytes, check)
        latency_ms, runs = _single_example_latency_ms(model_bytes, check)
    except (RuntimeError, ValueError, KeyError) as err:
        raise ConversionError(
            f"self-check failed: the converted {quantize} model of {signature!r} does not run in "
            f"the LiteRT interpreter: {err}"
        ) from err
    if prob_key not in got:
        raise ConversionError(f"self-check failed: the .tflite model has no {prob_key!r} output")
    p_tfl, p_ref = got[prob_key], expected[prob_key]
    if p_tfl.shape != p_ref.shape or p_ref.ndim < 2:
        raise ConversionError(
            f"self-check failed: {prob_key!r} has shape {p_tfl.shape} in TFLite, "
            f"{p_ref.shape} in the SavedModel (expected [N, K] or [N, ..., K])"
        )
    if not np.all(np.isfinite(p_tfl)):
        raise ConversionError(
            f"self-check failed: the {quantize} model outputs non-finite {prob_key!r}"
        )
    if labels is not None and len(labels) != p_ref.shape[-1]:
        raise ConversionError(f"{len(labels)} labels for a model with {p_ref.shape[-1]} classes")
    result = {
        "num_examples": int(len(check)),
        "top1_agreement": float(np.mean(p_tfl.argmax(-1) == p_ref.argmax(-1))),
        "max_abs_diff": float(np.max(np.abs(p_tfl - p_ref))),
        "mean_abs_diff": float(np.mean(np.abs(p_tfl - p_ref))),
        "latency_ms": latency_ms,
        "latency_runs": runs,
        "latency_threads": 1,
        "tensor_dtypes": _tensor_dtypes(model_bytes),
    }
    if "class_ids" in got and "class_ids" in expected:
        result["class_ids_agreement"] = float(np.mean(got["class_ids"] == expected["class_ids"]))
    return result


def _tensor_dtypes(model_bytes: bytes) -> dict[str, int]:
    """How many tensors of each dtype the model holds (int8 models: float32 only at the edges)."""
    interpreter, _ = _interpreter(model_bytes)
    counts: dict[str, int] = {}
    for detail in interpreter.get_tensor_details():
        name = np.dtype(detail["dtype"]).name
        counts[name] = counts.get(name, 0) + 1
    return dict(sorted(counts.items()))
