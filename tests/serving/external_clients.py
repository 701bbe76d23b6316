"""A virtual environment of its own for external clients (NVIDIA's ``tritonclient``, grpc's
``grpc_health`` stubs), whose pins clash with the main ``.venv``: ``.venv-tritonclient`` beside
it, created on first use from ``tritonclient-requirements.txt`` and reused while those pins stay
the same. The clients run as subprocesses (``triton_client_script.py``) and print JSON.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLIENT_VENV = ROOT / ".venv-tritonclient"
REQUIREMENTS = Path(__file__).with_name("tritonclient-requirements.txt")
SCRIPT = Path(__file__).with_name("triton_client_script.py")
_STAMP = CLIENT_VENV / ".requirements-stamp"


def _run(cmd: list[str], what: str, timeout: float) -> None:
    try:
        proc = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=_client_env(),
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{what} did not finish in {timeout:.0f} s: {' '.join(cmd)}")
    if proc.returncode != 0:
        pytest.fail(
            f"{what} failed (exit {proc.returncode}): {' '.join(cmd)}\n"
            f"{(proc.stdout + proc.stderr)[-4000:]}"
        )


def _client_env() -> dict[str, str]:
    """The environment without this venv's Python settings (the client venv has its own)."""
    env = {
        k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")
    }
    env["PYTHONNOUSERSITE"] = "1"
    return env


def client_python() -> Path:
    """The client venv's interpreter, creating or updating the venv first when needed.

    Fails the test (never skips) when the venv cannot be created or the pinned packages cannot
    be installed from the package index.
    """
    python = CLIENT_VENV / "bin" / "python"
    wanted = REQUIREMENTS.read_text()
    CLIENT_VENV.mkdir(exist_ok=True)
    with open(CLIENT_VENV / ".lock", "w") as lock:  # one creator at a time
        fcntl.flock(lock, fcntl.LOCK_EX)
        if python.exists() and _STAMP.exists() and _STAMP.read_text() == wanted:
            return python
        base = shutil.which("python3.11") or sys.executable
        if not python.exists():
            _run([base, "-m", "venv", str(CLIENT_VENV)], f"creating {CLIENT_VENV}", 300)
        _run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
                str(REQUIREMENTS),
            ],
            f"installing {REQUIREMENTS.name} into {CLIENT_VENV}",
            1200,
        )
        _STAMP.write_text(wanted)
    return python


def run_client(python: Path, *args: str, timeout: float = 180) -> dict:
    """Run ``triton_client_script.py ARGS`` in the client venv; its JSON output."""
    cmd = [str(python), str(SCRIPT), *args]
    try:
        proc = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=_client_env(),
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as err:
        pytest.fail(
            f"client did not finish in {timeout:.0f} s: {' '.join(cmd)}\n{err.stdout}{err.stderr}"
        )
    if proc.returncode != 0:
        pytest.fail(
            f"client failed (exit {proc.returncode}): {' '.join(cmd)}\n"
            f"{(proc.stdout + proc.stderr)[-4000:]}"
        )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def start_client(python: Path, *args: str) -> subprocess.Popen:
    """Start ``triton_client_script.py ARGS`` in the client venv
    (stdout: one JSON line per event)."""
    return subprocess.Popen(
        [str(python), str(SCRIPT), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_client_env(),
        stdin=subprocess.DEVNULL,
    )
