"""`dlsuite study scaling`: train a family of language models and fit scaling laws
(`apps.nlp.lm.scaling_study`).

The options are those of `dlsuite train nlp` (data, tokenizer, context, batch, learning rate,
strategy, ...), starting from ``--preset`` (default ``gpt-pydocs``), plus the family (``--sizes``),
the checkpoints and the output folder. ``--epochs`` sets D_common, the tokens every member sees
(default for the study: `apps.nlp.lm.scaling_study.DEFAULT_EPOCHS`, whatever the preset says).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from dlsuite.cli.runs import add_config_options, config_from_args

DEFAULT_PRESET = "gpt-pydocs"


def register(subparsers: Any) -> None:
    """Add the ``study`` command and its ``scaling`` sub-command."""
    from dlsuite.apps.nlp.config import PRESETS, NLPConfig
    from dlsuite.apps.nlp.lm.scaling_study import (
        DEFAULT_CHECKPOINTS,
        DEFAULT_EPOCHS,
        DEFAULT_HEAD_DIM,
        DEFAULT_SIZES,
    )

    study = subparsers.add_parser(
        "study",
        help="studies that train several models (scaling laws)",
        description="Studies that train a family of models and analyse them together.",
    )
    kinds = study.add_subparsers(dest="study", metavar="<study>", required=True)
    parser = kinds.add_parser(
        "scaling",
        help="GPT-style LMs of growing size: fit L(N) and the compute-optimal tokens per parameter",
        description=(
            "Train LMs of growing size on the same data (C = 6 N D accounting), "
            "fit L(N) = (N_c/N)^alpha_N (Kaplan et al. 2020) "
            "and the compute-optimal tokens per parameter by an IsoFLOP analysis "
            "(Hoffmann et al. 2022); "
            "write scaling.png, scaling.csv, scaling.md, curves.csv and scaling.json. "
            "--epochs is D_common, the passes over the training tokens every member makes "
            f"(study default: {DEFAULT_EPOCHS}); "
            "members smaller than the median train on to the median's compute."
        ),
    )
    parser.add_argument(
        "--sizes",
        type=lambda text: tuple(s.strip() for s in text.split(",") if s.strip()),
        default=DEFAULT_SIZES,
        help=f"family as LAYERSxWIDTH, comma separated (default: {','.join(DEFAULT_SIZES)})",
    )
    parser.add_argument(
        "--head-dim",
        type=int,
        default=DEFAULT_HEAD_DIM,
        help=f"width per attention head; heads = width / head_dim (default: {DEFAULT_HEAD_DIM})",
    )
    parser.add_argument(
        "--checkpoints",
        type=int,
        default=DEFAULT_CHECKPOINTS,
        help=(
            "held-out evaluations per member, log-spaced over training "
            f"(default: {DEFAULT_CHECKPOINTS})"
        ),
    )
    parser.add_argument(
        "--out",
        default=None,
        help=(
            "study folder (default: <run-root>/studies/scaling-<UTC time>); "
            "re-running into the same folder skips complete members"
        ),
    )
    parser.add_argument(
        "--preset",
        choices=list(PRESETS),
        default=DEFAULT_PRESET,
        help=f"NLP preset the members start from (default: {DEFAULT_PRESET})",
    )
    add_config_options(parser, NLPConfig)
    parser.set_defaults(func=_scaling)


def _scaling(args: argparse.Namespace) -> int:
    from dlsuite.apps.nlp.lm.scaling_study import DEFAULT_EPOCHS, run_study

    base = config_from_args("nlp", args, {"epochs": DEFAULT_EPOCHS})
    out = run_study(base, args.sizes, args.head_dim, args.checkpoints, args.out)
    result = json.loads((out / "scaling.json").read_text(encoding="utf-8"))
    print((out / "scaling.md").read_text(encoding="utf-8"))
    print(f"study: {out}  (alpha_N = {result['power_law']['alpha_N']:.4f})")
    return 0
