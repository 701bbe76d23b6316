"""RL quality bar on CartPole-v1 (episodes of up to 500 steps): with the defaults of
``dlsuite train rl --agent dqn|ppo --env CartPole-v1`` (the presets ``dqn-cartpole-v1`` and
``ppo-cartpole-v1``), the best policy averages at least 475 over 100 fresh episodes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.apps.conftest import MANIFEST_INFO, exported_policy_returns

pytestmark = pytest.mark.quality
SOLVED = 475.0


@pytest.fixture(scope="module", params=["dqn", "ppo"])
def v1_run(request, tmp_path_factory):
    """``dlsuite train rl --agent <agent> --env CartPole-v1`` exactly as a user types it."""
    from dlsuite.cli import main

    root = tmp_path_factory.mktemp(f"rl-v1-{request.param}")
    command = ["train", "rl", "--agent", request.param, "--env", "CartPole-v1"]
    assert main([*command, "--run-root", str(root), "--verbose", "0"]) == 0
    (run_dir,) = (root / "rl").iterdir()
    return request.param, run_dir, json.loads((run_dir / "metrics.json").read_text())


def test_the_defaults_solve_cartpole_v1_within_their_budget(v1_run):
    from dlsuite.apps.rl.config import PRESETS

    agent, run_dir, metrics = v1_run
    preset = PRESETS[f"{agent}-cartpole-v1"]
    test = metrics["final"]["test"]
    assert test["episodes"] == 100
    assert test["average_return"] >= SOLVED, metrics["history"]
    assert metrics["evaluation"]["solved_threshold"] == SOLVED
    assert metrics["evaluation"]["solved"] is True
    assert metrics["agent"] == agent and metrics["env"] == "CartPole-v1"
    # the preset's budget, ended early once a periodic evaluation averaged the maximum, 500
    assert metrics["env_steps"] <= preset.num_env_steps + preset.num_envs * (
        preset.collect_steps_per_iteration
    )
    assert (run_dir / "learning_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_exported_policy_solves_it_too(v1_run, tmp_path):
    from dlsuite.apps.common.export import export_run
    from dlsuite.apps.rl.config import PRESETS

    agent, run_dir, _ = v1_run
    version = export_run(
        run_dir, model_base_path=tmp_path, name=f"{agent}-v1", manifest_info=MANIFEST_INFO
    )
    preset = PRESETS[f"{agent}-cartpole-v1"]
    # episodes neither training nor evaluation saw
    returns = exported_policy_returns(version, preset, range(6_000_000, 6_000_010))
    assert np.mean(returns) >= SOLVED, returns
