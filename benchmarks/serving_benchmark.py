"""Throughput, p50/p99 latency and server CPU per request of `dlsuite serve` (REST and gRPC,
batching off and on, several connection counts) against calling the model in-process.

    .venv/bin/python benchmarks/serving_benchmark.py --models half_plus_two --seconds 5
    .venv/bin/python benchmarks/serving_benchmark.py --models lenet,half_plus_two \
        --model_base_path saved_models/digits --signature predict_images \
        --instance-shape 32,32,1 --connections 1,8,32 --seconds 5 \
        --server-flag=--tensorflow_intra_op_parallelism=1 --output benchmarks/results/serving.json

``--model_base_path`` is a LeNet digits export of the suite (``make demo`` writes
saved_models/digits; numbered version folders, the newest
is used); ``half_plus_two`` is the golden model of the server tests (y = 0.5 * x + 2), built in
a temporary folder. The batching parameters are options (``--max-batch-size`` and so on).

Every point is a closed loop (each connection keeps one request in flight) for ``--seconds``,
with the load generated outside the server process and never from Python threads sharing one
interpreter:

* REST: ``hey`` (Go; Debian package ``hey``). ``wrk`` was tried too but showed an artefact here,
  a p99 of ~80 ms at 1 connection that neither hey nor a Python client sees, so hey it is.
  hey prints latencies in 0.1 ms steps; answers other than 200 count as errors.
* gRPC: there is no C/Go gRPC load generator installed, so ``C`` separate client processes
  ("spawn"), each with one channel and ``PredictionServiceStub``, released by a common barrier.
* in-process reference: the server's own loader (``Servable``, with the session thread pools of
  the ``--tensorflow_*_op_parallelism`` server flags) called from 1 and from 8 threads, as the
  server runs the model from threads too; and from 1 thread with 8 and 32 rows per call
  (``rows_x8``, ``rows_x32``, in rows/s): what a batch can save on the model's own cost.
* ``status_probe``: while REST predict runs at the largest connection count (for at least
  10 seconds), one more connection asks for the model's status (``GET /v1/models/NAME``) 50 times
  a second; its p99 (of 500 or more probes: over 200 it swung from 13 to 78 ms between runs) is
  the responsiveness of the server under saturation.

Server CPU per request comes from utime + stime in /proc/PID/stat of the server process and its
children (``--server-flag=--num_processes=N``).
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import multiprocessing as mp
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import types
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """utime + stime in seconds of process ``pid`` and its children (``--num_processes``)."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # exited meanwhile
            continue
        if str(pid) in (stat.parent.name, fields[1]):
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def result(
    rps: float, p50: float | None, p99: float | None, cpu_s: float, errors: int, requests: int
) -> dict[str, Any]:
    """The numbers of one measured point."""
    cpu_ms = 1000 * cpu_s / requests if requests else None
    return dict(
        rps=rps, p50_ms=p50, p99_ms=p99, cpu_ms_per_request=cpu_ms, errors=errors, requests=requests
    )


def from_latencies(answers: list[tuple[list[float], int]], seconds: float, cpu_s: float) -> dict:
    """`result` of `closed_loop` runs: answered calls / seconds and their percentiles."""
    lat = np.array([x for latencies, _ in answers for x in latencies]) * 1000
    errors = sum(e for _, e in answers)
    p50, p99 = (float(np.percentile(lat, q)) for q in (50, 99)) if len(lat) else (None, None)
    return result(len(lat) / seconds, p50, p99, cpu_s, errors, len(lat) + errors)


def closed_loop(
    call: Callable[[], object], seconds: float, failure: type[Exception]
) -> tuple[list[float], int]:
    """Latencies (s) of back-to-back ``call()`` for ``seconds``, and the number that failed."""
    latencies: list[float] = []
    errors = 0
    end = time.perf_counter() + seconds
    while (t0 := time.perf_counter()) < end:
        try:
            call()
        except failure:
            errors += 1
            continue
        latencies.append(time.perf_counter() - t0)
    return latencies, errors


