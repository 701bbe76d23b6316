"""The Q-network agents: DQN and Double DQN.

- ``dqn``: Mnih et al. 2015, "Human-level control through deep reinforcement learning": a Q
  network, a target network copied every ``target_update_period`` gradient steps, the Huber loss
  on TD errors, an epsilon-greedy collect policy whose epsilon decays linearly with environment
  steps, and uniform experience replay.
- ``ddqn``: van Hasselt et al. 2016, "Deep Reinforcement Learning with Double Q-learning": as DQN,
  but the online network picks the next action and the target network values it.
"""

from __future__ import annotations

from typing import Any

from dlsuite.apps.rl.config import RLConfig
from dlsuite.apps.rl.models._common import AgentInputs, network_options


def linear_epsilon(config: RLConfig, env_steps: Any) -> Any:
    """A callable: epsilon decaying linearly from start to end
    over ``epsilon_decay_steps`` env steps.
    """
    import tensorflow as tf

    def epsilon() -> Any:
        fraction = tf.minimum(
            tf.cast(env_steps, tf.float32) / float(config.epsilon_decay_steps), 1.0
        )
        return config.epsilon_start + fraction * (config.epsilon_end - config.epsilon_start)

    return epsilon


def build_dqn(config: RLConfig, inputs: AgentInputs) -> tuple[Any, Any]:
    """``(agent, q_network)``: a `DdqnAgent` for ``config.agent == "ddqn"``, else a `DqnAgent`."""
    from tf_agents.agents.dqn import dqn_agent
    from tf_agents.networks import q_network
    from tf_agents.utils import common

    network = q_network.QNetwork(
        inputs.time_step_spec.observation, inputs.action_spec, **network_options(config)
    )
    agent_class = dqn_agent.DdqnAgent if config.agent == "ddqn" else dqn_agent.DqnAgent
    agent = agent_class(
        inputs.time_step_spec,
        inputs.action_spec,
        q_network=network,
        optimizer=inputs.optimizer,
        epsilon_greedy=linear_epsilon(config, inputs.env_steps),
        target_update_period=config.target_update_period,
        td_errors_loss_fn=common.element_wise_huber_loss,
        gamma=config.gamma,
        train_step_counter=inputs.train_step,
    )
    return agent, network
