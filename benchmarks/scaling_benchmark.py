"""Scaling benchmark: training examples/s with 1 and 2 local workers
and with mirrored over 1 and 2 replicas.

    python benchmarks/scaling_benchmark.py --out benchmarks/results/scaling

Each configuration trains LeNet-5 on ``builtin:digits`` through the CLI (``dlsuite train`` for
``mirrored``, ``dlsuite launch`` for workers, the custom loop everywhere so the loop is not what
differs) and reads the steady-state throughput from the run's ``history.jsonl``: examples per
epoch / epoch time, epochs after the first (which includes tracing) only. Per-worker efficiency is
``throughput(n) / (n x throughput(1))`` within a family. Writes ``scaling.json`` and
``scaling.png``. On a 2-core CPU host the workers share the cores, so efficiency measures
overhead, not speed-up.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run(kind: str, n: int, root: Path, args: argparse.Namespace) -> dict:
    run_id = f"{kind}-{n}"
    train = [
        "dlsuite",
        "train",
        "vision",
        "--model",
        "lenet5",
        "--data",
        "builtin:digits",
        "--epochs",
        str(args.epochs),
        "--batch-size",
        str(args.batch_size),
        "--verbose",
        "0",
        "--loop",
        "custom",
        "--run-root",
        str(root),
        "--run-id",
        run_id,
    ]
    if args.max_train_examples:
        train += ["--max-train-examples", str(args.max_train_examples)]
    if kind == "workers":
        argv = [
            sys.executable,
            "-m",
            "dlsuite",
            "launch",
            "--workers",
            str(n),
            "--",
            *train,
        ]
    else:
        argv = [
            sys.executable,
            "-m",
            "dlsuite",
            *train[1:],
            "--strategy",
            "mirrored",
            "--replicas",
            str(n),
        ]
    start = time.perf_counter()
    subprocess.run(argv, cwd=REPO, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    metrics = json.loads((root / "vision" / run_id / "metrics.json").read_text())
    per_epoch = metrics["examples_seen"] / metrics["epochs_completed"]
    steady = metrics["history"][1:] or metrics["history"]
    seconds = sum(r["epoch_time_s"] for r in steady)
    return {
        "kind": kind,
        "n": n,
        "examples_per_s": per_epoch * len(steady) / seconds,
        "epoch_time_s": seconds / len(steady),
        "process_wall_s": wall,
        "test_accuracy": metrics["final"]["test"]["accuracy"],
        "global_batch_size": args.batch_size,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="benchmarks/results/scaling", help="output folder")
    parser.add_argument("--epochs", type=int, default=4, help="epochs per configuration")
    parser.add_argument("--batch-size", type=int, default=64, help="GLOBAL batch size")
    parser.add_argument("--max-train-examples", type=int, default=None, help="cap the training set")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="dlsuite-scaling-") as tmp:
        for kind in ("mirrored", "workers"):
            for n in (1, 2):
                result = run(kind, n, Path(tmp), args)
                print(json.dumps(result), flush=True)
                results.append(result)
    for r in results:
        base = next(b for b in results if b["kind"] == r["kind"] and b["n"] == 1)
        r["efficiency_per_worker"] = r["examples_per_s"] / (r["n"] * base["examples_per_s"])
    import os
    import platform

    report = {"host": {"cpus": os.cpu_count(), "machine": platform.machine()}, "results": results}
    (out / "scaling.json").write_text(json.dumps(report, indent=2) + "\n")
    _plot(results, out / "scaling.png")
    print(f"wrote {out / 'scaling.json'} and {out / 'scaling.png'}")
    return 0


def _plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    for kind, marker in (("mirrored", "o"), ("workers", "s")):
        rows = [r for r in results if r["kind"] == kind]
        ns = [r["n"] for r in rows]
        left.plot(ns, [r["examples_per_s"] for r in rows], marker=marker, label=kind)
        right.plot(ns, [r["efficiency_per_worker"] for r in rows], marker=marker, label=kind)
    left.set(xlabel="replicas / workers", ylabel="examples/s", title="throughput", xticks=[1, 2])
    right.set(
        xlabel="replicas / workers",
        ylabel="per-worker efficiency",
        title="efficiency",
        xticks=[1, 2],
        ylim=(0, 1.1),
    )
    for ax in (left, right):
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