def in_process(servable: Any, key: str, inputs: dict, threads: int, seconds: float) -> dict:
    """``servable.run`` in a closed loop from ``threads`` threads."""
    answers: list[tuple[list[float], int]] = []
    barrier = threading.Barrier(threads + 1)

    def loop() -> None:
        barrier.wait()
        answers.append(closed_loop(lambda: servable.run(key, inputs), seconds, Exception))

    workers = [threading.Thread(target=loop) for _ in range(threads)]
    for w in workers:
        w.start()
    barrier.wait()
    cpu0 = cpu_seconds(os.getpid())
    for w in workers:
        w.join()
    return from_latencies(answers, seconds, cpu_seconds(os.getpid()) - cpu0)


def parse_hey(text: str) -> tuple[float, float | None, float | None, int, int]:
    """Requests/sec, p50 and p99 (ms), 200 answers and errors (other codes, failed requests)."""
    summary, _, failures = text.partition("Error distribution:")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", summary).group(1))
    pct = {int(p): 1000 * float(s) for p, s in re.findall(r"(\d+)%+ in ([\d.]+) secs", summary)}
    codes = {int(c): int(n) for c, n in re.findall(r"\[(\d+)\]\s+(\d+) responses", summary)}
    failed = sum(int(n) for n in re.findall(r"^\s*\[(\d+)\]", failures, re.MULTILINE))
    ok = codes.pop(200, 0)
    return rps, pct.get(50), pct.get(99), ok, sum(codes.values()) + failed


# the REST point at the most connections, with the status probe beside it, runs at least this
# long: 500 probes, enough for a steady p99
PROBE_SECONDS = 10.0

# calls of this many rows, run in-process from one thread (rows_x8, rows_x32): their rows/s over
# in_process_1's calls/s is the most batching can gain on the model's own cost
ROWS_PER_CALL = (8, 32)

HEY_POST = ["-m", "POST", "-T", "application/json", "-D"]  # followed by the body file


def rest_point(url: str, body: Path, connections: int, seconds: float, pid: int) -> dict:
    cmd = ["hey", "-z", f"{seconds}s", "-c", str(connections), *HEY_POST, str(body), url]
    cpu0 = cpu_seconds(pid)
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    cpu = cpu_seconds(pid) - cpu0
    rps, p50, p99, ok, errors = parse_hey(out)
    return result(rps, p50, p99, cpu, errors, ok + errors)


def probe_under_load(
    probe_url: str, url: str, body: Path, connections: int, seconds: float, pid: int
) -> tuple[dict, dict]:
    """`rest_point` of predict with, alongside, one connection asking ``probe_url`` (a status or
    health GET) 50 times a second: ``(predict numbers, probe numbers)``."""
    cmd = ["hey", "-z", f"{seconds}s", "-c", "1", "-q", "50", probe_url]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) as probe:
        numbers = rest_point(url, body, connections, seconds, pid)
        out, _ = probe.communicate()
    rps, p50, p99, ok, errors = parse_hey(out)
    return numbers, result(rps, p50, p99, 0.0, errors, ok + errors) | {"cpu_ms_per_request": None}


def _tensorflow_protos_only() -> None:
    """Let ``import tensorflow.core.framework.*_pb2`` load the protobuf modules alone.

    tensorflow_serving.apis imports them, which would run tensorflow/__init__.py: ~670 MB and
    3 s per client process instead of ~30 MB and 0.1 s, too much for 32 clients.
    """
    package = types.ModuleType("tensorflow")
    package.__path__ = list(importlib.util.find_spec("tensorflow").submodule_search_locations)
    sys.modules["tensorflow"] = package


