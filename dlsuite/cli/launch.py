"""`dlsuite launch`: run a training command as N local `tf.distribute` workers
(`dlsuite.apps.common.launch.launch`).

    dlsuite launch --workers 2 -- dlsuite train vision --model lenet5 --data builtin:digits
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from dlsuite.apps.common.launch import launch
from dlsuite.cli.runs import train_config


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "launch",
        help="run a training command as N local tf.distribute workers",
        description="Start N local worker processes of `dlsuite train ...` with TF_CONFIG on free "
        "localhost ports, --strategy multi_worker and a shared --run-id; stream their "
        "logs; fail the whole job if one worker fails. Relaunching resumes the run.",
    )
    parser.add_argument(
        "--workers", type=int, default=2, help="number of worker processes (default: 2)"
    )
    parser.add_argument(
        "--port-base",
        type=int,
        default=None,
        help="use ports P..P+N-1 on localhost (default: free ports chosen by the OS)",
    )
    parser.add_argument(
        "--gpus-per-worker",
        type=int,
        default=None,
        help="on a multi-GPU host, give worker i the GPUs i*G..i*G+G-1 through "
        "CUDA_VISIBLE_DEVICES (default: every worker sees every GPU)",
    )
    parser.add_argument(
        "command",
        nargs=argparse.REMAINDER,
        help="the training command after --, e.g. -- dlsuite train vision --model lenet5",
    )
    parser.set_defaults(func=_launch)


def training_command(words: Sequence[str]) -> list[str]:
    """The training command of ``launch``/``k8s``: the words after ``--``."""
    command = list(words)
    return command[1:] if command and command[0] == "--" else command


def _launch(args: argparse.Namespace) -> int:
    return launch(
        training_command(args.command),
        train_config=train_config,
        workers=args.workers,
        port_base=args.port_base,
        gpus_per_worker=args.gpus_per_worker,
    )
