"""Held-out evaluation of a classifier: accuracy, per-class precision/recall/F1, confusion
matrix, and beyond accuracy (the ``robustness`` report, at a `ROBUSTNESS_LEVELS` level):

- calibration: expected calibration error of the held-out split and its reliability diagram;
  the temperature fitted on the validation split when one is given, with the ECE after it
  (`dlsuite.apps.common.calibration`);
- distribution shift: accuracy under the seeded corruption suite of the model's modality, as a
  table and a curve (`dlsuite.apps.common.robustness`);
- adversarial robustness: accuracy under FGSM and PGD at the modality's epsilons and one
  adversarial example (not applicable to text, recorded as such);
- explanations of a few held-out examples per class: Grad-CAM when the model has a
  convolutional feature map, integrated gradients otherwise (a keyword spotter's: on its
  normalised features, the layer "cmvn"), token attributions for text
  (`dlsuite.apps.common.explain`).

`perturbation_robustness` is the report of a model that is not a classifier (a CTC recogniser's
error rates, an RL policy's return under perturbations), in the same shape where it applies.

The modality is the model's input: strings are text, images (B, H, W, C) vision (pixels 0-255),
waveforms (B, S) speech (samples in [-1, 1]).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dlsuite.apps.common.config import check_robustness_level
from dlsuite.apps.common.data import make_pipeline
from dlsuite.apps.common.plots import plot_confusion_matrix
from dlsuite.apps.common.runs import load_trained_model, run_config, splits_for_run
from dlsuite.base.files import atomic_write_json

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

SPEECH_FEATURES_LAYER = "cmvn"  # a keyword spotter's normalised time x mel features
FIGURES = {
    "reliability_diagram": "reliability_diagram.png",
    "corruption_curves": "corruption_curves.png",
    "adversarial_example": "adversarial_example.png",
    "explanations": "explanations.png",
}
ROBUSTNESS_SEED = 0  # the corruptions' and PGD's random start


@dataclasses.dataclass(frozen=True)
class RobustnessBudget:
    """How much one robustness evaluation measures.

    ``examples``: the first held-out examples corrupted (the calibration uses every one);
    ``severities``: of the corruption suite; ``epsilon_indices``: of the modality's
    `ADVERSARIAL_DEFAULTS` epsilons attacked with; ``attack_examples``: the first examples attacked;
    ``pgd_steps``; ``explained_per_class`` examples of each of the first ``explained_classes``
    classes; ``ig_steps``: integrated-gradients intervals.
    """

    examples: int
    severities: tuple[int, ...]
    epsilon_indices: tuple[int, ...]
    attack_examples: int
    pgd_steps: int
    explained_per_class: int
    explained_classes: int
    ig_steps: int


BUDGETS = {
    "quick": RobustnessBudget(256, (1, 3, 5), (0, 2, 4), 128, 5, 1, 10, 16),
    "full": RobustnessBudget(1000, (1, 2, 3, 4, 5), (0, 1, 2, 3, 4, 5), 500, 10, 2, 20, 50),
}


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
    """A plain-text table of a `classification_report`, for the terminal, with a summary of its
    ``robustness`` report when it has one."""
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
    robustness = report.get("robustness")
    if robustness:
        lines.append(format_robustness(robustness))
    return "\n".join(lines)


def format_robustness(robustness: dict[str, Any]) -> str:
    """A few lines of a ``robustness`` report: ECE and temperature, mean corruption accuracy,
    FGSM and PGD accuracy per epsilon, the explanation method."""
    calibration = robustness["calibration"]
    temperature = calibration["temperature"]
    lines = [
        f"robustness ({robustness['level']}, {robustness['wall_time_s']:.1f} s):",
        f"  ECE {calibration['ece']:.4f}"
        + (
            f", temperature {temperature['temperature']:.3f} -> ECE {temperature['ece_after']:.4f}"
            if temperature.get("fitted")
            else f" (no temperature: {temperature['reason']})"
        ),
        f"  corruptions ({robustness['corruption']['modality']}): mean accuracy "
        f"{robustness['corruption']['mean_corruption_accuracy']:.4f} "
        f"(clean {robustness['corruption']['clean_accuracy']:.4f})",
    ]
    for name, attack in robustness["adversarial"].items():
        if attack["applicable"]:
            rows = sorted(attack["accuracy"].items(), key=lambda row: float(row[0]))
            figures = ", ".join(f"{e}: {a:.4f}" for e, a in rows)
            lines.append(f"  {name} accuracy by epsilon: {figures}")
        else:
            lines.append(f"  {name}: {attack['reason']}")
    lines.append(f"  explanations: {robustness['explanations']['method']}")
    return "\n".join(lines)


def input_modality(model: Any) -> str:
    """ "text", "vision" or "speech" from ``model``'s one input: strings, (B, H, W, C) images or
    (B, S) waveforms."""
    if len(model.inputs) != 1:
        raise ValueError(f"robustness expected a model with one input. Received: {model.inputs}")
    source = model.inputs[0]
    if str(source.dtype) == "string":
        return "text"
    if len(source.shape) == 4:
        return "vision"
    if len(source.shape) == 2:
        return "speech"
    raise ValueError(
        "robustness expected strings (B,), images (B, H, W, C) or waveforms (B, S) as the "
        f"model's input. Received: shape={tuple(source.shape)}, dtype={source.dtype}"
    )


def _predict(model: Any, batches: Any, keep: int) -> tuple[Any, Any, Any]:
    """``(probabilities (N, K), labels (N,), the first ``keep`` inputs)`` of ``batches``."""
    import numpy as np

    probabilities, labels, inputs, kept = [], [], [], 0
    for x, y in batches:
        probabilities.append(np.asarray(model(x, training=False), dtype=np.float32))
        labels.append(np.asarray(y))
        if kept < keep:
            inputs.append(np.asarray(x)[: keep - kept])
            kept += len(inputs[-1])
    if not labels:
        raise ValueError("the evaluation expected at least one batch of (x, y); it got none")
    kept_inputs = np.concatenate(inputs) if inputs else None
    return np.concatenate(probabilities), np.concatenate(labels).astype(np.int64), kept_inputs


def _calibration(
    model: Any, probabilities: Any, labels: Any, validation: Any, out: Path, title: str
) -> dict[str, Any]:
    """ECE (reliability diagram written) and the validation-fitted temperature with the ECE
    after it."""
    import keras
    import numpy as np

    from dlsuite.apps.common.calibration import (
        MIN_PROBABILITY,
        MIN_TEMPERATURE_EXAMPLES,
        TemperatureScaling,
        expected_calibration_error,
        fit_temperature,
    )
    from dlsuite.apps.common.plots import plot_reliability_diagram

    section = expected_calibration_error(probabilities, labels)
    plot_reliability_diagram(section, out / FIGURES["reliability_diagram"], title=title)
    if validation is None:
        section["temperature"] = {"fitted": False, "reason": "no validation split was given"}
        return section
    scores, truth, _ = _predict(model, validation, 0)
    if len(truth) < MIN_TEMPERATURE_EXAMPLES:
        section["temperature"] = {
            "fitted": False,
            "reason": (
                f"the validation split has {len(truth)} examples; a temperature is fitted on at "
                f"least {MIN_TEMPERATURE_EXAMPLES}"
            ),
        }
        return section
    fit = fit_temperature(np.log(np.maximum(scores, MIN_PROBABILITY)), truth)
    scaled = TemperatureScaling(fit["temperature"])(keras.ops.convert_to_tensor(probabilities))
    section["temperature"] = {
        "fitted": True,
        "fitted_on": "validation",
        **fit,
        "ece_before": section["ece"],
        "ece_after": expected_calibration_error(np.asarray(scaled), labels)["ece"],
    }
    return section


def _corruption(
    model: Any,
    x: Any,
    y: Any,
    modality: str,
    budget: RobustnessBudget,
    sample_rate: int | None,
    out: Path,
    title: str,
) -> dict[str, Any]:
    """`corruption_accuracy` at the budget's severities, its curves written."""
    import tensorflow as tf

    from dlsuite.apps.common.plots import plot_corruption_curves
    from dlsuite.apps.common.robustness import corruption_accuracy

    result = corruption_accuracy(
        lambda batch: model(tf.constant(batch), training=False),
        x,
        y,
        modality,
        seed=ROBUSTNESS_SEED,
        batch_size=256,
        sample_rate=sample_rate,
        severities=budget.severities,
    )
    plot_corruption_curves(result, out / FIGURES["corruption_curves"], title=title)
    return result


