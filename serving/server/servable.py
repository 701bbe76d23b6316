"""`Servable`: one loaded version of a model — its signatures, in-flight count and batcher."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from serving.server.batching import Batcher
from serving.server.config import BatchingOptions
from serving.server.errors import ServingError, invalid
from serving.signatures import PREDICT_METHOD, read_signature_defs

DEFAULT_SIGNATURE = "serving_default"


def _tf_message(err: BaseException) -> str:
    """The informative line of a TensorFlow error (not 'Graph execution error:' or a stack)."""
    text = getattr(err, "message", None) or str(err) or repr(err)
    lines = [ln.strip() for ln in text.splitlines()]
    useful = [ln for ln in lines if ln and not ln.startswith(("Graph execution error", "Detected at node",
                                                             "File ", "[[", "Stack trace"))
              and not ln.endswith(":")]
    message = useful[-1] if useful else lines[0]
    return message.split(" [[", 1)[0].strip()


class Servable:
    """A SavedModel version loaded with ``tf.saved_model.load``.

    Args:
        name: the model name.
        version: the version number.
        path: the version folder.
        batching: dynamic batching options, or None to run every request alone.
        on_batch: metrics callback ``(rows, padded_rows)`` for each batch.
        on_queue: metrics callback ``(queued_rows)`` when the batch queue changes.
    """

    def __init__(self, name: str, version: int, path: Path, batching: BatchingOptions | None = None,
                 on_batch: Callable[[int, int], None] | None = None,
                 on_queue: Callable[[int], None] | None = None) -> None:
        import tensorflow as tf

        self.name = name
        self.version = version
        self.path = Path(path)
        self.signature_defs = {k: v for k, v in read_signature_defs(path).items()
                               if not k.startswith("__")}
        self._loaded = tf.saved_model.load(str(path))
        self._functions = {}
        self.input_specs: dict[str, dict[str, Any]] = {}
        for key in self.signature_defs:
            if key in self._loaded.signatures:
                fn = self._loaded.signatures[key]
                self._functions[key] = fn
                self.input_specs[key] = dict(fn.structured_input_signature[1])
        self._in_flight = 0
        self._cond = threading.Condition()
        self.batcher = Batcher(self._run_direct, batching, on_batch, on_queue) if batching else None

    # -- signatures ---------------------------------------------------------------------------
    def signature(self, name: str | None, method: str | None = None) -> str:
        """Resolve a signature name ('' means ``serving_default``) and check its method name."""
        key = name or DEFAULT_SIGNATURE
        if key not in self._functions:
            raise ServingError("FAILED_PRECONDITION", f'Serving signature key "{key}" not found.')
        actual = self.signature_defs[key].method_name or PREDICT_METHOD
        if method is not None and actual != method:
            kind = method.rsplit("/", 1)[-1]
            raise invalid(f"Expected {kind} signature method_name to be {method}. Was: {actual}")
        return key

    def method_name(self, key: str) -> str:
        """The SignatureDef method name of signature ``key``."""
        return self.signature_defs[key].method_name or PREDICT_METHOD

    # -- running ------------------------------------------------------------------------------
    def run(self, key: str, inputs: dict[str, np.ndarray],
            output_filter: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
        """Check ``inputs`` against signature ``key`` and run it (through the batcher if any)."""
        specs = self.input_specs[key]
        extra = sorted(set(inputs) - set(specs))
        if extra:
            raise invalid(f"input tensor alias not found in signature: {extra[0]}. Inputs expected "
                          f"to be in the set {{{','.join(sorted(specs))}}}.")
        missing = sorted(set(specs) - set(inputs))
        if missing:
            raise invalid(f"Request inputs do not match required inputs for model `{self.name}`. "
                          f"Missing but required: {{{','.join(missing)}}}.")
        outputs_known = set(self.signature_defs[key].outputs)
        for name in output_filter:
            if name not in outputs_known:
                raise invalid(f"output tensor alias not found in signature: {name} Outputs expected "
                              f"to be in the set {{{','.join(sorted(outputs_known))}}}.")
        checked = {}
        for name, spec in specs.items():
            arr = np.asarray(inputs[name])
            if spec.dtype.name == "string":
                if arr.dtype != object and arr.dtype.kind not in "SU":
                    raise invalid(f"Expects arg[{name}] to be string but {arr.dtype} is provided")
            elif arr.dtype != spec.dtype.as_numpy_dtype:
                raise invalid(f"Expects arg[{name}] to be {spec.dtype.name} but {arr.dtype} is provided")
            if not spec.shape.is_compatible_with(arr.shape):
                raise invalid(f"Input '{name}' has shape {list(arr.shape)} but the signature expects "
                              f"{spec.shape.as_list() if spec.shape.rank is not None else 'any'} "
                              "(None = any size)")
            checked[name] = arr
        if self.batcher is not None:
            outputs = self.batcher.submit(key, checked)
        else:
            outputs = self._run_direct(key, checked)
        if output_filter:
            outputs = {k: v for k, v in outputs.items() if k in output_filter}
        return outputs

    def _run_direct(self, key: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import tensorflow as tf

        specs = self.input_specs[key]
        try:
            tensors = {n: tf.constant(a, dtype=specs[n].dtype) for n, a in inputs.items()}
            result = self._functions[key](**tensors)
        except (tf.errors.InvalidArgumentError, ValueError, TypeError) as err:
            raise invalid(_tf_message(err)) from None
        except tf.errors.OpError as err:
            raise ServingError("INTERNAL", _tf_message(err)) from None
        return {n: t.numpy() for n, t in result.items()}

    # -- lifetime -----------------------------------------------------------------------------
    def acquire(self) -> None:
        """Count a request in flight (the manager calls this while resolving)."""
        with self._cond:
            self._in_flight += 1

    def release(self) -> None:
        """End of a request started with `acquire`."""
        with self._cond:
            self._in_flight -= 1
            self._cond.notify_all()

    def drain_and_close(self, timeout: float = 60.0) -> None:
        """Wait for in-flight requests to finish, then stop the batcher and drop the model."""
        with self._cond:
            self._cond.wait_for(lambda: self._in_flight == 0, timeout=timeout)
        if self.batcher is not None:
            self.batcher.stop()
        self._functions = {}
        self._loaded = None
