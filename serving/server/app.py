"""Run the model server: load the models, then serve gRPC and REST from one process."""

from __future__ import annotations

import asyncio
import ctypes
import logging
import multiprocessing
import os
import shutil
import signal
import sys
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import uvloop

from dlsuite.serving.server import access_log
from dlsuite.serving.server.config import ServerOptions, server_options, tfserving_argv
from dlsuite.serving.server.errors import ServingError
from dlsuite.serving.server.manager import ModelManager
from dlsuite.serving.server.metrics import Metrics
from dlsuite.serving.server.overload import Admission
from dlsuite.serving.server.security import ServerSecurity

log = logging.getLogger("dlsuite.serve")
READY_PREFIX = "dlsuite serve: ready"  # then "(gRPC <port>, REST <port>)": the ports actually bound


def serve(flags: Mapping[str, Any]) -> int:
    """Run the backend ``flags["backend"]`` names with ``flags`` (every flag of `dlsuite serve`).

    ``tfserving`` replaces this process with tensorflow_model_server from PATH; ``dlsuite`` logs at
    ``flags["log_level"]`` and runs `run_server`.
    """
    if flags["backend"] == "tfserving":
        binary = shutil.which("tensorflow_model_server")
        if binary is None:
            raise FileNotFoundError(
                "--backend tfserving needs tensorflow_model_server on PATH (install it from "
                "https://www.tensorflow.org/tfx/serving/setup or use the tensorflow/serving docker "
                "image); or use --backend dlsuite"
            )
        argv = tfserving_argv(flags, binary)
        print(" ".join(argv), file=sys.stderr, flush=True)
        os.execv(binary, argv)
    level = getattr(logging, str(flags["log_level"]).upper(), logging.INFO)
    _configure_logging(level)
    options = server_options(flags)
    if options.num_processes > 1:
        return run_processes(options, level)
    return run_server(options)


def _configure_logging(level: int) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def run_processes(options: ServerOptions, log_level: int = logging.INFO) -> int:
    """`run_server` in ``options.num_processes`` processes sharing both ports (SO_REUSEPORT: the
    kernel spreads connections over them), this one included; stops the others when it stops.

    Each process loads its own copy of the models and polls the repository itself; metrics,
    ``HandleReloadConfigRequest`` and request logs are per process.
    """
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no forked TF state
    others = [
        context.Process(target=_run_child, args=(options, log_level), name=f"serve-{i}")
        for i in range(1, options.num_processes)
    ]
    for process in others:
        process.start()
    try:
        return run_server(options)
    finally:
        for process in others:
            process.terminate()
        for process in others:
            process.join(timeout=30)


def _run_child(options: ServerOptions, log_level: int) -> None:
    _configure_logging(log_level)
    sys.exit(run_server(options))


# glibc's mallopt parameters (malloc.h)
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8