def _epsilons(modality: str, budget: RobustnessBudget) -> list[float]:
    """The budget's epsilons of a vision or speech model's `ADVERSARIAL_DEFAULTS`."""
    from dlsuite.apps.common.robustness import ADVERSARIAL_DEFAULTS

    return [ADVERSARIAL_DEFAULTS[modality]["epsilons"][i] for i in budget.epsilon_indices]


def _adversarial(
    model: Any,
    x: Any,
    y: Any,
    modality: str,
    budget: RobustnessBudget,
    class_names: Sequence[str],
    out: Path,
    title: str,
) -> dict[str, Any]:
    """FGSM and PGD accuracy at the budget's epsilons, PGD's example written; for text both
    not applicable."""
    from dlsuite.apps.common.plots import plot_adversarial_example
    from dlsuite.apps.common.robustness import (
        ADVERSARIAL_DEFAULTS,
        NOT_DIFFERENTIABLE,
        fgsm_accuracy,
        pgd_accuracy,
    )

    if modality == "text":
        return {
            name: {"applicable": False, "reason": NOT_DIFFERENTIABLE} for name in ("fgsm", "pgd")
        }
    defaults = ADVERSARIAL_DEFAULTS[modality]
    value_range = (float(defaults["value_range"][0]), float(defaults["value_range"][1]))
    epsilons = _epsilons(modality, budget)
    x, y = x[: budget.attack_examples], y[: budget.attack_examples]
    fgsm = fgsm_accuracy(model, x, y, epsilons, value_range=value_range, batch_size=128)
    pgd = pgd_accuracy(
        model,
        x,
        y,
        epsilons,
        value_range=value_range,
        steps=budget.pgd_steps,
        seed=ROBUSTNESS_SEED,
        batch_size=128,
    )
    plot_adversarial_example(
        pgd.example,
        out / FIGURES["adversarial_example"],
        value_range,
        class_names,
        title=f"{title}: PGD",
    )
    return {"fgsm": fgsm.report, "pgd": pgd.report}


