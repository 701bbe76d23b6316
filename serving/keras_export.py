"""A user's own Keras model or SavedModel as the next version of ``<model_base_path>/<name>/``.

Everything goes through the one export path, `dlsuite.serving.export.export_version` (atomic
publish, warmup, manifest, optional signature); this module only supplies what a suite run would:

* `export`: any built Keras 3 model (functional, sequential, subclassed and called once) is written
  with Keras' ``ExportArchive``: a ``serving_default`` signature from the model's inputs (batch
  dimension None), or the ``tf.function``s the caller gives;
* `export_keras_file` and `export_saved_model`: the same for a ``.keras`` file or an existing
  SavedModel folder (e.g. one ``model.export()`` wrote), copied as it is;
* `warmup_from_examples`: TF Serving warmup records, one ``PredictRequest`` per example row, checked
  against the written ``serving_default`` signature (zeros of the declared shape without examples);
* `load_examples`: example rows from ``.npy``, ``.npz`` or ``.json``.

Without a run directory the manifest holds what is derived from the model alone (`ModelFacts`:
parameters, FLOPs when the suite's counter can compute them) and says so in ``provenance``.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from dlsuite.serving.export import export_version
from dlsuite.serving.manifest import load_person_fields
from dlsuite.serving.manifest.build import ModelFacts
from dlsuite.serving.signatures import read_signature_defs
from dlsuite.serving.warmup import MAX_WARMUP_RECORDS, predict_log

SERVING_DEFAULT = "serving_default"
EXAMPLE_SUFFIXES = (".npy", ".npz", ".json")
_STRING_HINT = (
    "Keras 3 and this exporter refuse NumPy object arrays; pass strings as "
    "np.array([...], dtype=str) (or dtype=bytes), a list of str, or tf.constant([...])"
)


def export(
    model: Any,
    name: str,
    *,
    model_base_path: str | os.PathLike[str],
    examples: Any = None,
    run_dir: str | os.PathLike[str] | None = None,
    manifest_info: str | os.PathLike[str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    sign_key: str | os.PathLike[str] | None = None,
    signatures: Mapping[str, Any] | None = None,
) -> Path:
    """Export a Keras 3 model as the next version of ``<model_base_path>/<name>/``; returns it.

    Args:
        model: a built ``keras.Model``: functional, sequential with a known input shape, or
            subclassed and called once on a batch (``model(x)``).
        name: model name in the repository.
        model_base_path: the model repository root.
        examples: a few input rows for the warmup file: an array of shape ``[rows, *input]`` for
            a one-input signature, or ``{input_name: array}``; None writes one row of zeros.
        run_dir: a suite run directory (e.g. one `RunRecorder` wrote) for the training figures;
            without it the manifest holds what the model alone gives.
        manifest_info: YAML/JSON file with the fields only a person can know.
        overrides: manifest fields given directly (``{"provider.name": "ACME"}``).
        sign_key: an EC private key (PEM) to sign the version with.
        signatures: ``{signature_name: tf.function}`` with input signatures, to use instead of
            the default ``serving_default`` from the model's inputs; ``serving_default`` is the
            first one unless a function has that name.

    Raises:
        TypeError: ``model`` is not a Keras model, a signature is not a traced ``tf.function``,
            or string examples are NumPy object arrays.
        ValueError: the model has no defined input shape, its output names collide, or the
            examples do not fit the ``serving_default`` signature.
    """
    import keras

    if not isinstance(model, keras.Model):
        raise TypeError(
            f"dlsuite.export needs a keras.Model; got {type(model).__name__} "
            "(for a SavedModel folder use `dlsuite export --from-savedmodel DIR`)"
        )
    person = load_person_fields(manifest_info, overrides)
    archive = _export_archive(model, signatures)

    def save(folder: Path, _name: str, _version: int) -> None:
        archive.write_out(str(folder), verbose=False)

    return _export_with_warmup(
        save,
        name=name,
        model_base_path=model_base_path,
        examples=examples,
        run_dir=run_dir,
        person=person,
        sign_key=sign_key,
        facts=model_facts(model),
    )


def export_keras_file(
    path: str | os.PathLike[str], name: str, *, model_base_path: str | os.PathLike[str], **kwargs
) -> Path:
    """Load a ``.keras`` file with ``keras.saving.load_model`` and `export` it (same options)."""
    import keras

    path = Path(path)
    if not path.is_file() or path.suffix not in (".keras", ".h5"):
        raise ValueError(f"{path} is not a .keras (or .h5) model file; save one with model.save()")
    return export(keras.saving.load_model(path), name, model_base_path=model_base_path, **kwargs)


def export_saved_model(
    saved_model_dir: str | os.PathLike[str],
    name: str,
    *,
    model_base_path: str | os.PathLike[str],
    examples: Any = None,
    run_dir: str | os.PathLike[str] | None = None,
    manifest_info: str | os.PathLike[str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    sign_key: str | os.PathLike[str] | None = None,
) -> Path:
    """Copy an existing SavedModel folder into the next version, with warmup and a manifest.

    The folder must have a ``serving_default`` signature (``model.export()`` writes one); the
    warmup rows are checked against it. Parameters are the variables its ``serving_default``
    function reads; FLOPs are not counted (the Keras model is not available). Other options as
    in `export`.
    """
    source = Path(saved_model_dir)
    defs = read_signature_defs(source)
    if SERVING_DEFAULT not in defs:
        raise ValueError(
            f"{source} has no {SERVING_DEFAULT!r} signature (it has {sorted(defs)}); "
            "TF Serving needs one: re-export with model.export() or a signatures= entry named "
            f"{SERVING_DEFAULT!r}"
        )
    person = load_person_fields(manifest_info, overrides)

    def save(folder: Path, _name: str, _version: int) -> None:
        shutil.copytree(source, folder, dirs_exist_ok=True)

    facts = ModelFacts(
        architecture=f"SavedModel imported from {source.resolve().name}",
        parameter_count=_serving_parameter_count(source),
        flops_per_example=None,
        flops_method="not counted: exported from a SavedModel without its Keras model",
    )
    return _export_with_warmup(
        save,
        name=name,
        model_base_path=model_base_path,
        examples=examples,
        run_dir=run_dir,
        person=person,
        sign_key=sign_key,
        facts=facts,
    )


def _export_with_warmup(
    save: Callable[[Path, str, int], None],
    *,
    name: str,
    model_base_path: str | os.PathLike[str],
    examples: Any,
    run_dir: str | os.PathLike[str] | None,
    person: Mapping[str, Any],
    sign_key: str | os.PathLike[str] | None,
    facts: ModelFacts,
) -> Path:
    """`export_version` with warmup rows checked against the signature just written."""
    written: list[Path] = []

    def save_and_remember(folder: Path, model_name: str, version: int) -> None:
        save(folder, model_name, version)
        written.append(folder)

    return export_version(
        model_base_path=model_base_path,
        name=name,
        run_dir=run_dir,
        save=save_and_remember,
        warmup_logs=lambda model_name: warmup_from_examples(written[-1], model_name, examples),
        person=person,
        sign_key=sign_key,
        model_facts=facts,
    )


def model_facts(model: Any) -> ModelFacts:
    """Architecture, parameter count and forward FLOPs per example of a built Keras model.

    FLOPs are counted by the suite's graph profiler (`serving.flops.forward_flops_of`) for a
    model whose inputs (one, or several of a functional model) are numeric and of fully known
    shape; otherwise they are None and ``flops_method`` says why.
    """
    import keras
    import tensorflow as tf

    from dlsuite.serving.flops import FLOPS_METHOD, forward_flops_of

    flops: int | None = None
    method = FLOPS_METHOD
    try:
        specs = input_specs(model)
    except ValueError:  # several call arguments: served through the caller's signatures
        specs = []
    structure = _input_structure(model) if len(specs) > 1 else None
    if not specs or (len(specs) > 1 and structure is None):
        method = "not counted: the model's inputs are not known from the model alone"
    elif any(None in spec.shape.as_list()[1:] for spec in specs):
        method = "not counted: an input shape has unknown dimensions"
    elif not all(spec.dtype.is_floating or spec.dtype.is_integer for spec in specs):
        kinds = sorted({spec.dtype.name for spec in specs})
        method = f"not counted: the inputs are {', '.join(kinds)}"
    else:
        one = [tf.TensorSpec([1, *spec.shape[1:]], spec.dtype) for spec in specs]
        inputs = one[0] if structure is None else keras.tree.pack_sequence_as(structure, one)
        flops = forward_flops_of(model, inputs)
    return ModelFacts(
        architecture=f"{type(model).__name__} {model.name!r} (Keras {keras.__version__})",
        parameter_count=int(model.count_params()),
        flops_per_example=flops,
        flops_method=method,
    )


def input_specs(model: Any) -> list[Any]:
    """The model's inputs as named ``tf.TensorSpec``s with a None batch dimension.

    Raises `ValueError` naming the fix when the model has no defined input shape.
    """
    import keras
    import tensorflow as tf

    structure = _input_structure(model)
    if structure is not None:
        tensors = keras.tree.flatten(structure)
        auto = len(tensors) == 1 and tensors[0].name.startswith("keras_tensor")
        return [  # an unnamed keras.Input gets "inputs", as a subclassed model's argument
            tf.TensorSpec(
                (None, *t.shape[1:]), tf.as_dtype(t.dtype), name="inputs" if auto else t.name
            )
            for t in tensors
        ]
    shapes = getattr(model, "_build_shapes_dict", None) or {}
    if model.built and len(shapes) == 1:
        (key, shape), *_ = shapes.items()
        if isinstance(shape, (tuple, list)) and all(d is None or isinstance(d, int) for d in shape):
            arg = key.removesuffix("_shape") or "inputs"
            arg = "inputs" if arg == "input" else arg
            return [tf.TensorSpec((None, *shape[1:]), tf.as_dtype(model.input_dtype), name=arg)]
    if model.built and len(shapes) > 1:
        raise ValueError(
            f"model {model.name!r} takes {len(shapes)} call arguments; export it with "
            "signatures={'serving_default': tf.function(..., input_signature=[...])}"
        )
    raise ValueError(
        f"model {model.name!r} has no defined input shape: call it once on a batch "
        "(model(x)) or start it with keras.Input(shape=...), then export; or pass "
        "signatures= with tf.functions that have an input_signature"
    )


def _input_structure(model: Any) -> Any:
    """The nested input ``KerasTensor``s of a functional model or a built sequential one."""
    import keras
    from keras.src.models.functional import Functional

    if isinstance(model, Functional):
        return model.input
    if isinstance(model, keras.Sequential) and model.built:
        return model.inputs[0]
    return None


def _export_archive(model: Any, signatures: Mapping[str, Any] | None) -> Any:
    """A Keras ``ExportArchive`` tracking ``model`` with its serving endpoints."""
    import keras
    import tensorflow as tf

    if not model.built:
        input_specs(model)  # raises the error that names the fix
    archive = keras.export.ExportArchive()
    archive.track(model)
    if signatures:
        for signature_name, fn in signatures.items():
            if not isinstance(fn, tf.types.experimental.GenericFunction):
                raise TypeError(
                    f"signature {signature_name!r} must be a tf.function; wrap it: "
                    "tf.function(fn, input_signature=[tf.TensorSpec(...)])"
                )
            if fn.input_signature is None:
                raise TypeError(
                    f"signature {signature_name!r} has no input_signature; give one: "
                    "tf.function(fn, input_signature=[tf.TensorSpec((None, ...), ...)])"
                )
            _check_output_names(signature_name, fn.get_concrete_function().structured_outputs)
            archive.add_endpoint(signature_name, fn)
        return archive

    specs = input_specs(model)
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ValueError(
            f"model {model.name!r} has inputs with the same name {names}; name each "
            "keras.Input(name=...) differently"
        )
    structure = _input_structure(model)
    output_names = list(getattr(model, "output_names", None) or [])

    def serve(*tensors: Any) -> Any:
        if structure is None:
            inputs = tensors[0]
        else:
            inputs = keras.tree.pack_sequence_as(structure, list(tensors))
        outputs = model(inputs, training=False)
        if isinstance(outputs, (list, tuple)) and len(output_names) == len(outputs) > 1:
            _check_output_names(SERVING_DEFAULT, output_names)
            return dict(zip(output_names, outputs, strict=True))
        return outputs

    _check_output_names(SERVING_DEFAULT, output_names)
    archive.add_endpoint(SERVING_DEFAULT, serve, input_signature=specs)
    return archive


def _check_output_names(signature_name: str, outputs: Any) -> None:
    """Refuse output names that collide (the same name twice, or twice after lower-casing)."""
    names = list(outputs) if isinstance(outputs, (Mapping, list)) else []
    names = [n for n in names if isinstance(n, str)]
    seen: dict[str, str] = {}
    for output in names:
        other = seen.get(output.lower())
        if other is not None:
            raise ValueError(
                f"signature {signature_name!r} has output names that collide: {other!r} and "
                f"{output!r}; give each output its own name (name the output layers, e.g. "
                "keras.layers.Dense(..., name='scores'), or return a dict with distinct keys)"
            )
        seen[output.lower()] = output


def warmup_from_examples(version_dir: Path, model_name: str, examples: Any) -> list[Any]:
    """One ``PredictionLog`` per example row for the ``serving_default`` signature.

    ``examples``: an array ``[rows, *input]`` (one-input signature) or ``{input: array}``; None
    means one row of zeros (empty strings for string inputs) when the shape is fully known.
    Raises `ValueError` when the rows do not fit the signature, `TypeError` for object arrays.
    """
    import tensorflow as tf

    defs = read_signature_defs(version_dir)
    if SERVING_DEFAULT not in defs:
        raise ValueError(f"the version has no {SERVING_DEFAULT!r} signature (has {sorted(defs)})")
    inputs = {
        key: (
            tf.dtypes.as_dtype(info.dtype),
            None if info.tensor_shape.unknown_rank else [d.size for d in info.tensor_shape.dim],
        )
        for key, info in defs[SERVING_DEFAULT].inputs.items()
    }
    wanted = ", ".join(f"{k}: {d.name} {s}" for k, (d, s) in sorted(inputs.items()))
    if examples is None:
        examples = {
            key: _zeros(key, dtype, shape, wanted) for key, (dtype, shape) in inputs.items()
        }
    elif not isinstance(examples, Mapping):
        if len(inputs) != 1:
            raise ValueError(
                f"examples must be a dict {{input_name: array}}: {SERVING_DEFAULT} has "
                f"{len(inputs)} inputs ({wanted})"
            )
        examples = {next(iter(inputs)): examples}
    unknown = sorted(set(examples) - set(inputs))
    missing = sorted(set(inputs) - set(examples))
    if unknown or missing:
        raise ValueError(
            f"examples do not fit {SERVING_DEFAULT}: unknown inputs {unknown}, missing {missing}; "
            f"it takes {wanted}"
        )
    arrays = {key: _as_array(key, value, *inputs[key], wanted) for key, value in examples.items()}
    rows = {len(a) for a in arrays.values()}
    if len(rows) != 1:
        raise ValueError(f"examples have different numbers of rows per input: {sorted(rows)}")
    count = rows.pop()
    if not 1 <= count <= MAX_WARMUP_RECORDS:
        raise ValueError(f"give 1 to {MAX_WARMUP_RECORDS} example rows; got {count}")
    return [
        predict_log(
            model_name,
            SERVING_DEFAULT,
            {
                key: tf.make_tensor_proto(a[i : i + 1], dtype=inputs[key][0])
                for key, a in arrays.items()
            },
        )
        for i in range(count)
    ]


def _zeros(key: str, dtype: Any, shape: Sequence[int] | None, wanted: str) -> Any:
    import numpy as np

    if shape is None or any(d < 0 for d in shape[1:]):
        raise ValueError(
            f"input {key!r} has unknown dimensions ({wanted}): pass examples= "
            "(--examples FILE) to make the warmup requests"
        )
    shape = [1, *shape[1:]]
    if dtype.name == "string":
        return np.zeros(shape, dtype="S1")
    return np.zeros(shape, dtype=dtype.as_numpy_dtype)


def _as_array(key: str, value: Any, dtype: Any, shape: Sequence[int] | None, wanted: str) -> Any:
    """``value`` as a NumPy array that fits the signature input ``key``, or a clear error."""
    import numpy as np

    if isinstance(value, np.ndarray) and value.dtype == object:
        raise TypeError(f"example input {key!r} is a NumPy object array. {_STRING_HINT}")
    array = np.asarray(value.numpy() if hasattr(value, "numpy") else value)
    if array.dtype == object:
        raise ValueError(
            f"example input {key!r} does not form one array (rows of different lengths or "
            f"mixed types). {_STRING_HINT}"
        )
    if dtype.name == "string":
        if array.dtype.kind not in "US":
            raise ValueError(
                f"example input {key!r} is {array.dtype}, the signature wants strings ({wanted})"
            )
        array = np.char.encode(array, "utf-8") if array.dtype.kind == "U" else array
    elif array.dtype.kind not in "biuf" or (array.dtype.kind == "f" and not (dtype.is_floating)):
        raise ValueError(
            f"example input {key!r} is {array.dtype}, the signature wants {dtype.name} ({wanted})"
        )
    else:
        array = array.astype(dtype.as_numpy_dtype)
    if shape is not None:
        fits = array.ndim == len(shape) and all(
            d < 0 or d == a for d, a in zip(shape[1:], array.shape[1:], strict=True)
        )
        if not fits:
            raise ValueError(
                f"example input {key!r} has shape {list(array.shape)}, the signature wants "
                f"{shape} with -1 for any size, the first dimension being the rows ({wanted})"
            )
    return array


def load_examples(path: str | os.PathLike[str]) -> Any:
    """Example rows from a file: ``.npy`` (one array), ``.npz`` (arrays named by input) or
    ``.json`` (a list of rows, or ``{input: rows}``)."""
    import numpy as np

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in EXAMPLE_SUFFIXES:
        raise ValueError(f"--examples must be one of {EXAMPLE_SUFFIXES}; got {path.name}")
    if not path.is_file():
        raise FileNotFoundError(f"no such examples file: {path}")
    if suffix == ".json":
        return json.loads(path.read_text(encoding="utf-8"))
    try:
        loaded = np.load(path, allow_pickle=False)
    except ValueError as err:
        if "Object arrays" in str(err):
            raise ValueError(f"{path} holds a NumPy object array. {_STRING_HINT}") from None
        raise
    if suffix == ".npz":
        with loaded:
            return {key: loaded[key] for key in loaded.files}
    return loaded


def _serving_parameter_count(saved_model_dir: Path) -> int:
    """Elements of every variable the ``serving_default`` function reads (each variable once)."""
    import math

    import tensorflow as tf

    loaded = tf.saved_model.load(str(saved_model_dir))  # keeps the variables alive
    unique = {v.ref(): v for v in loaded.signatures[SERVING_DEFAULT].variables}
    return sum(math.prod(v.shape.as_list()) for v in unique.values())
