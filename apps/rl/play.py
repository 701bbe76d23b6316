"""Run episodes in a local environment, asking a served policy for every action (``dlsuite play``).

The environment runs here; the policy runs in the model server (``dlsuite serve`` or
tensorflow_model_server) behind its ``action`` signature, over REST or gRPC. Each step sends the
current TF-Agents ``TimeStep`` (observation, step type, reward, discount) and applies the action.
"""

from __future__ import annotations

from typing import Any

from dlsuite.apps.rl.config import RLConfig
from dlsuite.apps.rl.export import ACTION_SIGNATURE, time_step_inputs
from dlsuite.serving.client import grpc_predict, rest_request


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

    if protocol == "grpc":
        outputs = grpc_predict(
            server, model, inputs, version=version, signature=ACTION_SIGNATURE, timeout=timeout
        )
        return np.asarray(outputs["action"])

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
    from dlsuite.apps.rl.data import make_eval_env

    config = RLConfig(env=env_name, max_episode_steps=max_steps)
    results = []
    for episode in range(episodes):
        env = make_eval_env(config, seed + episode)
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
