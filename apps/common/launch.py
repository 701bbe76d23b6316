"""Run a training command as N local workers of one `tf.distribute` cluster (`dlsuite launch`).

    dlsuite launch --workers 2 -- dlsuite train vision --model lenet5 --data builtin:digits

Each worker is a process with its own ``TF_CONFIG`` (the same cluster of free localhost ports, its
own task index), ``--strategy multi_worker`` and a shared ``--run-id``. The run id is chosen the way
`dlsuite train` chooses it: the newest unfinished run of the same config is resumed, so relaunching
a failed job continues from its last checkpoint. Logs are streamed with a ``[worker i]`` prefix;
if any worker fails, the others are stopped and the launcher exits with that worker's code.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from dlsuite.apps.common.cluster import tf_config
from dlsuite.apps.common.runs import new_run_id, newest_unfinished_run
from dlsuite.base.validation import check_positive_int

GRACE_S = 5.0

_PYTHON = re.compile(r"^python[0-9.]*$")
# `dlsuite train <app> ...` arguments -> (app, config), as `dlsuite train` parses them; the CLI
# passes its parser's (`dlsuite.cli.runs.train_config`), which the apps do not import.
TrainConfig = Callable[[Sequence[str]], tuple[str, Any]]


def program_arguments(command: Sequence[str]) -> list[str] | None:
    """The arguments after the `dlsuite` program in ``command``,
    or None if it names another program.

    Accepted: ``dlsuite``, any path whose file name is ``dlsuite`` (``.venv/bin/dlsuite``), and
    ``python -m dlsuite`` with any ``python``, ``python3.11`` or path to one.
    """
    command = list(command)
    if command and Path(command[0]).name == "dlsuite":
        return command[1:]
    if (
        len(command) >= 3
        and _PYTHON.match(Path(command[0]).name)
        and command[1] == "-m"
        and command[2] == "dlsuite"
    ):
        return command[3:]
    return None


def worker_command(command: Sequence[str], train_config: TrainConfig) -> list[str]:
    """``command`` as ``dlsuite train ...`` with ``--strategy multi_worker`` and a ``--run-id``.

    ``command`` may name the program in any form `program_arguments` accepts; the workers always
    run the `dlsuite` of this very environment. ``train_config`` parses the training command, for
    the run id (`choose_run_id`).
    """
    arguments = program_arguments(command)
    if arguments is None or len(arguments) < 2 or arguments[0] != "train":
        raise ValueError(
            "launch runs `dlsuite train <app> ...` (or a path to `dlsuite`, or "
            f"`python -m dlsuite train ...`). Received: {' '.join(command) or 'nothing'}"
        )
    command = ["dlsuite", *arguments]
    strategy = _option(command, "--strategy")
    if strategy is None:
        command += ["--strategy", "multi_worker"]
    elif strategy != "multi_worker":
        raise ValueError(
            f"launch trains with --strategy multi_worker. Received: --strategy {strategy}"
        )
    if _option(command, "--run-id") is None:
        command += ["--run-id", choose_run_id(*train_config(command[1:]))]
    return command


def choose_run_id(app: str, config: Any) -> str:
    """The run id `dlsuite train` would pick for ``config`` of ``app``:
    the newest unfinished run of this config, else a new one.
    """
    digest = config.config_hash()
    root = Path(config.run_root) / app
    unfinished = newest_unfinished_run(root, digest) if config.resume else None
    return unfinished.name if unfinished else new_run_id(digest)


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports the OS reports free on localhost
    (held open until all are chosen).
    """
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("localhost", 0))
            sockets.append(sock)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def launch(
    command: Sequence[str],
    *,
    train_config: TrainConfig,
    workers: int,
    port_base: int | None = None,
    gpus_per_worker: int | None = None,
    out: TextIO | None = None,
) -> int:
    """Run ``command`` as ``workers`` processes;
    returns 0, or the exit code of the first failure.

    ``train_config`` parses the training command (see `worker_command`).
    """
    check_positive_int(workers=workers)
    out = out or sys.stdout
    command = worker_command(command, train_config)
    ports = list(range(port_base, port_base + workers)) if port_base else free_ports(workers)
    addresses = [f"localhost:{p}" for p in ports]
    # `dlsuite` of this very environment
    argv = [sys.executable, "-m", "dlsuite", *command[1:]]
    _print(out, "launch", f"{workers} workers on {', '.join(addresses)}: {' '.join(command)}")
    procs: list[subprocess.Popen[str]] = []
    lock = threading.Lock()
    threads = []
    try:
        for index in range(workers):
            env = {
                **os.environ,
                "TF_CONFIG": json.dumps(tf_config(addresses, index)),
                "PYTHONUNBUFFERED": "1",
                "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"),
            }
            if gpus_per_worker:
                first = index * gpus_per_worker
                env["CUDA_VISIBLE_DEVICES"] = ",".join(
                    str(first + g) for g in range(gpus_per_worker)
                )
            proc = subprocess.Popen(
                argv,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                bufsize=1,
            )
            procs.append(proc)
            _print(out, "launch", f"worker {index} pid {proc.pid}")
            thread = threading.Thread(
                target=_stream, args=(proc, f"worker {index}", out, lock), daemon=True
            )
            thread.start()
            threads.append(thread)
        code = _wait(procs, out)
    except KeyboardInterrupt:
        code = 130
    finally:
        _stop(procs)
        for thread in threads:
            thread.join(timeout=GRACE_S)
    _print(out, "launch", "job finished" if code == 0 else f"job failed (exit code {code})")
    return code


def _wait(procs: list[subprocess.Popen[str]], out: TextIO) -> int:
    """Wait for every worker;
    on the first failure return its exit code (the caller stops the rest).
    """
    while True:
        codes = [p.poll() for p in procs]
        for index, code in enumerate(codes):
            if code is not None and code != 0:
                _print(
                    out,
                    "launch",
                    f"worker {index} exited with code {code}; stopping the other workers",
                )
                # killed by signal N -> 128 + N, as shells report
                return code if code > 0 else 128 - code
        if all(code == 0 for code in codes):
            return 0
        time.sleep(0.2)


def _stop(procs: list[subprocess.Popen[str]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + GRACE_S
    for proc in procs:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _stream(proc: subprocess.Popen[str], name: str, out: TextIO, lock: threading.Lock) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        with lock:
            _print(out, name, line.rstrip("\n"))


def _print(out: TextIO, name: str, text: str) -> None:
    out.write(f"[{name}] {text}\n")
    out.flush()


def _option(command: Sequence[str], flag: str) -> str | None:
    """The value of ``flag`` in ``command`` (``--flag value`` or ``--flag=value``), else None."""
    for i, word in enumerate(command):
        if word == flag and i + 1 < len(command):
            return command[i + 1]
        if word.startswith(flag + "="):
            return word.split("=", 1)[1]
    return None