def _explanations(
    model: Any,
    x: Any,
    y: Any,
    modality: str,
    budget: RobustnessBudget,
    class_names: Sequence[str],
    out: Path,
    title: str,
) -> dict[str, Any]:
    """Explanations of the first examples of each class (`examples_per_class`), as a PNG: token
    attributions (text), integrated gradients on "cmvn" (a keyword spotter), Grad-CAM (a model
    with a convolutional feature map) or integrated gradients on the input."""
    import numpy as np

    from dlsuite.apps.common import explain
    from dlsuite.apps.common.plots import plot_heat_maps, plot_token_attributions

    chosen = explain.examples_per_class(y, budget.explained_per_class)
    classes = np.unique(y[chosen])[: budget.explained_classes]
    chosen = chosen[np.isin(y[chosen], classes)]
    inputs, labels = x[chosen], y[chosen]
    path = out / FIGURES["explanations"]
    layers = {layer.name for layer in model.layers}
    if modality == "text":
        tokens = explain.token_attributions(model, inputs, steps=budget.ig_steps)
        plot_token_attributions(
            tokens.tokens, tokens.attributions, labels, class_names, path, title
        )
        report, targets = tokens.report, tokens.targets
    elif SPEECH_FEATURES_LAYER in layers:
        attributed = explain.integrated_gradients(
            model, inputs, layer=SPEECH_FEATURES_LAYER, steps=budget.ig_steps
        )
        plot_heat_maps(inputs, attributed.attributions, labels, class_names, path, title)
        report, targets = attributed.report, attributed.targets
    else:
        try:
            layer = explain.last_conv_layer(model)
        except ValueError:  # no convolutional feature map: integrated gradients of the pixels
            attributed = explain.integrated_gradients(model, inputs, steps=budget.ig_steps)
            maps = np.abs(attributed.attributions).sum(-1)
            report, targets = attributed.report, attributed.targets
        else:
            cam = explain.grad_cam(model, inputs, layer=layer)
            maps, report, targets = cam.maps, cam.report, cam.targets
        plot_heat_maps(inputs, maps, labels, class_names, path, title)
    return {
        **report,
        "num_examples": int(len(chosen)),
        "classes": [class_names[int(c)] for c in classes],
        "labels": labels.tolist(),
        "explained": targets.tolist(),
    }


