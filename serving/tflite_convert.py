"""Convert an exported SavedModel version to a self-checked ``.tflite`` model for mobile.

`convert_version` loads ``saved_models/<name>/<version>/``, takes one numeric signature
(``predict_images`` by default), drops outputs TFLite cannot carry (``tf.string`` such as
``class_names``), converts with the chosen quantization, then runs the result with the LiteRT
interpreter on held-out examples and compares it with the SavedModel before writing anything (the
self-check, `serving.tflite_check`). `serving.tflite_from_run.convert_from_run` draws those
examples from the training run that produced the version, an examples file, or the version's
warmup records.

Conversion path: the SavedModel is reloaded with `tf.saved_model.load`; a `tf.function` with the
signature's input spec calls the signature and returns only its numeric outputs; its concrete
function goes to `tf.lite.TFLiteConverter.from_concrete_functions` with the loaded object as the
trackable owner of the variables. The ``.tflite`` keeps the input name (``images``) and the output
names (``probabilities``, ``class_ids``) in its ``serving_default`` signature, so clients address
tensors by name.

Quantizations (`QUANTIZATIONS`):
- ``none``: float32 weights and activations.
- ``dynamic``: int8 weights, dequantized on load or computed with dynamic-range kernels;
  activations float.
- ``float16``: float16 weights, float32 compute (GPU delegates may compute in float16).
- ``int8``: full-integer weights and activations, calibrated on ``representative_examples``;
  input and output stay float32 (a quantize/dequantize op at each end), so clients feed the same
  tensors as for the float model.

Output folder (default `default_output_dir`: ``<base>/<name>/tflite/<version>/``):
``model_<quantize>.tflite``, ``labels.txt`` (one class name a line, in class-id order),
``report.json`` (``{quantization: report}``; one entry per model file in the folder) and
``manifest.json`` (the version's ``assets.extra/manifest.json`` plus a ``mobile`` section).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dlsuite.base.files import atomic_write_bytes, atomic_write_json, atomic_write_text, read_json
from dlsuite.serving.tflite_check import ConversionError, savedmodel_predict, self_check

QUANTIZATIONS = ("none", "dynamic", "float16", "int8")
LABELS_FILE = "labels.txt"
# Outputs holding one score per class: only these take the manifest's class names as labels.
CLASS_OUTPUTS = ("probabilities", "scores")
REPORT_FILE = "report.json"
MANIFEST_FILE = "manifest.json"
VERSION_MANIFEST = Path("assets.extra") / "manifest.json"

# Where a version manifest may keep the class names, tried in order.
_LABEL_PATHS = (
    ("labels",),
    ("class_names",),
    ("model", "class_names"),
    ("model", "labels"),
    ("training", "data", "class_names"),
    ("data", "class_names"),
)


def model_file_name(quantize: str) -> str:
    """``model_<quantize>.tflite``."""
    _check_quantize(quantize)
    return f"model_{quantize}.tflite"


def default_output_dir(version_dir: str | os.PathLike[str]) -> Path:
    """``<base>/<name>/tflite/<version>/`` for ``version_dir = <base>/<name>/<version>``."""
    version_dir = Path(version_dir)
    if not version_dir.name.isdigit():
        raise ValueError(
            f"expected a version folder <base>/<name>/<integer version>. Received: {version_dir}"
        )
    return version_dir.parent / "tflite" / version_dir.name


def read_version_manifest(version_dir: str | os.PathLike[str]) -> dict | None:
    """The version's ``assets.extra/manifest.json``, or None when it has none."""
    path = Path(version_dir) / VERSION_MANIFEST
    return read_json(path) if path.is_file() else None


def labels_from_manifest(manifest: dict | None) -> list[str] | None:
    """Class names recorded in a version manifest (see ``_LABEL_PATHS``), or None."""
    for keys in _LABEL_PATHS:
        node: Any = manifest
        for key in keys:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, list) and node and all(isinstance(n, str) for n in node):
            return list(node)
    return None


