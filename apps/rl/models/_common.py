"""What every agent builder gets, and the network options they share (private to
`apps.rl.models`)."""

from __future__ import annotations

import dataclasses
from typing import Any

from dlsuite.apps.rl.config import RLConfig

ATARI_CONV = ((32, (8, 8), 4), (64, (4, 4), 2), (64, (3, 3), 1))


@dataclasses.dataclass(frozen=True)
class AgentInputs:
    """The arguments of a builder besides the config: ``build_<family>(config, inputs)``."""

    time_step_spec: Any
    action_spec: Any
    optimizer: Any
    train_step: Any  # an int64 variable (TF-Agents DQN needs int64)
    env_steps: Any  # an int64 variable: drives the DQN epsilon schedule


def network_options(config: RLConfig) -> dict[str, Any]:
    """Keyword arguments of TF-Agents' `QNetwork` and `ActorDistributionNetwork`: the layers of
    ``config.layer_sizes``, after the Nature-DQN conv torso on uint8 frames scaled to [0, 1] on
    Atari.
    """
    import tensorflow as tf

    options: dict[str, Any] = {"fc_layer_params": config.layer_sizes}
    if config.is_atari:
        options["preprocessing_layers"] = tf.keras.layers.Lambda(
            lambda frames: tf.cast(frames, tf.float32) / 255.0
        )  # uint8 -> [0, 1]
        options["conv_layer_params"] = ATARI_CONV
    return options