def robustness_report(
    model: Any,
    probabilities: ArrayLike,
    labels: ArrayLike,
    inputs: ArrayLike,
    class_names: Sequence[str],
    out_dir: str | Path,
    *,
    level: str,
    validation: Any = None,
    sample_rate: int | None = None,
) -> dict[str, Any]:
    """Calibration, corruption and adversarial accuracy and explanations of a classifier, their
    PNGs (`FIGURES`) written to ``out_dir``.

    Args:
        model: a Keras classifier, probabilities (B, K) out, its preprocessing inside.
        probabilities: its outputs (N, K) on the held-out split.
        labels: their class ids (N,).
        inputs: the first held-out inputs, at least the ``level``'s ``examples`` when there are
            as many.
        level: "quick" or "full" (`BUDGETS`).
        validation: batches of validation ``(x, y)`` to fit the temperature on, or None.
        sample_rate: Hz of a speech model's waveforms.

    Returns:
        A JSON-ready dict: ``level``, ``method``, ``parameters`` (the budget and seed),
        ``calibration``, ``corruption``, ``adversarial`` (``fgsm`` and ``pgd``),
        ``explanations``, ``figures`` (``{name: PNG file name}``) and ``wall_time_s``.
    """
    import numpy as np

    if level not in BUDGETS:
        raise ValueError(f"`level` expected one of {sorted(BUDGETS)}. Received: level={level!r}")
    start = time.perf_counter()
    budget = BUDGETS[level]
    modality = input_modality(model)
    if modality == "speech" and sample_rate is None:
        raise ValueError("a speech model's robustness needs `sample_rate` (Hz) of its waveforms")
    out = Path(out_dir)
    y = np.asarray(labels).astype(np.int64)
    x = np.asarray(inputs)[: budget.examples]
    y_kept = y[: len(x)]
    title = str(model.name)
    figures = dict(FIGURES)
    if modality == "text":
        del figures["adversarial_example"]
    parameters: dict[str, Any] = {
        **{k: v for k, v in dataclasses.asdict(budget).items() if k != "epsilon_indices"},
        "severities": list(budget.severities),
        "modality": modality,
        "seed": ROBUSTNESS_SEED,
    }
    if modality != "text":
        parameters["epsilons"] = _epsilons(modality, budget)
    report: dict[str, Any] = {
        "level": level,
        "method": "calibration: ECE and temperature scaling (Guo et al. 2017); accuracy under "
        "a seeded corruption suite (Hendrycks & Dietterich 2019); FGSM and PGD accuracy "
        "(Goodfellow et al. 2015, Madry et al. 2018); Grad-CAM or integrated gradients",
        "parameters": parameters,
        "calibration": _calibration(model, np.asarray(probabilities), y, validation, out, title),
        "corruption": _corruption(model, x, y_kept, modality, budget, sample_rate, out, title),
        "adversarial": _adversarial(model, x, y_kept, modality, budget, class_names, out, title),
        "explanations": _explanations(model, x, y_kept, modality, budget, class_names, out, title),
        "figures": figures,
    }
    report["wall_time_s"] = time.perf_counter() - start
    return report


