"""`dlsuite train`, `dlsuite evaluate` and `dlsuite export` (of a run, a .keras file or a
SavedModel).

The options of `dlsuite train <app>` are generated from the app's config dataclass, so every
config field is a documented option and there is one source of truth for defaults.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import Any

from dlsuite.apps.common.config import ROBUSTNESS_LEVELS, override
from dlsuite.apps.common.evaluation import format_report
from dlsuite.apps.common.export import export_run
from dlsuite.apps.common.registry import APPS, app_module, config_class, presets
from dlsuite.apps.common.runs import evaluate_run
from dlsuite.cli import build_parser
from dlsuite.serving.manifest import parse_assignments


def register(subparsers: Any) -> None:
    train = subparsers.add_parser(
        "train",
        help="train a model (one sub-command per app)",
        description="Train a model. Each run writes runs/<app>/<run-id>/; re-running the same "
        "command resumes an unfinished run.",
    )
    apps = train.add_subparsers(dest="app", metavar="<app>", required=True)
    for app, description in APPS.items():
        parser = apps.add_parser(
            app, help=description, description=f"Train the {app} app: {description}."
        )
        names = ", ".join(presets(app))
        parser.add_argument(
            "--preset",
            choices=list(presets(app)),
            default=argparse.SUPPRESS,
            help=f"start from a named preset ({names}); other options override it",
        )
        add_config_options(parser, config_class(app))
        parser.set_defaults(func=_train)

    evaluate = subparsers.add_parser(
        "evaluate",
        help="evaluate a trained run on a held-out split",
        description="Report accuracy, per-class precision/recall and write a confusion-matrix PNG "
        "(evaluation.json and confusion_matrix.png in the run directory); for a classifier also "
        "its calibration, robustness and explanations, for a speech recogniser its CER/WER "
        "under corruptions, for an RL policy its return under observation and action noise "
        "(--robustness).",
    )
    evaluate.add_argument("run", help="run directory (runs/<app>/<run-id>)")
    evaluate.add_argument(
        "--split", default="test", choices=("test", "validation"), help="held-out split to evaluate"
    )
    evaluate.add_argument(
        "--robustness",
        nargs="?",
        const="full",
        default=None,
        choices=ROBUSTNESS_LEVELS,
        help="evaluation beyond accuracy: a classifier's calibration (ECE, temperature), "
        "corruption and FGSM/PGD accuracy and explanations; a recogniser's CER/WER under "
        "corruptions; a policy's return under noise; with PNGs (evaluation.json's robustness); "
        "--robustness alone is full; default: the run's own --robustness level",
    )
    evaluate.set_defaults(func=_evaluate)

    export = subparsers.add_parser(
        "export",
        help="export a trained run, a .keras file or a SavedModel as a versioned SavedModel with "
        "its manifest",
        description="Write saved_models/<name>/<version>/ atomically: SavedModel with serving "
        "signatures, TF Serving warmup requests and the compliance manifest (signed with --sign). "
        "The model comes from a suite run directory (RUN), a .keras file (--from-keras) or an "
        "existing SavedModel folder (--from-savedmodel, e.g. one model.export() wrote).",
    )
    export.add_argument("run", nargs="?", default=None, help="run directory (runs/<app>/<run-id>)")
    export.add_argument(
        "--from-keras",
        metavar="MODEL.keras",
        default=None,
        help="export this Keras model file (model.save()) instead of a run; the manifest holds "
        "what the model alone gives (parameters, FLOPs, signatures) unless --run-dir is given",
    )
    export.add_argument(
        "--from-savedmodel",
        metavar="DIR",
        default=None,
        help="copy this SavedModel folder (with a serving_default signature) into the new version",
    )
    export.add_argument(
        "--examples",
        metavar="FILE",
        default=None,
        help="with --from-keras/--from-savedmodel: warmup rows for serving_default (.npy: one "
        "array [rows, ...]; .npz or .json: arrays named by input); default one row of zeros",
    )
    export.add_argument(
        "--run-dir",
        default=None,
        help="with --from-keras/--from-savedmodel: a run directory whose training figures go into "
        "the manifest",
    )
    export.add_argument(
        "--name", required=True, help="model name in the repository (letters, digits, _ . -)"
    )
    export.add_argument("--model-base-path", default="saved_models", help="model repository root")
    export.add_argument(
        "--manifest-info",
        default=None,
        help="YAML/JSON file with the manifest fields only a person can know "
        "(see docs/manifest_example.yaml)",
    )
    export.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set one manifest field, e.g. --set provider.name=ACME (repeatable)",
    )
    export.add_argument(
        "--sign",
        metavar="KEY.pem",
        default=None,
        help="sign the version with this EC private key (PEM; OpenSSF model-signing, offline): "
        "writes assets.extra/model.sig over every file, the manifest included, before the "
        "version is published; `dlsuite serve --trusted_signers` and `dlsuite manifest verify "
        "--public-key` check it",
    )
    export.add_argument(
        "--calibrate",
        action="store_true",
        help="a classifier run (vision, speech keyword spotting, text classification): serve "
        "temperature-scaled probabilities, softmax(log(p) / T) with the T its evaluation fitted "
        "on the validation split (the manifest's calibration section records it)",
    )
    export.set_defaults(func=_export)


def _option_type(field: dataclasses.Field) -> tuple[str, bool]:
    """(base type name, optional) from a field's annotation string such as 'int | None'."""
    text = str(field.type).replace(" ", "")
    optional = text.endswith("|None")
    return text.removesuffix("|None"), optional