def variables_size(version_dir: str | os.PathLike[str]) -> int:
    """Bytes of the SavedModel's ``variables/`` folder."""
    folder = Path(version_dir) / "variables"
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def convert_version(
    version_dir: str | os.PathLike[str],
    *,
    output_dir: str | os.PathLike[str],
    signature: str = "predict_images",
    quantize: str = "none",
    representative_examples: Iterable[np.ndarray] | None = None,
    check_examples: Sequence[np.ndarray] | np.ndarray | None = None,
    labels: Sequence[str] | None = None,
    min_agreement: float | None = None,
    examples_source: dict | None = None,
) -> dict:
    """Convert one signature of a SavedModel version to TFLite, self-check it, and write it.

    Args:
        version_dir: ``saved_models/<name>/<version>/``.
        output_dir: folder for ``model_<quantize>.tflite``, ``labels.txt``, ``report.json`` and
            ``manifest.json`` (created if missing; must not be inside ``version_dir``).
        signature: signature to convert; one numeric input ``[None, ...]``, a float output
            ``probabilities`` (or a single float output) of shape ``[None, K]``, or
            ``[None, ..., K]`` per position (e.g. per audio frame; agreement is then counted over
            every position). String outputs are dropped.
        quantize: one of `QUANTIZATIONS`.
        representative_examples: single examples (no batch axis, or batches) from the training
            data, required for ``int8`` calibration; a few hundred are enough.
        check_examples: held-out examples (no batch axis, or one stacked array) the converted
            model is compared on; required.
        labels: class names in class-id order; default: the version manifest's class names when
            the checked output holds class scores (`CLASS_OUTPUTS`), else none.
        min_agreement: if given, fail when top-1 agreement (0..1) is below it.
        examples_source: where the examples came from (``{"source": "run" | "examples_file" |
            "warmup", ...}``), stored as the report's ``examples``; None leaves it out.

    Returns:
        The report (also stored under ``quantize`` in ``report.json``): file, sha256, sizes,
        ``check`` figures (top-1 agreement, max abs probability difference, latency).

    Raises:
        ValueError: bad arguments. `ConversionError` (a ValueError): the converter or the
        self-check failed. Nothing is written in either case.
    """
    _check_quantize(quantize)
    version_dir = saved_model_dir(version_dir)
    output_dir = Path(output_dir)
    if output_dir.resolve().is_relative_to(version_dir.resolve()):
        raise ValueError(
            f"output_dir must be outside the version folder (its files are hashed). "
            f"Received: {output_dir}"
        )
    if check_examples is None or len(check_examples) == 0:
        raise ValueError("check_examples is required: held-out examples for the self-check")
    if quantize == "int8" and representative_examples is None:
        raise ValueError(
            "quantize='int8' needs representative_examples (a few hundred training examples) "
            "to calibrate activation ranges"
        )
    labels = _check_labels(labels)
    manifest = read_version_manifest(version_dir)

    import tensorflow as tf

    loaded = tf.saved_model.load(str(version_dir))
    sig = get_signature(loaded, signature, version_dir)
    input_name, input_spec = single_numeric_input(sig, signature)
    numeric, dropped = _split_outputs(sig, signature)
    prob_key = _probability_output(sig, numeric, signature)
    num_classes = sig.structured_outputs[prob_key].shape[-1]
    if labels is None and prob_key in CLASS_OUTPUTS:  # not for a front end's features
        labels = _check_labels(labels_from_manifest(manifest))
    if labels is not None and num_classes is not None and len(labels) != num_classes:
        raise ValueError(
            f"{len(labels)} labels for a model with {num_classes} classes ({prob_key!r} output)"
        )

    check = _stack_examples(check_examples, input_spec, "check_examples")
    representative = None
    if quantize == "int8":
        assert representative_examples is not None  # checked with the other arguments above
        representative = _stack_examples(
            list(representative_examples), input_spec, "representative_examples"
        )

    spec = tf.TensorSpec(input_spec.shape, input_spec.dtype, name=input_name)

    @tf.function(input_signature=[spec])
    def numeric_outputs(x):
        outputs = sig(**{input_name: x})
        return {key: outputs[key] for key in numeric}

    concrete = numeric_outputs.get_concrete_function()
    model_bytes = _convert(tf, concrete, loaded, quantize, representative, signature)

    # Self-check: SavedModel vs. TFLite on the held-out examples.
    expected = savedmodel_predict(tf, sig, input_name, check)
    report_check = self_check(model_bytes, check, expected, prob_key, labels, signature, quantize)
    if min_agreement is not None and report_check["top1_agreement"] < min_agreement:
        raise ConversionError(
            f"self-check failed: top-1 agreement {report_check['top1_agreement']:.4f} with the "
            f"SavedModel is below min_agreement={min_agreement} ({quantize}); nothing written"
        )

    file_name = model_file_name(quantize)
    variables_bytes = variables_size(version_dir)
    weights_bytes = int(sum(np.prod(v.shape) * v.dtype.size for v in concrete.variables))
    report = {
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "source": {"version_dir": str(version_dir), "signature": signature},
        "quantization": quantize,
        "file": file_name,
        "sha256": hashlib.sha256(model_bytes).hexdigest(),
        "tflite_bytes": len(model_bytes),
        "savedmodel_variables_bytes": variables_bytes,
        "size_ratio": len(model_bytes) / variables_bytes if variables_bytes else None,
        "signature_weights_bytes": weights_bytes,
        "size_ratio_to_weights": len(model_bytes) / weights_bytes if weights_bytes else None,
        "inputs": {input_name: _spec_json(input_spec)},
        "outputs": {key: _spec_json(sig.structured_outputs[key]) for key in numeric},
        "dropped_outputs": dropped,
        "probability_output": prob_key,
        "representative_examples": None if representative is None else int(len(representative)),
        "labels_file": LABELS_FILE if labels else None,
        "num_labels": len(labels) if labels else None,
        "check": report_check,
        "framework": _framework_versions(tf),
    }
    if examples_source is not None:
        report["examples"] = dict(examples_source)

    # Everything passed: write the artifacts, each atomically, model first.
    atomic_write_bytes(output_dir / file_name, model_bytes)
    if labels:
        atomic_write_text(output_dir / LABELS_FILE, "".join(f"{label}\n" for label in labels))
    reports = _entries_with_files(output_dir / REPORT_FILE)
    reports[quantize] = report
    atomic_write_json(output_dir / REPORT_FILE, reports)
    atomic_write_json(output_dir / MANIFEST_FILE, _mobile_manifest(manifest, output_dir, report))
    return report


