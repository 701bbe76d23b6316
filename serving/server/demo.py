"""Start `dlsuite serve` on a model, send one REST and one gRPC predict request, stop it.

Used by ``make demo`` after export::

    from dlsuite.serving.server.demo import serve_and_query
    serve_and_query("saved_models/lenet5", "lenet5", instances=[image.tolist()])
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from dlsuite.serving.client import grpc_predict, grpc_signature_inputs, rest_request, rest_status


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve_and_query(
    model_base_path: str | os.PathLike[str],
    model_name: str,
    instances: list,
    signature: str | None = None,
    startup_timeout: float = 120.0,
    echo: bool = True,
) -> dict[str, Any]:
    """Run the server in a subprocess, query it over REST and gRPC, print and return the answers.

    Returns ``{"status": ..., "rest": <predict JSON>, "grpc": {output: list}}``. The server is
    always stopped, also when a request fails.
    """
    import grpc
    import requests

    from dlsuite.serving.server.tensors import array_to_json

    grpc_port, rest_port = _free_port(), _free_port()
    cmd = [
        sys.executable,
        "-m",
        "dlsuite",
        "serve",
        f"--model_name={model_name}",
        f"--model_base_path={Path(model_base_path).resolve()}",
        f"--port={grpc_port}",
        f"--rest_api_port={rest_port}",
        "--host=127.0.0.1",
        "--log_level=WARNING",
    ]
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root), "TF_CPP_MIN_LOG_LEVEL": "2"}
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in finally
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=log)
    rest, grpc_target = f"127.0.0.1:{rest_port}", f"127.0.0.1:{grpc_port}"
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            if proc.poll() is not None:
                log.seek(0)
                raise RuntimeError(
                    f"the server exited: {log.read().decode(errors='replace')[-2000:]}"
                )
            try:
                status = rest_status(rest, model_name, timeout=2)
                break
            except (requests.RequestException, RuntimeError):
                if time.monotonic() > deadline:
                    raise RuntimeError("the server did not become ready") from None
                time.sleep(0.3)
        body: dict = {"instances": instances}
        if signature:
            body["signature_name"] = signature
        rest_answer = rest_request(rest, model_name, "predict", body)
        with grpc.insecure_channel(grpc_target) as channel:
            names = sorted(grpc_signature_inputs(channel, model_name, signature=signature))
        inputs = (
            {k: [row[k] for row in instances] for k in names}
            if instances and isinstance(instances[0], dict)
            else {names[0]: instances}
        )
        outputs = grpc_predict(grpc_target, model_name, inputs, signature=signature)
        grpc_answer = {k: array_to_json(v, k) for k, v in sorted(outputs.items())}
        if echo:
            print(f"model status: {status}")
            print(f"REST  POST http://{rest}/v1/models/{model_name}:predict -> {rest_answer}")
            print(f"gRPC  PredictionService/Predict at {grpc_target} -> {grpc_answer}")
        return {"status": status, "rest": rest_answer, "grpc": grpc_answer}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
