"""The apps the suite knows, and the module convention each follows.

An app is the package ``apps.<name>`` with ``config.py`` (``CONFIG_CLASS``, ``PRESETS``),
``data.py`` (``load_splits(config)``), ``train.py`` (``train_and_evaluate(config)``,
``evaluate_run(run_dir, split)``) and ``export.py`` (``export_plan(run_path, *, num_warmup)``, the
`apps.common.export.ExportPlan` that `apps.common.export.export_run` writes). Only the config
module is imported to build the CLI, so it must not import TensorFlow. An agent collects its own
experience, so the RL app's ``data.py`` makes environments instead of loading splits, and its
``models/`` builds agents (``apps.rl.models.build_agent``).
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from dlsuite.apps.common.config import from_dict

APPS: dict[str, str] = {
    "vision": "image classification: LeNet-5, AlexNet-style, CIFAR ResNet-20/32/56, ResNet-50",
    "generative": "image generation: conditional DCGAN, WGAN-GP, with Art. 50 marked output",
    "speech": (
        "speech from raw waveforms: "
        "keyword spotting (DNN, CNN, DS-CNN, BiLSTM-attention), CTC recognition"
    ),
    "rl": "reinforcement learning with TF-Agents: DQN, Double DQN, REINFORCE on CartPole and Atari",
    "nlp": (
        "text: classification (bag of embeddings, BiLSTM, Transformer), "
        "translation and a GPT-style language model, with the tokenizer inside the model"
    ),
}


def app_module(app: str, part: str) -> ModuleType:
    """Import ``dlsuite.apps.<app>.<part>``,
    with an error listing the known apps for an unknown one.
    """
    if app not in APPS:
        raise ValueError(f"unknown app {app!r}; known apps: {sorted(APPS)}")
    return importlib.import_module(f"dlsuite.apps.{app}.{part}")


def config_class(app: str) -> type:
    return app_module(app, "config").CONFIG_CLASS


def presets(app: str) -> dict[str, Any]:
    return app_module(app, "config").PRESETS


def config_from_run(config_json: dict[str, Any]) -> Any:
    """Rebuild an app's config from a run's ``config.json``."""
    app = config_json.get("app")
    if app is None:
        raise ValueError(
            f"a run's config.json needs an 'app' key. Received keys: {sorted(config_json)}"
        )
    values = dict(config_json)
    for key, value in values.items():
        if isinstance(value, list):
            values[key] = tuple(value)
    return from_dict(config_class(app), values)
