"""Evaluate a policy on whole episodes (many environments stepped together) and render GIFs.

Evaluation environments are seeded from a different range than training ones
(``EVAL_SEED_OFFSET``), and the final evaluation uses another range than the periodic ones
(``FINAL_SEED_OFFSET``), so the reported return is not measured on the episodes that chose the
best checkpoint.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from dlsuite.base.files import atomic_write_bytes

EVAL_SEED_OFFSET = 1_000_000
FINAL_SEED_OFFSET = 2_000_000
VALIDATION_SEED_OFFSET = 3_000_000


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
