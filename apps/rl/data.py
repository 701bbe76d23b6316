"""The RL app's data: its environments, as TF-Agents ``PyEnvironment``s, and their description.

An agent collects its own experience, so where another app loads data splits this module makes
environments: `make_training_env` (the batched environment the driver steps), `make_eval_env`
(one seeded evaluation environment) and `describe_data` (the ``data`` section of metrics.json
and of the manifest).

CartPole comes from TF-Agents' ``suite_gym`` (the ``gym`` 0.23 package); its ``TimeLimit`` ends
CartPole-v0 episodes at 200 steps with discount 1 (a truncation, so the value bootstraps).

Atari (``ALE/<Game>-v5``, ROMs shipped by ``ale-py``, no download) runs through Gymnasium, which
``suite_gym`` does not speak; `GymnasiumEnvironment` is the adapter. The DQN preprocessing of
Mnih et al. 2015 (as in Machado et al. 2018's ``AtariPreprocessing``):

| step | training | evaluation |
| --- | --- | --- |
| up to 30 no-op actions at reset | yes | yes |
| frame skip 4, max-pool of the last two frames | yes | yes |
| 84x84 grayscale (uint8) | yes | yes |
| frame stack 4 -> observation uint8 (84, 84, 4) | yes | yes |
| reward clipped to its sign | yes | no (raw game score) |
| a lost life ends the episode | yes | no |

Sticky actions are off (``repeat_action_probability=0``), as in the paper.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from importlib import metadata
from typing import Any

import numpy as np

from dlsuite.apps.rl.config import RLConfig

ATARI_FRAME_SKIP = 4
ATARI_STACK = 4
ATARI_SIZE = 84


def gymnasium_environment_class() -> type:
    """`GymnasiumEnvironment`, defined on first use so importing this module stays light."""
    global _GYMNASIUM_ENV
    if _GYMNASIUM_ENV is None:
        _GYMNASIUM_ENV = _define_gymnasium_environment()
    return _GYMNASIUM_ENV


_GYMNASIUM_ENV: type | None = None


def _define_gymnasium_environment() -> type:
    from tf_agents.environments import py_environment
    from tf_agents.specs import array_spec
    from tf_agents.trajectories import time_step as ts

    class GymnasiumEnvironment(py_environment.PyEnvironment):
        """A Gymnasium ``Env`` (5-tuple ``step``, seeded ``reset``)
        as a TF-Agents ``PyEnvironment``.

        Args:
            env: the Gymnasium environment (discrete actions, Box observations).
            seed: seed of the first ``reset``; later resets continue the environment's generator.
            discount: discount of non-terminal steps.
            channels_last: move a leading stack axis last, (4, 84, 84) -> (84, 84, 4).
        """

        def __init__(
            self,
            env: Any,
            seed: int | None = None,
            discount: float = 1.0,
            channels_last: bool = True,
        ) -> None:
            super().__init__(handle_auto_reset=True)
            self._env = env
            self._seed = seed
            self._discount = np.float32(discount)
            self._channels_last = channels_last
            space = env.observation_space
            shape = self._convert(np.zeros(space.shape, space.dtype)).shape
            # Bounds as full arrays: TF-Agents samples a spec with `maximum + 1`, which overflows a
            # scalar uint8 255 under NumPy 2 but not the Python int it takes from a full array.
            self._observation_spec = array_spec.BoundedArraySpec(
                shape,
                space.dtype,
                minimum=np.zeros(shape, space.dtype),
                maximum=np.full(shape, 255, space.dtype),
                name="observation",
            )
            self._action_spec = array_spec.BoundedArraySpec(
                (), np.int64, minimum=0, maximum=int(env.action_space.n) - 1, name="action"
            )

        def _convert(self, observation: Any) -> np.ndarray:
            array = np.asarray(observation)
            if self._channels_last and array.ndim == 3:
                array = np.moveaxis(array, 0, -1)  # (S, H, W) -> (H, W, S)
            return np.ascontiguousarray(array)

        def observation_spec(self) -> Any:
            return self._observation_spec

        def action_spec(self) -> Any:
            return self._action_spec

        def _reset(self) -> Any:
            observation, _ = self._env.reset(seed=self._seed)
            self._seed = None
            return ts.restart(self._convert(observation))

        def _step(self, action: Any) -> Any:
            observation, reward, terminated, truncated, _ = self._env.step(int(action))
            observation, reward = self._convert(observation), np.float32(reward)
            if terminated:
                return ts.termination(observation, reward)
            if truncated:
                return ts.truncation(observation, reward, self._discount)
            return ts.transition(observation, reward, self._discount)

        def render(self, mode: str = "rgb_array") -> Any:
            return self._env.render()

        def close(self) -> None:
            self._env.close()

    return GymnasiumEnvironment


def make_atari_gymnasium(name: str, *, training: bool, max_episode_steps: int | None = None) -> Any:
    """The Gymnasium Atari env with the DQN preprocessing (table in the module docstring)."""
    import ale_py
    import gymnasium as gym
    from gymnasium.wrappers import AtariPreprocessing, FrameStackObservation, TransformReward

    gym.register_envs(ale_py)
    kwargs: dict[str, Any] = {
        "frameskip": 1,
        "repeat_action_probability": 0.0,
        "full_action_space": False,
        "render_mode": "rgb_array",
    }
    if max_episode_steps:
        kwargs["max_episode_steps"] = max_episode_steps * ATARI_FRAME_SKIP  # counted in frames
    env = gym.make(name, **kwargs)
    env = AtariPreprocessing(
        env,
        noop_max=30,
        frame_skip=ATARI_FRAME_SKIP,
        screen_size=ATARI_SIZE,
        terminal_on_life_loss=training,
        grayscale_obs=True,
        scale_obs=False,
    )
    if training:
        env = TransformReward(env, lambda r: float(np.sign(r)))
    return FrameStackObservation(env, ATARI_STACK)


def make_py_env(config: RLConfig, *, training: bool, seed: int) -> Any:
    """One environment of ``config.env`` as a TF-Agents ``PyEnvironment``, seeded with ``seed``."""
    if config.is_atari:
        env = make_atari_gymnasium(
            config.env, training=training, max_episode_steps=config.max_episode_steps
        )
        return gymnasium_environment_class()(env, seed=seed)
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # CartPole renders through pygame, headless
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    from tf_agents.environments import suite_gym

    env = suite_gym.load(config.env, max_episode_steps=config.max_episode_steps)
    env.seed(seed)
    return env


def make_eval_env(config: RLConfig, seed: int) -> Any:
    """One evaluation environment (raw score, whole games), seeded with ``seed``."""
    return make_py_env(config, training=False, seed=seed)


def env_constructor(config: RLConfig, *, training: bool, seed: int) -> Callable[[], Any]:
    """A picklable zero-argument constructor (what `ParallelPyEnvironment` wants)."""
    return functools.partial(make_py_env, config, training=training, seed=seed)


def make_training_env(config: RLConfig) -> Any:
    """``config.num_envs`` training environments as one batched ``PyEnvironment``."""
    from tf_agents.environments import batched_py_environment, parallel_py_environment

    seeds = [config.seed * 1000 + i for i in range(config.num_envs)]
    if config.num_envs == 1:
        return make_py_env(config, training=True, seed=seeds[0])
    if config.parallel_envs:
        from tf_agents.system import system_multiprocessing

        # TF-Agents' multiprocessing needs it set up
        system_multiprocessing.enable_interactive_mode()
        return parallel_py_environment.ParallelPyEnvironment(
            [env_constructor(config, training=True, seed=s) for s in seeds], start_serially=False
        )
    return batched_py_environment.BatchedPyEnvironment(
        [make_py_env(config, training=True, seed=s) for s in seeds], multithreading=False
    )


def describe_data(
    config: RLConfig, observation_shape: tuple[int, ...], num_actions: int
) -> dict[str, Any]:
    """The ``data`` section of metrics.json for an environment (what the manifest records)."""
    if config.is_atari:
        version = f"gymnasium {metadata.version('gymnasium')}, ale-py {metadata.version('ale-py')}"
        preprocessing = (
            "Mnih et al. 2015 DQN preprocessing: up to 30 no-op starts, "
            "frame skip 4 with max-pooling of the last two frames, 84x84 grayscale, "
            "frame stack 4, sticky actions off; "
            "training only: rewards clipped to their sign and a lost life ends the episode"
        )
    else:
        version = f"gym {metadata.version('gym')} via tf-agents suite_gym"
        preprocessing = (
            "none: the 4 raw state variables "
            "(cart position and velocity, pole angle and angular velocity)"
        )
    return {
        "source": f"env:{config.env}",
        "kind": "environment",
        "name": config.env,
        "version": version,
        "splits": {},
        "preprocessing": preprocessing,
        "class_names": None,
        "num_actions": int(num_actions),
        "input_shape": list(observation_shape),
        "max_episode_steps": config.max_episode_steps,
    }
