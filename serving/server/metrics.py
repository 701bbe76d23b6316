"""Prometheus metrics under TF Serving's names (``/tensorflow/serving/...`` -> ``:tensorflow:serving:...``).

Served at ``/monitoring/prometheus/metrics`` (or the ``prometheus_config.path`` of the monitoring
config) only when monitoring is enabled; they are always collected because that is cheap.
prometheus-client appends ``_total`` to counter samples.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class Metrics:
    """The server's metrics in their own registry (so several servers can live in one process)."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.request_count = Counter(
            ":tensorflow:serving:request_count", "Requests by model, version, API and status",
            ["model_name", "model_version", "API", "entrypoint", "status"], registry=self.registry)
        self.request_latency = Histogram(
            ":tensorflow:serving:request_latency", "Request latency in seconds",
            ["model_name", "model_version", "API", "entrypoint"], buckets=_LATENCY_BUCKETS,
            registry=self.registry)
        self.warmup_latency = Histogram(
            ":tensorflow:serving:model_warmup_latency", "Time to replay a version's warmup requests",
            ["model_path", "status"], buckets=_LATENCY_BUCKETS, registry=self.registry)
        self.warmup_records = Counter(
            ":tensorflow:serving:model_warmup_records", "Warmup records replayed before AVAILABLE",
            ["model_name", "model_version"], registry=self.registry)
        self.batch_size = Histogram(
            ":tensorflow:serving:batching_session:processed_batch_size",
            "Rows per batch actually run (before padding)", ["model_name", "model_version"],
            buckets=_SIZE_BUCKETS, registry=self.registry)
        self.padding_size = Histogram(
            ":tensorflow:serving:batching_session:padding_size", "Rows of padding added per batch",
            ["model_name", "model_version"], buckets=_SIZE_BUCKETS, registry=self.registry)
        self.load_count = Counter(
            ":tensorflow:serving:model_load_count", "Version loads by outcome",
            ["model_name", "status"], registry=self.registry)

    def observe_request(self, model: str, version: str, api: str, entrypoint: str, status: str,
                        seconds: float) -> None:
        """Record one finished request."""
        self.request_count.labels(model, version, api, entrypoint, status).inc()
        self.request_latency.labels(model, version, api, entrypoint).observe(seconds)

    def batch_callback(self, model: str, version: int):
        """A ``(rows, padded_rows)`` callback for a version's `Batcher`."""
        def on_batch(rows: int, padded: int) -> None:
            self.batch_size.labels(model, str(version)).observe(rows)
            self.padding_size.labels(model, str(version)).observe(padded - rows)
        return on_batch

    def exposition(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
