"""The actor-critic agent: PPO with the clipped objective (Schulman et al. 2017, "Proximal Policy
Optimization Algorithms"), TF-Agents' `PPOClipAgent`.

On-policy: each iteration collects ``collect_steps_per_iteration`` steps in each of the
``num_envs`` environments with the current policy, then trains ``ppo_epochs`` full-batch epochs
on them (advantages by GAE, Schulman et al. 2016, with ``gae_lambda``) and discards them. The actor
and the value network are separate, tanh-activated, of ``config.layer_sizes`` each.
"""

from __future__ import annotations

from typing import Any

from dlsuite.apps.rl.config import RLConfig
from dlsuite.apps.rl.models._common import AgentInputs, network_options
from dlsuite.apps.rl.models.reinforce import categorical_projection


def build_ppo(config: RLConfig, inputs: AgentInputs) -> tuple[Any, Any]:
    """``(agent, actor_network)`` (``inputs.env_steps`` is unused: no exploration schedule)."""
    import tensorflow as tf
    from tf_agents.agents.ppo import ppo_clip_agent
    from tf_agents.networks import actor_distribution_network, value_network

    options = {**network_options(config), "activation_fn": tf.keras.activations.tanh}
    observation_spec = inputs.time_step_spec.observation
    actor = actor_distribution_network.ActorDistributionNetwork(
        observation_spec,
        inputs.action_spec,
        discrete_projection_net=categorical_projection,
        **options,
    )
    value = value_network.ValueNetwork(observation_spec, **options)
    agent = ppo_clip_agent.PPOClipAgent(
        inputs.time_step_spec,
        inputs.action_spec,
        optimizer=inputs.optimizer,
        actor_net=actor,
        value_net=value,
        importance_ratio_clipping=config.ppo_clip,
        lambda_value=config.gae_lambda,
        discount_factor=config.gamma,
        entropy_regularization=config.entropy_coef,
        num_epochs=config.ppo_epochs,
        use_gae=True,
        use_td_lambda_return=True,
        normalize_rewards=False,
        normalize_observations=False,
        train_step_counter=inputs.train_step,
    )
    return agent, actor
