"""TF-Agents agents by name: DQN, Double DQN and REINFORCE, with their networks.

- ``dqn``: Mnih et al. 2015, "Human-level control through deep reinforcement learning": a Q
  network, a target network copied every ``target_update_period`` gradient steps, the Huber loss
  on TD errors, an epsilon-greedy collect policy whose epsilon decays linearly with environment
  steps, and uniform experience replay.
- ``ddqn``: van Hasselt et al. 2016, "Deep Reinforcement Learning with Double Q-learning": as DQN,
  but the online network picks the next action and the target network values it.
- ``reinforce``: Williams 1992, Monte-Carlo policy gradient on whole episodes, normalized returns.

Networks: fully connected layers of ``config.layer_sizes``; on Atari the Nature-DQN conv torso
(32 8x8/4, 64 4x4/2, 64 3x3/1) first, on uint8 frames scaled to [0, 1] inside the network.
"""

from __future__ import annotations

from typing import Any

from dlsuite.apps.rl.config import RLConfig
from dlsuite.apps.rl.legacy_keras import use_legacy_keras

use_legacy_keras()  # before anything here imports TF-Agents (apps/rl/legacy_keras.py)

ATARI_CONV = ((32, (8, 8), 4), (64, (4, 4), 2), (64, (3, 3), 1))


def _preprocessing(config: RLConfig) -> Any:
    import tensorflow as tf

    if not config.is_atari:
        return None
    return tf.keras.layers.Lambda(
        lambda frames: tf.cast(frames, tf.float32) / 255.0
    )  # uint8 -> [0, 1]


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


def build_agent(
    config: RLConfig, time_step_spec: Any, action_spec: Any, train_step: Any, env_steps: Any
) -> tuple[Any, Any]:
    """``(agent, network)``, initialized. ``train_step`` must be an int64 variable (TF-Agents DQN).

    ``env_steps`` (an int64 variable) drives the epsilon schedule of the DQN collect policy.
    """
    import tensorflow as tf
    from tf_agents.agents.dqn import dqn_agent
    from tf_agents.agents.reinforce import reinforce_agent
    from tf_agents.networks import actor_distribution_network, q_network
    from tf_agents.utils import common

    observation_spec = time_step_spec.observation
    optimizer = tf.keras.optimizers.Adam(learning_rate=config.learning_rate)
    conv = ATARI_CONV if config.is_atari else None
    conv_params = (
        tuple((filters, kernel, stride) for filters, kernel, stride in conv) if conv else None
    )
    if config.agent in ("dqn", "ddqn"):
        network = q_network.QNetwork(
            observation_spec,
            action_spec,
            preprocessing_layers=_preprocessing(config),
            conv_layer_params=conv_params,
            fc_layer_params=config.layer_sizes,
        )
        agent_class = dqn_agent.DdqnAgent if config.agent == "ddqn" else dqn_agent.DqnAgent
        agent = agent_class(
            time_step_spec,
            action_spec,
            q_network=network,
            optimizer=optimizer,
            epsilon_greedy=linear_epsilon(config, env_steps),
            target_update_period=config.target_update_period,
            td_errors_loss_fn=common.element_wise_huber_loss,
            gamma=config.gamma,
            train_step_counter=train_step,
        )
    elif config.agent == "reinforce":
        network = actor_distribution_network.ActorDistributionNetwork(
            observation_spec,
            action_spec,
            preprocessing_layers=_preprocessing(config),
            conv_layer_params=conv_params,
            fc_layer_params=config.layer_sizes,
            discrete_projection_net=categorical_projection,
        )
        agent = reinforce_agent.ReinforceAgent(
            time_step_spec,
            action_spec,
            actor_network=network,
            optimizer=optimizer,
            gamma=config.gamma,
            normalize_returns=True,
            train_step_counter=train_step,
        )
    else:  # RLConfig validates the name; kept for a clear error if a new name is added there only
        raise ValueError(f"unknown agent {config.agent!r}")
    agent.initialize()
    return agent, network


def categorical_projection(action_spec: Any) -> Any:
    """TF-Agents' `CategoricalProjectionNetwork` (logits -> Categorical),
    built without its NumPy-2 bug.

    Its ``__init__`` calls ``int()`` on a one-element 1-D array, which NumPy 2.4 refuses; this
    subclass computes the number of actions itself and keeps the parent's ``call`` and specs.
    """
    import numpy as np
    import tensorflow as tf
    from tf_agents.networks import categorical_projection_network, network

    class CategoricalProjection(categorical_projection_network.CategoricalProjectionNetwork):
        def __init__(self, sample_spec: Any, name: str = "CategoricalProjectionNetwork") -> None:
            num_actions = int(
                np.asarray(sample_spec.maximum - sample_spec.minimum + 1).reshape(-1)[0]
            )
            output_shape = sample_spec.shape.concatenate([num_actions])  # (*action_shape, A)
            network.DistributionNetwork.__init__(  # skips the parent's __init__ on purpose
                self,
                input_tensor_spec=None,
                state_spec=(),
                output_spec=self._output_distribution_spec(output_shape, sample_spec, name),
                name=name,
            )
            self._sample_spec = sample_spec
            self._output_shape = output_shape
            self._projection_layer = tf.keras.layers.Dense(
                output_shape.num_elements(),
                bias_initializer="zeros",
                name="logits",
                kernel_initializer=tf.compat.v1.keras.initializers.VarianceScaling(scale=0.1),
            )

    return CategoricalProjection(action_spec)


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
