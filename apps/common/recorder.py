"""`RunRecorder`: the suite's run directory for your own ``model.fit`` or training loop.

A run directory written here reads like one `dlsuite train` writes (docs/architecture.md), so the
manifest builder and the other readers of ``config.json`` and ``metrics.json`` work on it::

    recorder = RunRecorder("runs/mine/first", data={"name": "digits", "train": (x, y)})
    model.fit(x, y, epochs=3, batch_size=32, callbacks=[recorder])

    with RunRecorder("runs/mine/loop", data=train_ds).loop(model) as rec:   # a custom loop
        for epoch in range(3):
            ...                                   # train one epoch
            rec.log_epoch(epoch, {"loss": loss})

What is written, and when:

* at the start: ``config.json`` (the fit call's epochs and steps, the batch size when known, the
  optimizer's and loss's configs, the model's layers and parameter counts, the strategy, replicas
  and devices, and the keys of ``config=``);
* after each epoch: one line of ``history.jsonl`` and the epoch's TensorBoard scalars (``logs/``),
  by the suite's own `HistoryRecorder` and `EpochSummaries`, as in a suite run;
* at a normal end: ``model.keras`` (``save_model``), a sample of each split's inputs in
  ``examples/<split>.npy`` (``keep_examples`` rows: warmup for `dlsuite export RUN`, calibration
  for ``dlsuite convert --quantize int8``), ``learning_curves.png`` and then ``metrics.json``
  (wall time, examples seen, FLOPs per example and of training, the energy CodeCarbon measured
  from the start of ``fit`` or the loop to its end (`EnergyMeter`), final and best metrics, the
  data description with a fingerprint of each split, `fingerprint`), each written atomically.
  ``metrics.json`` marks the run complete (`is_complete`), so an interrupted ``fit`` or loop
  leaves an incomplete run.

A run directory that is already complete is refused; an unfinished one is continued (its history
kept, ``resumed`` recorded), as a fit resumed by `keras.callbacks.BackupAndRestore` needs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import time
import weakref
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import keras

from dlsuite.apps.common.callbacks import EpochSummaries, HistoryRecorder
from dlsuite.apps.common.energy import EnergyMeter
from dlsuite.apps.common.fingerprint import (
    arrays_fingerprint,
    dataset_fingerprint,
    files_fingerprint,
)
from dlsuite.apps.common.plots import plot_learning_curves
from dlsuite.apps.common.runs import (
    CONFIG_FILE,
    EXAMPLES_DIR,
    RECORDED_APP,
    RunDir,
    is_complete,
    start_run,
)
from dlsuite.apps.common.strategy import describe_devices, strategy_name
from dlsuite.base.files import atomic_write_bytes
from dlsuite.base.version import framework_versions
from dlsuite.serving.flops import FLOPS_METHOD, forward_flops, training_flops

LEARNING_CURVES_FILE = "learning_curves.png"
# config.json keys the recorder fills; a user `config=` mapping may not reuse them (its
# ``batch_size`` and ``seed`` are read as the run's)
_RECORDED_KEYS = frozenset(
    {
        "app",
        "run_id",
        "loop",
        "model",
        "num_params",
        "trainable_params",
        "layers",
        "epochs",
        "steps_per_epoch",
        "optimizer",
        "loss",
        "strategy",
        "replicas",
        "devices",
    }
)
# keys of a `data=` mapping that describe the data (the rest are splits given as sources)
_DESCRIPTION_KEYS = (
    "name",
    "version",
    "source",
    "files",
    "preprocessing",
    "class_names",
    "input_shape",
)
_SPLIT_KEYS = ("train", "validation", "test")


@dataclasses.dataclass(frozen=True)
class DataDescription:
    """What ``metrics.json`` says about the training data (its ``data`` section).

    ``splits`` maps split names to example counts; ``input_shape`` excludes the batch axis (None
    for an unknown dimension); ``batch_size`` is the largest batch seen when a batched `tf.data`
    source was counted. ``fingerprints`` maps each split given as a source to its fingerprint
    (`dlsuite.apps.common.fingerprint`), and ``"files"`` to that of the ``files`` folder.
    """

    name: str | None = None
    version: str | None = None
    source: str | None = None
    preprocessing: str | None = None
    class_names: tuple[str, ...] | None = None
    splits: Mapping[str, int] = dataclasses.field(default_factory=dict)
    input_shape: tuple[int | None, ...] | None = None
    input_dtype: str | None = None
    batch_size: int | None = None
    fingerprints: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The ``data`` section of ``metrics.json`` (``kind`` is ``other``: a user's own data)."""
        return {
            "kind": "other",
            "name": self.name,
            "version": self.version,
            "source": self.source,
            "preprocessing": self.preprocessing,
            "class_names": None if self.class_names is None else list(self.class_names),
            "splits": dict(self.splits),
            "input_shape": None if self.input_shape is None else list(self.input_shape),
            "input_dtype": self.input_dtype,
            "fingerprints": {k: dict(v) for k, v in self.fingerprints.items()},
        }


