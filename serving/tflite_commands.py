"""`dlsuite convert`: an exported SavedModel version -> a self-checked ``.tflite`` model.

Representative (int8 calibration) and held-out check examples come from the training run that
produced the version: ``apps.common.runs.dataset_for_run(run_dir, "train" | "test")``. The run is
``--run`` or the version manifest's ``training.run_dir``. When the signature takes something the
model computes from that data (the speech app's ``predict_features`` takes features computed from
waveforms), the examples go through the version's signature that computes it first
(`serving.tflite.examples_for_signature`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dlsuite.base.validation import check_positive_int
from dlsuite.serving.tflite import QUANTIZATIONS


def register(subparsers) -> None:
    """Add the ``convert`` sub-parser."""
    parser = subparsers.add_parser(
        "convert",
        help="convert an exported model version to a self-checked .tflite model for mobile",
        description=(
            "Convert one signature of saved_models/<name>/<version>/ to TFLite, run it with the "
            "LiteRT interpreter on held-out examples, compare it with the SavedModel, and write "
            "model_<quantize>.tflite, labels.txt, report.json and manifest.json."
        ),
    )
    parser.add_argument("version_dir", metavar="VERSION_DIR", help="saved_models/<name>/<version>")
    parser.add_argument(
        "--quantize",
        choices=QUANTIZATIONS,
        default="none",
        help="none: float32; dynamic: int8 weights; float16: float16 weights; int8: full integer "
        "(calibrated on training examples, float32 input/output). Default: none",
    )
    parser.add_argument(
        "--signature",
        metavar="NAME",
        default="predict_images",
        help="signature to convert (default: predict_images)",
    )
    parser.add_argument(
        "--output",
        metavar="DIR",
        default=None,
        help="output folder (default: <base>/<name>/tflite/<version>/)",
    )
    parser.add_argument(
        "--run",
        metavar="RUN_DIR",
        default=None,
        help="training run directory for examples (default: the manifest's training.run_dir)",
    )
    parser.add_argument(
        "--num-check",
        metavar="N",
        type=int,
        default=500,
        help="held-out test examples to check on (default: 500)",
    )
    parser.add_argument(
        "--num-representative",
        metavar="N",
        type=int,
        default=200,
        help="training examples for int8 calibration (default: 200)",
    )
    parser.add_argument(
        "--labels",
        metavar="FILE",
        default=None,
        help="labels file, one class name a line (default: from the manifest)",
    )
    parser.add_argument(
        "--min-agreement",
        metavar="FRACTION",
        type=float,
        default=None,
        help="fail (write nothing) when top-1 agreement with the SavedModel is below this (0..1)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``dlsuite convert``; returns the exit code."""
    from dlsuite.serving import tflite

    version_dir = Path(args.version_dir)
    if not (version_dir / "saved_model.pb").is_file():
        raise FileNotFoundError(f"no SavedModel in {version_dir} (saved_model.pb is missing)")
    check_positive_int(num_check=args.num_check, num_representative=args.num_representative)
    output_dir = Path(args.output) if args.output else tflite.default_output_dir(version_dir)
    run_dir = _run_dir(args.run, tflite.read_version_manifest(version_dir))
    labels = None
    if args.labels:
        labels = [line.strip() for line in Path(args.labels).read_text("utf-8").splitlines()]
        labels = [label for label in labels if label]

    check = tflite.examples_for_signature(
        version_dir, args.signature, _examples(run_dir, "test", args.num_check, shuffle=False)
    )
    representative = None
    if args.quantize == "int8":
        representative = tflite.examples_for_signature(
            version_dir,
            args.signature,
            _examples(run_dir, "train", args.num_representative, shuffle=True),
        )

    report = tflite.convert_version(
        version_dir,
        output_dir=output_dir,
        signature=args.signature,
        quantize=args.quantize,
        representative_examples=representative,
        check_examples=check,
        labels=labels,
        min_agreement=args.min_agreement,
    )
    print(format_report(report, output_dir))
    return 0


def format_report(report: dict, output_dir: Path) -> str:
    """A few human-readable lines about one conversion."""
    check = report["check"]
    ratio = report["size_ratio"]
    ratio_text = f", {100 * ratio:.1f}% of it" if ratio is not None else ""
    lines = [
        f"converted {report['source']['version_dir']} (signature {report['source']['signature']})"
        f" -> {Path(output_dir) / report['file']}",
        f"  quantization     {report['quantization']}",
        f"  size             {report['tflite_bytes'] / 1024:.1f} KB (SavedModel variables "
        f"{report['savedmodel_variables_bytes'] / 1024:.1f} KB{ratio_text})",
        f"  top-1 agreement  {100 * check['top1_agreement']:.2f}% on {check['num_examples']} "
        f"held-out examples",
        f"  max |diff| prob  {check['max_abs_diff']:.2e}",
        f"  latency          {check['latency_ms']:.3f} ms per example (1 thread, mean of "
        f"{check['latency_runs']})",
        f"  labels           {report['labels_file'] or 'none'}"
        + (f" ({report['num_labels']} classes)" if report["num_labels"] else ""),
        f"  sha256           {report['sha256']}",
    ]
    if report["dropped_outputs"]:
        lines.append(f"  dropped outputs  {', '.join(report['dropped_outputs'])} (not numeric)")
    return "\n".join(lines)


def _run_dir(explicit: str | None, manifest: dict | None) -> Path:
    if explicit:
        run_dir = Path(explicit)
    else:
        recorded = ((manifest or {}).get("training") or {}).get("run_dir")
        if not recorded:
            raise ValueError(
                "no training run to draw examples from: pass --run RUN_DIR (the version manifest "
                "has no training.run_dir)"
            )
        run_dir = Path(recorded)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"training run directory not found: {run_dir}")
    return run_dir


def _examples(run_dir: Path, split: str, count: int, *, shuffle: bool) -> list:
    import importlib

    runs = importlib.import_module("dlsuite.apps.common.runs")
    dataset = runs.dataset_for_run(run_dir, split)
    if shuffle:
        dataset = dataset.shuffle(min(10 * count, 10_000), seed=0)
    examples = [features.numpy() for features, _ in dataset.take(count)]
    if not examples:
        raise ValueError(f"the {split!r} split of {run_dir} has no examples")
    return examples
