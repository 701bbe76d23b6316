"""`dlsuite launch --workers 2` in a subprocess, for the two-worker tests of every app."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


class Launch:
    """`dlsuite launch` in a subprocess, its output collected line by line."""

    def __init__(self, run_root: Path, run_id: str, app: str, *train_args: str) -> None:
        # the training command names this environment's `dlsuite` by its path, as a user of a
        # virtual environment would (`launch -- .venv/bin/dlsuite train ...`)
        dlsuite = str(Path(sys.executable).parent / "dlsuite")
        argv = [
            sys.executable,
            "-m",
            "dlsuite",
            "launch",
            "--workers",
            "2",
            "--",
            dlsuite,
            "train",
            app,
            *train_args,
            "--run-root",
            str(run_root),
            "--run-id",
            run_id,
        ]
        self.proc = subprocess.Popen(
            argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.lines: list[str] = []
        self.reader = threading.Thread(
            target=lambda: self.lines.extend(self.proc.stdout), daemon=True
        )
        self.reader.start()

    def wait(self, timeout: float = 240) -> int:
        try:
            code = self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        self.reader.join(timeout=10)
        return code

    def worker_pid(self, index: int) -> int | None:
        for line in list(self.lines):
            if line.startswith(f"[launch] worker {index} pid "):
                return int(line.split()[-1])
        return None
