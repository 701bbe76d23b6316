"""`Servable`: one loaded version of a model — its signatures, in-flight count and batcher."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

import numpy as np

from dlsuite.serving.content_credentials import ImageSigner
from dlsuite.serving.server.batching import Batcher
from dlsuite.serving.server.config import BatchingOptions, SessionOptions
from dlsuite.serving.server.errors import ServingError, invalid
from dlsuite.serving.server.overload import check_deadline, current_deadline
from dlsuite.serving.signatures import PREDICT_METHOD

DEFAULT_SIGNATURE = "serving_default"
SERVING_TAG = "serve"

log = logging.getLogger("dlsuite.serve")


def _tf_message(err: BaseException) -> str:
    """The informative line of a TensorFlow error (not 'Graph execution error:' or a stack)."""
    text = getattr(err, "message", None) or str(err) or repr(err)
    lines = [ln.strip() for ln in text.splitlines()]
    useful = [
        ln
        for ln in lines
        if ln
        and not ln.startswith(
            ("Graph execution error", "Detected at node", "File ", "[[", "Stack trace")
        )
        and not ln.endswith(":")
    ]
    message = useful[-1] if useful else lines[0]
    return message.split(" [[", 1)[0].strip()


class Servable:
    """A SavedModel version loaded into a TensorFlow session,
    as ``tensorflow_model_server`` loads it.

    TF Serving loads every SavedModel, TF1 (graph, session, reference variables; every Estimator
    export) and TF2 (``tf.saved_model.save``, Keras ``model.export()``) alike, with the SavedModel
    loader into a session (``tags={"serve"}``, variables restored, the main/init op run) and runs a
    signature by feeding its input tensors and fetching its outputs. This does the same with
    ``tf.compat.v1.saved_model.loader.load`` and one session callable per signature, so shapes
    behave as in TF Serving: nothing is checked against the signature's static shapes, and the
    graph runs on the shape that was sent (or fails with TensorFlow's own error).

    Args:
        name: the model name.
        version: the version number.
        path: the version folder.
        batching: dynamic batching options, or None to run every request alone.
        on_batch: metrics callback ``(rows, padded_rows)`` for each batch.
        on_queue: metrics callback ``(queued_rows)`` when the batch queue changes.
        session: the session's TensorFlow thread pools.
        image_signer: adds C2PA Content Credentials to every PNG, JPEG or GIF a signature returns
            (a model marked for Art. 50(2), `content_credentials.served_image_signer`), or None.
    """

    def __init__(
        self,
        name: str,
        version: int,
        path: Path,
        batching: BatchingOptions | None = None,
        on_batch: Callable[[int, int], None] | None = None,
        on_queue: Callable[[int], None] | None = None,
        session: SessionOptions | None = None,
        image_signer: ImageSigner | None = None,
    ) -> None:
        import tensorflow as tf
        from tensorflow.core.protobuf import config_pb2

        self.name = name
        self.version = version
        self.path = Path(path)
        self.image_signer = image_signer
        self._graph = tf.Graph()
        # soft placement: a graph exported with GPU device pins still loads on a CPU-only host
        threads = session or SessionOptions()
        self._session = tf.compat.v1.Session(
            graph=self._graph,
            config=tf.compat.v1.ConfigProto(
                allow_soft_placement=True,
                intra_op_parallelism_threads=threads.intra_op,
                inter_op_parallelism_threads=threads.inter_op,
            ),
        )
        try:
            with self._graph.as_default():
                meta_graph = tf.compat.v1.saved_model.loader.load(
                    self._session, [SERVING_TAG], str(path)
                )
        except BaseException:
            self._session.close()
            raise
        # every SignatureDef, ``__saved_model_init_op`` included,
        # as TF Serving's metadata lists them
        self.all_signature_defs = dict(meta_graph.signature_def)
        self.signature_defs = {
            k: v for k, v in self.all_signature_defs.items() if not k.startswith("__")
        }
        self.input_specs: dict[str, dict[str, Any]] = {}
        self._output_names: dict[str, list[str]] = {}
        self._input_names: dict[str, list[str]] = {}
        self._callables: dict[str, Any] = {}
        for key, sig in self.signature_defs.items():
            if not all(info.name for info in [*sig.inputs.values(), *sig.outputs.values()]):
                log.warning(
                    "%s version %d: signature %r has sparse or composite tensors; it is not served",
                    name,
                    version,
                    key,
                )
                continue
            self.input_specs[key] = {
                n: tf.TensorSpec(tf.TensorShape(info.tensor_shape), tf.as_dtype(info.dtype), n)
                for n, info in sig.inputs.items()
            }
            self._input_names[key] = sorted(sig.inputs)
            self._output_names[key] = sorted(sig.outputs)
            options = config_pb2.CallableOptions(
                feed=[sig.inputs[n].name for n in self._input_names[key]],
                fetch=[sig.outputs[n].name for n in self._output_names[key]],
            )
            if options.fetch:
                self._callables[key] = self._session._make_callable_from_options(options)  # noqa: SLF001
            else:
                # a signature with no outputs (TF-Agents' get_initial_state of a stateless policy)
                self._callables[key] = lambda *_: []
        self._in_flight = 0
        self._cond = threading.Condition()
        self.batcher = Batcher(self._run_direct, batching, on_batch, on_queue) if batching else None

    # -- signatures ---------------------------------------------------------------------------
    def signature(self, name: str | None, method: str | None = None) -> str:
        """Resolve a signature name ('' means ``serving_default``) and check its method name."""
        key = name or DEFAULT_SIGNATURE
        if key not in self._callables:
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
    def run(self, key: str, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run signature ``key`` on checked inputs (`inference.predict` checks them), through the
        batcher if there is one; blocks the calling thread. Not run, but DEADLINE_EXCEEDED, when
        the request's deadline (`overload.current_deadline`) has passed before the model call."""
        deadline = current_deadline()
        if self.batcher is not None:
            return self.batcher.submit(key, feeds, deadline)
        return self._run_by(deadline, key, feeds)

    async def run_async(
        self, key: str, feeds: dict[str, np.ndarray], executor: Executor
    ) -> dict[str, np.ndarray]:
        """`run` from an event loop: queued to the batcher (the coroutine, not a thread, waits for
        the batch) or, without batching, run in ``executor``; within the request's deadline."""
        deadline = current_deadline()
        if self.batcher is not None:
            future = self.batcher.submit_async(key, feeds, deadline)
            if future is not None:
                return await future
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(executor, self._run_by, deadline, key, feeds)

    def _run_by(
        self, deadline: float | None, key: str, inputs: dict[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        """`_run_direct` unless ``deadline`` has passed (a request waiting for a worker thread
        beyond its deadline is dropped, not run)."""
        check_deadline(deadline)
        return self._run_direct(key, inputs)

    def _run_direct(self, key: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the signature; every call (alone or a whole batch, for REST, gRPC and V2) ends
        here, so this is where the images of a marked model get their Content Credentials."""
        import tensorflow as tf

        try:
            values = self._callables[key](*[inputs[n] for n in self._input_names[key]])
        except (tf.errors.InvalidArgumentError, ValueError, TypeError) as err:
            raise invalid(_tf_message(err)) from None
        except tf.errors.OpError as err:
            raise ServingError("INTERNAL", _tf_message(err)) from None
        outputs = dict(zip(self._output_names[key], values, strict=True))
        if self.image_signer is None:
            return outputs
        try:
            return self.image_signer.sign_outputs(outputs)
        except RuntimeError as err:
            raise ServingError("INTERNAL", str(err)) from None

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
        self._callables = {}  # each releases its handle while the session is still open
        self._session.close()