def perturbation_robustness(
    measure: Callable[[str, int], Mapping[str, float]],
    suite: Mapping[str, Sequence[Any]],
    units: Mapping[str, str],
    out_dir: str | Path,
    *,
    level: str,
    metrics: Sequence[str],
    lower_is_better: bool,
    method: str,
    modality: str,
    num_examples: int,
    parameters: Mapping[str, Any],
    not_applicable: Mapping[str, str],
    title: str,
    ylabel: str,
) -> dict[str, Any]:
    """The ``robustness`` report of a model that is not a classifier (a speech recogniser, an RL
    policy): its ``metrics`` under each perturbation of ``suite`` at the ``level``'s severities,
    the curve of the first metric written (`FIGURES` ``corruption_curves``).

    Args:
        measure: ``(perturbation, severity)`` -> ``{metric: value}`` for every one of
            ``metrics``; severity 0 is the unperturbed model (measured once, as the clean
            figures), 1..5 pick ``suite[perturbation][severity - 1]``.
        suite: ``{perturbation: (its parameter at severity 1, ..., 5)}``.
        units: ``{perturbation: what its parameter means}``.
        level: "quick" or "full" (`BUDGETS`: their severities).
        metrics: the measured figures, the first the one drawn (e.g. ``("cer", "wer")``).
        lower_is_better: whether a lower value of the metrics is better.
        method, modality, num_examples: recorded in the ``corruption`` part.
        parameters: recorded under ``parameters`` with the severities and the seed.
        not_applicable: ``{"adversarial": reason, "explanations": reason}``: why the model has
            no such part.
        title, ylabel: of the curve.

    Returns:
        A JSON-ready dict: ``level``, ``method``, ``parameters``, ``corruption`` (``method``,
        ``modality``, ``seed``, ``num_examples``, ``severities``, ``metric`` (the first),
        ``metrics``, ``lower_is_better``, ``parameters`` ``{perturbation: {"values", "unit"}}``
        and per metric ``m``: ``clean_<m>``, ``<m>`` ``{perturbation: {"1": value, ...}}``,
        ``mean_corruption_<m>``), ``adversarial`` and ``explanations`` (``{applicable: false,
        reason}``), ``figures`` and ``wall_time_s``.
    """
    import numpy as np

    from dlsuite.apps.common.plots import plot_corruption_curves

    if level not in BUDGETS:
        raise ValueError(f"`level` expected one of {sorted(BUDGETS)}. Received: level={level!r}")
    start = time.perf_counter()
    severities = BUDGETS[level].severities
    clean = measure(next(iter(suite)), 0)
    measured = {name: {str(s): measure(name, s) for s in severities} for name in suite}
    corruption: dict[str, Any] = {
        "method": method,
        "modality": modality,
        "seed": ROBUSTNESS_SEED,
        "num_examples": int(num_examples),
        "severities": list(severities),
        "metric": metrics[0],
        "metrics": list(metrics),
        "lower_is_better": lower_is_better,
        "parameters": {
            name: {
                "values": [list(v) if isinstance(v, tuple) else v for v in values],
                "unit": units[name],
            }
            for name, values in suite.items()
        },
    }
    for metric in metrics:
        table = {name: {s: row[s][metric] for s in row} for name, row in measured.items()}
        corruption[f"clean_{metric}"] = clean[metric]
        corruption[metric] = table
        corruption[f"mean_corruption_{metric}"] = float(
            np.mean([value for row in table.values() for value in row.values()])
        )
    figure = FIGURES["corruption_curves"]
    plot_corruption_curves(corruption, Path(out_dir) / figure, title=title, ylabel=ylabel)
    return {
        "level": level,
        "method": method,
        "parameters": {
            **parameters,
            "severities": list(severities),
            "modality": modality,
            "seed": ROBUSTNESS_SEED,
        },
        "corruption": corruption,
        **{part: {"applicable": False, "reason": why} for part, why in not_applicable.items()},
        "figures": {"corruption_curves": figure},
        "wall_time_s": time.perf_counter() - start,
    }


