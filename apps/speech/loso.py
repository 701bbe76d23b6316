"""Leave-one-speaker-out evaluation of a keyword spotter on ``builtin:speakers``.

`leave_one_speaker_out` trains one run per held-out speaker (``test_groups=(speaker,)``; the
other speakers train and validate, whole speakers apart) and collects each run's test accuracy
from its ``metrics.json``. `plot_folds` draws the per-speaker accuracies of several configurations
side by side. ``benchmarks/speaker_independence.py`` runs both over all eight speakers.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dlsuite.apps.speech.config import SpeechConfig
from dlsuite.apps.speech.speakers import SPEAKERS
from dlsuite.base.files import atomic_write_bytes


def leave_one_speaker_out(
    config: SpeechConfig, speakers: Sequence[str] | None = None
) -> dict[str, Any]:
    """Train ``config`` once per held-out speaker of ``speakers`` (default: all of `SPEAKERS`).

    Returns ``{"folds": {speaker: {"accuracy", "validation_accuracy", "run"}}, "mean_accuracy",
    "min_accuracy"}``; every fold is an ordinary run under ``config.run_root``.
    """
    from dlsuite.apps.speech.train import train_and_evaluate

    if config.data != "builtin:speakers":
        raise ValueError(
            f"leave-one-speaker-out runs on builtin:speakers. Received: data={config.data!r}"
        )
    names = list(speakers) if speakers else [s.name for s in SPEAKERS]
    folds: dict[str, dict[str, Any]] = {}
    for name in names:
        result = train_and_evaluate(dataclasses.replace(config, test_groups=(name,)))
        final = result.metrics["final"]
        folds[name] = {
            "accuracy": final["test"]["accuracy"],
            "validation_accuracy": final["validation"]["accuracy"],
            "run": str(result.run.path),
        }
        print(f"held-out speaker {name}: accuracy {folds[name]['accuracy']:.4f}", flush=True)
    accuracies = [fold["accuracy"] for fold in folds.values()]
    return {
        "folds": folds,
        "mean_accuracy": statistics.fmean(accuracies),
        "min_accuracy": min(accuracies),
    }


def plot_folds(results: Mapping[str, Mapping[str, Any]], path: str | Path, title: str = "") -> Path:
    """Grouped bars: each configuration's test accuracy per held-out speaker, and its mean."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from dlsuite.apps.common.plots import figure_bytes

    speakers = list(next(iter(results.values()))["folds"])
    x = np.arange(len(speakers) + 1)
    width = 0.8 / len(results)
    fig, ax = plt.subplots(figsize=(1.0 * len(x) + 2, 3.8))
    for i, (label, result) in enumerate(results.items()):
        values = [result["folds"][s]["accuracy"] for s in speakers] + [result["mean_accuracy"]]
        ax.bar(x + (i - (len(results) - 1) / 2) * width, values, width, label=label)
    ax.set_xticks(x, [*speakers, "mean"])
    ax.set_xlabel("held-out speaker")
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, 1)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=len(results))
    if title:
        ax.set_title(title)
    return atomic_write_bytes(path, figure_bytes(fig))
