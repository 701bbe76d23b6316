"""The RL app: config, tf.keras routing, a tiny DQN run (run directory, GIF, export, serving),
agents by name."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.apps.conftest import export_once

TINY_RL = dict(
    num_env_steps=1200,
    initial_collect_steps=200,
    eval_interval=400,
    eval_episodes=3,
    final_eval_episodes=5,
    checkpoint_interval=400,
    replay_capacity=2000,
    batch_size=32,
    verbose=0,
    robustness="off",  # tests/apps/test_robustness_nonclassifiers.py checks it
    # Seed 0's tiny run ends with a policy whose returns differ by episode (104 to 200), so
    # comparing returns tells policies apart; a policy that always pushes the cart one way
    # would score 9 or 10 on every episode.
    seed=0,
)


def train_tiny_rl(run_root: Path, **overrides):
    from dlsuite.apps.rl.config import RLConfig
    from dlsuite.apps.rl.train import train_and_evaluate

    return train_and_evaluate(RLConfig(**{**TINY_RL, "run_root": str(run_root), **overrides}))


@pytest.fixture(scope="module")
def tiny_dqn(tmp_path_factory):
    """A finished 1,200-step DQN run on CartPole-v0."""
    return train_tiny_rl(tmp_path_factory.mktemp("rl-runs"))


def test_config_validates_and_generates_cli_options():
    from dlsuite.apps.rl.config import PRESETS, RLConfig
    from dlsuite.cli import build_parser

    assert RLConfig().layer_sizes == (100, 50)
    with pytest.raises(ValueError, match="agent expected one of"):
        RLConfig(agent="sarsa")
    with pytest.raises(ValueError, match="hidden_units expected"):
        RLConfig(hidden_units="100,x")
    with pytest.raises(ValueError, match="env expected"):
        RLConfig(env="MountainCar-v0")
    with pytest.raises(ValueError, match="num-envs 2 or more"):
        RLConfig(parallel_envs=True)
    assert RLConfig().config_hash() == RLConfig(run_root="elsewhere", verbose=0).config_hash()
    assert RLConfig().config_hash() != RLConfig(agent="ddqn").config_hash()
    assert PRESETS["dqn-pong"].is_atari
    args = build_parser().parse_args(["train", "rl", "--agent", "ddqn", "--num-env-steps", "5"])
    assert (args.agent, args.num_env_steps) == ("ddqn", 5)


def test_every_agent_of_the_config_has_a_builder():
    from dlsuite.apps.rl.config import AGENTS
    from dlsuite.apps.rl.models import MODELS

    assert tuple(MODELS) == AGENTS


@pytest.mark.parametrize(
    "code, expected",
    [
        (  # what the CLI does to build its parser: no TensorFlow, only the variable
            "import os, sys, dlsuite.apps.rl.config; "
            "print('tensorflow' in sys.modules, os.environ['TF_USE_LEGACY_KERAS'])",
            "False 1",
        ),
        (  # TensorFlow imported first, as in pytest: the package's __init__ still routes tf.keras
            "import tensorflow as tf, dlsuite.apps.rl, keras; "
            "print(tf.keras.layers.Dense.__module__.split('.')[0], keras.__version__[0])",
            "tf_keras 3",
        ),
    ],
    ids=["config-imports-no-tensorflow", "tensorflow-first"],
)
def test_importing_the_app_routes_tf_keras_to_tf_keras(code, expected):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == expected


def test_tf_keras_is_tf_keras_and_keras_stays_keras_3():
    import keras
    import tensorflow as tf

    from dlsuite.apps.rl.legacy_keras import check_legacy_keras  # the package routes tf.keras

    check_legacy_keras()
    assert tf.keras.layers.Dense.__module__.startswith("tf_keras")
    assert keras.__version__.startswith("3.")
    assert keras.layers.Dense.__module__.startswith("keras.src")


def test_tiny_dqn_run_writes_the_run_directory(tiny_dqn):
    from dlsuite.apps.rl.evaluation import FINAL_SEED_OFFSET

    run, metrics = tiny_dqn.run.path, tiny_dqn.metrics
    for name in (
        "config.json",
        "metrics.json",
        "history.jsonl",
        "evaluation.json",
        "learning_curves.png",
        "episode.gif",
    ):
        assert (run / name).is_file(), name
    assert list((run / "logs" / "train").iterdir()) and list((run / "logs" / "eval").iterdir())
    assert (run / "checkpoints" / "best" / "checkpoint").is_file()
    assert not (run / "checkpoints" / "train").exists()  # deleted once the run is complete
    assert metrics["env_steps"] >= 1200 and metrics["train_steps"] >= 900
    assert [r["epoch"] for r in metrics["history"]] == [1, 2, 3]
    assert metrics["num_params"] == 4 * 100 + 100 + 100 * 50 + 50 + 50 * 2 + 2  # 5,652
    assert metrics["flops_per_example"] >= 2 * (4 * 100 + 100 * 50 + 50 * 2)
    assert metrics["training_flops"] > metrics["flops_per_example"] * metrics["env_steps"]
    assert metrics["env_steps_per_s"] > 0 and metrics["wall_time_s"] > 0
    test, evaluation = metrics["final"]["test"], metrics["evaluation"]
    assert test["episodes"] == len(evaluation["returns"]) == 5
    assert test["average_return"] == pytest.approx(np.mean(evaluation["returns"]))
    assert evaluation["returns"] == [float(n) for n in evaluation["episode_lengths"]]  # 1 per step
    assert test["average_return"] == test["average_episode_length"]
    assert metrics["data"]["name"] == "CartPole-v0" and metrics["data"]["input_shape"] == [4]
    assert evaluation["solved_threshold"] == 195.0
    # The checkpoint kept is the best periodic evaluation's, and the reported returns are its
    # returns on the final-evaluation seeds: played again here one episode at a time.
    assert metrics["best_periodic_return"] == max(r["average_return"] for r in metrics["history"])
    first_seed = FINAL_SEED_OFFSET + 1000 * TINY_RL["seed"]
    assert _returns_of_the_best_policy(run, first_seed, episodes=5) == evaluation["returns"]


def _returns_of_the_best_policy(run_dir, first_seed, episodes):
    """The returns of a run's best checkpoint on evaluation environments seeded ``first_seed``,
    ``first_seed + 1``, ...: each episode played in its own `TFPyEnvironment`, one eager
    ``policy.action`` per step (not the batched `apps.rl.evaluation.run_episodes` under test)."""
    from tf_agents.environments import tf_py_environment

    from dlsuite.apps.rl.data import make_eval_env
    from dlsuite.apps.rl.models import greedy_policy
    from dlsuite.apps.rl.train import load_policy

    config, agent, _ = load_policy(run_dir)
    policy = greedy_policy(agent)
    returns = []
    for seed in range(first_seed, first_seed + episodes):
        env = tf_py_environment.TFPyEnvironment(make_eval_env(config, seed))
        step, total = env.reset(), 0.0
        while not step.is_last():
            step = env.step(policy.action(step).action)
            total += float(step.reward.numpy()[0])
        env.close()
        returns.append(total)
    return returns


def test_a_seeded_run_is_reproduced_exactly(tiny_dqn, tmp_path):
    """The same config and seed train the same policy: replay batches are sampled after each
    collect step, not by a prefetching dataset racing the driver's writes."""
    again = train_tiny_rl(tmp_path, gif_episodes=0).metrics
    for key in ("average_return", "loss", "train_average_return"):
        assert [r[key] for r in again["history"]] == [r[key] for r in tiny_dqn.metrics["history"]]
    assert again["evaluation"]["returns"] == tiny_dqn.metrics["evaluation"]["returns"]


