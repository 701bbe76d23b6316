"""A killed RL training resumes from its TF-Agents Checkpointer (agent, replay buffer, counters)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def test_sigkilled_training_resumes_from_its_last_checkpoint(tmp_path):
    command = [
        sys.executable,
        "-m",
        "dlsuite",
        "train",
        "rl",
        "--num-env-steps",
        "2000",
        "--initial-collect-steps",
        "200",
        "--eval-interval",
        "500",
        "--checkpoint-interval",
        "500",
        "--eval-episodes",
        "2",
        "--final-eval-episodes",
        "3",
        "--gif-episodes",
        "0",
        "--early-stop-return",
        "1000",
        "--seed",
        "5",
        "--run-root",
        str(tmp_path),
    ]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(ROOT)}
    with open(tmp_path / "first.log", "w") as log:
        first = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 300
        while not list(tmp_path.glob("rl/*/checkpoints/train/checkpoint")):
            assert first.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "no checkpoint after 300 s"
            time.sleep(0.2)
        first.send_signal(signal.SIGKILL)
        first.wait()
    (run_dir,) = (tmp_path / "rl").iterdir()
    assert not (run_dir / "metrics.json").exists()
    killed_at = len(run_dir.joinpath("history.jsonl").read_text().splitlines())
    assert killed_at >= 1

    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "resuming at env step" in done.stdout
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["resumed"] is True
    assert metrics["resumed_from_env_step"] >= 500  # restored, not restarted
    assert metrics["env_steps"] >= 2000
    assert [r["epoch"] for r in metrics["history"]] == [1, 2, 3, 4]
    # Gradient steps continue from the checkpoint: about one per environment step after the
    # 200 random ones, counted once (a restart from zero would also give this, but then
    # resumed_from_env_step would be 0).
    assert 1700 <= metrics["train_steps"] <= 2000
