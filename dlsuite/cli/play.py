"""``dlsuite play``: episodes of a local environment against a served RL policy
(`dlsuite.apps.rl.play.play`)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from dlsuite.apps.rl.play import play


def _run(args: argparse.Namespace) -> int:
    results = play(
        args.server,
        args.model,
        args.env,
        protocol=args.protocol,
        episodes=args.episodes,
        seed=args.seed,
        max_steps=args.max_steps,
        version=args.version,
    )
    for result in results:
        print(json.dumps(result))
    average = sum(r["return"] for r in results) / len(results)
    print(f"average return over {len(results)} episode(s): {average:.1f}")
    return 0


def register(subparsers: Any) -> None:
    """Add ``dlsuite play``."""
    parser = subparsers.add_parser(
        "play",
        help="run episodes against a served RL policy",
        description="Run episodes of an environment locally, asking a served TF-Agents policy "
        "(its `action` signature) for every action over REST or gRPC.",
    )
    parser.add_argument(
        "--server", required=True, help="HOST:PORT of the REST (default) or gRPC API"
    )
    parser.add_argument("--model", default="cartpole", help="served model name")
    parser.add_argument("--version", type=int, default=None, help="model version (default: latest)")
    parser.add_argument(
        "--env", default="CartPole-v0", help="environment id (CartPole-v0/-v1 or ALE/<Game>-v5)"
    )
    parser.add_argument("--protocol", choices=("rest", "grpc"), default="rest", help="API to use")
    parser.add_argument("--episodes", type=int, default=1, help="number of episodes")
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the first episode's environment"
    )
    parser.add_argument(
        "--max-steps",
        type=int,
        default=None,
        help="cap on episode length (default: the environment's)",
    )
    parser.set_defaults(func=_run)