# ----------------------------------------------------------------------------------- helpers


def _check_quantize(quantize: str) -> None:
    if quantize not in QUANTIZATIONS:
        raise ValueError(
            f"quantize expected one of {QUANTIZATIONS}. Received: quantize={quantize!r}"
        )


def saved_model_dir(version_dir: str | os.PathLike[str]) -> Path:
    """``version_dir`` as a Path; FileNotFoundError when it holds no ``saved_model.pb``."""
    version_dir = Path(version_dir)
    if not (version_dir / "saved_model.pb").is_file():
        raise FileNotFoundError(f"no SavedModel in {version_dir} (saved_model.pb is missing)")
    return version_dir


def _check_labels(labels: Sequence[str] | None) -> list[str] | None:
    if labels is None:
        return None
    labels = [str(label) for label in labels]
    bad = [label for label in labels if not label or "\n" in label or "\r" in label]
    if not labels or bad:
        raise ValueError(
            f"labels must be non-empty strings without line breaks. Received: {bad or labels}"
        )
    return labels


def get_signature(loaded, signature: str, version_dir: Path):
    """The loaded SavedModel's ``signature``; ValueError naming the ones it has."""
    if signature not in loaded.signatures:
        raise ValueError(
            f"signature {signature!r} is not in {version_dir}; it has {sorted(loaded.signatures)}"
        )
    return loaded.signatures[signature]


def single_numeric_input(sig, signature: str):
    """``(name, TensorSpec)`` of the signature's one numeric input with a batch axis."""
    specs = sig.structured_input_signature[1]  # {name: TensorSpec}
    if len(specs) != 1:
        raise ValueError(
            f"signature {signature!r} must take exactly one input to convert; "
            f"it takes {sorted(specs)}"
        )
    ((name, spec),) = specs.items()
    if not (spec.dtype.is_floating or spec.dtype.is_integer):
        raise ConversionError(
            f"signature {signature!r} takes {name!r} as {spec.dtype.name}, which TFLite cannot "
            f"convert; convert a numeric signature such as 'predict_images'"
        )
    if spec.shape.rank is None or spec.shape.rank < 1:
        raise ValueError(
            f"signature {signature!r} input {name!r} needs a batch axis; got {spec.shape}"
        )
    return name, spec


def _split_outputs(sig, signature: str) -> tuple[list[str], list[str]]:
    outputs = sig.structured_outputs
    numeric = sorted(k for k, s in outputs.items() if s.dtype.is_floating or s.dtype.is_integer)
    dropped = sorted(k for k in outputs if k not in numeric)
    if not numeric:
        raise ConversionError(f"signature {signature!r} has no numeric outputs to convert")
    return numeric, dropped


def _probability_output(sig, numeric: list[str], signature: str) -> str:
    """``probabilities`` if the signature has it, else its only float output."""
    if "probabilities" in numeric:
        return "probabilities"
    floats = [k for k in numeric if sig.structured_outputs[k].dtype.is_floating]
    if len(floats) == 1:
        return floats[0]
    raise ValueError(
        f"signature {signature!r} has no 'probabilities' output to check agreement on; "
        f"its numeric outputs are {numeric}"
    )


