"""Atari DQN throughput: emulator frames per second, alone and inside the training loop.

    python benchmarks/rl_atari_fps.py --out benchmarks/results/rl_atari

Measures, for ``ALE/Pong-v5`` with the DQN preprocessing (frame skip 4, so 4 frames per agent step):

1. ``env``: the preprocessed environment stepped with random actions (the ceiling);
2. ``train``: ``dlsuite train rl`` with the Nature-DQN network (``--preset dqn-pong``, shortened),
   frames per second of the steady-state chunks in ``history.jsonl`` (the first chunk, which
   includes tracing, is left out). One gradient step every 4 agent steps, batch 32, as the paper.

Writes ``rl_atari_fps.json``. Paper-scale training is 50 M frames (``--preset dqn-pong``, 10 M
agent steps in this suite's units): divide by the ``train`` figure for the budget.
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
FRAME_SKIP = 4


def env_fps(game: str, steps: int) -> float:
    import numpy as np

    from dlsuite.apps.rl.config import RLConfig
    from dlsuite.apps.rl.data import make_py_env

    env = make_py_env(RLConfig(env=game), training=True, seed=0)
    rng = np.random.default_rng(0)
    env.reset()
    start = time.perf_counter()
    for _ in range(steps):
        env.step(np.int64(rng.integers(int(env.action_spec().maximum) + 1)))
    return steps * FRAME_SKIP / (time.perf_counter() - start)


def train_fps(game: str, steps: int, root: Path) -> dict:
    chunk = steps // 4
    command = [
        sys.executable,
        "-m",
        "dlsuite",
        "train",
        "rl",
        "--preset",
        "dqn-pong",
        "--env",
        game,
        "--num-env-steps",
        str(steps),
        "--initial-collect-steps",
        str(chunk // 2),
        "--replay-capacity",
        "20000",
        "--eval-interval",
        str(chunk),
        "--eval-episodes",
        "1",
        "--final-eval-episodes",
        "1",
        "--max-episode-steps",
        "500",
        "--gif-episodes",
        "0",
        "--checkpoint-interval",
        str(steps),
        "--run-root",
        str(root),
        "--verbose",
        "0",
    ]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(done.stderr[-3000:])
    (run_dir,) = (root / "rl").iterdir()
    history = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]
    steady = history[1:] or history
    rates = [r["env_steps_per_s"] * FRAME_SKIP for r in steady]
    return {"frames_per_s": sum(rates) / len(rates), "chunks": len(steady), "agent_steps": steps}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--game", default="ALE/Pong-v5")
    parser.add_argument(
        "--env-steps", type=int, default=2000, help="agent steps for the environment-only figure"
    )
    parser.add_argument(
        "--train-steps", type=int, default=4000, help="agent steps for the training figure"
    )
    parser.add_argument("--out", default="benchmarks/results/rl_atari")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result = {
        "game": args.game,
        "frame_skip": FRAME_SKIP,
        "env": {"frames_per_s": env_fps(args.game, args.env_steps)},
    }
    with tempfile.TemporaryDirectory() as root:
        result["train"] = train_fps(args.game, args.train_steps, Path(root))
    frames = 50_000_000
    result["paper_budget_hours_at_this_rate"] = frames / result["train"]["frames_per_s"] / 3600
    (out / "rl_atari_fps.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
