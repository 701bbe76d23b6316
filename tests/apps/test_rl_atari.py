"""Atari through Gymnasium + ale-py (ROMs ship with ale-py; no download): DQN preprocessing and the
whole pipeline (replay, training, checkpoint, evaluation GIF, export, serving) for a few frames."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow
MANIFEST_INFO = Path(__file__).resolve().parents[2] / "docs" / "manifest_example.yaml"
PONG = "ALE/Pong-v5"


def test_dqn_preprocessing_of_the_gymnasium_adapter():
    from dlsuite.apps.rl.config import RLConfig
    from dlsuite.apps.rl.data import make_eval_env, make_py_env

    config = RLConfig(env="ALE/Breakout-v5")
    train_env = make_py_env(config, training=True, seed=0)
    spec = train_env.observation_spec()
    assert spec.shape == (84, 84, 4) and spec.dtype == np.uint8
    step = train_env.reset()
    assert step.observation.shape == (84, 84, 4) and step.observation.dtype == np.uint8
    rewards, lives_lost_at = [], None
    rng = np.random.default_rng(0)
    for i in range(2000):
        step = train_env.step(np.int64(rng.integers(4)))
        rewards.append(float(step.reward))
        if step.is_last():
            lives_lost_at = i
            break
    assert set(rewards) <= {-1.0, 0.0, 1.0}  # clipped to the sign
    assert (
        lives_lost_at is not None and int(step.discount) == 0
    )  # a lost life ends a training episode
    # Breakout has 5 lives: the evaluation env plays on after the first loss, so it lasts longer.
    eval_env = make_eval_env(config, 0)
    eval_env.reset()
    rng = np.random.default_rng(0)
    for _ in range(lives_lost_at + 1):
        step = eval_env.step(np.int64(rng.integers(4)))
    assert not step.is_last()


def test_atari_pipeline_end_to_end(tmp_path):
    from dlsuite.apps.common.export import export_run
    from dlsuite.apps.rl.config import RLConfig
    from dlsuite.apps.rl.export import time_step_inputs
    from dlsuite.apps.rl.play import served_action
    from dlsuite.apps.rl.train import train_and_evaluate
    from tests.serving.conftest import start_server

    config = RLConfig(
        env=PONG,
        num_env_steps=200,
        initial_collect_steps=64,
        replay_capacity=400,
        batch_size=8,
        hidden_units="32",
        eval_interval=100,
        eval_episodes=1,
        final_eval_episodes=1,
        max_episode_steps=60,
        checkpoint_interval=100,
        early_stop_return=None,
        run_root=str(tmp_path / "runs"),
        verbose=0,
    )
    result = train_and_evaluate(config)
    metrics = result.metrics
    assert metrics["env_steps"] >= 200 and metrics["train_steps"] >= 130
    assert metrics["data"]["input_shape"] == [84, 84, 4]
    assert (
        metrics["num_params"] == 77_984 + 7 * 7 * 64 * 32 + 32 + 32 * 6 + 6
    )  # conv torso + fc + head
    # Capped at 60 agent steps = 240 frames, of which the up-to-30 no-op start frames take a share.
    assert 52 <= metrics["final"]["test"]["average_episode_length"] <= 60
    assert (result.run.path / "episode.gif").is_file()

    version = export_run(
        result.run.path, model_base_path=tmp_path / "repo", name="pong", manifest_info=MANIFEST_INFO
    )
    manifest = json.loads((version / "assets.extra" / "manifest.json").read_text())
    observation = manifest["model"]["signatures"]["action"]["inputs"]["observation"]
    assert observation == {"dtype": "uint8", "shape": [-1, 84, 84, 4]}
    server = start_server(
        ["--model_name=pong", f"--model_base_path={tmp_path / 'repo' / 'pong'}"],
        tmp_path / "server.log",
        ready_model="pong",
    )
    try:
        frames = np.random.default_rng(0).integers(0, 256, (8, 84, 84, 4), dtype=np.uint8)
        inputs = time_step_inputs(list(frames))
        actions = served_action(server.grpc_target, "pong", "grpc", inputs)
    finally:
        server.stop()
    assert actions.shape == (8,) and set(actions.tolist()) <= set(range(6))
    # the served policy is the trained one: the same actions as the in-memory greedy policy
    from tf_agents.trajectories import time_step as ts

    from dlsuite.apps.rl.evaluation import policy_action_fn
    from dlsuite.apps.rl.models import greedy_policy
    from dlsuite.apps.rl.train import load_policy

    _, agent, _ = load_policy(result.run.path)
    expected = policy_action_fn(greedy_policy(agent))(
        ts.TimeStep(
            inputs["step_type"], inputs["reward"], inputs["discount"], inputs["observation"]
        )
    )
    np.testing.assert_array_equal(actions, expected)