def describe_data(data: Any) -> DataDescription:
    """Describe ``data``: None, a name (str), one training source, or a mapping.

    A source is a NumPy array, an ``(x, y[, sample_weight])`` tuple of arrays, or a finite,
    batched `tf.data.Dataset` (counted and fingerprinted in two passes over it). A mapping may hold
    the description keys ``name``, ``version``, ``source``, ``files`` (the folder or file the data
    was read from: fingerprinted), ``preprocessing``, ``class_names``, ``input_shape``, a
    ``splits`` mapping of counts, and sources under ``train``, ``validation`` and ``test`` (each
    counted into ``splits`` and fingerprinted; the training source also gives the input shape).
    """
    if data is None:
        return DataDescription()
    if isinstance(data, str):
        return DataDescription(name=data)
    if not isinstance(data, Mapping):
        return describe_data({"train": data})
    unknown = sorted(set(data) - {*_DESCRIPTION_KEYS, *_SPLIT_KEYS, "splits"})
    if unknown:
        raise ValueError(
            f"data has unknown key(s) {unknown}; use {sorted(_DESCRIPTION_KEYS)}, 'splits' "
            f"(a mapping of counts) or the sources {list(_SPLIT_KEYS)}"
        )
    splits = {str(k): _count(k, v) for k, v in dict(data.get("splits") or {}).items()}
    input_shape, input_dtype, batch_size = None, None, None
    fingerprints: dict[str, dict[str, Any]] = {}
    if data.get("files") is not None:
        fingerprints["files"] = {"path": str(data["files"]), **files_fingerprint(data["files"])}
    for split in _SPLIT_KEYS:
        if data.get(split) is None:
            continue
        count, shape, dtype, batch = _describe_source(split, data[split])
        if count is not None:
            splits[split] = count
            fingerprints[split] = _fingerprint(data[split])
        if split == "train":
            input_shape, input_dtype, batch_size = shape, dtype, batch
    if data.get("input_shape") is not None:
        input_shape = tuple(data["input_shape"])
    class_names = data.get("class_names")
    return DataDescription(
        name=data.get("name"),
        version=None if data.get("version") is None else str(data["version"]),
        source=data.get("source") or (None if data.get("files") is None else str(data["files"])),
        preprocessing=data.get("preprocessing"),
        class_names=None if class_names is None else tuple(str(c) for c in class_names),
        splits=splits,
        input_shape=input_shape,
        input_dtype=input_dtype,
        batch_size=batch_size,
        fingerprints=fingerprints,
    )


def _fingerprint(source: Any) -> dict[str, Any]:
    import tensorflow as tf

    if isinstance(source, tf.data.Dataset):
        return dataset_fingerprint(source)
    return arrays_fingerprint(*(source if isinstance(source, tuple | list) else (source,)))


