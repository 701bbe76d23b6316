"""One RL run's TF-Agents machinery: `CollectTrainLoop`.

It builds the training environment, the agent and its network, the replay buffer, the training
metrics and two `Checkpointer`s (``checkpoints/train/``: the whole training state, restored on
construction so a re-run resumes; ``checkpoints/best/``: the best policy so far), and compiles
one collect-then-train iteration (value-based agents: a step driver and one gradient step on
sampled transitions; PPO: a step driver over every environment, then its epochs on those steps,
cleared; REINFORCE: whole episodes, trained on and cleared). `apps.rl.train` drives it.
"""

from __future__ import annotations

import math
from typing import Any

from dlsuite.apps.common.runs import RunDir
from dlsuite.apps.rl.config import VALUE_AGENTS, RLConfig


class CollectTrainLoop:
    """The agent, its environment, replay buffer, metrics and checkpointers for one run, and
    ``iterations(count)``: ``count`` collect-then-train iterations in one compiled call.
    """

    def __init__(self, config: RLConfig, run: RunDir) -> None:
        import tensorflow as tf
        from tf_agents.environments import tf_py_environment
        from tf_agents.metrics import tf_metrics
        from tf_agents.utils import common

        from dlsuite.apps.rl.data import make_training_env
        from dlsuite.apps.rl.models import build_agent

        self.config = config
        self.env = tf_py_environment.TFPyEnvironment(make_training_env(config))
        batch = self.env.batch_size
        self.train_step = tf.Variable(
            0, dtype=tf.int64, name="train_step"
        )  # int64: TF-Agents DQN needs it
        self.env_steps = tf_metrics.EnvironmentSteps()
        self.metrics = [
            self.env_steps,
            tf_metrics.NumberOfEpisodes(),
            tf_metrics.AverageReturnMetric(batch_size=batch, buffer_size=20),
            tf_metrics.AverageEpisodeLengthMetric(batch_size=batch, buffer_size=20),
        ]
        self.agent, self.network = build_agent(
            config,
            self.env.time_step_spec(),
            self.env.action_spec(),
            self.train_step,
            self.env_steps.environment_steps,
        )
        self.elapsed = tf.Variable(0.0, dtype=tf.float64, name="elapsed_s")
        self.best_return = tf.Variable(-math.inf, dtype=tf.float64, name="best_return")
        self.value_based = config.agent in VALUE_AGENTS
        self.on_policy_steps = config.agent == "ppo"
        # Environment steps per iteration
        # (REINFORCE: a guess, episodes vary; only sizes the chunks).
        self.steps_per_iteration = (
            config.collect_steps_per_iteration * batch
            if self.value_based or self.on_policy_steps
            else 100
        )
        self._build_collection()
        state = dict(
            agent=self.agent,
            policy=self.agent.policy,
            train_step=self.train_step,
            elapsed=self.elapsed,
            best_return=self.best_return,
            metrics=tf.train.Checkpoint(**{m.name: m for m in self.metrics}),
        )
        if self.value_based:
            state["replay_buffer"] = self.replay_buffer
        self.best = common.Checkpointer(
            ckpt_dir=str(run.checkpoint_dir / "best"), max_to_keep=1, policy=self.agent.policy
        )
        # Created after `best`: both restore on construction, and the training state must win.
        self.checkpointer = common.Checkpointer(
            ckpt_dir=str(run.checkpoint_dir / "train"), max_to_keep=1, **state
        )

    def _build_collection(self) -> None:
        import tensorflow as tf
        from tf_agents.drivers import dynamic_episode_driver, dynamic_step_driver
        from tf_agents.policies import random_tf_policy
        from tf_agents.replay_buffers import tf_uniform_replay_buffer
        from tf_agents.utils import common

        config, env, agent = self.config, self.env, self.agent
        batch = env.batch_size
        if self.value_based:
            self.replay_buffer = tf_uniform_replay_buffer.TFUniformReplayBuffer(
                agent.collect_data_spec,
                batch_size=batch,
                max_length=max(1, config.replay_capacity // batch),
            )
            observers = [self.replay_buffer.add_batch, *self.metrics]
            random_policy = random_tf_policy.RandomTFPolicy(env.time_step_spec(), env.action_spec())
            self._initial = dynamic_step_driver.DynamicStepDriver(
                env, random_policy, observers=observers, num_steps=config.initial_collect_steps
            )
            driver = dynamic_step_driver.DynamicStepDriver(
                env,
                agent.collect_policy,
                observers=observers,
                num_steps=config.collect_steps_per_iteration * batch,
            )
            replay_buffer = self.replay_buffer

            def iteration() -> Any:
                driver.run()
                # Sampled here, after the driver's writes: a prefetching `as_dataset` samples while
                # the driver writes, so which transitions a batch holds (and the run) depended on
                # thread timing. TF-Agents marks `get_next` deprecated for `as_dataset`; it is what
                # that dataset calls.
                experience, _ = replay_buffer.get_next(
                    sample_batch_size=config.batch_size, num_steps=2
                )  # (B, 2) transitions
                return agent.train(experience).loss
        elif self.on_policy_steps:
            self.replay_buffer = tf_uniform_replay_buffer.TFUniformReplayBuffer(
                agent.collect_data_spec,
                batch_size=batch,
                max_length=config.collect_steps_per_iteration,
            )
            driver = dynamic_step_driver.DynamicStepDriver(
                env,
                agent.collect_policy,
                observers=[self.replay_buffer.add_batch, *self.metrics],
                num_steps=config.collect_steps_per_iteration * batch,
            )

            def iteration() -> Any:
                driver.run()
                experience = self.replay_buffer.gather_all()  # (num_envs, steps)
                loss = agent.train(experience).loss
                self.replay_buffer.clear()
                return loss
        else:
            capacity = 4 * (config.max_episode_steps or 500) * config.episodes_per_iteration
            self.replay_buffer = tf_uniform_replay_buffer.TFUniformReplayBuffer(
                agent.collect_data_spec, batch_size=batch, max_length=capacity
            )
            driver = dynamic_episode_driver.DynamicEpisodeDriver(
                env,
                agent.collect_policy,
                observers=[self.replay_buffer.add_batch, *self.metrics],
                num_episodes=config.episodes_per_iteration,
            )

            def iteration() -> Any:
                driver.run()
                experience = self.replay_buffer.gather_all()  # (num_envs, T) whole episodes
                loss = agent.train(experience).loss
                self.replay_buffer.clear()
                return loss

        # AutoGraph converts this loop only: the drivers and agents it calls are TF-Agents code
        # written with explicit tf.while_loop/tf.cond, and converting all of it took most of the
        # first call's ~18 s of tracing.
        step = tf.autograph.experimental.do_not_convert(iteration)

        def iterations(
            count: Any,
        ) -> Any:  # `count` iterations in one call: no Python between steps
            loss = tf.constant(0.0)
            for _ in tf.range(count):
                loss = step()
            return loss

        self.iterations = common.function(iterations, autograph=True)
        self.summary_every = tf.constant(100, tf.int64)

    def initial_collect(self) -> None:
        if (
            self.value_based
            and self.config.initial_collect_steps
            and int(self.replay_buffer.num_frames()) == 0
        ):
            self._initial.run()

    def steps(self) -> int:
        return int(self.env_steps.result())
