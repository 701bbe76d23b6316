"""`convert_version` on examples of the run that produced the version, a file, or its warmup.

`convert_from_run` checks the version, the counts, the output folder and the example source before
any example is read, then draws the examples from one source (`EXAMPLE_SOURCES`, first that
applies):

* ``run``: the training run's data (``--run`` or the manifest's ``training.run_dir``), through a
  function the caller passes (serving does not import the apps): a suite run's data reloaded, or
  the sample of its data a `RunRecorder` run kept; a recorded run without such a sample is
  skipped when it is only the manifest's;
* ``examples_file``: rows of a ``.npy``/``.npz``/``.json`` file (`keras_export.load_examples`);
* ``warmup``: the version's own TF Serving warmup requests for the converted signature
  (`warmup.warmup_inputs`), for float conversions and the check only (int8 calibration needs
  training data).

and brings them to the form the converted signature takes (`examples_for_signature`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from dlsuite.base.validation import check_positive_int
from dlsuite.serving.signatures import read_signature_defs
from dlsuite.serving.tflite_check import savedmodel_predict
from dlsuite.serving.tflite_convert import (
    convert_version,
    default_output_dir,
    get_signature,
    read_version_manifest,
    saved_model_dir,
    single_numeric_input,
)
from dlsuite.serving.warmup import warmup_inputs

EXAMPLE_SOURCES = ("run", "examples_file", "warmup")
DEFAULT_SIGNATURE = "predict_images"
FALLBACK_SIGNATURE = "serving_default"
_THREE_WAYS = (
    "give examples one of three ways: --run RUN_DIR (a suite training run whose data can be "
    "reloaded), --examples FILE (.npy, .npz or .json rows the signature takes), or export the "
    "version with examples so it has warmup records (dlsuite.export(..., examples=...) or "
    "dlsuite export --examples FILE)"
)


def examples_for_signature(
    version_dir: str | os.PathLike[str], signature: str, examples: Sequence[np.ndarray]
) -> np.ndarray:
    """``examples`` (single examples of a run's data) in the form ``signature`` takes, stacked.

    Examples that fit the signature's input are stacked as they are. Otherwise the version must
    have a signature that takes them and returns an output named like ``signature``'s input: the
    examples are passed through it (the speech app's ``compute_features`` turns waveforms into
    the ``features`` that ``predict_features`` takes), so int8 calibration and the self-check see
    what the converted model will see.

    Raises:
        ValueError: the examples fit neither the signature nor any signature producing its input.
    """
    import tensorflow as tf

    loaded = tf.saved_model.load(str(version_dir))
    input_name, spec = single_numeric_input(
        get_signature(loaded, signature, Path(version_dir)), signature
    )
    batch = np.stack([np.asarray(e) for e in examples])
    if spec.shape.is_compatible_with(batch.shape):
        return batch.astype(spec.dtype.as_numpy_dtype)
    for name, candidate in loaded.signatures.items():
        inputs = candidate.structured_input_signature[1]
        if name == signature or input_name not in candidate.structured_outputs or len(inputs) != 1:
            continue
        ((source, source_spec),) = inputs.items()
        if source_spec.shape.is_compatible_with(batch.shape):
            converted = savedmodel_predict(
                tf, candidate, source, batch.astype(source_spec.dtype.as_numpy_dtype)
            )
            return converted[input_name].astype(spec.dtype.as_numpy_dtype)
    raise ValueError(
        f"the examples have shape {batch.shape[1:]} "
        f"but signature {signature!r} takes {input_name!r} of shape {tuple(spec.shape)[1:]}, "
        f"and no signature of {version_dir} computes {input_name!r} from them"
    )


def default_signature(version_dir: str | os.PathLike[str]) -> str:
    """``predict_images`` when the version has it (the suite's apps), else ``serving_default``
    (a model published with `dlsuite.export` or ``dlsuite export --from-keras``)."""
    defs = read_signature_defs(Path(version_dir))
    if DEFAULT_SIGNATURE in defs or FALLBACK_SIGNATURE not in defs:
        return DEFAULT_SIGNATURE
    return FALLBACK_SIGNATURE


def convert_from_run(
    version_dir: str | os.PathLike[str],
    examples: Callable[..., Sequence[np.ndarray]],
    *,
    run_dir: str | os.PathLike[str] | None = None,
    examples_file: str | os.PathLike[str] | None = None,
    run_has_data: Callable[[Path], bool] | None = None,
    output_dir: str | os.PathLike[str] | None = None,
    signature: str | None = None,
    quantize: str = "none",
    num_check: int = 500,
    num_representative: int = 200,
    labels_file: str | os.PathLike[str] | None = None,
    min_agreement: float | None = None,
) -> tuple[dict, Path]:
    """`convert_version` on examples of the training run, a file, or the version's warmup.

    The examples come from the first source that applies:

    1. ``run_dir`` (an explicit run) when given;
    2. ``examples_file`` (``.npy``, ``.npz`` or ``.json`` rows, read with
       `dlsuite.serving.keras_export.load_examples`) when given;
    3. the version manifest's ``training.run_dir``, unless ``run_has_data(run_dir)`` says the
       suite has no examples of that run (a `RunRecorder` run that kept no sample of its data);
    4. the version's warmup requests for ``signature`` (not for ``int8``: calibration needs
       training data).

    With none of them it raises a `ValueError` naming the three ways to give examples.

    ``examples(run_dir, split, count, shuffle=...)`` returns up to ``count`` single examples of
    one split of the run's data: `dlsuite.apps.common.runs.run_examples`, passed in by the caller
    (serving does not import the apps). From a run the self-check takes the first ``num_check``
    ``test`` examples and ``int8`` calibrates on ``num_representative`` shuffled ``train``
    examples; from a file the check takes its first ``num_check`` rows and calibration
    ``num_representative`` rows drawn with seed 0 (the same file: the agreement is then measured
    on data that is not held out); from warmup the check takes every record (up to
    ``num_check``). When the signature takes something the model computes from that data (the
    speech app's ``predict_features`` takes features computed from waveforms), the examples go
    through the version's signature that computes it first (`examples_for_signature`).

    ``signature`` defaults to `default_signature`. ``output_dir`` defaults to
    `default_output_dir`; ``labels_file`` holds one class name a line (default: the manifest's
    class names). The version, the counts, the output folder and the example source are checked
    before any example is read. The report's ``examples`` says which source was used.

    Returns:
        ``(report, output folder)``, the report as `convert_version` returns it.
    """
    folder = saved_model_dir(version_dir)
    check_positive_int(num_check=num_check, num_representative=num_representative)
    if run_dir and examples_file:
        raise ValueError("give --run RUN_DIR or --examples FILE, not both")
    signature = signature or default_signature(folder)
    output_dir = Path(output_dir) if output_dir else default_output_dir(folder)
    source, run_path = _example_source(
        folder,
        read_version_manifest(folder),
        run_dir=run_dir,
        examples_file=examples_file,
        run_has_data=run_has_data,
        signature=signature,
        quantize=quantize,
    )
    labels = None
    if labels_file:
        labels = [line.strip() for line in Path(labels_file).read_text("utf-8").splitlines()]
        labels = [label for label in labels if label]

    representative = None
    described: dict = {"source": source}
    if source == "run":
        assert run_path is not None
        described["run_dir"] = run_path.as_posix()
        check = examples_for_signature(
            folder, signature, examples(run_path, "test", num_check, shuffle=False)
        )
        if quantize == "int8":
            representative = examples_for_signature(
                folder,
                signature,
                examples(run_path, "train", num_representative, shuffle=True),
            )
    elif source == "examples_file":
        assert examples_file is not None
        described["path"] = Path(examples_file).as_posix()
        rows = _file_rows(folder, signature, examples_file)
        check = examples_for_signature(folder, signature, list(rows[:num_check]))
        if quantize == "int8":
            order = np.random.default_rng(0).permutation(len(rows))[:num_representative]
            representative = examples_for_signature(folder, signature, list(rows[order]))
    else:
        rows = _warmup_rows(folder, signature)
        described["path"] = "assets.extra/tf_serving_warmup_requests"
        check = examples_for_signature(folder, signature, list(rows[:num_check]))
    report = convert_version(
        folder,
        output_dir=output_dir,
        signature=signature,
        quantize=quantize,
        representative_examples=representative,
        check_examples=check,
        labels=labels,
        min_agreement=min_agreement,
        examples_source=described,
    )
    return report, output_dir


def _example_source(
    version_dir: Path,
    manifest: dict | None,
    *,
    run_dir: str | os.PathLike[str] | None,
    examples_file: str | os.PathLike[str] | None,
    run_has_data: Callable[[Path], bool] | None,
    signature: str,
    quantize: str,
) -> tuple[str, Path | None]:
    """``(source, run directory or None)``: which of `EXAMPLE_SOURCES` applies, checked."""
    if run_dir:
        path = Path(run_dir)
        if not path.is_dir():
            raise FileNotFoundError(f"training run directory not found: {path}")
        if run_has_data is not None and not run_has_data(path):
            raise ValueError(
                f"the suite cannot reload the data of {path} (a run RunRecorder wrote keeps a "
                "sample of its data only when data= held arrays or a tf.data dataset): pass "
                "--examples FILE instead"
            )
        return "run", path
    if examples_file:
        path = Path(examples_file)
        if not path.is_file():
            raise FileNotFoundError(f"no such examples file: {path}")
        return "examples_file", None
    recorded = ((manifest or {}).get("training") or {}).get("run_dir")
    if recorded:
        path = Path(recorded)
        if not path.is_dir():
            raise FileNotFoundError(
                f"training run directory not found: {path} (the version manifest's "
                "training.run_dir); pass --run RUN_DIR or --examples FILE"
            )
        if run_has_data is None or run_has_data(path):
            return "run", path
    if quantize == "int8":
        raise ValueError(
            f"quantize='int8' needs representative examples from the training data to calibrate "
            f"on, and {version_dir} has no training run whose data the suite can reload: pass "
            "--examples FILE (a few hundred training rows) or --run RUN_DIR (the version's "
            "warmup records only serve float conversions and the check)"
        )
    if not warmup_inputs(version_dir, signature):
        raise ValueError(
            f"no examples to check the converted {signature!r} on: {version_dir} has no "
            f"training run whose data the suite can reload and no warmup records for "
            f"{signature!r}; {_THREE_WAYS}"
        )
    return "warmup", None


def _single_input(rows_by_input: dict, signature: str, input_name: str, where: str) -> np.ndarray:
    if input_name in rows_by_input:
        return np.asarray(rows_by_input[input_name])
    if len(rows_by_input) == 1:
        return np.asarray(next(iter(rows_by_input.values())))
    raise ValueError(
        f"{where} holds inputs {sorted(rows_by_input)}; signature {signature!r} takes "
        f"{input_name!r}"
    )


def _signature_input_name(version_dir: Path, signature: str) -> str:
    defs = read_signature_defs(version_dir)
    if signature not in defs:
        raise ValueError(f"signature {signature!r} is not in {version_dir}; it has {sorted(defs)}")
    inputs = list(defs[signature].inputs)
    if len(inputs) != 1:
        raise ValueError(
            f"signature {signature!r} must take exactly one input to convert; it takes {inputs}"
        )
    return inputs[0]


def _file_rows(
    version_dir: Path, signature: str, examples_file: str | os.PathLike[str]
) -> np.ndarray:
    """The rows of an examples file for the signature's one input, ``(rows, ...)``."""
    from dlsuite.serving.keras_export import load_examples

    loaded = load_examples(examples_file)
    name = _signature_input_name(version_dir, signature)
    if isinstance(loaded, dict):
        rows = _single_input(loaded, signature, name, str(examples_file))
    else:
        rows = np.asarray(loaded)
    if rows.dtype == object or rows.ndim < 1 or len(rows) == 0:
        raise ValueError(
            f"{examples_file} must hold at least one row of numbers of one shape "
            f"(an array [rows, ...]); got {rows.dtype} of shape {rows.shape}"
        )
    return rows


def _warmup_rows(version_dir: Path, signature: str) -> np.ndarray:
    """The rows of the version's warmup requests for the signature's one input."""
    name = _signature_input_name(version_dir, signature)
    return _single_input(
        warmup_inputs(version_dir, signature), signature, name, "the warmup records"
    )
