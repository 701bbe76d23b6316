"""Fault tolerance: a training process killed mid-run resumes when the same command runs again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.slow


def _history(run_root):
    files = list(run_root.glob("vision/*/history.jsonl"))
    if not files:
        return []
    return [json.loads(line) for line in files[0].read_text().splitlines() if line.strip()]


def test_killed_training_resumes_where_it_stopped(tmp_path):
    command = [
        sys.executable,
        "-m",
        "dlsuite",
        "train",
        "vision",
        "--model",
        "lenet5",
        "--data",
        "builtin:digits",
        "--max-train-examples",
        "256",
        "--epochs",
        "12",
        "--batch-size",
        "32",
        "--run-root",
        str(tmp_path),
        "--verbose",
        "0",
        "--seed",
        "3",
    ]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    first = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while len(_history(tmp_path)) < 3:
        assert first.poll() is None, first.stderr.read().decode()[-2000:]
        assert time.monotonic() < deadline, "training never reached epoch 3"
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait()
    (run_dir,) = (tmp_path / "vision").iterdir()
    assert not (run_dir / "metrics.json").exists()
    assert (run_dir / "backup").is_dir()
    epochs_before = len(_history(tmp_path))

    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr[-2000:]
    assert "(resuming)" in second.stdout
    assert [p.name for p in (tmp_path / "vision").iterdir()] == [run_dir.name], "resumed in place"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["resumed"] is True
    assert [r["epoch"] for r in metrics["history"]] == list(range(1, 13))
    assert metrics["epochs_completed"] == 12
    # The second process trained only the epochs the first one had not backed up.
    lines = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]
    assert len(lines) - epochs_before <= 12 - (epochs_before - 1)
    assert not (run_dir / "backup").exists()
