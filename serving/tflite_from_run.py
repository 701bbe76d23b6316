"""`convert_version` on examples of the training run that produced the version, checked first.

`convert_from_run` checks the version, the counts, the output folder and the run before any
example is read, draws the examples from the run (a function the caller passes: serving does not
import the apps) and brings them to the form the converted signature takes
(`examples_for_signature`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from dlsuite.base.validation import check_positive_int
from dlsuite.serving.tflite_check import savedmodel_predict
from dlsuite.serving.tflite_convert import (
    convert_version,
    default_output_dir,
    get_signature,
    read_version_manifest,
    saved_model_dir,
    single_numeric_input,
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


def convert_from_run(
    version_dir: str | os.PathLike[str],
    examples: Callable[..., Sequence[np.ndarray]],
    *,
    run_dir: str | os.PathLike[str] | None = None,
    output_dir: str | os.PathLike[str] | None = None,
    signature: str = "predict_images",
    quantize: str = "none",
    num_check: int = 500,
    num_representative: int = 200,
    labels_file: str | os.PathLike[str] | None = None,
    min_agreement: float | None = None,
) -> tuple[dict, Path]:
    """`convert_version` on examples of the training run that produced the version.

    The run is ``run_dir`` or the version manifest's ``training.run_dir``.
    ``examples(run_dir, split, count, shuffle=...)`` returns up to ``count`` single examples of
    one split of the run's data: `dlsuite.apps.common.runs.run_examples`, passed in by the caller
    (serving does not import the apps). The self-check takes the first ``num_check`` ``test``
    examples; ``int8`` calibrates on ``num_representative`` shuffled ``train`` examples. When the
    signature takes something the model computes from that data (the speech app's
    ``predict_features`` takes features computed from waveforms), the examples go through the
    version's signature that computes it first (`examples_for_signature`).

    ``output_dir`` defaults to `default_output_dir`; ``labels_file`` holds one class name a line
    (default: the manifest's class names). The version, the counts, the output folder and the run
    are checked before any example is read.

    Returns:
        ``(report, output folder)``, the report as `convert_version` returns it.
    """
    version_dir = saved_model_dir(version_dir)
    check_positive_int(num_check=num_check, num_representative=num_representative)
    output_dir = Path(output_dir) if output_dir else default_output_dir(version_dir)
    run_dir = _training_run_dir(run_dir, read_version_manifest(version_dir))
    labels = None
    if labels_file:
        labels = [line.strip() for line in Path(labels_file).read_text("utf-8").splitlines()]
        labels = [label for label in labels if label]

    check = examples_for_signature(
        version_dir, signature, examples(run_dir, "test", num_check, shuffle=False)
    )
    representative = None
    if quantize == "int8":
        representative = examples_for_signature(
            version_dir,
            signature,
            examples(run_dir, "train", num_representative, shuffle=True),
        )
    report = convert_version(
        version_dir,
        output_dir=output_dir,
        signature=signature,
        quantize=quantize,
        representative_examples=representative,
        check_examples=check,
        labels=labels,
        min_agreement=min_agreement,
    )
    return report, output_dir


def _training_run_dir(explicit: str | os.PathLike[str] | None, manifest: dict | None) -> Path:
    if explicit:
        run_dir = Path(explicit)
    else:
        recorded = ((manifest or {}).get("training") or {}).get("run_dir")
        if not recorded:
            raise ValueError(
                "no training run to draw examples from: pass --run RUN_DIR (the version manifest "
                "has no training.run_dir)"
            )
        run_dir = Path(recorded)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"training run directory not found: {run_dir}")
    return run_dir
