"""TF-Agents agents with their networks: one builder per agent family, looked up by name.

- ``dqn``, ``ddqn``: `apps.rl.models.dqn` (Mnih et al. 2015; van Hasselt et al. 2016), a Q network
  with a target network, the Huber loss and an epsilon-greedy collect policy.
- ``reinforce``: `apps.rl.models.reinforce` (Williams 1992), Monte-Carlo policy gradient.
- ``ppo``: `apps.rl.models.ppo` (Schulman et al. 2017), PPO-clip actor-critic with GAE.

Every builder is ``build_<family>(config, inputs) -> (agent, network)``, ``inputs`` an
`AgentInputs` (specs, optimizer, step counters). Networks: fully connected layers of
``config.layer_sizes``; on Atari the Nature-DQN conv torso (32 8x8/4, 64 4x4/2, 64 3x3/1) first,
on uint8 frames scaled to [0, 1] inside the network.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dlsuite.apps.rl.config import RLConfig
from dlsuite.apps.rl.models._common import AgentInputs
from dlsuite.apps.rl.models.dqn import build_dqn, linear_epsilon
from dlsuite.apps.rl.models.ppo import build_ppo
from dlsuite.apps.rl.models.reinforce import build_reinforce, categorical_projection

MODELS: dict[str, Callable[[RLConfig, AgentInputs], tuple[Any, Any]]] = {
    "dqn": build_dqn,
    "ddqn": build_dqn,
    "reinforce": build_reinforce,
    "ppo": build_ppo,
}


def build_agent(
    config: RLConfig, time_step_spec: Any, action_spec: Any, train_step: Any, env_steps: Any
) -> tuple[Any, Any]:
    """``(agent, network)`` of ``config.agent``, initialized, trained with Adam.

    ``train_step`` must be an int64 variable (TF-Agents DQN); ``env_steps`` (an int64 variable)
    drives the epsilon schedule of the DQN collect policy.
    """
    import tensorflow as tf

    if config.agent not in MODELS:  # RLConfig validates the name; this catches a name added there
        raise ValueError(f"Unknown RL agent {config.agent!r}. Known agents: {', '.join(MODELS)}")
    inputs = AgentInputs(
        time_step_spec,
        action_spec,
        optimizer=tf.keras.optimizers.Adam(learning_rate=config.learning_rate),
        train_step=train_step,
        env_steps=env_steps,
    )
    agent, network = MODELS[config.agent](config, inputs)
    agent.initialize()
    return agent, network


def greedy_policy(agent: Any) -> Any:
    """The policy that is evaluated and exported:
    argmax Q for DQN, the distribution's mode otherwise.
    """
    from tf_agents.policies import greedy_policy as greedy

    if hasattr(agent, "_q_network"):
        return agent.policy  # DqnAgent.policy is already greedy
    return greedy.GreedyPolicy(agent.policy)


def network_output(network: Any) -> Any:
    """``f(observations) -> tensor``: Q values or action logits (for counting FLOPs)."""

    def forward(observations: Any, training: bool = False) -> Any:
        output, _ = network(observations, step_type=None, network_state=(), training=training)
        return output if not hasattr(output, "logits_parameter") else output.logits_parameter()

    return forward


def count_params(network: Any) -> int:
    import numpy as np

    return int(sum(np.prod(v.shape) for v in network.trainable_variables))


__all__ = [
    "MODELS",
    "AgentInputs",
    "build_agent",
    "build_dqn",
    "build_ppo",
    "build_reinforce",
    "categorical_projection",
    "count_params",
    "greedy_policy",
    "linear_epsilon",
    "network_output",
]