def _sample_rows(source: Any, count: int) -> Any:
    """Up to ``count`` input rows of one source (`describe_data`) as one NumPy array, or None when
    its inputs are not one numeric array (several inputs, strings): a seeded random choice of an
    array's rows, the first rows of a `tf.data` dataset."""
    import numpy as np
    import tensorflow as tf

    if isinstance(source, tf.data.Dataset):
        rows: list[Any] = []
        for element in source:
            features = element[0] if isinstance(element, tuple) else element
            numeric = isinstance(features, tf.Tensor) and (
                features.dtype.is_floating or features.dtype.is_integer
            )
            if not numeric:
                return None
            rows.extend(features.numpy()[: count - len(rows)])
            if len(rows) >= count:
                break
        return np.stack(rows) if rows else None
    features = np.asarray(source[0] if isinstance(source, tuple | list) else source)
    if features.dtype.kind not in "fiub":
        return None
    if len(features) <= count:
        return features
    chosen = np.sort(np.random.default_rng(0).choice(len(features), count, replace=False))
    return features[chosen]


def _count(split: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(
            f"data splits[{split!r}] must be a count of examples (int >= 0). Received: {value!r}"
        )
    return value


def _describe_source(
    split: str, source: Any
) -> tuple[int | None, tuple[int | None, ...] | None, str | None, int | None]:
    """``(examples, input shape, input dtype, largest batch)`` of one split's source."""
    import numpy as np
    import tensorflow as tf

    if isinstance(source, tf.data.Dataset):
        features = source.element_spec
        if isinstance(features, tuple):
            features = features[0]
        shape, dtype = None, None
        if isinstance(features, tf.TensorSpec) and features.shape.rank:
            shape, dtype = tuple(features.shape[1:].as_list()), features.dtype.name
        cardinality = int(source.cardinality())
        if cardinality < 0:  # infinite or unknown: not counted
            return None, shape, dtype, None
        sizes = source.map(lambda *element: tf.shape(tf.nest.flatten(element)[0], tf.int64)[0])
        total, largest = sizes.reduce(
            (tf.constant(0, tf.int64), tf.constant(0, tf.int64)),
            lambda state, n: (state[0] + n, tf.maximum(state[1], n)),
        )
        return int(total), shape, dtype, int(largest)
    features = source[0] if isinstance(source, tuple | list) else source
    if not hasattr(features, "shape") or not getattr(features, "ndim", 0):
        raise ValueError(
            f"data[{split!r}] must be a NumPy array, an (x, y) tuple of arrays or a tf.data "
            f"Dataset. Received: {type(source).__name__}; describe it with a mapping instead, "
            "e.g. data={'name': ..., 'splits': {'train': N}}"
        )
    features = np.asarray(features)
    return len(features), tuple(int(d) for d in features.shape[1:]), features.dtype.name, None


class RunRecorder(keras.callbacks.Callback):
    """A Keras callback that writes the suite's run directory for any ``model.fit``; `loop` does
    the same for a custom training loop (module docstring).

    ``run_dir`` is the run directory (created; refused if it holds a complete run). ``data``
    describes the training data (`describe_data`); its training split's size times the epochs
    run is the number of examples seen. ``config`` is your own settings (a mapping or a dataclass
    instance, JSON-serialisable values), recorded in ``config.json`` beside what the recorder sees;
    a ``seed`` key there is recorded as the run's seed. ``batch_size`` is the global batch size
    when neither ``config`` nor a batched `tf.data` source tells it (``fit`` does not show it to
    callbacks). At the end ``save_model`` writes ``model.keras`` (so `dlsuite export RUN` works as
    for a suite run) and ``keep_examples`` input rows of each split given as a source are kept
    (0: none).
    """

    def __init__(
        self,
        run_dir: str | os.PathLike[str],
        *,
        data: Any = None,
        config: Mapping[str, Any] | Any = None,
        batch_size: int | None = None,
        save_model: bool = True,
        keep_examples: int = 200,
    ) -> None:
        super().__init__()
        if keep_examples < 0:
            raise ValueError(f"keep_examples must be >= 0. Received: {keep_examples}")
        self.path = Path(run_dir)
        self._check_unfinished()
        self.user_config = _config_dict(config)
        collisions = sorted(_RECORDED_KEYS & set(self.user_config))
        if collisions:
            raise ValueError(
                f"config key(s) {collisions} are recorded by RunRecorder itself; rename them"
            )
        self.data = describe_data(data)
        self.save_model = save_model
        self.keep_examples = keep_examples
        self._sources = _sources(data)
        self.batch_size = batch_size or self.user_config.get("batch_size") or self.data.batch_size
        self.run: RunDir | None = None
        self._loop = "fit"
        self._strategy: Any = None
        self._started = 0.0
        self._steps_per_epoch: int | None = None
        self._callbacks: keras.callbacks.CallbackList | None = None
        self._energy = EnergyMeter()  # checks $DLSUITE_COUNTRY now
        # A fit that raises gets no on_train_end: its measurement stops when the recorder is
        # collected (or fits again, or the process ends), not later.
        weakref.finalize(self, self._energy.stop)

    def _check_unfinished(self) -> None:
        if is_complete(self.path):
            raise ValueError(
                f"run directory {self.path} already holds a complete run (metrics.json); "
                "choose a new run_dir (one RunRecorder records one run)"
            )

    # --- model.fit ---------------------------------------------------------------------------

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._begin(self.model, self.params.get("epochs"), self.params.get("steps"))
        self._active.on_train_begin(logs)

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._active.on_epoch_begin(epoch, logs)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._active.on_epoch_end(epoch, logs)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        """``fit`` ended normally (an exception skips this): write the curves and metrics.json."""
        self._active.on_train_end(logs)
        self._finish(self.model)

    # --- a custom loop -----------------------------------------------------------------------

    @contextlib.contextmanager
    def loop(
        self,
        model: keras.Model,
        *,
        epochs: int | None = None,
        steps_per_epoch: int | None = None,
        strategy: Any = None,
    ) -> Iterator[RunRecorder]:
        """Record a custom training loop of ``model``: call `log_epoch` after every epoch.

        ``strategy`` defaults to the one ``model`` was built under. Leaving the ``with`` block
        normally completes the run; an exception leaves it incomplete (and propagates).
        """
        if getattr(model, "optimizer", None) is None:
            raise ValueError(
                f"model {model.name!r} is not compiled: call model.compile(optimizer=..., "
                "loss=...) with your loop's optimizer and loss before recording it (no need to "
                "fit); the recorder reads them (and TensorBoard the learning rate) from it"
            )
        self._loop = "custom"
        self.set_model(model)
        try:
            self._begin(model, epochs, steps_per_epoch, strategy=strategy)
            self._active.on_train_begin()
            self._active.on_epoch_begin(0)
            yield self
            self._active.on_train_end()
            self._finish(model)
        finally:
            self._energy.stop()  # its sampling threads end with the loop, however it ends

    def log_epoch(self, epoch: int, logs: Mapping[str, Any]) -> None:
        """Record the end of epoch ``epoch`` (0-based, as Keras counts) with its metric values
        (``val_`` prefixed for validation); its wall time runs from the previous call."""
        if self._loop != "custom" or self._callbacks is None:
            raise RuntimeError(
                "log_epoch records a custom loop; call it inside `with recorder.loop(model):` "
                "(with model.fit, pass the recorder in callbacks=[...] instead)"
            )
        self._active.on_epoch_end(epoch, {k: float(v) for k, v in logs.items()})
        self._active.on_epoch_begin(epoch + 1)

    # --- shared ------------------------------------------------------------------------------

    def _begin(
        self,
        model: keras.Model,
        epochs: int | None,
        steps_per_epoch: int | None,
        strategy: Any = None,
    ) -> None:
        """Open the run directory, write config.json, set up history and TensorBoard and start
        measuring energy."""
        self._check_unfinished()
        self._started = time.perf_counter()
        self._steps_per_epoch = steps_per_epoch
        self._strategy = strategy or model.distribute_strategy
        resumed = (self.path / CONFIG_FILE).is_file()
        self.run = start_run(
            self.path,
            RECORDED_APP,
            {
                **self.user_config,
                **_model_config(model),
                "loop": self._loop,
                "epochs": epochs,
                "steps_per_epoch": steps_per_epoch,
                "batch_size": self.batch_size,
                **self._devices(),
            },
            resumed=resumed,
        )
        self._callbacks = keras.callbacks.CallbackList(
            [
                HistoryRecorder(self.run),
                EpochSummaries(self.run.log_dir),
            ],
            model=model,
        )
        self._energy.stop()  # a fit that raised (Keras calls no on_train_end) left it measuring
        self._energy.start()

    def _devices(self) -> dict[str, Any]:
        strategy = self._strategy
        return {
            "strategy": strategy_name(strategy),
            "replicas": int(strategy.num_replicas_in_sync),
            "devices": describe_devices(strategy),
        }

    @property
    def _active(self) -> keras.callbacks.CallbackList:
        """The inner callbacks (history, TensorBoard) of the run being recorded."""
        if self._callbacks is None:
            raise RuntimeError("RunRecorder is not recording a run: fit or loop() has not begun")
        return self._callbacks

    def _finish(self, model: keras.Model) -> None:
        """Write learning_curves.png, then metrics.json (which marks the run complete)."""
        run = self.run
        if run is None:
            raise RuntimeError("RunRecorder has no run to finish: fit or loop() has not begun")
        energy = self._energy.stop()
        history = run.read_history()
        examples_seen = self._examples_seen(len(history))
        flops = self._forward_flops(model)
        wall_time = sum(r["epoch_time_s"] for r in history)
        devices = self._devices()
        replicas = devices["replicas"]
        policy = model.dtype_policy.name
        metrics = {
            "app": RECORDED_APP,
            "model": model.name,
            "run_id": run.run_id,
            "final": _final(history),
            "best": _best(model, history),
            "history": history,
            "epochs_completed": len(history),
            "resumed": run.resumed,
            "wall_time_s": wall_time,
            "process_wall_time_s": time.perf_counter() - self._started,
            "examples_seen": examples_seen,
            "num_params": int(model.count_params()),
            "flops_per_example": flops,
            "training_flops": (
                None
                if flops is None or examples_seen is None
                else training_flops(flops, examples_seen)
            ),
            "flops_method": FLOPS_METHOD,
            **devices,
            "global_batch_size": self.batch_size,
            "per_replica_batch_size": None
            if self.batch_size is None
            else self.batch_size // replicas,
            "mixed_precision": policy if policy.startswith("mixed") else None,
            "jit_compile": bool(getattr(model, "jit_compile", False)),
            "loop": self._loop,
            "seed": self.user_config.get("seed"),
            "data": self.data.to_dict(),
            "energy": energy,
            "framework": framework_versions(),
            "tf_config": bool(os.environ.get("TF_CONFIG")),
        }
        if self.save_model:
            run.save_model(model)
        self._keep_examples(run)
        plot_learning_curves(history, run.path / LEARNING_CURVES_FILE, title=model.name)
        run.write_metrics(metrics)
        self._callbacks = None  # the run is complete: nothing more is recorded into it

    def _examples_seen(self, epochs: int) -> int | None:
        """Examples trained on: per epoch, steps x batch (``fit``'s steps, or `loop`'s
        ``steps_per_epoch``) up to the training split's size (the last batch may be short), or
        either one of them when only it is known."""
        train_size = self.data.splits.get("train")
        per_epoch = train_size
        if self._steps_per_epoch is not None and self.batch_size is not None:
            per_epoch = int(self._steps_per_epoch) * int(self.batch_size)
            if train_size is not None:
                per_epoch = min(per_epoch, train_size)
        return None if per_epoch is None else per_epoch * epochs

    def _keep_examples(self, run: RunDir) -> None:
        """``examples/<split>.npy``: up to ``keep_examples`` input rows of each split's source."""
        import io

        import numpy as np

        if not self.keep_examples:
            return
        for split, source in self._sources.items():
            rows = _sample_rows(source, self.keep_examples)
            if rows is None:
                continue
            buffer = io.BytesIO()
            np.save(buffer, rows, allow_pickle=False)
            atomic_write_bytes(run.path / EXAMPLES_DIR / f"{split}.npy", buffer.getvalue())

    def _forward_flops(self, model: keras.Model) -> int | None:
        """The model's own inputs (`keras_export.model_facts`), else the data's input shape (a
        subclassed model knows no inputs)."""
        from dlsuite.serving.keras_export import model_facts

        flops = model_facts(model).flops_per_example
        shape = self.data.input_shape
        if flops is None and shape and None not in shape:
            flops = forward_flops(model, list(shape), self.data.input_dtype or "float32")
        return flops


def _sources(data: Any) -> dict[str, Any]:
    """The splits of ``data`` (`describe_data`'s argument) given as sources, by split name."""
    if data is None or isinstance(data, str):
        return {}
    if not isinstance(data, Mapping):
        return {"train": data}
    return {split: data[split] for split in _SPLIT_KEYS if data.get(split) is not None}


def _config_dict(config: Any) -> dict[str, Any]:
    if config is None:
        return {}
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return dataclasses.asdict(config)
    if isinstance(config, Mapping):
        return dict(config)
    raise TypeError(
        f"config must be a mapping or a dataclass instance. Received: {type(config).__name__}"
    )


def _model_config(model: keras.Model) -> dict[str, Any]:
    """What config.json records of the model and its compile call."""
    optimizer = getattr(model, "optimizer", None)
    return {
        "model": model.name,
        "num_params": _params(model),
        "trainable_params": (
            sum(math.prod(v.shape) for v in model.trainable_variables) if model.built else None
        ),
        "layers": [  # the model summary: each top-level layer, its class and parameters
            {"name": layer.name, "class_name": type(layer).__name__, "params": _params(layer)}
            for layer in model.layers
        ],
        "optimizer": None if optimizer is None else keras.saving.serialize_keras_object(optimizer),
        "loss": _serialized(getattr(model, "loss", None)),
    }


def _params(layer: keras.layers.Layer) -> int | None:
    return int(layer.count_params()) if layer.built else None


def _serialized(value: Any) -> Any:
    """A loss as config.json records it: a name, a Keras config, or a structure of those."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return {str(k): _serialized(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_serialized(v) for v in value]
    return keras.saving.serialize_keras_object(value)


def _final(history: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """The last epoch's metrics as ``{"train": {...}, "validation": {...}}``."""
    if not history:
        return {}
    last = {k: v for k, v in history[-1].items() if k not in ("epoch", "epoch_time_s")}
    final = {"train": {k: v for k, v in last.items() if not k.startswith("val_")}}
    validation = {k.removeprefix("val_"): v for k, v in last.items() if k.startswith("val_")}
    if validation:
        final["validation"] = validation
    return final


def _best(model: keras.Model, history: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """``{metric: {"value", "epoch"}}`` for every recorded metric whose better direction Keras
    knows (the loss: lower; a compiled metric: its ``_direction``), as Keras's own monitors do."""
    directions = {"loss": "down"}
    for metric in getattr(model, "metrics", []):
        for inner in getattr(metric, "metrics", [metric]):
            if getattr(inner, "_direction", None) in ("up", "down"):
                directions[inner.name] = inner._direction  # noqa: SLF001 - Keras's own field
    best = {}
    for key in sorted({k for r in history for k in r}):
        direction = directions.get(key.removeprefix("val_"))
        rows = [r for r in history if r.get(key) is not None]
        if direction is None or not rows:
            continue
        values = [float(r[key]) for r in rows]
        best_value = max(values) if direction == "up" else min(values)
        row = rows[values.index(best_value)]
        best[key] = {"value": row[key], "epoch": row["epoch"]}
    return best
