"""SignatureDef method names for TF Serving's Classify and Regress APIs.

TF2's `tf.saved_model.save` marks every signature as ``tensorflow/serving/predict``. TF Serving's
Classify and Regress APIs only accept signatures whose method name is
``tensorflow/serving/classify`` or ``tensorflow/serving/regress`` (inputs: one ``tf.string`` tensor
of serialized ``tf.Example`` protos named ``inputs``; outputs ``classes``/``scores`` or
``outputs``). `set_signature_methods` rewrites the method names in ``saved_model.pb`` after saving;
`tf.saved_model.load` and TF Serving both read the result.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from dlsuite.base.files import atomic_write_bytes

PREDICT_METHOD = "tensorflow/serving/predict"
CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"
METHODS = (PREDICT_METHOD, CLASSIFY_METHOD, REGRESS_METHOD)


def set_signature_methods(
    saved_model_dir: str | os.PathLike[str], methods: Mapping[str, str]
) -> None:
    """Set the method name of each named signature in ``saved_model_dir/saved_model.pb``.

    Raises `ValueError` naming the signature when it does not exist or the method is unknown.
    """
    from tensorflow.core.protobuf import saved_model_pb2

    pb_path = Path(saved_model_dir) / "saved_model.pb"
    saved_model = saved_model_pb2.SavedModel()
    saved_model.ParseFromString(pb_path.read_bytes())
    for meta_graph in saved_model.meta_graphs:
        for name, method in methods.items():
            if method not in METHODS:
                raise ValueError(
                    f"unknown signature method {method!r} for {name!r}; use one of {METHODS}"
                )
            if name not in meta_graph.signature_def:
                raise ValueError(
                    f"signature {name!r} is not in {pb_path}; "
                    f"it has {sorted(meta_graph.signature_def)}"
                )
            meta_graph.signature_def[name].method_name = method
    atomic_write_bytes(pb_path, saved_model.SerializeToString())


def read_signature_defs(saved_model_dir: str | os.PathLike[str]) -> dict:
    """Return ``{signature_name: SignatureDef}`` of the first (serving) meta graph."""
    from tensorflow.core.protobuf import saved_model_pb2

    pb_path = Path(saved_model_dir) / "saved_model.pb"
    if not pb_path.is_file():
        raise FileNotFoundError(f"no saved_model.pb in {saved_model_dir}")
    saved_model = saved_model_pb2.SavedModel()
    saved_model.ParseFromString(pb_path.read_bytes())
    return dict(saved_model.meta_graphs[0].signature_def)
