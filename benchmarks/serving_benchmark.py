"""Throughput and p50/p99 latency of `dlsuite serve` (REST and gRPC, batching off and on)
against calling the SavedModel in-process.

    .venv/bin/python benchmarks/serving_benchmark.py --seconds 5 --concurrency 16
    .venv/bin/python benchmarks/serving_benchmark.py --model_base_path saved_models/lenet5 \
        --input '[[...]]' --output benchmarks/results/serving.json

Without ``--model_base_path`` it builds the tiny golden model of the server tests
(y = 0.5 * x + 2). Each mode runs closed-loop clients (one request in flight per client).
"""

from __future__ import annotations

import argparse
import functools
import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def closed_loop(call, concurrency: int, seconds: float) -> dict:
    """Run ``call()`` from ``concurrency`` threads for ``seconds``; throughput and latency stats."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def worker() -> None:
        local = []
        while time.monotonic() < stop:
            t0 = time.perf_counter()
            try:
                call()
            except Exception:  # noqa: BLE001 - counted
                with lock:
                    errors[0] += 1
                continue
            local.append(time.perf_counter() - t0)
        with lock:
            latencies.extend(local)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    lat = np.array(latencies) * 1000
    return {
        "requests": len(latencies),
        "errors": errors[0],
        "throughput_rps": len(latencies) / elapsed,
        "p50_ms": float(np.percentile(lat, 50)) if len(lat) else None,
        "p99_ms": float(np.percentile(lat, 99)) if len(lat) else None,
    }


def rest_caller(url: str, body: str) -> Callable[[], None]:
    """A call that POSTs ``body`` to ``url`` on a `requests.Session` of the calling thread."""
    import requests

    local = threading.local()

    def call() -> None:
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        session.post(url, data=body, timeout=30).raise_for_status()

    return call


def start_server(base: Path, name: str, batching: Path | None) -> tuple[subprocess.Popen, int, int]:
    grpc_port, rest_port = _port(), _port()
    cmd = [
        sys.executable,
        "-m",
        "dlsuite",
        "serve",
        f"--model_name={name}",
        f"--model_base_path={base}",
        f"--port={grpc_port}",
        f"--rest_api_port={rest_port}",
        "--host=127.0.0.1",
        "--log_level=WARNING",
    ]
    if batching:
        cmd += ["--enable_batching", f"--batching_parameters_file={batching}"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import requests

    for _ in range(600):
        try:
            if requests.get(f"http://127.0.0.1:{rest_port}/v1/models/{name}", timeout=1).ok:
                return proc, grpc_port, rest_port
        except requests.RequestException:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model_base_path", help="model folder with numbered versions (default: golden)"
    )
    parser.add_argument("--model_name", default="bench")
    parser.add_argument("--input", default="[1.0]", help="JSON instances of one request")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--output", help="write the results as JSON here")
    args = parser.parse_args()

    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    tmp = Path(tempfile.mkdtemp(prefix="serving-bench-"))
    if args.model_base_path:
        base = Path(args.model_base_path).resolve()
    else:
        from tests.serving.golden import write_half_plus

        base = tmp / "model"
        write_half_plus(base / "1", 2.0, warmup=True)
    from dlsuite.serving.repository import list_versions

    version_dir = base / str(list_versions(base)[-1])
    instances = json.loads(args.input)

    fn = tf.saved_model.load(str(version_dir)).signatures["serving_default"]
    ((input_name, spec),) = fn.structured_input_signature[1].items()
    x = tf.constant(np.array(instances), dtype=spec.dtype)
    results = {
        "in_process": closed_loop(lambda: fn(**{input_name: x}), args.concurrency, args.seconds)
    }

    batching_file = tmp / "batching.txt"
    batching_file.write_text(
        "max_batch_size { value: 32 }\nbatch_timeout_micros { value: 2000 }\n"
        "num_batch_threads { value: 2 }\nmax_enqueued_batches { value: 1000 }\n"
    )
    for mode, batching in (("server", None), ("server_batching", batching_file)):
        proc, grpc_port, rest_port = start_server(base, args.model_name, batching)
        try:
            url = f"http://127.0.0.1:{rest_port}/v1/models/{args.model_name}:predict"
            body = json.dumps({"instances": instances})
            channel = grpc.insecure_channel(f"127.0.0.1:{grpc_port}")
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            request = predict_pb2.PredictRequest()
            request.model_spec.name = args.model_name
            request.inputs[input_name].CopyFrom(tf.make_tensor_proto(x.numpy()))
            results[f"{mode}_rest"] = closed_loop(
                rest_caller(url, body), args.concurrency, args.seconds
            )
            results[f"{mode}_grpc"] = closed_loop(
                functools.partial(stub.Predict, request, timeout=30),
                args.concurrency,
                args.seconds,
            )
            channel.close()
        finally:
            proc.terminate()
            proc.wait(timeout=30)

    print(f"{'mode':24s} {'req/s':>9s} {'p50 ms':>8s} {'p99 ms':>8s} {'errors':>6s}")
    for mode, r in results.items():
        print(
            f"{mode:24s} {r['throughput_rps']:9.1f} "
            f"{r['p50_ms']:8.2f} {r['p99_ms']:8.2f} {r['errors']:6d}"
        )
    report = {
        "concurrency": args.concurrency,
        "seconds": args.seconds,
        "model": str(version_dir),
        "results": results,
    }
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
