"""Train and evaluate an agent: ``train_and_evaluate(config)`` (the CLI calls this).

The loop is TF-Agents' (`apps.rl.training_loop.CollectTrainLoop`): a driver steps the (batched)
environment with the collect policy and feeds a replay buffer and the training metrics; each
iteration is one compiled function (collect, then one gradient step). Every ``eval_interval``
environment steps the greedy policy plays ``eval_episodes`` episodes, one ``history.jsonl`` record
is appended and TensorBoard summaries are written; the best policy so far is kept in
``checkpoints/best/``. A `Checkpointer` (``checkpoints/train/``: agent, optimizer, replay buffer,
metrics, counters) is saved every ``checkpoint_interval`` steps, so re-running the same command
after a kill resumes from it. At the end the best policy plays ``final_eval_episodes`` fresh
episodes (the reported figure), one is rendered to ``episode.gif``, and (``robustness``) the
return under observation noise and random actions is measured on those episodes' seeds. The run
directory is the suite's (docs/architecture.md).
"""

from __future__ import annotations

import functools
import shutil
import time
from pathlib import Path
from typing import Any

from dlsuite.apps.common.energy import EnergyMeter
from dlsuite.apps.common.runs import RunDir, open_run
from dlsuite.apps.common.trainer import TrainResult, seed_everything
from dlsuite.apps.rl.config import RLConfig
from dlsuite.apps.rl.legacy_keras import check_legacy_keras
from dlsuite.apps.rl.training_loop import CollectTrainLoop
from dlsuite.base.files import atomic_write_json

APP = "rl"
FLOPS_METHOD = (
    "forward FLOPs of the policy/Q network per observation, counted by TensorFlow's graph profiler "
    "at batch size 1 (a multiply-add counts as 2); training FLOPs = forward x (3 x transitions in "
    "gradient steps + target-network evaluations + environment steps acted on)"
)
# CartPole-v0 is "solved" at an average return of 195 over 100 consecutive episodes (OpenAI Gym).
ITERATIONS_PER_CALL = 200
SOLVED_RETURN = {"CartPole-v0": 195.0, "CartPole-v1": 475.0}


def _devices() -> dict[str, Any]:
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    devices = gpus[:1] or tf.config.list_logical_devices("CPU")[:1]
    return {"kind": "GPU" if gpus else "CPU", "count": 1, "names": [d.name for d in devices]}


