"""`ModelManager`: which versions are loaded, their states, and which one answers a request.

States follow ``ModelVersionStatus.State``: START -> LOADING -> AVAILABLE -> UNLOADING -> END; a
version that fails to load goes to END with its error in the status and never replaces the
version being served. Loading is availability-preserving: an old version is unloaded only once a
version the policy wants is AVAILABLE, and only after its in-flight requests have finished.
Models load only from their configured base paths; polling finds new version folders.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from serving.repository import check_model_name, list_versions
from serving.server.config import BatchingOptions, ModelSpec
from serving.server.errors import ServingError, not_found
from serving.server.metrics import Metrics
from serving.server.request_log import RequestLogger
from serving.server.servable import Servable

log = logging.getLogger("dlsuite.serve")


@dataclasses.dataclass
class VersionStatus:
    """One version's state and last error (``error_code`` OK when fine)."""

    version: int
    state: str = "START"
    error_code: str = "OK"
    error_message: str = ""
    servable: Servable | None = None


@dataclasses.dataclass
class _Model:
    spec: ModelSpec
    versions: dict[int, VersionStatus] = dataclasses.field(default_factory=dict)
    wanted: set[int] = dataclasses.field(default_factory=set)  # what the policy selected last scan


def check_manifest(version_dir: Path) -> list[str]:
    """Problems found by ``serving.manifest.verify_version`` (none when there is no manifest)."""
    if not (version_dir / "assets.extra" / "manifest.json").is_file():
        log.warning("%s has no assets.extra/manifest.json; loading it without an integrity check",
                    version_dir)
        return []
    try:
        from serving.manifest import verify_version
    except ImportError as err:
        return [f"the version has a manifest but serving.manifest cannot be imported: {err}"]
    return list(verify_version(version_dir))


