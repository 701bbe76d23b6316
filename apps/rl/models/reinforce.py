"""The policy-gradient agent: REINFORCE (Williams 1992), Monte-Carlo policy gradient on whole
episodes with normalized returns."""

from __future__ import annotations

from typing import Any

from dlsuite.apps.rl.config import RLConfig
from dlsuite.apps.rl.models._common import AgentInputs, network_options


def build_reinforce(config: RLConfig, inputs: AgentInputs) -> tuple[Any, Any]:
    """``(agent, actor_network)`` (``inputs.env_steps`` is unused: no exploration schedule)."""
    from tf_agents.agents.reinforce import reinforce_agent
    from tf_agents.networks import actor_distribution_network

    network = actor_distribution_network.ActorDistributionNetwork(
        inputs.time_step_spec.observation,
        inputs.action_spec,
        discrete_projection_net=categorical_projection,
        **network_options(config),
    )
    agent = reinforce_agent.ReinforceAgent(
        inputs.time_step_spec,
        inputs.action_spec,
        actor_network=network,
        optimizer=inputs.optimizer,
        gamma=config.gamma,
        normalize_returns=True,
        train_step_counter=inputs.train_step,
    )
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