def framework_versions() -> dict[str, str]:
    from importlib import metadata

    from dlsuite.apps.common.trainer import framework_versions as suite_versions

    versions = suite_versions()
    for dist in ("tf-agents", "tf-keras", "gym", "gymnasium", "ale-py"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return versions


def _evaluate(config: RLConfig, action_fn: Any, episodes: int, first_seed: int) -> dict[str, Any]:
    """`run_episodes` of ``action_fn`` in evaluation environments seeded from ``first_seed``."""
    from dlsuite.apps.rl.data import make_eval_env
    from dlsuite.apps.rl.evaluation import run_episodes

    parallel = 10 if config.is_atari else 100
    return run_episodes(
        action_fn, functools.partial(make_eval_env, config), episodes, first_seed, parallel=parallel
    )


def robustness_level(config: RLConfig, level: str) -> str:
    """The robustness level measured for ``config``'s environment: ``level`` (checked) on
    CartPole; "off" on Atari, said once (the observation noise is in CartPole's units)."""
    from dlsuite.apps.common.config import check_robustness_level

    check_robustness_level(level)
    if config.is_atari and level != "off":
        print(
            f"robustness: not measured for {config.env} (its perturbation levels are in "
            "CartPole's units)",
            flush=True,
        )
        return "off"
    return level


def _robustness(
    config: RLConfig, action_fn: Any, first_seed: int, out_dir: Path, level: str
) -> dict[str, Any]:
    """`policy_robustness` of ``action_fn`` on the ``config.final_eval_episodes`` episodes seeded
    from ``first_seed`` (``level`` from `robustness_level`)."""
    from dlsuite.apps.rl.data import make_eval_env
    from dlsuite.apps.rl.evaluation import policy_robustness

    return policy_robustness(
        action_fn,
        functools.partial(make_eval_env, config),
        first_seed,
        config.final_eval_episodes,
        out_dir,
        level=level,
        title=f"{config.agent} on {config.env}",
    )


def train_and_evaluate(config: RLConfig) -> TrainResult:
    """Train ``config.agent`` on ``config.env``; returns the run with its metrics."""
    import tensorflow as tf

    from dlsuite.apps.rl.data import describe_data, make_eval_env
    from dlsuite.apps.rl.evaluation import (
        EVAL_SEED_OFFSET,
        FINAL_SEED_OFFSET,
        policy_action_fn,
        render_gif,
    )
    from dlsuite.apps.rl.models import count_params, greedy_policy, linear_epsilon, network_output
    from dlsuite.apps.rl.plots import plot_returns

    check_legacy_keras()
    robustness = robustness_level(config, config.robustness)  # checked before training
    process_start = time.perf_counter()
    energy = EnergyMeter()  # checks $DLSUITE_COUNTRY before the run directory is opened
    run = open_run(APP, config)
    # Seeded, deterministic ops: two runs of one config and seed train the same policy
    # (tests/apps/test_rl.py::test_a_seeded_run_is_reproduced_exactly).
    seed_everything(config.seed)
    loop = CollectTrainLoop(config, run)
    resumed_from = loop.steps()
    print(
        f"run directory: {run.path}"
        + (f" (resuming at env step {resumed_from})" if run.resumed else ""),
        flush=True,
    )
    writer = tf.summary.create_file_writer(str(run.log_dir / "train"))
    eval_writer = tf.summary.create_file_writer(str(run.log_dir / "eval"))
    greedy = policy_action_fn(greedy_policy(loop.agent))
    eval_seed = EVAL_SEED_OFFSET + 1000 * config.seed

    with energy:  # CodeCarbon measures the training loop (apps/common/energy.py)
        start = time.perf_counter()
        with (
            writer.as_default(),
            tf.summary.record_if(lambda: tf.equal(loop.train_step % loop.summary_every, 0)),
        ):
            loop.initial_collect()
        steps = loop.steps()
        last_checkpoint = resumed_from
        stop = False
        while steps < config.num_env_steps and not stop:
            epoch = steps // config.eval_interval + 1
            boundary = min(epoch * config.eval_interval, config.num_env_steps)
            chunk_start, chunk_steps = time.perf_counter(), steps
            losses = []
            with (
                writer.as_default(),
                tf.summary.record_if(lambda: tf.equal(loop.train_step % loop.summary_every, 0)),
            ):
                while steps < boundary:
                    count = max(1, (boundary - steps) // loop.steps_per_iteration)
                    losses.append(
                        loop.iterations(tf.constant(min(count, ITERATIONS_PER_CALL), tf.int64))
                    )
                    steps = loop.steps()
            collect_time = time.perf_counter() - chunk_start
            result = _evaluate(config, greedy, config.eval_episodes, eval_seed)
            chunk_time = time.perf_counter() - chunk_start
            loop.elapsed.assign_add(time.perf_counter() - start)
            start = time.perf_counter()
            record = {
                "epoch": epoch,
                "env_steps": steps,
                "train_steps": int(loop.train_step.numpy()),
                "average_return": result["average_return"],
                "average_episode_length": result["average_episode_length"],
                "train_average_return": float(loop.metrics[2].result()),
                "loss": float(tf.reduce_mean(tf.stack(losses))) if losses else None,
                "env_steps_per_s": (steps - chunk_steps) / max(collect_time, 1e-9),
                "epoch_time_s": chunk_time,
            }
            if loop.value_based:
                record["epsilon"] = float(linear_epsilon(config, loop.env_steps.result())())
            run.append_history(record)
            with eval_writer.as_default():
                for key in (
                    "average_return",
                    "average_episode_length",
                    "train_average_return",
                    "env_steps_per_s",
                ):
                    tf.summary.scalar(f"rl/{key}", record[key], step=steps)
            if config.verbose:
                print(
                    f"env steps {steps:>8}  return {record['average_return']:7.1f}  "
                    f"train return {record['train_average_return']:7.1f}  "
                    f"loss {record['loss'] or 0:.4f}  "
                    f"{record['env_steps_per_s']:.0f} steps/s",
                    flush=True,
                )
            if result["average_return"] > float(loop.best_return.numpy()):
                loop.best_return.assign(result["average_return"])
                loop.best.save(global_step=loop.train_step)
            stop = config.stop_return is not None and result["average_return"] >= config.stop_return
            if (
                steps - last_checkpoint >= config.checkpoint_interval
                or stop
                or steps >= config.num_env_steps
            ):
                loop.checkpointer.save(global_step=loop.train_step)
                last_checkpoint = steps
        loop.elapsed.assign_add(time.perf_counter() - start)
        training_time = float(loop.elapsed.numpy())

    # The reported figure: the best policy on episodes it was never selected on.
    from tf_agents.utils import common

    common.Checkpointer(
        ckpt_dir=str(run.checkpoint_dir / "best"), max_to_keep=1, policy=loop.agent.policy
    )
    final_start = time.perf_counter()
    final = _evaluate(
        config, greedy, config.final_eval_episodes, FINAL_SEED_OFFSET + 1000 * config.seed
    )
    gifs = [
        render_gif(
            greedy,
            make_eval_env(config, FINAL_SEED_OFFSET + 1000 * config.seed + i),
            run.path / ("episode.gif" if i == 0 else f"episode_{i}.gif"),
        )
        for i in range(config.gif_episodes)
    ]
    final_time = time.perf_counter() - final_start
    metrics = _metrics(
        config,
        run,
        loop,
        final,
        gifs,
        training_time,
        final_time,
        resumed_from,
        process_start,
        count_params,
        network_output,
        describe_data,
    )
    metrics["energy"] = energy.result
    if robustness != "off":
        metrics["evaluation"]["robustness"] = _robustness(
            config, greedy, FINAL_SEED_OFFSET + 1000 * config.seed, run.path, robustness
        )
    atomic_write_json(run.path / "evaluation.json", metrics["evaluation"])
    plot_returns(
        run.read_history(),
        final,
        run.path / "learning_curves.png",
        title=f"{config.agent} on {config.env}",
        target=SOLVED_RETURN.get(config.env),
    )
    shutil.rmtree(
        run.checkpoint_dir / "train", ignore_errors=True
    )  # finished: only the best policy stays
    run.write_metrics(metrics)
    return TrainResult(run=run, model=loop.agent, metrics=metrics)


def _metrics(
    config: RLConfig,
    run: RunDir,
    loop: CollectTrainLoop,
    final: dict[str, Any],
    gifs: list[dict[str, Any]],
    training_time: float,
    final_time: float,
    resumed_from: int,
    process_start: float,
    count_params: Any,
    network_output: Any,
    describe_data: Any,
) -> dict[str, Any]:
    from dlsuite.serving.flops import forward_flops

    spec = loop.env.observation_spec()
    shape = tuple(int(d) for d in spec.shape)
    flops = forward_flops(network_output(loop.network), shape, dtype=spec.dtype.name)
    env_steps = loop.steps()
    train_steps = int(loop.train_step.numpy())
    # PPO trains each collected step once per epoch; REINFORCE once
    examples = (
        train_steps * config.batch_size
        if loop.value_based
        else env_steps * (config.ppo_epochs if config.agent == "ppo" else 1)
    )
    target_evals = examples * (2 if config.agent == "ddqn" else 1) if loop.value_based else 0
    history = run.read_history()
    torso = "nature-cnn-" if config.is_atari else ""
    evaluation = {
        "split": "test",
        "policy": "greedy, best periodic evaluation",
        **{k: v for k, v in final.items() if k not in ("returns", "episode_lengths")},
        "returns": final["returns"],
        "episode_lengths": final["episode_lengths"],
        "gifs": gifs,
    }
    if config.env in SOLVED_RETURN:
        evaluation["solved_threshold"] = SOLVED_RETURN[config.env]
        evaluation["solved"] = final["average_return"] >= SOLVED_RETURN[config.env]
    return {
        "app": APP,
        "model": f"{config.agent}-{torso}mlp-{config.hidden_units.replace(',', '-')}",
        "agent": config.agent,
        "env": config.env,
        "run_id": run.run_id,
        "final": {
            "test": {
                "average_return": final["average_return"],
                "average_episode_length": final["average_episode_length"],
                "episodes": final["episodes"],
            }
        },
        "history": history,
        "epochs_completed": len(history),
        "resumed": run.resumed,
        "resumed_from_env_step": resumed_from,
        "env_steps": env_steps,
        "train_steps": train_steps,
        "episodes": int(loop.metrics[1].result()),
        "env_steps_per_s": env_steps / max(training_time, 1e-9),
        "wall_time_s": training_time + final_time,
        "training_time_s": training_time,
        "final_evaluation_time_s": final_time,
        "process_wall_time_s": time.perf_counter() - process_start,
        "best_periodic_return": float(loop.best_return.numpy()),
        "examples_seen": examples,
        "num_params": count_params(loop.network),
        "flops_per_example": flops,
        "training_flops": float(flops) * (3 * examples + target_evals + env_steps),
        "flops_method": FLOPS_METHOD,
        "devices": _devices(),
        "strategy": "one_device",
        "replicas": 1,
        "global_batch_size": config.batch_size if loop.value_based else None,
        "num_envs": config.num_envs,
        "mixed_precision": None,
        "jit_compile": False,
        "seed": config.seed,
        "data": describe_data(config, shape, int(loop.env.action_spec().maximum) + 1),
        "evaluation": evaluation,
        "framework": framework_versions(),
    }


def load_policy(run_dir: str | Path) -> tuple[RLConfig, Any, Any]:
    """``(config, agent, network)`` of a finished run with its best policy restored."""
    import tensorflow as tf
    from tf_agents.environments import tf_py_environment
    from tf_agents.metrics import tf_metrics
    from tf_agents.utils import common

    from dlsuite.apps.common.registry import config_from_run
    from dlsuite.apps.common.runs import load_run
    from dlsuite.apps.rl.data import make_eval_env
    from dlsuite.apps.rl.models import build_agent

    check_legacy_keras()
    path = Path(run_dir)
    config_json, _ = load_run(path)
    config = config_from_run(config_json)
    env = tf_py_environment.TFPyEnvironment(make_eval_env(config, 0))
    agent, network = build_agent(
        config,
        env.time_step_spec(),
        env.action_spec(),
        tf.Variable(0, dtype=tf.int64),
        tf_metrics.EnvironmentSteps().environment_steps,
    )
    best = path / "checkpoints" / "best"
    if not best.is_dir():
        raise FileNotFoundError(f"{path} has no checkpoints/best (is the run complete?)")
    common.Checkpointer(
        ckpt_dir=str(best), max_to_keep=1, policy=agent.policy
    )  # restores on construction
    env.close()
    return config, agent, network


def evaluate_run(
    run_dir: str | Path, split: str = "test", robustness: str | None = None
) -> dict[str, Any]:
    """Play ``final_eval_episodes`` greedy episodes of a finished run's best policy.

    ``test`` uses the final-evaluation seeds (reproduces metrics.json), ``validation`` another
    range. ``robustness``: the level of the return under perturbations on the same episodes
    (`policy_robustness`), default the run's own. Writes ``evaluation.json`` and
    ``episode.gif`` (and the robustness curve) in the run directory.
    """
    from dlsuite.apps.rl.data import make_eval_env
    from dlsuite.apps.rl.evaluation import (
        FINAL_SEED_OFFSET,
        VALIDATION_SEED_OFFSET,
        policy_action_fn,
        render_gif,
    )
    from dlsuite.apps.rl.models import greedy_policy

    config, agent, _ = load_policy(run_dir)
    level = robustness_level(config, config.robustness if robustness is None else robustness)
    path = Path(run_dir)
    first_seed = (
        FINAL_SEED_OFFSET if split == "test" else VALIDATION_SEED_OFFSET
    ) + 1000 * config.seed
    action_fn = policy_action_fn(greedy_policy(agent))
    result = _evaluate(config, action_fn, config.final_eval_episodes, first_seed)
    gif = (
        render_gif(action_fn, make_eval_env(config, first_seed), path / "episode.gif")
        if config.gif_episodes
        else None
    )
    report = {
        "split": split,
        "policy": "greedy, best periodic evaluation",
        **result,
        "gifs": [gif] if gif else [],
    }
    if config.env in SOLVED_RETURN:
        report["solved_threshold"] = SOLVED_RETURN[config.env]
        report["solved"] = result["average_return"] >= SOLVED_RETURN[config.env]
    if level != "off":
        report["robustness"] = _robustness(config, action_fn, first_seed, path, level)
    atomic_write_json(path / "evaluation.json", report)
    return report
