"""``dlsuite play``: run episodes in a local environment, asking a served policy for every action.

The environment runs here; the policy runs in the model server (``dlsuite serve`` or
tensorflow_model_server) behind its ``action`` signature, over REST or gRPC. Each step sends the
current TF-Agents ``TimeStep`` (observation, step type, reward, discount) and applies the action.
"""

from __future__ import annotations

import argparse
import json
from typing import Any


def served_action(
    server: str,
    model: str,
    protocol: str,
    inputs: dict[str, Any],
    version: int | None = None,
    timeout: float = 30.0,
) -> Any:
    """One batch of actions from the served ``action`` signature (REST columnar or gRPC)."""
    import numpy as np

    from dlsuite.apps.rl.export import ACTION_SIGNATURE

    if protocol == "grpc":
        from dlsuite.serving.client import grpc_predict

        outputs = grpc_predict(
            server, model, inputs, version=version, signature=ACTION_SIGNATURE, timeout=timeout
        )
        return np.asarray(outputs["action"])
    from dlsuite.serving.client import rest_request

    body = {
        "signature_name": ACTION_SIGNATURE,
        "inputs": {k: np.asarray(v).tolist() for k, v in inputs.items()},
    }
    answer = rest_request(server, model, "predict", body, version=version, timeout=timeout)
    outputs = answer["outputs"]
    return np.asarray(outputs["action"] if isinstance(outputs, dict) else outputs)


def play(
    server: str,
    model: str,
    env_name: str,
    *,
    protocol: str = "rest",
    episodes: int = 1,
    seed: int = 0,
    max_steps: int | None = None,
    version: int | None = None,
) -> list[dict[str, Any]]:
    """Play ``episodes`` evaluation episodes of ``env_name`` with the served policy."""
    from dlsuite.apps.rl.config import RLConfig
    from dlsuite.apps.rl.envs import make_py_env
    from dlsuite.apps.rl.export import time_step_inputs
    from dlsuite.apps.rl.legacy_keras import use_legacy_keras

    use_legacy_keras()
    config = RLConfig(env=env_name, max_episode_steps=max_steps)
    results = []
    for episode in range(episodes):
        env = make_py_env(config, training=False, seed=seed + episode)
        step = env.reset()
        total, length = 0.0, 0
        while not step.is_last():
            inputs = time_step_inputs([step.observation], [int(step.step_type)])
            action = served_action(server, model, protocol, inputs, version=version)
            step = env.step(action.reshape(-1)[0].astype("int64"))
            total += float(step.reward)
            length += 1
        env.close()
        results.append({"episode": episode + 1, "return": total, "length": length})
    return results


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