def evaluate_classifier(
    model: Any,
    batches: Any,
    class_names: Sequence[str],
    out_dir: Any,
    split: str = "test",
    *,
    robustness: str = "quick",
    validation: Any = None,
    sample_rate: int | None = None,
) -> dict[str, Any]:
    """Predict ``batches`` of ``(x, y)``, report per class, write ``evaluation.json`` and PNGs.

    Args:
        robustness: "off", "quick" or "full": the level of the `robustness_report` added as
            the report's ``robustness`` key (off: none).
        validation: batches of validation ``(x, y)`` the temperature is fitted on.
        sample_rate: Hz of a speech model's waveforms.

    Returns the report (with the split named).
    """
    check_robustness_level(robustness)
    keep = BUDGETS[robustness].examples if robustness in BUDGETS else 0
    probabilities, labels, inputs = _predict(model, batches, keep)
    report = classification_report(labels, probabilities.argmax(axis=-1), class_names)
    report["split"] = split
    out = Path(out_dir)
    if robustness in BUDGETS:
        report["robustness"] = robustness_report(
            model,
            probabilities,
            labels,
            inputs,
            class_names,
            out,
            level=robustness,
            validation=validation,
            sample_rate=sample_rate,
        )
    atomic_write_json(out / "evaluation.json", report)
    plot_confusion_matrix(
        report["confusion_matrix"],
        class_names,
        out / "confusion_matrix.png",
        title=f"{model.name}: {split} accuracy {report['accuracy']:.4f}",
    )
    return report


def held_out_batches(dataset: Any, config: Any) -> Any:
    """An unbatched ``(x, y)`` split in ``config.batch_size`` batches, in order, not cached."""
    return make_pipeline(
        dataset, batch_size=config.batch_size, training=False, seed=config.seed, cache=False
    )


def classifier_evaluator(splits: Any, config: Any, **options: Any) -> Any:
    """The trainer's ``evaluate(model, run, test_batches)`` of a classifier app:
    `evaluate_classifier` at ``config.robustness``, the temperature fitted on ``splits``'
    validation split; ``options`` (e.g. ``sample_rate``) go to `evaluate_classifier`."""

    def evaluate(model: Any, run: Any, test_batches: Any) -> dict[str, Any]:
        return evaluate_classifier(
            model,
            test_batches,
            splits.class_names,
            run.path,
            robustness=config.robustness,
            validation=held_out_batches(splits.validation, config),
            **options,
        )

    return evaluate


def evaluate_classifier_run(
    run_dir: Any,
    split: str = "test",
    *,
    robustness: str | None = None,
    sample_rate: int | None = None,
) -> dict[str, Any]:
    """Evaluate a finished classifier run on a held-out split; writes the report files.

    ``robustness``: the level (`ROBUSTNESS_LEVELS`); default the run's own ``robustness``
    option. The temperature is fitted on the validation split.
    """
    path = Path(run_dir)
    config = run_config(path)
    splits = splits_for_run(path)
    return evaluate_classifier(
        load_trained_model(path),
        held_out_batches(getattr(splits, split), config),
        splits.class_names,
        path,
        split=split,
        robustness=config.robustness if robustness is None else robustness,
        validation=held_out_batches(splits.validation, config),
        sample_rate=sample_rate,
    )
