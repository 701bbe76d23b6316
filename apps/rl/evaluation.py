"""Evaluate a policy on whole episodes (many environments stepped together) and render GIFs.

Evaluation environments are seeded from a different range than training ones
(``EVAL_SEED_OFFSET``), and the final evaluation uses another range than the periodic ones
(``FINAL_SEED_OFFSET``), so the reported return is not measured on the episodes that chose the
best checkpoint.

`policy_robustness` measures the average return under observation noise and random actions
(evaluation.json's ``robustness``).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dlsuite.base.files import atomic_write_bytes

EVAL_SEED_OFFSET = 1_000_000
FINAL_SEED_OFFSET = 2_000_000
VALIDATION_SEED_OFFSET = 3_000_000
# A policy's perturbations at severities 1..5 (`dlsuite.apps.common.robustness.SEVERITIES`).
PERTURBATIONS: dict[str, tuple[float, ...]] = {
    "observation_noise": (0.01, 0.02, 0.05, 0.1, 0.2),
    "action_noise": (0.05, 0.1, 0.2, 0.3, 0.5),
}
PERTURBATION_UNITS = {
    "observation_noise": "standard deviation of Gaussian noise added to every observation "
    "component (CartPole: cart position m, velocity m/s, pole angle rad, angular velocity rad/s)",
    "action_noise": "probability epsilon that an action is replaced by a uniformly random one",
}
ROBUSTNESS_EPISODES = {"quick": 20}  # at most this many of the final evaluation's episodes
POLICY_NOT_APPLICABLE = {
    "adversarial": "not measured: FGSM and PGD here attack a classifier's input; a policy's "
    "observations come from its environment (random observation noise is measured instead)",
    "explanations": "not measured: no attribution method for a policy's actions is implemented",
}


def run_episodes(
    action_fn: Callable[[Any], Any],
    make_env: Callable[[int], Any],
    num_episodes: int,
    first_seed: int,
    parallel: int = 100,
) -> dict[str, Any]:
    """Play ``num_episodes`` episodes, ``parallel`` at a time, each in a fresh env seeded in turn.

    ``action_fn(time_step)`` maps a batched ``TimeStep`` (numpy) to a batch of actions.
    Returns the per-episode returns and lengths with their summary statistics.
    """
    from tf_agents.trajectories import time_step as ts

    returns: list[float] = []
    lengths: list[int] = []
    seed = first_seed
    while len(returns) < num_episodes:
        count = min(parallel, num_episodes - len(returns))
        envs = [make_env(seed + i) for i in range(count)]
        seed += count
        steps = [env.reset() for env in envs]
        episode_return = np.zeros(count)
        episode_length = np.zeros(count, dtype=np.int64)
        active = np.ones(count, dtype=bool)
        while active.any():
            index = np.flatnonzero(active)
            batch = ts.TimeStep(
                *(np.stack([getattr(steps[i], f) for i in index]) for f in ts.TimeStep._fields)
            )
            actions = np.asarray(action_fn(batch))
            for j, i in enumerate(index):
                steps[i] = envs[i].step(actions[j])
                episode_return[i] += float(steps[i].reward)
                episode_length[i] += 1
                if steps[i].is_last():
                    active[i] = False
        for env in envs:
            env.close()
        returns.extend(episode_return.tolist())
        lengths.extend(episode_length.tolist())
    values = np.asarray(returns)
    return {
        "episodes": len(returns),
        "average_return": float(values.mean()),
        "std_return": float(values.std()),
        "min_return": float(values.min()),
        "max_return": float(values.max()),
        "average_episode_length": float(np.mean(lengths)),
        "returns": [float(r) for r in returns],
        "episode_lengths": [int(n) for n in lengths],
    }


def policy_action_fn(policy: Any) -> Callable[[Any], Any]:
    """``policy.action`` compiled once, taking and returning numpy."""
    import tensorflow as tf
    from tf_agents.utils import common

    action = common.function(lambda time_step: policy.action(time_step).action)

    def run(time_step: Any) -> Any:
        return action(tf.nest.map_structure(tf.convert_to_tensor, time_step)).numpy()

    return run


def perturbed_action_fn(
    action_fn: Callable[[Any], Any],
    perturbation: str,
    value: float,
    num_actions: int,
    seed: Sequence[int],
) -> Callable[[Any], Any]:
    """``action_fn`` under ``perturbation`` (`PERTURBATIONS`) of size ``value``, its noise drawn
    from ``seed``: Gaussian noise of standard deviation ``value`` added to the batched
    ``TimeStep``'s observations it sees ("observation_noise"), or each of its actions replaced
    with probability ``value`` by a uniform one of ``num_actions`` ("action_noise")."""
    rng = np.random.default_rng(list(seed))
    if perturbation == "observation_noise":

        def noisy_observation(time_step: Any) -> Any:
            observation = np.asarray(time_step.observation)
            noise = rng.normal(0.0, value, observation.shape)
            return action_fn(
                time_step._replace(observation=(observation + noise).astype(observation.dtype))
            )

        return noisy_observation
    if perturbation != "action_noise":
        raise ValueError(
            f"`perturbation` expected one of {sorted(PERTURBATIONS)}. "
            f"Received: perturbation={perturbation!r}"
        )

    def noisy_action(time_step: Any) -> Any:
        actions = np.asarray(action_fn(time_step))
        replaced = rng.random(actions.shape) < value
        return np.where(replaced, rng.integers(num_actions, size=actions.shape), actions).astype(
            actions.dtype
        )

    return noisy_action


def policy_robustness(
    action_fn: Callable[[Any], Any],
    make_env: Callable[[int], Any],
    first_seed: int,
    episodes: int,
    out_dir: str | Path,
    *,
    level: str,
    title: str,
) -> dict[str, Any]:
    """Average return of ``action_fn`` under observation noise and random actions
    (`perturbed_action_fn`, `PERTURBATIONS`) at the ``level``'s severities, on the episodes
    seeded from ``first_seed`` (the final evaluation's): all ``episodes`` at "full", at most
    `ROBUSTNESS_EPISODES` at "quick"; the curve written to ``out_dir``
    (`dlsuite.apps.common.evaluation.perturbation_robustness` gives the shape; severity 0, the
    clean return, is ``action_fn`` itself on the same episodes).
    """
    from dlsuite.apps.common.evaluation import ROBUSTNESS_SEED, perturbation_robustness

    played = min(episodes, ROBUSTNESS_EPISODES.get(level, episodes))
    env = make_env(first_seed)
    num_actions = int(env.action_spec().maximum) + 1
    env.close()
    names = list(PERTURBATIONS)

    def measure(perturbation: str, severity: int) -> dict[str, float]:
        acting = action_fn
        if severity:
            acting = perturbed_action_fn(
                action_fn,
                perturbation,
                PERTURBATIONS[perturbation][severity - 1],
                num_actions,
                (ROBUSTNESS_SEED, names.index(perturbation), severity),
            )
        result = run_episodes(acting, make_env, played, first_seed)
        return {"average_return": result["average_return"]}

    return perturbation_robustness(
        measure,
        PERTURBATIONS,
        PERTURBATION_UNITS,
        out_dir,
        level=level,
        metrics=("average_return",),
        lower_is_better=False,
        method="average return of the greedy policy under seeded Gaussian observation noise and "
        "epsilon-random actions, on the final evaluation's episode seeds",
        modality="policy",
        num_examples=played,
        parameters={"episodes": played, "first_episode_seed": first_seed},
        not_applicable=POLICY_NOT_APPLICABLE,
        title=title,
        ylabel="average return",
    )


def render_gif(
    action_fn: Callable[[Any], Any],
    env: Any,
    path: str | Path,
    *,
    max_width: int = 300,
    frame_every: int = 1,
    fps: int = 30,
) -> dict[str, Any]:
    """Play one episode in ``env``, rendering every frame, and write an animated GIF (Pillow)."""
    from PIL import Image
    from tf_agents.trajectories import time_step as ts

    frames: list[Any] = []
    step = env.reset()
    total, length = 0.0, 0

    def grab() -> None:
        image = Image.fromarray(np.asarray(env.render(mode="rgb_array"), dtype=np.uint8))
        if image.width > max_width:
            image = image.resize((max_width, round(image.height * max_width / image.width)))
        frames.append(image.convert("P", palette=Image.Palette.ADAPTIVE, colors=64))

    grab()
    while not step.is_last():
        batch = ts.TimeStep(
            *(np.asarray(getattr(step, f))[np.newaxis] for f in ts.TimeStep._fields)
        )
        step = env.step(np.asarray(action_fn(batch))[0])
        total += float(step.reward)
        length += 1
        if length % frame_every == 0 or step.is_last():
            grab()
    env.close()

    buffer = io.BytesIO()
    frames[0].save(
        buffer,
        format="GIF",
        save_all=True,
        append_images=frames[1:],
        duration=max(1, round(1000 * frame_every / fps)),
        loop=0,
        optimize=False,
    )
    atomic_write_bytes(path, buffer.getvalue())
    return {"path": Path(path).name, "return": total, "length": length, "frames": len(frames)}
