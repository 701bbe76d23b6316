"""Fixtures for the model-server tests: golden models and server processes on free ports."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
METRICS = "/monitoring/prometheus/metrics"
_READY = re.compile(r"dlsuite serve: ready \(gRPC (?P<grpc>\d+), REST (?P<rest>\d+)\)")


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def golden_versions(tmp_path_factory) -> dict[str, Path]:
    """Two golden versions, written once: ``two`` (y = x/2 + 2) and ``three`` (y = x/2 + 3)."""
    from tests.serving.golden import write_half_plus

    root = tmp_path_factory.mktemp("golden")
    return {
        "two": write_half_plus(root / "two", 2.0),
        "three": write_half_plus(root / "three", 3.0),
    }


def predict_request(
    name: str,
    values,
    signature: str = "",
    version: int | None = None,
    label: str | None = None,
    inputs: dict | None = None,
):
    """A ``PredictRequest`` for ``name``: float32 ``x`` = ``values`` unless ``inputs``
    names others."""
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    req = predict_pb2.PredictRequest()
    req.model_spec.name = name
    req.model_spec.signature_name = signature
    if version is not None:
        req.model_spec.version.value = version
    if label is not None:
        req.model_spec.version_label = label
    for key, value in (inputs or {"x": values}).items():
        req.inputs[key].CopyFrom(tf.make_tensor_proto(value, dtype=tf.float32))
    return req


def wait_until(condition, timeout: float = 60.0) -> bool:
    """Poll ``condition()`` every 0.2 s until it is true (True) or ``timeout`` passes (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def copy_version(src: Path, model_dir: Path, version: int) -> Path:
    """Publish a copy of ``src`` as ``model_dir/<version>`` atomically (as an export would)."""
    model_dir.mkdir(parents=True, exist_ok=True)
    tmp = model_dir / f".tmp-{version}"
    shutil.copytree(src, tmp)
    target = model_dir / str(version)
    os.rename(tmp, target)
    return target


class ServerProcess:
    """``python -m dlsuite serve`` in a subprocess, logging to a file.

    The dlsuite backend binds port 0 (any free port) and the ports it got are read from its
    ``dlsuite serve: ready (gRPC <port>, REST <port>)`` line, so no port is chosen here and
    released before the server binds it (a race). The real ``tensorflow_model_server`` is given
    free ports chosen here. A secured server (``--ssl_config_file``, ``--auth_token_file``) is
    reached with ``scheme="https"`` and ``requests``' ``verify``, ``cert`` and ``headers``.
    """

    def __init__(
        self,
        args: list[str],
        log_path: Path,
        backend: str = "dlsuite",
        ports: tuple[int, int] | None = None,
        *,
        scheme: str = "http",
        verify: bool | str = True,
        cert: tuple[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """With ``ports`` (gRPC, REST), ``args`` is the whole command line (it names the ports;
        0 is read back from the ready line too)."""
        self.scheme = scheme
        self.requests_options = {"verify": verify, "cert": cert, "headers": headers or {}}
        if ports is None:
            ports = (0, 0) if backend == "dlsuite" else (free_port(), free_port())
            cmd_ports = ["--backend", backend, f"--port={ports[0]}", f"--rest_api_port={ports[1]}"]
            if backend == "dlsuite":
                cmd_ports.append("--host=127.0.0.1")
        else:
            cmd_ports = []
        self.grpc_port: int | None = ports[0] or None
        self.rest_port: int | None = ports[1] or None
        self.backend = backend
        self.log_path = log_path
        cmd = [sys.executable, "-m", "dlsuite", "serve", *cmd_ports, *args]
        env = {
            **os.environ,
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "CUDA_VISIBLE_DEVICES": "",
            "PYTHONPATH": str(ROOT),
        }
        self._log = open(log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT, env=env
        )

    def _bound_ports(self) -> bool:
        """Read the bound ports from the ready line once it is written; True when they are known."""
        if self.grpc_port is not None and self.rest_port is not None:
            return True
        match = _READY.search(self.log_path.read_text(errors="replace"))
        if match is None:
            return False
        self.grpc_port, self.rest_port = int(match["grpc"]), int(match["rest"])
        return True

    @property
    def rest(self) -> str:
        if not self._bound_ports():
            raise RuntimeError(f"the server has not said which ports it bound yet:\n{self.log()}")
        return f"{self.scheme}://127.0.0.1:{self.rest_port}"

    @property
    def grpc_target(self) -> str:
        if not self._bound_ports():
            raise RuntimeError(f"the server has not said which ports it bound yet:\n{self.log()}")
        return f"127.0.0.1:{self.grpc_port}"

    def wait_ready(self, model: str, timeout: float = 120.0) -> None:
        """Wait until ``model`` answers its status on REST; fail with the log if the
        process dies."""
        self.wait_for(f"/v1/models/{model}", timeout)

    def wait_for(self, path: str, timeout: float = 120.0) -> None:
        """Wait until ``GET path`` answers 200 on REST; fail with the log if the process dies."""
        import requests

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if (
                    self._bound_ports()
                    and requests.get(
                        f"{self.rest}{path}", timeout=2, **self.requests_options
                    ).status_code
                    == 200
                ):
                    return
            except requests.RequestException:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"server did not answer {path} after {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def start_server(
    args: list[str],
    log_path: Path,
    ready_model: str,
    backend: str = "dlsuite",
    **secured: Any,
) -> ServerProcess:
    """Start a server and wait until ``ready_model`` is served (skip tfserving when absent);
    ``secured`` are `ServerProcess`'s ``scheme``, ``verify``, ``cert`` and ``headers``."""
    if backend == "tfserving" and shutil.which("tensorflow_model_server") is None:
        pytest.skip("tensorflow_model_server is not on PATH")
    server = ServerProcess(args, log_path, backend, **secured)
    server.wait_ready(ready_model)
    return server


@pytest.fixture(scope="module")
def stubs(server):
    """``(PredictionServiceStub, ModelServiceStub)`` on the module's own ``server`` fixture."""
    import grpc
    from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

    channel = grpc.insecure_channel(server.grpc_target)
    yield (
        prediction_service_pb2_grpc.PredictionServiceStub(channel),
        model_service_pb2_grpc.ModelServiceStub(channel),
    )
    channel.close()


@pytest.fixture(scope="session")
def batching_server(golden_versions, tmp_path_factory):
    """One dlsuite server (model ``hp``, version 1) with batching, metrics and ``--access_log``;
    shared by the batching, health, V2 and V2 gRPC modules so they start one process between
    them."""
    root = tmp_path_factory.mktemp("batching")
    copy_version(golden_versions["two"], root / "hp", 1)
    (root / "batching.config").write_text(
        "max_batch_size { value: 8 }\nbatch_timeout_micros { value: 50000 }\n"
        "max_enqueued_batches { value: 100 }\nnum_batch_threads { value: 1 }\n"
        "allowed_batch_sizes: 2\nallowed_batch_sizes: 4\nallowed_batch_sizes: 8\n"
    )
    (root / "monitoring.config").write_text(
        f'prometheus_config {{ enable: true, path: "{METRICS}" }}\n'
    )
    srv = start_server(
        [
            "--model_name=hp",
            f"--model_base_path={root / 'hp'}",
            "--enable_batching",
            f"--batching_parameters_file={root / 'batching.config'}",
            f"--monitoring_config_file={root / 'monitoring.config'}",
            "--access_log",
        ],
        root / "server.log",
        "hp",
    )
    yield srv
    srv.stop()
