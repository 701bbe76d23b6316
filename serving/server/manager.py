"""`ModelManager`: which versions are loaded, their states, and which one answers a request.

States follow ``ModelVersionStatus.State``: START -> LOADING -> AVAILABLE -> UNLOADING -> END; a
version that fails to load goes to END with its error in the status and never replaces the
version being served. Loading is availability-preserving: an old version is unloaded only once a
version the policy wants is AVAILABLE, and only after its in-flight requests have finished.
Models load only from their configured base paths; polling finds new version folders. A version
that finishes loading after its model was removed from the configuration is unloaded at once.

Before a version loads, its manifest (``assets.extra/manifest.json``) and, with trusted signers,
its model-signing signature (``assets.extra/model.sig``) are checked (`ModelManager.check_version`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import logging
import math
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from dlsuite.serving.content_credentials import SigningCredentials, served_image_signer
from dlsuite.serving.manifest import (
    MANIFEST_RELPATH,
    SignatureMismatch,
    UnsignedVersion,
    UntrustedSignature,
    check_public_keys,
    manifest_path,
    verify_signature,
    verify_version,
)
from dlsuite.serving.repository import check_model_name, version_dirs
from dlsuite.serving.server.config import BatchingOptions, ModelSpec, SessionOptions
from dlsuite.serving.server.errors import ServingError, not_found
from dlsuite.serving.server.inference import replay_warmup
from dlsuite.serving.server.metrics import Metrics
from dlsuite.serving.server.request_log import RequestLogger
from dlsuite.serving.server.servable import Servable

log = logging.getLogger("dlsuite.serve")


def settle_heap() -> None:
    """Collect garbage, then move every object alive into the GC's permanent generation.

    A loaded model is hundreds of thousands of long-lived Python objects (graph, session,
    signatures). Python's cyclic GC walks all of them on every full collection, which a request
    path that allocates (JSON parsing) triggers every few dozen requests: 50-130 ms pauses that
    stalled every request in flight (measured, docs/serving.md). Frozen objects are not walked.
    The server calls it after every load and unload (``ModelManager(settle_heap=True)``), so an
    unloaded model's cycles are still collected; about 0.1 s each time.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()


@dataclasses.dataclass
class VersionStatus:
    """One version's state and last error (``error_code`` OK when fine)."""

    version: int
    state: str = "START"
    error_code: str = "OK"
    error_message: str = ""
    servable: Servable | None = None
    attempts: int = 0  # failed load attempts so far
    retry_at: float | None = None  # monotonic time of the next load attempt, while retrying


@dataclasses.dataclass
class _Model:
    spec: ModelSpec
    versions: dict[int, VersionStatus] = dataclasses.field(default_factory=dict)
    wanted: set[int] = dataclasses.field(default_factory=set)  # what the policy selected last scan
    folders: dict[int, Path] = dataclasses.field(default_factory=dict)  # version folders, last scan


class FinalRefusal(ServingError):
    """A refused load that trying again cannot change: the version goes to END without retries."""


