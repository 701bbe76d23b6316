"""``dlsuite tfserving-config``: files for the real tensorflow_model_server (no server needed)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

import pytest

from dlsuite.cli import tfserving_config as tfserving_config_command
from dlsuite.serving import tfserving_config
from dlsuite.serving.server import config


def test_writes_parseable_tfserving_files(tmp_path, capsys):
    repo = tmp_path / "saved_models"
    for name in ("alpha", "beta"):
        (repo / name / "1").mkdir(parents=True)
    (repo / "empty").mkdir()  # no versions: skipped
    (repo / "alpha" / "tflite").mkdir()
    out = tmp_path / "deploy"
    parser = argparse.ArgumentParser()
    tfserving_config_command.register(parser.add_subparsers())
    args = parser.parse_args(
        [
            "tfserving-config",
            "--repository",
            str(repo),
            "--output",
            str(out),
            "--max_batch_size",
            "16",
            "--storage_prefix",
            "gs://bucket/models",
        ]
    )
    assert args.func(args) == 0
    specs = config.read_model_config_file(out / "models.config")
    assert [(s.name, s.base_path) for s in specs] == [
        ("alpha", "/models/alpha"),
        ("beta", "/models/beta"),
    ]
    batching = config.read_batching_parameters(out / "batching_parameters.txt")
    assert batching.max_batch_size == 16 and batching.allowed_batch_sizes[-1] == 16
    assert (
        config.read_monitoring_config(out / "monitoring.config") == "/monitoring/prometheus/metrics"
    )
    kserve = (out / "kserve-alpha.yaml").read_text()
    assert "kind: InferenceService" in kserve and "storageUri: gs://bucket/models/alpha" in kserve
    assert "name: tensorflow" in kserve
    printed = capsys.readouterr().out
    assert "docker run" in printed and "tensorflow/serving" in printed
    assert "--model_config_file=/config/models.config" in printed


def test_printing_into_a_closed_pipe_ends_quietly(tmp_path):
    """``dlsuite tfserving-config ... | head -0``: the reader is gone before anything is printed;
    the command stops with exit code 1 and no traceback (Python's own end is a BrokenPipeError)."""
    (tmp_path / "repo" / "m" / "1").mkdir(parents=True)
    command = [sys.executable, "-m", "dlsuite", "tfserving-config"]
    command += ["--repository", str(tmp_path / "repo"), "--output", str(tmp_path / "out")]
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run(command, stdout=write, stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr
    assert (tmp_path / "out" / "models.config").is_file()  # the files were written first


def test_unknown_model_and_empty_repository(tmp_path):
    (tmp_path / "m" / "1").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="nope"):
        tfserving_config.write_tfserving_config(tmp_path, tmp_path / "out", ["nope"])
    with pytest.raises(FileNotFoundError):
        tfserving_config.write_tfserving_config(tmp_path / "m", tmp_path / "out")


def test_demo_round_trip_starts_queries_and_stops(golden_versions, tmp_path, capsys):
    """The `make demo` helper: one REST and one gRPC answer, then the server is gone."""
    import shutil

    from dlsuite.serving.server.demo import serve_and_query

    shutil.copytree(golden_versions["two"], tmp_path / "hp" / "1")
    answers = serve_and_query(tmp_path / "hp", "hp", [1.0, 2.0])
    assert answers["rest"] == {"predictions": [2.5, 3.0]}
    assert answers["grpc"] == {"y": [2.5, 3.0]}
    assert "REST" in capsys.readouterr().out
