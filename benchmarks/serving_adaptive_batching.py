"""Adaptive against fixed batching: latency at low load, throughput at high load.

    .venv/bin/python benchmarks/serving_adaptive_batching.py --seconds 5

Runs the server's `Batcher` in-process on a model whose cost is ``--base_ms`` per call plus
``--row_ms`` per row (a sleep, which releases the GIL like a TensorFlow call), so the numbers show
the batching policy, not TensorFlow. Closed-loop clients (one request of one row in flight each):
``--low`` clients for low load, ``--high`` clients for high load. Fixed batching waits up to
``--timeout_us`` for a batch of ``--max_batch_size``; adaptive uses the same parameters as bounds.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dlsuite.serving.server.batching import Batcher  # noqa: E402
from dlsuite.serving.server.config import BatchingOptions  # noqa: E402


def closed_loop(batcher: Batcher, clients: int, seconds: float) -> dict:
    """``clients`` threads submitting one row at a time for ``seconds``; throughput and latency."""
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds
    x = {"x": np.ones((1,), np.float32)}

    def client() -> None:
        mine = []
        while time.monotonic() < stop:
            started = time.monotonic()
            batcher.submit("serving_default", x)
            mine.append(time.monotonic() - started)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ms = np.asarray(latencies) * 1000
    return {
        "clients": clients,
        "requests_per_s": round(len(ms) / seconds, 1),
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
    }


def run(
    seconds: float,
    low: int,
    high: int,
    base_ms: float,
    row_ms: float,
    timeout_us: int,
    max_batch_size: int,
) -> list[dict]:
    """One row per (policy, load)."""

    def model(signature: str, inputs: dict) -> dict:
        time.sleep((base_ms + row_ms * inputs["x"].shape[0]) / 1000)
        return {"y": inputs["x"]}

    fixed = BatchingOptions(
        max_batch_size=max_batch_size, batch_timeout_micros=timeout_us, num_batch_threads=1
    )
    rows = []
    for name, options in (
        ("fixed", fixed),
        ("adaptive", dataclasses.replace(fixed, adaptive=True)),
    ):
        for load, clients in (("low", low), ("high", high)):
            batcher = Batcher(model, options)
            closed_loop(batcher, clients, min(1.0, seconds))  # warm the moving averages
            rows.append({"batching": name, "load": load, **closed_loop(batcher, clients, seconds)})
            batcher.stop()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--low", type=int, default=1, help="clients at low load")
    parser.add_argument("--high", type=int, default=64, help="clients at high load")
    parser.add_argument("--base_ms", type=float, default=5.0, help="cost of one model call")
    parser.add_argument("--row_ms", type=float, default=0.05, help="cost of one more row")
    parser.add_argument("--timeout_us", type=int, default=10000, help="batch_timeout_micros")
    parser.add_argument("--max_batch_size", type=int, default=32)
    parser.add_argument("--output", help="write the rows as JSON here")
    args = parser.parse_args()
    rows = run(
        args.seconds,
        args.low,
        args.high,
        args.base_ms,
        args.row_ms,
        args.timeout_us,
        args.max_batch_size,
    )
    print("| batching | load | clients | requests/s | p50 ms | p99 ms |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(
            f"| {r['batching']} | {r['load']} | {r['clients']} | {r['requests_per_s']} | "
            f"{r['p50_ms']} | {r['p99_ms']} |"
        )
    if args.output:
        Path(args.output).write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