def tune_malloc() -> None:
    """Make glibc's malloc give memory back to the system, as a long-running server needs.

    By default glibc gives every thread that allocates an arena of its own (up to 8 per core),
    and after a large block is freed it raises the size from which blocks are mmapped, so later
    large request buffers (a 64 MB body, its decoded copy) land in the arenas and stay there once
    freed. Measured with the fuzz test (tests/serving/test_server_fuzz.py): resident memory grew
    from 607 MB after warm-up to 916 MB over the hostile requests, and to 660 MB with two arenas
    and a fixed 1 MiB mmap threshold. Does nothing where the C library is not glibc.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc
        return
    mallopt(_M_ARENA_MAX, 2)
    mallopt(_M_MMAP_THRESHOLD, 1 << 20)


def run_server(options: ServerOptions) -> int:
    """Load every model, serve until SIGINT/SIGTERM, then stop cleanly; returns the exit code."""
    tune_malloc()
    # Here, not at the top: its TF Serving protos import TensorFlow, which `serve` does not need
    # when it execs tensorflow_model_server.
    from dlsuite.serving.server.grpc_service import make_grpc_server

    security = ServerSecurity(options.security, options.models)  # TLS errors before any load

    manager = ModelManager(
        options.models,
        options.batching,
        Metrics(),
        options.allow_version_labels_for_unavailable_models,
        max_load_retries=options.max_num_load_retries,
        load_retry_interval=options.load_retry_interval_micros / 1e6,
        session=options.session,
        settle_heap=True,
        require_manifest=options.security.require_manifest,
        trusted_signers=options.security.trusted_signers,
        content_credentials=options.content_credentials,
    )
    manager.reconcile()  # the initial load happens before the ports open, as in TF Serving
    try:
        manager.check_labels()
    except ServingError as err:
        manager.stop()
        raise ValueError(
            f"{err.message} (start with --allow_version_labels_for_unavailable_models to allow it)"
        ) from None
    for name in manager.model_names():
        try:
            log.info("model %s: %s", name, {s.version: s.state for s in manager.status(name)})
        except ServingError:
            log.warning("model %s: no versions found yet under its base path", name)
    batch_threads = 2 * options.batching.max_batch_size if options.batching else 0
    workers = min(128, max(32, batch_threads))
    admission = Admission(options.overload.max_concurrent_requests)  # REST and gRPC together
    grpc_server, grpc_port = make_grpc_server(
        manager,
        options.host,
        options.port,
        options.grpc_max_receive_bytes,
        workers,
        options.access_log,
        options.grpc_max_send_bytes,
        reuse_port=options.num_processes > 1,
        security=security,
        admission=admission,
        limits=options.limits,
    )
    try:
        # uvloop (libuv) runs the REST port's event loop: the same aiohttp server serves 12-18%
        # more requests a second than on asyncio's own loop (docs/serving.md, Throughput)
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(_serve_rest(manager, options, workers, grpc_port, security, admission))
    finally:
        grpc_server.stop(grace=2).wait()
        manager.stop()
    log.info("server stopped")
    return 0


async def _serve_rest(
    manager: ModelManager,
    options: ServerOptions,
    workers: int,
    grpc_port: int,
    security: ServerSecurity,
    admission: Admission,
) -> None:
    from aiohttp import web

    from dlsuite.serving.server.rest import RestApi

    executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rest")
    api = RestApi(
        manager,
        executor,
        max_request_bytes=options.max_request_bytes,
        timeout_ms=options.rest_api_timeout_in_ms,
        prometheus_path=options.prometheus_path,
        access_log=options.access_log,
        cors_origins=options.cors_allowed_origins,
        security=security,
        overload=options.overload,
        admission=admission,
        limits=options.limits,
    )
    if options.access_log:
        access_log.enable()
    # aiohttp's keep-alive timer runs from a connection's start and from each response until the
    # next request's headers are complete: it is the idle timeout and the header-read timeout
    # at once, so it gets the smaller of the two (the body's read is timed in RestApi).
    overload = options.overload
    header_ms = min(overload.rest_idle_timeout_in_ms, overload.rest_read_timeout_in_ms)
    runner = api.make_runner(access_log=None, keepalive_timeout=header_ms / 1000)
    await runner.setup()
    site = web.TCPSite(
        runner,
        options.host,
        options.rest_api_port,
        reuse_port=options.num_processes > 1,
        ssl_context=security.rest_ssl_context,
    )
    await site.start()
    rest_port = site.port  # the bound port (--rest_api_port=0 asks for any free one)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    manager.start_polling(options.file_system_poll_wait_seconds)
    log.info("Running gRPC ModelServer at %s:%d ...", options.host, grpc_port)
    log.info("Exporting HTTP/REST API at:%s:%d ...", options.host, rest_port)
    print(f"{READY_PREFIX} (gRPC {grpc_port}, REST {rest_port})", flush=True)
    await stop.wait()
    await runner.cleanup()
    api.close()
    executor.shutdown(wait=False, cancel_futures=True)