def _stack_examples(examples, spec, what: str) -> np.ndarray:
    """Stack single examples (or batches) into ``(N, ...)`` of the input dtype; check the shape."""
    rank = spec.shape.rank
    parts = []
    for example in examples:
        example = np.asarray(example)
        if example.ndim == rank - 1:
            example = example[None]
        parts.append(example)
    if not parts:
        raise ValueError(f"{what} is empty")
    try:
        batch = np.concatenate(parts, axis=0).astype(spec.dtype.as_numpy_dtype)
    except ValueError as err:
        raise ValueError(f"{what} have inconsistent shapes: {err}") from err
    if not spec.shape.is_compatible_with(batch.shape):
        raise ValueError(
            f"{what} have shape {batch.shape[1:]} per example; the signature takes "
            f"{tuple(spec.shape)[1:]}"
        )
    return batch


def _convert(tf, concrete, loaded, quantize: str, representative, signature: str) -> bytes:
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], loaded)
    if quantize != "none":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if quantize == "int8":

        def representative_dataset():
            for i in range(len(representative)):
                yield [representative[i : i + 1]]  # (1, ...) per calibration step

        converter.representative_dataset = representative_dataset
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.float32
        converter.inference_output_type = tf.float32
    try:
        model_bytes = converter.convert()
    except Exception as err:  # the converter raises several types (ConverterError, RuntimeError...)
        # Keep the converter's "error: ..." lines (e.g. "'tf.MatrixInverse' op is neither a custom
        # op nor a flex op"), without its source locations and call-stack notes.
        found = re.findall(r"error: (.*?)(?=$|\n| \S+:\d+:\d+: )", str(err))
        found = [f for f in found if not f.startswith("failed while converting")]
        message = "; ".join(dict.fromkeys(found)) or " ".join(str(err).split())[:500]
        raise ConversionError(
            f"TFLite conversion of signature {signature!r} with quantize={quantize!r} failed: "
            f"{type(err).__name__}: {message}"
        ) from err
    if not model_bytes:
        raise ConversionError(f"TFLite converter returned an empty model for {signature!r}")
    return model_bytes


def _spec_json(spec) -> dict:
    return {"shape": [-1 if d is None else int(d) for d in spec.shape], "dtype": spec.dtype.name}


def _framework_versions(tf) -> dict:
    from importlib import metadata

    try:
        litert = metadata.version("ai-edge-litert")
    except metadata.PackageNotFoundError:
        litert = None
    return {"tensorflow": tf.__version__, "ai_edge_litert": litert}


def _entries_with_files(path: Path, *keys: str) -> dict:
    """``{quantization: entry}`` under ``keys`` in an earlier JSON file of the output folder,
    keeping only entries whose model file still exists (a missing or broken file gives {})."""
    try:
        node = read_json(path) if path.is_file() else {}
        for key in keys:
            node = node.get(key) or {}
        entries = dict(node)
    except (ValueError, AttributeError, TypeError):
        return {}
    return {
        q: entry
        for q, entry in entries.items()
        if q in QUANTIZATIONS and (path.parent / model_file_name(q)).is_file()
    }


def _mobile_manifest(version_manifest: dict | None, output_dir: Path, report: dict) -> dict:
    """The version manifest plus ``mobile``: one artifact entry per quantization in the folder."""
    artifacts = _entries_with_files(output_dir / MANIFEST_FILE, "mobile", "artifacts")
    check = report["check"]
    artifacts[report["quantization"]] = {
        "file": report["file"],
        "sha256": report["sha256"],
        "quantization": report["quantization"],
        "size_bytes": report["tflite_bytes"],
        "size_ratio": report["size_ratio"],
        "signature": report["source"]["signature"],
        "inputs": report["inputs"],
        "outputs": report["outputs"],
        "top1_agreement": check["top1_agreement"],
        "max_abs_diff": check["max_abs_diff"],
        "check_examples": check["num_examples"],
        "latency_ms": check["latency_ms"],
        "created": report["created"],
    }
    if report.get("examples"):
        artifacts[report["quantization"]]["examples_source"] = report["examples"]["source"]
    manifest = dict(version_manifest or {})
    manifest["mobile"] = {
        "source_version_dir": report["source"]["version_dir"],
        "labels_file": report["labels_file"],
        "report_file": REPORT_FILE,
        "runtime": "LiteRT (TensorFlow Lite) builtin ops only",
        "artifacts": dict(sorted(artifacts.items())),
    }
    return manifest
