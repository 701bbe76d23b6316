"""`dlsuite convert`: an exported SavedModel version -> a self-checked ``.tflite`` model.

Representative (int8 calibration) and check examples come from the training run that produced the
version (``--run`` or the version manifest's ``training.run_dir``, read with
`dlsuite.apps.common.runs.run_examples`), else from ``--examples FILE``, else (float conversions
only) from the version's own warmup records: `dlsuite.serving.tflite_from_run.convert_from_run`
picks the source. A run `RunRecorder` wrote gives the sample of its data it kept (``examples/``);
a version published with `dlsuite.export` without a run (or with a recorded run that kept no
sample) converts from its ``--examples`` or its warmup.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dlsuite.serving.tflite_convert import QUANTIZATIONS

_EXAMPLES_WORDS = {
    "run": "held-out examples",
    "examples_file": "--examples rows",
    "warmup": "warmup examples",
}


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
        default=None,
        help="signature to convert (default: predict_images, or serving_default when the version "
        "has no predict_images, as for a model published with dlsuite.export)",
    )
    parser.add_argument(
        "--output",
        metavar="DIR",
        default=None,
        help="output folder (default: <base>/<name>/tflite/<version>/)",
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--run",
        metavar="RUN_DIR",
        default=None,
        help="training run directory for examples (default: the manifest's training.run_dir)",
    )
    source.add_argument(
        "--examples",
        metavar="FILE",
        default=None,
        help="example rows the signature takes (.npy, .npz or .json) for the check and int8 "
        "calibration, when the version has no suite training run to draw them from (without "
        "either, float conversions are checked on the version's warmup records)",
    )
    parser.add_argument(
        "--num-check",
        metavar="N",
        type=int,
        default=500,
        help="examples to check on: held-out test examples of the run, or the first rows of "
        "--examples or of the warmup records (default: 500)",
    )
    parser.add_argument(
        "--num-representative",
        metavar="N",
        type=int,
        default=200,
        help="training examples (or --examples rows) for int8 calibration (default: 200)",
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
    from dlsuite.apps.common.runs import run_examples
    from dlsuite.serving.tflite_from_run import convert_from_run

    report, output_dir = convert_from_run(
        args.version_dir,
        run_examples,
        run_dir=args.run,
        examples_file=args.examples,
        run_has_data=run_has_data,
        output_dir=args.output,
        signature=args.signature,
        quantize=args.quantize,
        num_check=args.num_check,
        num_representative=args.num_representative,
        labels_file=args.labels,
        min_agreement=args.min_agreement,
    )
    print(format_report(report, output_dir))
    return 0


def run_has_data(run_dir: Path) -> bool:
    """Whether the suite can give examples of the run in ``run_dir``: a suite app's run (its data
    is reloaded) or one `RunRecorder` wrote that kept a sample of its data (``examples/``).
    A folder without ``config.json`` counts as one that can (reading it then says what is wrong).
    """
    from dlsuite.apps.common.registry import APPS
    from dlsuite.apps.common.runs import RECORDED_APP, recorded_examples
    from dlsuite.base.files import read_json

    config = Path(run_dir) / "config.json"
    if not config.is_file():
        return True
    app = read_json(config).get("app")
    if app == RECORDED_APP:
        return recorded_examples(run_dir, "train") is not None
    return app in APPS


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
        f"{_EXAMPLES_WORDS.get(str((report.get('examples') or {}).get('source')), 'examples')}",
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