def test_evaluation_gif_shows_the_episode(tiny_dqn):
    from PIL import Image

    gif = tiny_dqn.metrics["evaluation"]["gifs"][0]
    with Image.open(tiny_dqn.run.path / "episode.gif") as image:
        # One frame per step plus the first; Pillow merges identical consecutive frames.
        assert gif["frames"] == gif["length"] + 1 and gif["length"] >= 8
        assert image.format == "GIF" and 1 < image.n_frames <= gif["frames"]
        assert image.size[0] == 300


def test_evaluate_command_reproduces_the_final_evaluation(tiny_dqn):
    from dlsuite.apps.rl.train import evaluate_run

    report = evaluate_run(tiny_dqn.run.path, "test")
    assert report["returns"] == tiny_dqn.metrics["evaluation"]["returns"]  # same seeds, same policy
    assert json.loads((tiny_dqn.run.path / "evaluation.json").read_text())["episodes"] == 5


@pytest.fixture(scope="module")
def exported_policy(tiny_dqn, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny run exported once as ``<base>/cartpole/1``, shared by the export and serving
    tests (which only read it)."""
    return export_once(tiny_dqn, "cartpole", tmp_path_factory)


def test_export_reloads_and_acts_like_the_trained_policy(tiny_dqn, exported_policy):
    import tensorflow as tf

    from dlsuite.apps.rl.evaluation import policy_action_fn
    from dlsuite.apps.rl.export import sample_observations, time_step_inputs
    from dlsuite.apps.rl.models import greedy_policy
    from dlsuite.apps.rl.train import load_policy
    from dlsuite.serving.manifest import verify_version
    from dlsuite.serving.warmup import read_warmup_requests

    version = exported_policy
    assert version.name == "1" and version.parent.name == "cartpole"
    assert not verify_version(version)
    manifest = json.loads((version / "assets.extra" / "manifest.json").read_text())
    assert manifest["model"]["signatures"]["action"]["inputs"]["observation"]["shape"] == [-1, 4]
    assert manifest["training"]["data"]["sources"][0]["name"] == "CartPole-v0"
    assert len(list(read_warmup_requests(version))) == 2
    config, agent, _ = load_policy(tiny_dqn.run.path)
    observations, step_types = sample_observations(config, 32, seed=11)
    inputs = time_step_inputs(observations, step_types)
    served = tf.saved_model.load(str(version)).signatures["action"](
        **{k: tf.constant(v) for k, v in inputs.items()}
    )
    from tf_agents.trajectories import time_step as ts

    expected = policy_action_fn(greedy_policy(agent))(
        ts.TimeStep(
            inputs["step_type"], inputs["reward"], inputs["discount"], inputs["observation"]
        )
    )
    np.testing.assert_array_equal(served["action"].numpy(), expected)


@pytest.mark.parametrize(
    "overrides",
    [
        dict(agent="ddqn", num_envs=2),
        dict(agent="reinforce", num_env_steps=600, eval_interval=300, episodes_per_iteration=2),
        dict(
            agent="ppo",
            num_envs=2,
            collect_steps_per_iteration=16,
            ppo_epochs=2,
            num_env_steps=600,
            eval_interval=300,
        ),
    ],
    ids=["ddqn-2-envs", "reinforce", "ppo-2-envs"],
)
def test_agents_are_selectable_by_name(tmp_path, overrides):
    result = train_tiny_rl(tmp_path, **{"gif_episodes": 0, **overrides})
    metrics = result.metrics
    assert metrics["agent"] == overrides["agent"] and metrics["num_envs"] == overrides.get(
        "num_envs", 1
    )
    assert metrics["env_steps"] >= overrides.get("num_env_steps", 1200)
    assert metrics["train_steps"] > 0 and metrics["final"]["test"]["episodes"] == 5
    assert not (result.run.path / "episode.gif").exists()
    if overrides["agent"] == "ppo":  # each collected step trained once per epoch
        assert metrics["examples_seen"] == metrics["env_steps"] * 2
        _check_export(result, tmp_path)


def _check_export(result, tmp_path):
    """Export a run's policy and check the exported ``action`` signature acts like it."""
    import tensorflow as tf

    from dlsuite.apps.common.export import export_run
    from tests.apps.conftest import MANIFEST_INFO

    version = export_run(
        result.run.path, model_base_path=tmp_path, name="policy", manifest_info=MANIFEST_INFO
    )
    inputs, expected = _expected_actions(result.run.path, count=32)
    served = tf.saved_model.load(str(version)).signatures["action"](
        **{k: tf.constant(v) for k, v in inputs.items()}
    )
    np.testing.assert_array_equal(served["action"].numpy(), expected)


@pytest.fixture(scope="module")
def served_policy(exported_policy, tmp_path_factory):
    from tests.serving.conftest import start_server

    server = start_server(
        ["--model_name=cartpole", f"--model_base_path={exported_policy.parent}"],
        tmp_path_factory.mktemp("rl-log") / "server.log",
        ready_model="cartpole",
    )
    yield server
    server.stop()


def _expected_actions(run_dir, count=8):
    from tf_agents.trajectories import time_step as ts

    from dlsuite.apps.rl.evaluation import policy_action_fn
    from dlsuite.apps.rl.export import sample_observations, time_step_inputs
    from dlsuite.apps.rl.models import greedy_policy
    from dlsuite.apps.rl.train import load_policy

    config, agent, _ = load_policy(run_dir)
    inputs = time_step_inputs(*sample_observations(config, count, seed=21))
    expected = policy_action_fn(greedy_policy(agent))(
        ts.TimeStep(
            inputs["step_type"], inputs["reward"], inputs["discount"], inputs["observation"]
        )
    )
    return inputs, expected


@pytest.mark.slow
@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_served_policy_answers_the_action_signature(tiny_dqn, served_policy, protocol):
    from dlsuite.apps.rl.play import served_action

    inputs, expected = _expected_actions(tiny_dqn.run.path)
    server = served_policy.rest_port if protocol == "rest" else served_policy.grpc_port
    actions = served_action(f"127.0.0.1:{server}", "cartpole", protocol, inputs)
    assert actions.shape == (8,)
    np.testing.assert_array_equal(actions, expected)


@pytest.mark.slow
def test_play_runs_an_episode_against_the_served_policy(tiny_dqn, served_policy, capsys):
    from dlsuite.cli import main

    assert (
        main(
            [
                "play",
                "--server",
                f"127.0.0.1:{served_policy.rest_port}",
                "--env",
                "CartPole-v0",
                "--model",
                "cartpole",
                "--seed",
                str(2_000_000 + 1000 * TINY_RL["seed"]),
            ]
        )
        == 0
    )
    lines = capsys.readouterr().out.strip().splitlines()
    episode = json.loads(lines[0])
    # The first final-evaluation episode, played through the server: the same return.
    assert episode["return"] == tiny_dqn.metrics["evaluation"]["returns"][0]
    assert lines[-1].startswith("average return over 1 episode(s)")
