"""Export a trained policy with TF-Agents' `PolicySaver`,
as a versioned SavedModel with its manifest.

Signatures (signature: inputs -> outputs):

* ``action``: ``step_type`` int32 [N], ``reward`` float32 [N], ``discount`` float32 [N],
  ``observation`` [N, *obs] -> ``action`` int64 [N]
* ``get_initial_state``: ``batch_size`` int32 [] -> (empty: the policies here are stateless)
* ``get_train_step``: none -> ``int64`` [] the gradient step the policy was saved at
* ``get_metadata``: none -> (empty)

The exported policy is the greedy one (argmax Q for DQN / Double DQN, the mode of the action
distribution for REINFORCE), restored from the run's best checkpoint, i.e. the policy whose final
evaluation is in metrics.json. A client sends a batch of TF-Agents ``TimeStep``s; for these
feed-forward policies only ``observation`` changes the action (send ``step_type`` 1, ``reward``
0 and ``discount`` 1 if unsure). There is no ``serving_default``: name ``action`` in requests.
The saved object has ``action``, ``get_initial_state``, ``get_train_step`` and ``get_metadata``
(`tf.saved_model.load(path).action(time_step)` works), but not ``distribution`` (see `save_policy`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dlsuite.apps.common.export import ExportPlan
from dlsuite.apps.rl.models import greedy_policy
from dlsuite.apps.rl.train import load_policy
from dlsuite.serving.warmup import predict_log

ACTION_SIGNATURE = "action"
INPUT_KEYS = ("step_type", "reward", "discount", "observation")


def time_step_inputs(
    observations: Sequence[Any], step_types: Sequence[int] | None = None
) -> dict[str, Any]:
    """The ``action`` signature's inputs for a batch of observations (as numpy arrays)."""
    import numpy as np

    batch = len(observations)
    return {
        "step_type": np.asarray(
            step_types if step_types is not None else [1] * batch, dtype=np.int32
        ),
        "reward": np.zeros(batch, np.float32),
        "discount": np.ones(batch, np.float32),
        "observation": np.stack([np.asarray(o) for o in observations]),
    }


def sample_observations(config: Any, count: int, seed: int) -> tuple[list[Any], list[int]]:
    """Real observations (and their step types) from the start of an evaluation episode."""
    import numpy as np

    from dlsuite.apps.rl.data import make_eval_env

    env = make_eval_env(config, seed)
    rng = np.random.default_rng(seed)
    step = env.reset()
    observations, step_types = [], []
    for _ in range(count):
        observations.append(np.asarray(step.observation))
        step_types.append(int(step.step_type))
        step = env.step(np.asarray(rng.integers(int(env.action_spec().maximum) + 1), np.int64))
        if step.is_last():
            step = env.reset()
    env.close()
    return observations, step_types


def warmup_logs(name: str, observations: Sequence[Any], step_types: Sequence[int]) -> list[Any]:
    """TF Serving warmup records: the ``action`` signature on one and on all observations."""
    return [
        predict_log(
            name, ACTION_SIGNATURE, time_step_inputs(observations[:count], step_types[:count])
        )
        for count in (1, len(observations))
    ]


def save_policy(agent: Any, path: Path) -> None:
    """`PolicySaver` of the greedy policy (unknown batch size) into ``path``."""
    from tf_agents.policies import policy_saver

    # Plain input names (``observation``, not ``0/observation``): valid identifiers keep the same
    # names in the SignatureDef and in `tf.saved_model.load(...).signatures`.
    saver = policy_saver.PolicySaver(
        greedy_policy(agent),
        batch_size=None,
        use_nest_path_signatures=False,
        train_step=agent.train_step_counter,
    )
    # `distribution` returns TensorFlow Probability objects, which a `tf.saved_model.load` without
    # tfp imported (the suite's server) cannot revive; the serving signatures never use it.
    del saver.policy.distribution
    saver.save(str(path))


def export_plan(run_path: Path, *, num_warmup: int) -> ExportPlan:
    """A finished RL run's export: its best checkpoint's greedy policy (`save_policy`)."""
    from dlsuite.apps.rl.evaluation import VALIDATION_SEED_OFFSET

    config, agent, _ = load_policy(run_path)
    observations, step_types = sample_observations(config, num_warmup, VALIDATION_SEED_OFFSET)
    return ExportPlan(
        save=lambda path, _name, _version: save_policy(agent, path),
        warmup_logs=lambda model_name: warmup_logs(model_name, observations, step_types),
    )
