"""Fixtures for app tests: tiny finished runs, shared across a test session."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

MANIFEST_INFO = Path(__file__).resolve().parents[2] / "docs" / "manifest_example.yaml"
TINY = dict(
    model="lenet5",
    data="builtin:digits",
    epochs=2,
    batch_size=32,
    max_train_examples=128,
    verbose=0,
    seed=7,
    robustness="off",  # its tests do not check the robustness evaluation
)


def train_tiny(run_root: Path, **overrides):
    """Train LeNet-5 on 128 digits for 2 epochs; returns the `TrainResult`."""
    from dlsuite.apps.vision.config import VisionConfig
    from dlsuite.apps.vision.train import train_and_evaluate

    return train_and_evaluate(VisionConfig(**{**TINY, "run_root": str(run_root), **overrides}))


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A finished tiny vision run (about 10 s)."""
    return train_tiny(tmp_path_factory.mktemp("runs"))


def export_once(result, name: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run (``result.run``) exported as ``<fresh base>/<name>/1``: the body of the
    fixtures that export a tiny run once for the export and serving tests (which only read it)."""
    from dlsuite.apps.common.export import export_run

    base = tmp_path_factory.mktemp(f"{name}-export")
    return export_run(result.run.path, model_base_path=base, name=name, manifest_info=MANIFEST_INFO)


@pytest.fixture(scope="session")
def tiny_export(tiny_run, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`tiny_run` exported once as ``<base>/digits/1``."""
    return export_once(tiny_run, "digits", tmp_path_factory)


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory):
    """The quality-bar run, exactly as a user types it (plus where to put the run).

    Returns ``(run_dir, metrics, wall_clock_s)``.
    """
    import json
    import time

    from dlsuite.cli import main

    root = tmp_path_factory.mktemp("quality")
    start = time.perf_counter()
    code = main(
        [
            "train",
            "vision",
            "--model",
            "lenet5",
            "--data",
            "builtin:digits",
            "--run-root",
            str(root),
            "--verbose",
            "0",
        ]
    )
    elapsed = time.perf_counter() - start
    assert code == 0
    (run_dir,) = (root / "vision").iterdir()
    return run_dir, json.loads((run_dir / "metrics.json").read_text()), elapsed


NLP_TINY = dict(
    task="classify",
    model="transformer",
    data="builtin:langid",
    tokenizer="wordpiece",
    vocab_size=400,
    sequence_length=16,
    embedding_dim=16,
    intermediate_dim=32,
    num_layers=1,
    num_heads=2,
    langid_locales=("en_US", "de_DE", "fr_FR"),
    langid_sentences=80,
    epochs=1,
    batch_size=32,
    verbose=0,
    seed=5,
    robustness="off",  # its tests do not check the robustness evaluation
)


@pytest.fixture(scope="session")
def nlp_tiny_run(tmp_path_factory):
    """A finished tiny text classification run (Transformer, WordPiece, 3-language langid;
    a few seconds)."""
    from dlsuite.apps.nlp.config import NLPConfig
    from dlsuite.apps.nlp.train import train_and_evaluate

    return train_and_evaluate(
        NLPConfig(**{**NLP_TINY, "run_root": str(tmp_path_factory.mktemp("nlp-runs"))})
    )


@pytest.fixture(scope="session")
def nlp_tiny_export(nlp_tiny_run, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`nlp_tiny_run` exported once as ``<base>/langid/1``."""
    return export_once(nlp_tiny_run, "langid", tmp_path_factory)


def exported_policy_returns(version: Path, config: Any, seeds: range) -> list[float]:
    """Returns of one episode per seed of ``config``'s evaluation environment, each action asked
    of the exported policy's ``action`` signature (the quality tests' check of an export)."""
    import numpy as np
    import tensorflow as tf

    from dlsuite.apps.rl.data import make_eval_env
    from dlsuite.apps.rl.export import time_step_inputs

    action = tf.saved_model.load(str(version)).signatures["action"]
    returns = []
    for seed in seeds:
        env = make_eval_env(config, seed)
        step, total = env.reset(), 0.0
        while not step.is_last():
            inputs = time_step_inputs([step.observation], [int(step.step_type)])
            chosen = action(**{k: tf.constant(v) for k, v in inputs.items()})["action"].numpy()[0]
            step = env.step(np.int64(chosen))
            total += float(step.reward)
        returns.append(total)
    return returns