class ModelManager:
    """Loads, serves and unloads the versions of the configured models.

    Args:
        models: the models to serve.
        batching: batching options for every version, or None.
        metrics: where load, warmup and batch metrics go.
        allow_unavailable_labels: let labels name versions that are not AVAILABLE
            (``--allow_version_labels_for_unavailable_models``).
        max_load_retries: how many times a failed load is tried again before the version is given
            up with its error (``--max_num_load_retries``, TF Serving's default 5; 0 = once).
        load_retry_interval: seconds between load attempts (``--load_retry_interval_micros`` / 1e6,
            default 60 s; 0 or less retries at once).
        session: the TensorFlow thread pools of every loaded version's session.
        settle_heap: run `settle_heap` after every load and unload (the server process does).
        require_manifest: refuse versions without ``assets.extra/manifest.json``
            (``--require_manifest``); by default they load, as in TF Serving, with a warning.
        trusted_signers: PEM public keys (``--trusted_signers``); a version must carry a
            model-signing signature by one of them. Implies ``require_manifest``.
        content_credentials: what signs the C2PA Content Credentials of the images that versions
            marked for Art. 50(2) return (``--c2pa_cert``/``--c2pa_key``); None: the process's
            test chain, made when the first marked version loads (none if c2pa-python is missing).
    """

    def __init__(
        self,
        models: tuple[ModelSpec, ...],
        batching: BatchingOptions | None = None,
        metrics: Metrics | None = None,
        allow_unavailable_labels: bool = False,
        max_load_retries: int = 5,
        load_retry_interval: float = 60.0,
        session: SessionOptions | None = None,
        settle_heap: bool = False,
        require_manifest: bool = False,
        trusted_signers: Sequence[str] = (),
        content_credentials: SigningCredentials | None = None,
    ) -> None:
        if max_load_retries < 0:
            raise ValueError(
                f"max_load_retries expected a non-negative integer. Received: {max_load_retries}"
            )
        self.max_load_retries = max_load_retries
        self.load_retry_interval = load_retry_interval
        self.trusted_signers = check_public_keys(trusted_signers) if trusted_signers else ()
        self.require_manifest = require_manifest or bool(self.trusted_signers)
        if self.trusted_signers:
            log.info(
                "versions must carry a valid manifest and a signature by one of %d trusted "
                "key(s) (--trusted_signers)",
                len(self.trusted_signers),
            )
        elif self.require_manifest:
            log.info("versions must carry a valid manifest (--require_manifest)")
        else:
            log.info(
                "versions without %s load without an integrity check, as in TF Serving "
                "(--require_manifest refuses them)",
                MANIFEST_RELPATH,
            )
        self.content_credentials = content_credentials
        if content_credentials is not None:
            log.info(
                "images of models marked for Art. 50(2) get C2PA Content Credentials signed by %s",
                content_credentials.describe(),
            )
        self._lock = threading.RLock()
        self._reconcile_lock = threading.Lock()
        self._models: dict[str, _Model] = {m.name: _Model(m) for m in models}
        self._loggers = self._make_loggers(models)
        self.allow_unavailable_labels = allow_unavailable_labels
        self.batching = batching
        self.session = session or SessionOptions()
        self._settle_heap = settle_heap
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
        """Raise FAILED_PRECONDITION when a label names a version that is not AVAILABLE
        (unless allowed).
        """
        if self.allow_unavailable_labels:
            return
        with self._lock:
            for model in self._models.values():
                for _, version in model.spec.labels:
                    status = model.versions.get(version)
                    if status is None or status.state != "AVAILABLE":
                        raise ServingError(
                            "FAILED_PRECONDITION",
                            f"Request to assign label to version {version} "
                            f"of model {model.spec.name}, "
                            "which is not currently available for inference",
                        )

    # -- loading ------------------------------------------------------------------------------
    def reconcile(self, rescan: bool = True) -> None:
        """Load the versions each model's policy wants and unload the ones it no longer wants.

        With ``rescan=False`` the folders of the last scan are kept and only loads whose retry is
        due are attempted (retries between polls, or with polling off).
        """
        with self._reconcile_lock:
            with self._lock:
                models = list(self._models.values())
            for model in models:
                self._reconcile_model(model, rescan)

    def _reconcile_model(self, model: _Model, rescan: bool = True) -> None:
        if rescan:
            folders = version_dirs(model.spec.base_path)
            with self._lock:
                model.folders = folders
        on_disk = list(model.folders)
        wanted = model.spec.policy.select(on_disk)
        now = time.monotonic()
        with self._lock:
            model.wanted = set(wanted)
            for version in [
                v
                for v, s in model.versions.items()
                if v not in on_disk and s.servable is None and s.state != "UNLOADING"
            ]:
                del model.versions[version]  # a failed or unloaded version folder went away
            to_load = []
            for version in sorted(wanted, reverse=True):
                status = model.versions.get(version)
                if (
                    status is None
                    or (status.state == "END" and status.error_code == "OK")
                    or (status.retry_at is not None and status.retry_at <= now)
                ):
                    to_load.append(version)
        for version in to_load:
            self._load(model, version, model.folders[version])
        with self._lock:
            serving_wanted = any(
                s.state == "AVAILABLE" for v, s in model.versions.items() if v in wanted
            )
            for version, status in model.versions.items():
                if (
                    status.state == "AVAILABLE"
                    and version not in wanted
                    and (serving_wanted or version not in on_disk)
                ):
                    self._begin_unload(status)

    def _load(self, model: _Model, version: int, path: Path) -> None:
        """Load one version; a failure is retried ``max_load_retries`` times (a `FinalRefusal`
        never), then reported. If the model was removed from the configuration (or moved to
        another base path) while the version loaded, the version is unloaded at once."""
        name = model.spec.name
        with self._lock:
            status = model.versions.get(version)
            if status is None or status.retry_at is None:
                status = VersionStatus(version, "START")
                model.versions[version] = status
            status.state, status.retry_at = "LOADING", None
        while True:
            load_started = time.monotonic()
            log.info("loading %s version %d from %s", name, version, path)
            try:
                servable = self._load_servable(name, version, path)
                break
            except Exception as err:  # noqa: BLE001 - every load failure is reported in the status
                code = err.code if isinstance(err, ServingError) else "UNKNOWN"
                message = (
                    err.message if isinstance(err, ServingError) else f"{type(err).__name__}: {err}"
                )
                self.metrics.observe_load(name, version, time.monotonic() - load_started, code)
                with self._lock:
                    status.attempts += 1
                    # the first try and every retry failed, or trying again cannot help
                    if status.attempts > self.max_load_retries or isinstance(err, FinalRefusal):
                        log.error("failed to load %s version %d: %s", name, version, message)
                        status.state, status.error_code, status.error_message = "END", code, message
                        return
                    log.warning(
                        "failed to load %s version %d (attempt %d of %d, retrying in %gs): %s",
                        name,
                        version,
                        status.attempts,
                        self.max_load_retries + 1,
                        max(self.load_retry_interval, 0),
                        message,
                    )
                    if self.load_retry_interval > 0:  # the poller tries again when it is due
                        status.retry_at = time.monotonic() + self.load_retry_interval
                        return
        self.metrics.observe_load(name, version, time.monotonic() - load_started, None)
        with self._lock:
            status.servable = servable
            status.state = "AVAILABLE"
            current = self._models.get(name)
            removed = current is None or current.versions.get(version) is not status
            if removed:
                self._begin_unload(status)
        if removed:
            log.info(
                "%s version %d finished loading after its model was removed from the "
                "configuration (or moved to another base path); unloading it",
                name,
                version,
            )
            return
        if self._settle_heap:
            settle_heap()
        log.info("%s version %d is AVAILABLE", name, version)

    def check_version(self, path: Path) -> None:
        """Raise `ServingError` if the version in ``path`` may not be loaded.

        No manifest: FAILED_PRECONDITION with ``require_manifest``, else a warning that no
        integrity check was done. Files that do not match the manifest: DATA_LOSS. With trusted
        signers: no signature is FAILED_PRECONDITION; a signature by another key (or one that
        does not verify) is a `FinalRefusal` (FAILED_PRECONDITION, not retried); files that do
        not match what was signed are DATA_LOSS. The other refusals are retried like any failed
        load, since a version still being copied shows the same symptoms.
        """
        if not manifest_path(path).is_file():
            if self.require_manifest:
                flag = "--trusted_signers" if self.trusted_signers else "--require_manifest"
                raise ServingError(
                    "FAILED_PRECONDITION",
                    f"no {MANIFEST_RELPATH}: the version cannot be verified and {flag} "
                    "refuses such versions",
                )
            log.warning(
                "%s has no %s: loading it without an integrity check (start the server with "
                "--require_manifest to refuse such versions)",
                path,
                MANIFEST_RELPATH,
            )
            return
        problems = verify_version(path)
        if problems:
            raise ServingError("DATA_LOSS", "; ".join(problems))
        if not self.trusted_signers:
            return
        try:
            verify_signature(path, self.trusted_signers)
        except UnsignedVersion as err:
            raise ServingError(
                "FAILED_PRECONDITION", f"{err}; --trusted_signers requires a signature"
            ) from None
        except UntrustedSignature as err:
            raise FinalRefusal(
                "FAILED_PRECONDITION", f"{err} (--trusted_signers; not retried)"
            ) from None
        except SignatureMismatch as err:
            raise ServingError("DATA_LOSS", str(err)) from None

    def _load_servable(self, name: str, version: int, path: Path) -> Servable:
        """Check the version, load the SavedModel and replay its warmup requests."""
        self.check_version(path)
        servable = Servable(
            name,
            version,
            path,
            self.batching,
            self.metrics.batch_callback(name, version),
            self.metrics.queue_callback(name, version),
            self.session,
            served_image_signer(self.content_credentials, path, name, version),
        )
        started = time.monotonic()
        try:
            replayed = self._warmup(servable)
        except Exception:
            self.metrics.warmup_latency.labels(str(path), "ERROR").observe(
                time.monotonic() - started
            )
            servable.drain_and_close(timeout=0)
            raise
        if replayed:
            self.metrics.warmup_latency.labels(str(path), "OK").observe(time.monotonic() - started)
            self.metrics.warmup_records.labels(name, str(version)).inc(replayed)
            log.info("replayed %d warmup records for %s version %d", replayed, name, version)
        return servable

    def next_retry(self) -> float | None:
        """The monotonic time of the earliest pending load retry, or None."""
        with self._lock:
            times = [
                s.retry_at
                for m in self._models.values()
                for s in m.versions.values()
                if s.retry_at is not None
            ]
        return min(times) if times else None

    def _warmup(self, servable: Servable) -> int:
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
            if self._settle_heap:
                settle_heap()
            log.info("%s version %d unloaded", servable.name, servable.version)

        threading.Thread(target=finish, name="unload", daemon=True).start()

    # -- polling ------------------------------------------------------------------------------
    def start_polling(self, seconds: float) -> None:
        """Re-scan the base paths every ``seconds`` (never when ``seconds <= 0``)
        and run due retries.
        """

        def loop() -> None:
            next_scan = time.monotonic() + seconds if seconds > 0 else math.inf
            while True:
                retry = self.next_retry()
                wake = min(next_scan, retry if retry is not None else math.inf)
                # nothing due: look again in a second (a config reload may schedule a retry)
                timeout = 1.0 if wake == math.inf else max(0.0, wake - time.monotonic())
                if self._stop.wait(timeout):
                    return
                try:
                    if time.monotonic() >= next_scan:
                        next_scan = time.monotonic() + seconds
                        self.reconcile()
                    elif retry is not None and time.monotonic() >= retry:
                        self.reconcile(rescan=False)
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

    def resolve_version(
        self, name: str, version: int | None = None, label: str | None = None
    ) -> int | None:
        """The version number a request names (None = latest);
        raises NOT_FOUND for unknown labels.
        """
        if label is None:
            return version
        with self._lock:
            model = self._model(name)
            labels = model.spec.label_map()
        if label not in labels:
            raise ServingError("INVALID_ARGUMENT", f"Unrecognized servable version label: {label}")
        return labels[label]

    @contextlib.contextmanager
    def servable(
        self, name: str, version: int | None = None, label: str | None = None
    ) -> Iterator[Servable]:
        """Hold the servable a request names while the request runs (it will not be closed)."""
        version = self.resolve_version(name, version, label)
        with self._lock:
            model = self._model(name)
            available = {
                v: s.servable
                for v, s in model.versions.items()
                if s.state == "AVAILABLE" and s.servable is not None
            }
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
                loading = sorted(
                    v
                    for v in model.wanted
                    if model.versions.get(v) is None
                    or model.versions[v].state in ("START", "LOADING")
                )
                failed = [
                    f"version {v}: {s.error_code}: {s.error_message}"
                    for v, s in sorted(model.versions.items())
                    if s.error_code != "OK"
                ]
                if not model.wanted and not available:
                    problems[name] = f"no versions found under {model.spec.base_path}"
                elif not available:
                    problems[name] = (
                        "no version is AVAILABLE"
                        + (f"; loading: {loading}" if loading else "")
                        + "".join(f"; {f}" for f in failed)
                    )
                elif loading and len(available) < len(model.wanted):
                    problems[name] = f"versions still loading: {loading}"
        return problems

    def status(
        self, name: str, version: int | None = None, label: str | None = None
    ) -> list[VersionStatus]:
        """Status of every version of a model, or of one version (by number or label)."""
        version = self.resolve_version(name, version, label)
        with self._lock:
            model = self._model(name)
            entries = [
                dataclasses.replace(s, servable=None)
                for _, s in sorted(model.versions.items(), reverse=True)
            ]
        if version is not None:
            entries = [s for s in entries if s.version == version]
            if not entries:
                raise not_found(f"Could not find version {version} of model {name}")
        elif not entries:
            raise not_found(f"Could not find any versions of model {name}")
        return entries