class ModelManager:
    """Loads, serves and unloads the versions of the configured models.

    Args:
        models: the models to serve.
        batching: batching options for every version, or None.
        metrics: where load, warmup and batch metrics go.
        allow_unavailable_labels: let labels name versions that are not AVAILABLE
            (``--allow_version_labels_for_unavailable_models``).
    """

    def __init__(self, models: tuple[ModelSpec, ...], batching: BatchingOptions | None = None,
                 metrics: Metrics | None = None, allow_unavailable_labels: bool = False) -> None:
        self._lock = threading.RLock()
        self._reconcile_lock = threading.Lock()
        self._models: dict[str, _Model] = {m.name: _Model(m) for m in models}
        self._loggers = self._make_loggers(models)
        self.allow_unavailable_labels = allow_unavailable_labels
        self.batching = batching
        self.metrics = metrics or Metrics()
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None

    # -- configuration ------------------------------------------------------------------------
    def model_names(self) -> list[str]:
        """Names of the configured models."""
        with self._lock:
            return sorted(self._models)

    @staticmethod
    def _make_loggers(models: tuple[ModelSpec, ...]) -> dict[str, RequestLogger]:
        return {m.name: RequestLogger(m.name, m.logging) for m in models if m.logging is not None}

    def request_logger(self, name: str) -> RequestLogger | None:
        """The model's request logger when this request is sampled, else None."""
        logger = self._loggers.get(name)
        return logger if logger is not None and logger.sampled() else None

    def reload_config(self, models: tuple[ModelSpec, ...]) -> None:
        """Replace the model list (``HandleReloadConfigRequest``); removed models are unloaded."""
        with self._lock:
            loggers = self._make_loggers(models)
            for name, logger in self._loggers.items():
                if name in loggers and loggers[name].options == logger.options:
                    loggers[name] = logger  # same file: keep appending
                else:
                    logger.close()
            self._loggers = loggers
            new = {m.name: _Model(m) for m in models}
            for name, model in self._models.items():
                if name in new and new[name].spec.base_path == model.spec.base_path:
                    new[name].versions = model.versions
                else:
                    for status in model.versions.values():
                        self._begin_unload(status)
            self._models = new
        self.reconcile()
        self.check_labels()

    def check_labels(self) -> None:
        """Raise FAILED_PRECONDITION when a label names a version that is not AVAILABLE (unless allowed)."""
        if self.allow_unavailable_labels:
            return
        with self._lock:
            for model in self._models.values():
                for label, version in model.spec.labels:
                    status = model.versions.get(version)
                    if status is None or status.state != "AVAILABLE":
                        raise ServingError(
                            "FAILED_PRECONDITION",
                            f"Request to assign label to version {version} of model {model.spec.name}, "
                            "which is not currently available for inference")

    # -- loading ------------------------------------------------------------------------------
    def reconcile(self) -> None:
        """Load the versions each model's policy wants and unload the ones it no longer wants."""
        with self._reconcile_lock:
            with self._lock:
                models = list(self._models.values())
            for model in models:
                self._reconcile_model(model)

    def _reconcile_model(self, model: _Model) -> None:
        base = Path(model.spec.base_path)
        on_disk = list_versions(base)
        wanted = model.spec.policy.select(on_disk)
        with self._lock:
            model.wanted = set(wanted)
            for version in [v for v, s in model.versions.items()
                            if v not in on_disk and s.servable is None]:
                del model.versions[version]  # a failed or unloaded version folder went away
            to_load = [v for v in sorted(wanted, reverse=True)
                       if v not in model.versions or (model.versions[v].state == "END"
                                                      and model.versions[v].error_code == "OK")]
        for version in to_load:
            self._load(model, version, base / str(version))
        with self._lock:
            serving_wanted = any(s.state == "AVAILABLE" for v, s in model.versions.items() if v in wanted)
            for version, status in model.versions.items():
                if status.state == "AVAILABLE" and version not in wanted and (
                        serving_wanted or version not in on_disk):
                    self._begin_unload(status)

    def _load(self, model: _Model, version: int, path: Path) -> None:
        name = model.spec.name
        status = VersionStatus(version, "START")
        load_started = time.monotonic()
        with self._lock:
            model.versions[version] = status
            status.state = "LOADING"
        log.info("loading %s version %d from %s", name, version, path)
        try:
            problems = check_manifest(path)
            if problems:
                raise ServingError("DATA_LOSS", "; ".join(problems))
            on_batch = self.metrics.batch_callback(name, version)
            servable = Servable(name, version, path, self.batching, on_batch,
                                self.metrics.queue_callback(name, version))
            started = time.monotonic()
            try:
                replayed = self._warmup(servable)
            except Exception:
                self.metrics.warmup_latency.labels(str(path), "ERROR").observe(time.monotonic() - started)
                raise
            if replayed:
                self.metrics.warmup_latency.labels(str(path), "OK").observe(time.monotonic() - started)
                self.metrics.warmup_records.labels(name, str(version)).inc(replayed)
                log.info("replayed %d warmup records for %s version %d", replayed, name, version)
        except Exception as err:  # noqa: BLE001 - every load failure is reported in the status
            code = err.code if isinstance(err, ServingError) else "UNKNOWN"
            message = err.message if isinstance(err, ServingError) else f"{type(err).__name__}: {err}"
            log.error("failed to load %s version %d: %s", name, version, message)
            self.metrics.observe_load(name, version, time.monotonic() - load_started, code)
            with self._lock:
                status.state, status.error_code, status.error_message = "END", code, message
            return
        self.metrics.observe_load(name, version, time.monotonic() - load_started, None)
        with self._lock:
            status.servable = servable
            status.state = "AVAILABLE"
        log.info("%s version %d is AVAILABLE", name, version)

    def _warmup(self, servable: Servable) -> int:
        from serving.server.inference import replay_warmup

        return replay_warmup(servable)

    def _begin_unload(self, status: VersionStatus) -> None:
        """Mark UNLOADING now (no new requests); drain and reach END on a background thread."""
        servable = status.servable
        if servable is None:
            return
        status.state = "UNLOADING"

        def finish() -> None:
            servable.drain_and_close()
            with self._lock:
                status.servable = None
                status.state = "END"
            log.info("%s version %d unloaded", servable.name, servable.version)

        threading.Thread(target=finish, name="unload", daemon=True).start()

    # -- polling ------------------------------------------------------------------------------
    def start_polling(self, seconds: float) -> None:
        """Re-scan the base paths every ``seconds`` (no polling when ``seconds <= 0``)."""
        if seconds <= 0:
            return

        def loop() -> None:
            while not self._stop.wait(seconds):
                try:
                    self.reconcile()
                except Exception:  # noqa: BLE001 - keep polling whatever happens
                    log.exception("model polling failed")

        self._poller = threading.Thread(target=loop, name="poll", daemon=True)
        self._poller.start()

    def stop(self) -> None:
        """Stop polling and unload everything."""
        self._stop.set()
        with self._lock:
            for model in self._models.values():
                for status in model.versions.values():
                    if status.servable is not None and status.servable.batcher is not None:
                        status.servable.batcher.stop()
            for logger in self._loggers.values():
                logger.close()

    # -- lookups ------------------------------------------------------------------------------
    def _model(self, name: str) -> _Model:
        try:
            check_model_name(name)
        except ValueError:
            raise not_found(f"Servable not found for request: Latest({name})") from None
        model = self._models.get(name)
        if model is None:
            raise not_found(f"Servable not found for request: Latest({name})")
        return model

    def resolve_version(self, name: str, version: int | None = None, label: str | None = None) -> int | None:
        """The version number a request names (None = latest); raises NOT_FOUND for unknown labels."""
        if label is None:
            return version
        with self._lock:
            model = self._model(name)
            labels = model.spec.label_map()
        if label not in labels:
            raise not_found(f"Unrecognized servable version label: {label}")
        return labels[label]

    @contextlib.contextmanager
    def servable(self, name: str, version: int | None = None,
                 label: str | None = None) -> Iterator[Servable]:
        """Hold the servable a request names while the request runs (it will not be closed)."""
        version = self.resolve_version(name, version, label)
        with self._lock:
            model = self._model(name)
            available = {v: s.servable for v, s in model.versions.items()
                         if s.state == "AVAILABLE" and s.servable is not None}
            if version is None:
                if not available:
                    raise not_found(f"Servable not found for request: Latest({name})")
                servable = available[max(available)]
            elif version in available:
                servable = available[version]
            else:
                raise not_found(f"Servable not found for request: Specific({name}, {version})")
            servable.acquire()
        try:
            yield servable
        finally:
            servable.release()

    def not_ready(self) -> dict[str, str]:
        """``{model: why}`` for every configured model that is not ready (empty = server ready).

        A model is ready when it has an AVAILABLE (loaded and warmed up) version and no version its
        policy selects is still loading, unless that version replaces one that still serves (an
        availability-preserving swap). A selected version that failed to load does not make a model
        unready while an older version keeps answering in its place.
        """
        problems = {}
        with self._lock:
            for name, model in sorted(self._models.items()):
                available = sorted(v for v, s in model.versions.items() if s.state == "AVAILABLE")
                loading = sorted(v for v in model.wanted
                                 if model.versions.get(v) is None
                                 or model.versions[v].state in ("START", "LOADING"))
                failed = [f"version {v}: {s.error_code}: {s.error_message}"
                          for v, s in sorted(model.versions.items()) if s.error_code != "OK"]
                if not model.wanted and not available:
                    problems[name] = f"no versions found under {model.spec.base_path}"
                elif not available:
                    problems[name] = "no version is AVAILABLE" + (
                        f"; loading: {loading}" if loading else "") + "".join(f"; {f}" for f in failed)
                elif loading and len(available) < len(model.wanted):
                    problems[name] = f"versions still loading: {loading}"
        return problems

    def status(self, name: str, version: int | None = None, label: str | None = None) -> list[VersionStatus]:
        """Status of every version of a model, or of one version (by number or label)."""
        version = self.resolve_version(name, version, label)
        with self._lock:
            model = self._model(name)
            entries = [dataclasses.replace(s, servable=None)
                       for _, s in sorted(model.versions.items(), reverse=True)]
        if version is not None:
            entries = [s for s in entries if s.version == version]
            if not entries:
                raise not_found(f"Could not find version {version} of model {name}")
        elif not entries:
            raise not_found(f"Could not find any versions of model {name}")
        return entries
