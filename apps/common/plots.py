"""PNG plots people would rather see than read: learning curves, confusion matrices, and the
calibration, robustness and explanation figures of `calibration`, `robustness` and `explain`."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
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


def plot_reliability_diagram(
    calibration: Mapping[str, Any], path: str | Path, title: str = ""
) -> Path:
    """Reliability diagram of an `expected_calibration_error` result: each bin's accuracy as a
    bar against the diagonal (perfect calibration), the gap to the bin's mean confidence in red,
    and below it the share of examples per bin; the ECE in the title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bins = calibration["per_bin"]
    lower = [b["lower"] for b in bins]
    width = [b["upper"] - b["lower"] for b in bins]
    filled = [b for b in bins if b["count"]]
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(4.5, 5.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    top.bar(
        lower,
        [b["accuracy"] or 0.0 for b in bins],
        width,
        align="edge",
        edgecolor="black",
        label="accuracy",
    )
    top.bar(
        [b["lower"] for b in filled],
        [b["confidence"] - b["accuracy"] for b in filled],
        [b["upper"] - b["lower"] for b in filled],
        bottom=[b["accuracy"] for b in filled],
        align="edge",
        color="tab:red",
        alpha=0.35,
        label="gap to confidence",
    )
    top.plot([0, 1], [0, 1], color="gray", linestyle="--", label="calibrated")
    top.set_xlim(0, 1)
    top.set_ylim(0, 1)
    top.set_ylabel("accuracy")
    top.legend(loc="upper left")
    bottom.bar(
        lower,
        [b["count"] / calibration["num_examples"] for b in bins],
        width,
        align="edge",
        edgecolor="black",
    )
    bottom.set_xlabel("confidence (top-class probability)")
    bottom.set_ylabel("share")
    top.set_title(f"{title + ': ' if title else ''}ECE {calibration['ece']:.4f} ({len(bins)} bins)")
    return atomic_write_bytes(path, figure_bytes(fig))


def plot_corruption_curves(
    result: Mapping[str, Any], path: str | Path, title: str = "", ylabel: str | None = None
) -> Path:
    """A metric against severity (0: clean), one line per corruption, the mean over the
    corruptions in the title: a `corruption_accuracy` result (accuracy) or the ``corruption``
    part of a `perturbation_robustness` report (its ``metric``: an error rate, a return).
    ``ylabel``: the y axis's label, default the metric's name."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metric = result.get("metric", "accuracy")
    name = metric.replace("_", " ")
    clean, mean = result[f"clean_{metric}"], result[f"mean_corruption_{metric}"]
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for corruption, row in result[metric].items():
        severities = sorted(row, key=int)
        ax.plot(
            [0, *map(int, severities)],
            [clean, *(row[s] for s in severities)],
            marker="o",
            markersize=3,
            label=corruption,
        )
    ax.set_xlabel("severity (0: clean)")
    ax.set_ylabel(ylabel or name)
    if metric == "accuracy":
        ax.set_ylim(0, 1.02)
    else:
        ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(
        f"{title + ': ' if title else ''}{result['modality']} corruptions, mean {name} "
        f"{mean:.4f} (clean {clean:.4f})"
    )
    return atomic_write_bytes(path, figure_bytes(fig))


def plot_adversarial_example(
    example: Any,
    path: str | Path,
    value_range: Sequence[float],
    class_names: Sequence[str] | None = None,
    title: str = "",
) -> Path:
    """An `AdversarialExample`: the clean input, the perturbed one and the perturbation, with
    the predictions. Images (H, W, C) as pictures in ``value_range``; waveforms (S,) as curves."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    def name(class_id: int) -> str:
        return class_names[class_id] if class_names is not None else str(class_id)

    clean, perturbed = np.asarray(example.clean), np.asarray(example.perturbed)
    delta = perturbed - clean
    captions = (
        f"clean: {name(example.clean_prediction)} (true {name(example.label)})",
        f"perturbed: {name(example.adversarial_prediction)}",
        f"perturbation, epsilon {example.epsilon:g}",
    )
    if clean.ndim == 3:
        low, high = value_range
        fig, axes = plt.subplots(1, 3, figsize=(9, 3.4))
        for ax, image in zip(axes[:2], (clean, perturbed), strict=True):
            shown = (np.clip(image, low, high) - low) / (high - low)
            ax.imshow(shown[..., 0] if shown.shape[-1] == 1 else shown, cmap="gray", vmin=0, vmax=1)
        limit = max(float(np.abs(delta).max()), 1e-12)
        axes[2].imshow(delta.mean(axis=-1), cmap="RdBu_r", vmin=-limit, vmax=limit)
        for ax, caption in zip(axes, captions, strict=True):
            ax.set_title(caption, fontsize=9)
            ax.axis("off")
    else:
        fig, axes = plt.subplots(3, 1, figsize=(8, 5), sharex=True)
        for ax, wave, caption in zip(axes, (clean, perturbed, delta), captions, strict=True):
            ax.plot(wave.reshape(-1), linewidth=0.5)
            ax.set_title(caption, fontsize=9)
        axes[-1].set_xlabel("sample")
    if title:
        fig.suptitle(title)
    return atomic_write_bytes(path, figure_bytes(fig))


def plot_heat_maps(
    inputs: Any,
    maps: Any,
    labels: Sequence[int],
    class_names: Sequence[str],
    path: str | Path,
    title: str = "",
    columns: int = 6,
) -> Path:
    """Explanations of a few examples (e.g. `examples_per_class`), one panel each, titled with
    the true class. ``maps`` (N, h, w) (Grad-CAM maps, or integrated gradients of images as
    ``np.abs(attributions).sum(-1)``) are drawn over ``inputs`` when these are images
    (N, H, W, C), alone otherwise (a keyword spotter's time x frequency map, frequency up);
    ``maps`` (N, S) (integrated gradients of waveforms) are drawn as ``|attribution|`` under the
    waveform ``inputs`` (N, S)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    inputs, maps = np.asarray(inputs), np.asarray(maps)
    columns = max(1, min(columns, len(maps)))
    rows = -(-len(maps) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(2.2 * columns, 2.3 * rows), squeeze=False)
    for ax in axes.flat[len(maps) :]:
        ax.axis("off")
    for ax, x, heat, label in zip(axes.flat, inputs, maps, labels, strict=False):
        ax.set_title(class_names[int(label)], fontsize=8)
        if heat.ndim == 1:
            ax.plot(x / max(float(np.abs(x).max()), 1e-12), linewidth=0.4, color="gray")
            ax.plot(
                np.abs(heat) / max(float(np.abs(heat).max()), 1e-12), linewidth=0.6, color="tab:red"
            )
            ax.set_yticks([])
            continue
        ax.axis("off")
        if x.ndim == 3:
            image = (x - x.min()) / max(float(x.max() - x.min()), 1e-12)
            ax.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray")
            extent = (-0.5, x.shape[1] - 0.5, x.shape[0] - 0.5, -0.5)
            ax.imshow(heat, cmap="jet", alpha=0.45, extent=extent, interpolation="bilinear")
        else:
            ax.imshow(heat.T, cmap="jet", origin="lower", aspect="auto")
    if title:
        fig.suptitle(title)
    return atomic_write_bytes(path, figure_bytes(fig))


def plot_token_attributions(
    tokens: Sequence[Sequence[str]],
    attributions: Any,
    labels: Sequence[int],
    class_names: Sequence[str],
    path: str | Path,
    title: str = "",
) -> Path:
    """Texts as rows of tokens shaded by their attribution (`token_attributions`): red for
    evidence for the explained class, blue against, each row scaled to its largest magnitude;
    the true class on the left."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(10, 0.45 * len(tokens) + 0.6))
    ax.axis("off")
    ax.set_xlim(0, 1)
    ax.set_ylim(len(tokens), -0.5)
    cmap = plt.get_cmap("RdBu_r")
    for row, (words, scores, label) in enumerate(zip(tokens, attributions, labels, strict=True)):
        scores = np.asarray(scores)[: len(words)]
        scale = max(float(np.abs(scores).max()) if len(scores) else 0.0, 1e-12)
        ax.text(0.0, row, class_names[int(label)], fontsize=8, va="center", weight="bold")
        x = 0.14
        for word, score in zip(words, scores, strict=True):
            strength = float(score) / scale
            text = ax.text(
                x,
                row,
                word,
                fontsize=8,
                va="center",
                color="white" if abs(strength) > 0.6 else "black",
                bbox={"facecolor": cmap(0.5 + 0.5 * strength), "edgecolor": "none", "pad": 1.5},
            )
            box = text.get_window_extent().transformed(ax.transAxes.inverted())
            x = box.x1 + 0.008
    if title:
        ax.set_title(title)
    return atomic_write_bytes(path, figure_bytes(fig))
