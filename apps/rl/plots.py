"""The RL learning curve: evaluation return against environment steps."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dlsuite.apps.common.plots import figure_bytes
from dlsuite.base.files import atomic_write_bytes


def plot_returns(
    history: Sequence[dict[str, Any]],
    final: dict[str, Any],
    path: str | Path,
    title: str = "",
    target: float | None = None,
) -> Path:
    """Two panels: greedy evaluation and training-episode returns, and the TD / policy loss."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r["env_steps"] for r in history]
    fig, (returns, loss) = plt.subplots(1, 2, figsize=(10, 3.8))
    returns.plot(
        steps,
        [r["average_return"] for r in history],
        marker="o",
        markersize=3,
        label="greedy evaluation",
    )
    returns.plot(
        steps, [r["train_average_return"] for r in history], marker=".", label="training episodes"
    )
    if steps:
        returns.errorbar(
            [steps[-1]],
            [final["average_return"]],
            yerr=[final["std_return"]],
            fmt="s",
            color="black",
            label=f"final, {final['episodes']} episodes",
        )
    if target is not None:
        returns.axhline(target, color="gray", linestyle="--", label=f"solved ({target:g})")
    returns.set_xlabel("environment steps")
    returns.set_title("average return")
    returns.legend(fontsize=8)
    returns.grid(alpha=0.3)
    loss.plot(steps, [r.get("loss") for r in history], marker="o", markersize=3)
    loss.set_xlabel("environment steps")
    loss.set_title("loss")
    loss.set_yscale("log" if all((r.get("loss") or 0) > 0 for r in history) else "linear")
    loss.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    return atomic_write_bytes(path, figure_bytes(fig))