def grpc_client(target: str, request: bytes, seconds: float, barrier: Any, results: Any) -> None:
    """One client process: closed-loop ``Predict`` calls on one channel for ``seconds``."""
    _tensorflow_protos_only()
    import grpc
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    message = predict_pb2.PredictRequest.FromString(request)
    with grpc.insecure_channel(target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        try:
            for _ in range(3):  # connect and warm up
                stub.Predict(message, timeout=60)
        except grpc.RpcError as err:
            results.put(f"gRPC warm-up failed: {err}")
            barrier.abort()
            return
        barrier.wait()
        results.put(closed_loop(lambda: stub.Predict(message, timeout=60), seconds, grpc.RpcError))


def grpc_point(target: str, request: bytes, connections: int, seconds: float, pid: int) -> dict:
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(connections + 1), ctx.Queue()
    clients = [
        ctx.Process(target=grpc_client, args=(target, request, seconds, barrier, results))
        for _ in range(connections)
    ]
    for c in clients:
        c.start()
    try:
        barrier.wait(timeout=300)
    except threading.BrokenBarrierError:
        for c in clients:
            c.terminate()
        raise RuntimeError(results.get(timeout=10)) from None
    cpu0 = cpu_seconds(pid)
    answers = [results.get(timeout=seconds + 120) for _ in clients]
    cpu = cpu_seconds(pid) - cpu0
    for c in clients:
        c.join()
    return from_latencies(answers, seconds, cpu)


def session_options(server_flags: list[str]) -> Any:
    """The `SessionOptions` the server gets from ``--tensorflow_{intra,inter}_op_parallelism`` in
    ``server_flags``, so the in-process reference runs the model on the same thread pools."""
    from dlsuite.serving.server.config import SessionOptions

    pools = dict(
        re.findall(r"--tensorflow_(intra|inter)_op_parallelism=(\d+)", " ".join(server_flags))
    )
    return SessionOptions(**{f"{k}_op": int(v) for k, v in pools.items()})


def start_server(
    name: str, base: Path, extra: list[str], log: Path
) -> tuple[subprocess.Popen[bytes], int, int]:
    """``dlsuite serve`` on free ports; returns once the REST model status answers 200."""
    grpc_port, rest_port = free_port(), free_port()
    cmd = [sys.executable, "-m", "dlsuite", "serve", f"--model_name={name}"]
    cmd += [f"--model_base_path={base}", f"--port={grpc_port}", f"--rest_api_port={rest_port}"]
    cmd += ["--host=127.0.0.1", "--log_level=WARNING", *extra]
    with log.open("w") as err:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=err, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    url = f"http://127.0.0.1:{rest_port}/v1/models/{name}"
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return proc, grpc_port, rest_port
        except OSError:  # not listening yet, or not 200 (HTTPError)
            pass
        time.sleep(0.2)
    stop_server(proc)
    raise RuntimeError(f"server did not start: {' '.join(cmd)}\n{log.read_text()[-3000:]}")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def bench_model(
    name: str, base: Path, key: str, shape: tuple[int, ...], args: argparse.Namespace, tmp: Path
) -> list[dict]:
    """All points of one model: in-process, then REST and gRPC with batching off and on."""
    import tensorflow as tf
    from tensorflow.core.framework.tensor_pb2 import TensorProto
    from tensorflow_serving.apis import predict_pb2

    from dlsuite.serving.repository import version_dirs
    from dlsuite.serving.server.servable import Servable

    version, path = list(version_dirs(base).items())[-1]
    servable = Servable(name, version, path, session=session_options(args.server_flag))
    gc.collect()
    gc.freeze()
    ((input_name, spec),) = servable.input_specs[key].items()
    rng = np.random.default_rng(0)
    batch = rng.random((1, *shape)).astype(spec.dtype.as_numpy_dtype)
    rows = []

    def add(mode: str, batching: bool | None, connections: int, numbers: dict) -> None:
        rows.append({"model": name, "mode": mode, "batching": batching})
        rows[-1] |= {"connections": connections, **numbers}
        print_row(rows[-1])

    for threads in (1, 8):
        numbers = in_process(servable, key, {input_name: batch}, threads, args.seconds)
        add(f"in_process_{threads}", None, threads, numbers)
    for rows_per_call in ROWS_PER_CALL:  # what a batch saves: rows/s of one thread's bigger calls
        rows_in = {input_name: np.repeat(batch, rows_per_call, axis=0)}
        numbers = in_process(servable, key, rows_in, 1, args.seconds)
        numbers["rps"] *= rows_per_call
        add(f"rows_x{rows_per_call}", None, 1, numbers)
    servable.drain_and_close()
    del servable

    body = tmp / f"{name}.json"
    body.write_text(json.dumps({"signature_name": key, "instances": batch.tolist()}))
    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    request.model_spec.signature_name = key
    proto = tf.make_tensor_proto(batch)
    if not proto.tensor_content:  # one element comes as float_val & co.: send tensor_content too
        proto = TensorProto(
            dtype=proto.dtype, tensor_shape=proto.tensor_shape, tensor_content=batch.tobytes()
        )
    request.inputs[input_name].CopyFrom(proto)
    message = request.SerializeToString()
    batching_file = tmp / "batching.txt"
    batching_file.write_text(
        f"max_batch_size {{ value: {args.max_batch_size} }}\n"
        f"batch_timeout_micros {{ value: {args.batch_timeout_micros} }}\n"
        f"num_batch_threads {{ value: {args.num_batch_threads} }}\n"
        f"max_enqueued_batches {{ value: {args.max_enqueued_batches} }}\n"
    )
    for batching in (False, True):
        extra = list(args.server_flag)
        if batching:
            extra += ["--enable_batching", f"--batching_parameters_file={batching_file}"]
        proc, grpc_port, rest_port = start_server(name, base, extra, tmp / f"{name}.log")
        try:
            url = f"http://127.0.0.1:{rest_port}/v1/models/{name}:predict"
            warm_up = ["hey", "-n", "200", "-c", "4", *HEY_POST, str(body), url]
            subprocess.run(warm_up, capture_output=True, check=True)
            for c in args.connections:
                if c != max(args.connections):
                    add("rest", batching, c, rest_point(url, body, c, args.seconds, proc.pid))
                    continue
                status = f"http://127.0.0.1:{rest_port}/v1/models/{name}"
                seconds = max(args.seconds, PROBE_SECONDS)
                numbers, probe = probe_under_load(status, url, body, c, seconds, proc.pid)
                add("rest", batching, c, numbers)
                add("status_probe", batching, 1, probe)  # while the row above ran
            for c in args.connections:
                target = f"127.0.0.1:{grpc_port}"
                add("grpc", batching, c, grpc_point(target, message, c, args.seconds, proc.pid))
        finally:
            stop_server(proc)
    return rows


def ratios(rows: list[dict]) -> dict[str, float | None]:
    """req/s ratios: REST/gRPC at 8 connections over in-process (8 threads), batching on over
    off at 32 connections, 8 over 1 connection, and the model's rows/s in bigger calls."""
    rps = {(r["model"], r["mode"], r["batching"], r["connections"]): r["rps"] for r in rows}

    def div(a: tuple, b: tuple) -> float | None:
        return rps[a] / rps[b] if a in rps and b in rps and rps[b] else None

    out: dict[str, float | None] = {}
    for m in dict.fromkeys(r["model"] for r in rows):
        for n in ROWS_PER_CALL:
            out[f"{m} model rows/s, {n} rows per call / 1"] = div(
                (m, f"rows_x{n}", None, 1), (m, "in_process_1", None, 1)
            )
        for api in ("rest", "grpc"):
            for b in (False, True):
                tag = f"{m} {api} batching {'on' if b else 'off'}"
                out[f"{tag}: 8 conn / in_process_8"] = div(
                    (m, api, b, 8), (m, "in_process_8", None, 8)
                )
                out[f"{tag}: 8 conn / 1 conn"] = div((m, api, b, 8), (m, api, b, 1))
            out[f"{m} {api} 32 conn: batching on / off"] = div(
                (m, api, True, 32), (m, api, False, 32)
            )
    return out


def fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


HEADER = (
    f"{'model':14s} {'mode':13s} {'batch':>5s} {'conn':>4s} {'req/s':>9s} {'p50 ms':>8s} "
    f"{'p99 ms':>8s} {'cpu ms/req':>10s} {'errors':>6s}"
)


def print_row(r: dict) -> None:
    batching = "-" if r["batching"] is None else ("on" if r["batching"] else "off")
    print(
        f"{r['model']:14s} {r['mode']:13s} {batching:>5s} {r['connections']:4d} "
        f"{fmt(r['rps'], '9.1f')} {fmt(r['p50_ms'], '8.2f')} {fmt(r['p99_ms'], '8.2f')} "
        f"{fmt(r['cpu_ms_per_request'], '10.3f')} {r['errors']:6d}",
        flush=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="lenet,half_plus_two", help="comma-separated")
    parser.add_argument("--model_base_path", help="LeNet export (numbered version folders)")
    parser.add_argument("--signature", default="predict_images", help="LeNet signature")
    parser.add_argument("--instance-shape", default="32,32,1", help="LeNet instance shape")
    parser.add_argument("--connections", default="1,8,32", help="comma-separated")
    parser.add_argument("--seconds", type=float, default=5.0, help="per point")
    parser.add_argument("--max-batch-size", type=int, default=32)
    parser.add_argument("--batch-timeout-micros", type=int, default=2000)
    parser.add_argument("--num-batch-threads", type=int, default=2)
    parser.add_argument("--max-enqueued-batches", type=int, default=1000)
    parser.add_argument(
        "--server-flag",
        action="append",
        default=[],
        help="extra `dlsuite serve` flag, repeatable; use the = form: "
        "--server-flag=--tensorflow_intra_op_parallelism=1",
    )
    parser.add_argument("--output", help="write everything as JSON here")
    args = parser.parse_args()
    args.connections = [int(c) for c in args.connections.split(",")]
    print("command:", " ".join([sys.executable, *sys.argv]))
    print("os.cpu_count():", os.cpu_count(), flush=True)

    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="serving-bench-") as tmp_dir:
        tmp = Path(tmp_dir)
        for model in args.models.split(","):
            if model == "lenet":
                if not args.model_base_path:
                    print("skipping lenet: it needs --model_base_path (a digits LeNet export)")
                    continue
                shape = tuple(int(d) for d in args.instance_shape.split(",") if d)
                base, key = Path(args.model_base_path).resolve(), args.signature
            elif model == "half_plus_two":
                from tests.serving.golden import write_half_plus

                base, key, shape = tmp / "half_plus_two", "serving_default", ()
                write_half_plus(base / "1", 2.0, warmup=True)
            else:
                parser.error(f"unknown model {model!r} (lenet, half_plus_two)")
            print(HEADER)
            rows += bench_model(model, base, key, shape, args, tmp)

    print(f"\n{HEADER}")
    for r in rows:
        print_row(r)
    ratio = ratios(rows)
    print("\nreq/s ratios:")
    width = max(map(len, ratio), default=0)
    for label, value in ratio.items():
        print(f"  {label:{width}s} {fmt(value, '7.3f'):>7s}")
    if args.output:
        from dlsuite.base.files import atomic_write_json

        report = {"command": sys.argv, "cpu_count": os.cpu_count(), "args": vars(args)}
        atomic_write_json(args.output, report | {"results": rows, "ratios": ratio})
    return 0


if __name__ == "__main__":
    sys.exit(main())
