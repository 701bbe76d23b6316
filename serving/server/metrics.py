"""Prometheus metrics under TF Serving's names
(``/tensorflow/serving/...`` -> ``:tensorflow:serving:...``).

Served at ``/metrics`` on the REST port (where KServe scrapes) and, when the monitoring config
enables Prometheus, at its ``prometheus_config.path`` too. prometheus-client appends ``_total`` to
counter samples.

Label cardinality is bounded: model names come only from the configuration (requests for unknown
models are not counted), API and status from fixed sets, and each model keeps at most
``MAX_VERSION_LABELS`` distinct version labels (later versions are counted under ``other``).
"""

from __future__ import annotations

import threading

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

_LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
_LOAD_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
MAX_VERSION_LABELS = 20


class Metrics:
    """The server's metrics in their own registry (so several servers can live in one process)."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.request_count = Counter(
            ":tensorflow:serving:request_count",
            "Requests by model, version, API and status",
            ["model_name", "model_version", "API", "entrypoint", "status"],
            registry=self.registry,
        )
        self.request_latency = Histogram(
            ":tensorflow:serving:request_latency",
            "Request latency in seconds",
            ["model_name", "model_version", "API", "entrypoint"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.warmup_latency = Histogram(
            ":tensorflow:serving:model_warmup_latency",
            "Time to replay a version's warmup requests",
            ["model_path", "status"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.warmup_records = Counter(
            ":tensorflow:serving:model_warmup_records",
            "Warmup records replayed before AVAILABLE",
            ["model_name", "model_version"],
            registry=self.registry,
        )
        self.batch_size = Histogram(
            ":tensorflow:serving:batching_session:processed_batch_size",
            "Rows per batch actually run (before padding)",
            ["model_name", "model_version"],
            buckets=_SIZE_BUCKETS,
            registry=self.registry,
        )
        self.padding_size = Histogram(
            ":tensorflow:serving:batching_session:padding_size",
            "Rows of padding added per batch",
            ["model_name", "model_version"],
            buckets=_SIZE_BUCKETS,
            registry=self.registry,
        )
        self.load_count = Counter(
            ":tensorflow:serving:model_load_count",
            "Version loads by outcome",
            ["model_name", "status"],
            registry=self.registry,
        )
        self.load_latency = Histogram(
            ":tensorflow:serving:model_load_latency",
            "Seconds to load and warm up a version",
            ["model_name", "model_version", "status"],
            buckets=_LOAD_BUCKETS,
            registry=self.registry,
        )
        self.load_failures = Counter(
            ":tensorflow:serving:model_load_failures",
            "Failed version loads",
            ["model_name", "model_version", "error_code"],
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            ":tensorflow:serving:batching_session:queue_depth",
            "Rows waiting in the batch queue",
            ["model_name", "model_version"],
            registry=self.registry,
        )
        self._versions: dict[str, set[str]] = {}
        self._lock = threading.Lock()

    def version_label(self, model: str, version: str | int) -> str:
        """``version`` as a label value,
        or ``other`` once ``model`` has MAX_VERSION_LABELS of them.
        """
        version = str(version)
        with self._lock:
            seen = self._versions.setdefault(model, set())
            if version in seen or version == "":
                return version
            if len(seen) >= MAX_VERSION_LABELS:
                return "other"
            seen.add(version)
            return version

    def observe_load(
        self, model: str, version: int, seconds: float, error_code: str | None
    ) -> None:
        """Record one finished load (``error_code`` None when it succeeded)."""
        label = self.version_label(model, version)
        self.load_count.labels(model, "OK" if error_code is None else "ERROR").inc()
        self.load_latency.labels(model, label, "OK" if error_code is None else "ERROR").observe(
            seconds
        )
        if error_code is not None:
            self.load_failures.labels(model, label, error_code).inc()

    def observe_request(
        self, model: str, version: str, api: str, entrypoint: str, status: str, seconds: float
    ) -> None:
        """Record one finished request."""
        version = self.version_label(model, version)
        self.request_count.labels(model, version, api, entrypoint, status).inc()
        self.request_latency.labels(model, version, api, entrypoint).observe(seconds)

    def batch_callback(self, model: str, version: int):
        """A ``(rows, padded_rows)`` callback for a version's `Batcher`."""
        label = self.version_label(model, version)

        def on_batch(rows: int, padded: int) -> None:
            self.batch_size.labels(model, label).observe(rows)
            self.padding_size.labels(model, label).observe(padded - rows)

        return on_batch

    def queue_callback(self, model: str, version: int):
        """A ``(queued_rows)`` callback for a version's `Batcher`."""
        return self.queue_depth.labels(model, self.version_label(model, version)).set

    def exposition(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
