"""PNG plots people would rather see than read: learning curves and confusion matrices."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dlsuite.base.files import atomic_write_bytes


def figure_bytes(fig: Any) -> bytes:
    """The figure as PNG bytes (110 dpi, tight); closes it."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def plot_learning_curves(
    history: Sequence[dict[str, Any]], path: str | Path, title: str = ""
) -> Path:
    """One panel per metric (loss, accuracy, ...), training and validation curves per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    skip = {"epoch", "epoch_time_s", "learning_rate"}
    names = sorted({k for r in history for k in r if k not in skip and not k.startswith("val_")})
    names = names or ["loss"]
    fig, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.5), squeeze=False)
    epochs = [r["epoch"] for r in history]
    for ax, name in zip(axes[0], names, strict=True):
        for key, label in ((name, "train"), (f"val_{name}", "validation")):
            values = [r.get(key) for r in history]
            if any(v is not None for v in values):
                ax.plot(epochs, values, marker="o", markersize=3, label=label)
        ax.set_xlabel("epoch")
        ax.set_title(name)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    return atomic_write_bytes(path, figure_bytes(fig))


def plot_confusion_matrix(
    matrix: Sequence[Sequence[int]], class_names: Sequence[str], path: str | Path, title: str = ""
) -> Path:
    """Heat map of counts, true class down, predicted class across."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    counts = np.asarray(matrix)
    size = max(4.0, 0.45 * len(class_names) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(counts, cmap="Blues")
    ticks = range(len(class_names))
    ax.set_xticks(ticks, class_names, rotation=90 if len(class_names) > 12 else 0)
    ax.set_yticks(ticks, class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if len(class_names) <= 30:
        threshold = counts.max() / 2 if counts.size else 0
        for i in ticks:
            for j in ticks:
                ax.text(
                    j,
                    i,
                    str(int(counts[i, j])),
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if counts[i, j] > threshold else "black",
                )
    ax.set_title(title or "confusion matrix")
    return atomic_write_bytes(path, figure_bytes(fig))
