"""Held-out evaluation of a classifier:
accuracy, per-class precision/recall/F1, confusion matrix.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dlsuite.apps.common.data import make_pipeline
from dlsuite.apps.common.plots import plot_confusion_matrix
from dlsuite.apps.common.runs import load_trained_model, run_config, splits_for_run
from dlsuite.base.files import atomic_write_json

if TYPE_CHECKING:
    from numpy.typing import ArrayLike


def classification_report(
    labels: ArrayLike, predictions: ArrayLike, class_names: Sequence[str]
) -> dict[str, Any]:
    """Accuracy, macro averages, per-class figures and the confusion matrix (rows: true class)."""
    import numpy as np
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    y_true = np.asarray(labels)
    y_pred = np.asarray(predictions)
    indices = list(range(len(class_names)))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=indices, zero_division=0
    )
    per_class = {
        name: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, name in enumerate(class_names)
    }
    return {
        "accuracy": float(np.mean(y_true == y_pred)) if len(y_true) else 0.0,
        "macro_precision": float(np.mean(precision)),
        "macro_recall": float(np.mean(recall)),
        "macro_f1": float(np.mean(f1)),
        "num_examples": int(len(y_true)),
        "per_class": per_class,
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=indices).tolist(),
    }


def format_report(report: dict[str, Any]) -> str:
    """A plain-text table of a `classification_report`, for the terminal."""
    lines = [
        f"split: {report.get('split', '?')}  examples: {report['num_examples']}  "
        f"accuracy: {report['accuracy']:.4f}  macro F1: {report['macro_f1']:.4f}",
        f"{'class':>12} {'precision':>10} {'recall':>10} {'f1':>8} {'support':>8}",
    ]
    for name, row in report["per_class"].items():
        lines.append(
            f"{name:>12} {row['precision']:>10.4f} {row['recall']:>10.4f} {row['f1']:>8.4f} "
            f"{row['support']:>8d}"
        )
    return "\n".join(lines)


def evaluate_classifier(
    model: Any, batches: Any, class_names: Sequence[str], out_dir: Any, split: str = "test"
) -> dict[str, Any]:
    """Predict ``batches`` of ``(x, y)``, report per class, write ``evaluation.json`` and a PNG.

    Returns the report (with the split named and the model's loss/metrics from ``evaluate``).
    """
    import numpy as np

    labels, predictions = [], []
    for x, y in batches:
        probabilities = model(x, training=False)
        predictions.append(np.argmax(np.asarray(probabilities), axis=-1))
        labels.append(np.asarray(y))
    report = classification_report(np.concatenate(labels), np.concatenate(predictions), class_names)
    report["split"] = split
    out = Path(out_dir)
    atomic_write_json(out / "evaluation.json", report)
    plot_confusion_matrix(
        report["confusion_matrix"],
        class_names,
        out / "confusion_matrix.png",
        title=f"{model.name}: {split} accuracy {report['accuracy']:.4f}",
    )
    return report


def evaluate_classifier_run(run_dir: Any, split: str = "test") -> dict[str, Any]:
    """Evaluate a finished classifier run on a held-out split; writes the report files."""
    path = Path(run_dir)
    config = run_config(path)
    splits = splits_for_run(path)
    batches = make_pipeline(
        getattr(splits, split),
        batch_size=config.batch_size,
        training=False,
        seed=config.seed,
        cache=False,
    )
    return evaluate_classifier(
        load_trained_model(path), batches, splits.class_names, path, split=split
    )