def add_config_options(parser: argparse.ArgumentParser, cls: type) -> None:
    """One ``--option`` per dataclass field, with its help text, type and default."""
    for field in dataclasses.fields(cls):
        flag = "--" + field.name.replace("_", "-")
        base, _ = _option_type(field)
        help_text = field.metadata.get("help", "")
        kwargs: dict[str, Any] = {
            "dest": field.name,
            "default": argparse.SUPPRESS,
            "help": help_text,
        }
        if "choices" in field.metadata:
            kwargs["choices"] = field.metadata["choices"]
        if field.default is dataclasses.MISSING:
            raise TypeError(f"{cls.__name__}.{field.name} needs a default (declare it with option)")
        default = field.default
        if base == "bool":
            kwargs["action"] = argparse.BooleanOptionalAction
        elif base.startswith("tuple"):
            kwargs["type"] = _comma_list
            default = ",".join(default) or "none"
        else:
            kwargs["type"] = {"int": int, "float": float, "str": str}[base]
        kwargs["help"] = f"{help_text} (default: {default})"
        parser.add_argument(flag, **kwargs)


def _comma_list(text: str) -> tuple[str, ...]:
    return () if text in ("", "none") else tuple(p.strip() for p in text.split(",") if p.strip())


def config_from_args(
    app: str, args: argparse.Namespace, defaults: Mapping[str, Any] | None = None
) -> Any:
    """The app config: the preset (without one, the config's `base_for` the options given) with
    ``defaults`` (a command's own defaults of config fields) and every option given on the
    command line."""
    cls = config_class(app)
    given = {
        f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if hasattr(args, f.name)
    }
    base = presets(app)[args.preset] if getattr(args, "preset", None) else cls.base_for(given)
    return override(base, {**(defaults or {}), **given})


def train_config(arguments: Sequence[str]) -> tuple[str, Any]:
    """``(app, config)`` as `dlsuite train` builds them from ``arguments`` (``train <app> ...``)."""
    args = build_parser().parse_args(list(arguments))
    return args.app, config_from_args(args.app, args)


def _train(args: argparse.Namespace) -> int:
    config = config_from_args(args.app, args)
    result = app_module(args.app, "train").train_and_evaluate(config)
    metrics = result.metrics
    print(f"\nrun: {result.run.path}")
    print(f"test: {json.dumps(metrics['final']['test'])}")
    print(
        f"parameters: {metrics['num_params']:,}  FLOPs/example: {metrics['flops_per_example']:,}  "
        f"training FLOPs: {metrics['training_flops']:.3g}  wall time: {metrics['wall_time_s']:.1f}s"
    )
    if "per_class" in metrics.get("evaluation", {}):
        print(format_report(metrics["evaluation"]))
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    report = evaluate_run(args.run, args.split, robustness=args.robustness)
    if "per_class" in report:
        print(format_report(report))
    else:  # an evaluation that is not a classification report (e.g. an unconditional GAN's FID)
        print(
            json.dumps(
                {k: v for k, v in report.items() if isinstance(v, (int, float, str))}, indent=2
            )
        )
    return 0


def _export(args: argparse.Namespace) -> int:
    sources = [
        flag
        for flag, value in (
            ("RUN", args.run),
            ("--from-keras", args.from_keras),
            ("--from-savedmodel", args.from_savedmodel),
        )
        if value is not None
    ]
    if len(sources) != 1:
        raise ValueError(
            "give exactly one model source: a run directory (RUN), --from-keras MODEL.keras or "
            f"--from-savedmodel DIR; got {', '.join(sources) or 'none'}"
        )
    if args.calibrate and args.run is None:
        raise ValueError("--calibrate uses a run's fitted temperature: give a run directory (RUN)")
    if args.run is not None and (args.examples or args.run_dir):
        raise ValueError(
            "--examples and --run-dir are for --from-keras/--from-savedmodel; a run exports "
            "with its own held-out examples"
        )
    common = {
        "model_base_path": args.model_base_path,
        "manifest_info": args.manifest_info,
        "overrides": parse_assignments(args.overrides),
        "sign_key": args.sign,
    }
    if args.run is not None:
        path = export_run(args.run, name=args.name, calibrate=args.calibrate, **common)
    else:
        from dlsuite.serving import keras_export

        examples = keras_export.load_examples(args.examples) if args.examples else None
        common.update(examples=examples, run_dir=args.run_dir)
        if args.from_keras is not None:
            path = keras_export.export_keras_file(args.from_keras, args.name, **common)
        else:
            path = keras_export.export_saved_model(args.from_savedmodel, args.name, **common)
    print(f"exported {path}" + (" (signed: assets.extra/model.sig)" if args.sign else ""))
    return 0
