"""``dlsuite manifest validate|verify|render|export|diff``: check and read the manifest of a model
version (``verify --public-key`` also checks its model-signing signature), export it as a Hugging
Face or Model Card Toolkit card, and list what changed between two versions."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dlsuite.serving.manifest.card import model_card, write_model_card
from dlsuite.serving.manifest.cards import CARD_FORMATS, render_card, write_outside_version
from dlsuite.serving.manifest.diff import changes_json, diff_manifests, format_changes
from dlsuite.serving.manifest.integrity import (
    SIGNATURE_RELPATH,
    load_manifest,
    resolve_manifest_path,
    signature_path,
    verify_version,
)
from dlsuite.serving.manifest.schema import validate_manifest
from dlsuite.serving.manifest.signing import SignatureError, verify_signature
from dlsuite.serving.server.config import read_trusted_signers


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``manifest`` command and its subcommands."""
    parser = subparsers.add_parser(
        "manifest",
        help="validate, verify, render, export or compare model versions' compliance manifests",
        description=(
            "Work with assets.extra/manifest.json of an exported model version "
            "(see docs/manifest.md)."
        ),
    )
    actions = parser.add_subparsers(dest="manifest_command", metavar="<action>", required=True)

    validate = actions.add_parser(
        "validate", help="check a manifest against the JSON Schema (exit 1 if invalid)"
    )
    validate.add_argument(
        "path", metavar="PATH", help="a manifest.json file or a model version folder holding one"
    )
    validate.set_defaults(func=_validate)

    verify = actions.add_parser(
        "verify",
        help="check every file of a version against the manifest's SHA-256 digests and, with "
        "--public-key, its model-signing signature (exit 1 and list the problems if any file "
        "changed, is missing or was added, or the version is unsigned, signed by another key "
        "or changed since it was signed)",
    )
    verify.add_argument(
        "version_dir",
        metavar="VERSION_DIR",
        help="a model version folder, e.g. saved_models/digits/1",
    )
    verify.add_argument(
        "--public-key",
        dest="public_keys",
        action="append",
        default=[],
        metavar="PEM",
        help=f"a PEM file of one or more trusted EC public keys: {SIGNATURE_RELPATH} must be "
        "signed by one of them (repeatable; the same keys as dlsuite serve --trusted_signers)",
    )
    verify.set_defaults(func=_verify)

    render = actions.add_parser("render", help="write a readable HTML model card from a manifest")
    render.add_argument(
        "path",
        metavar="VERSION_DIR|MANIFEST",
        help="a model version folder or a manifest.json file",
    )
    render.add_argument(
        "-o",
        "--output",
        default="model_card.html",
        metavar="FILE",
        help="where to write the HTML card (default: model_card.html; '-' prints it). It may not "
        "be inside the version folder, whose integrity it would change.",
    )
    render.set_defaults(func=_render)

    export = actions.add_parser(
        "export",
        help="write the manifest as a Hugging Face model card (README.md with YAML front matter) "
        "or a Model Card Toolkit JSON document, checked against the Hub's spec or the toolkit's "
        "schema",
    )
    export.add_argument(
        "path",
        metavar="VERSION_DIR|MANIFEST",
        help="a model version folder or a manifest.json file",
    )
    export.add_argument(
        "--format",
        dest="card_format",
        required=True,
        choices=CARD_FORMATS,
        help="hf: Hugging Face README.md; mct: Model Card Toolkit JSON (schema v0.0.2)",
    )
    export.add_argument(
        "-o",
        "--output",
        default="-",
        metavar="FILE",
        help="where to write the card (default '-': print it). It may not be inside the version "
        "folder, whose integrity it would change.",
    )
    export.add_argument(
        "--language",
        action="append",
        default=[],
        metavar="CODE",
        help="a language the model handles, as an ISO 639-1 code (e.g. en), for the hf front "
        "matter (repeatable; the manifest does not record languages)",
    )
    export.set_defaults(func=_export)

    diff = actions.add_parser(
        "diff",
        help="list what changed between two versions' manifests: data, hyper-parameters, "
        "metrics, files, ... (exit 0 when they are identical, 1 when they differ, like diff)",
    )
    diff.add_argument("a", metavar="VERSION_A", help="the older version folder or manifest.json")
    diff.add_argument("b", metavar="VERSION_B", help="the newer version folder or manifest.json")
    diff.add_argument(
        "--json", action="store_true", help="print the changes as a JSON object instead of text"
    )
    diff.set_defaults(func=_diff)


def _validate(args: argparse.Namespace) -> int:
    path = resolve_manifest_path(args.path)
    errors = validate_manifest(load_manifest(path))
    if errors:
        print(f"{path}: {len(errors)} schema error(s):", file=sys.stderr)
        for line in errors:
            print(f"  {line}", file=sys.stderr)
        return 1
    print(f"{path}: valid")
    return 0


def _verify(args: argparse.Namespace) -> int:
    if not Path(args.version_dir).is_dir():
        raise FileNotFoundError(f"no such version folder: {args.version_dir}")
    keys = [(path, key) for path in args.public_keys for key in read_trusted_signers(path)]
    problems = verify_version(args.version_dir)
    signer = None
    if keys:
        try:
            signer = keys[verify_signature(args.version_dir, [key for _, key in keys])][0]
        except SignatureError as err:
            problems.append(str(err))
    if problems:
        print(f"{args.version_dir}: {len(problems)} problem(s):", file=sys.stderr)
        for line in problems:
            print(f"  {line}", file=sys.stderr)
        return 1
    print(f"{args.version_dir}: every file matches its recorded SHA-256")
    if signer is not None:
        print(f"{args.version_dir}: signed by a key in {signer}; the files are the ones signed")
    elif signature_path(args.version_dir).is_file():
        print(f"{args.version_dir}: {SIGNATURE_RELPATH} not checked (give --public-key PEM)")
    return 0


def _render(args: argparse.Namespace) -> int:
    if args.output == "-":
        sys.stdout.write(model_card(args.path))
        return 0
    write_model_card(args.path, args.output)
    print(f"wrote {args.output}")
    return 0


def _export(args: argparse.Namespace) -> int:
    card = render_card(load_manifest(args.path), args.card_format, language=args.language)
    if args.output == "-":
        sys.stdout.write(card)
        return 0
    write_outside_version(args.path, args.output, card)
    print(f"wrote {args.output}")
    return 0


def _diff(args: argparse.Namespace) -> int:
    changes = diff_manifests(load_manifest(args.a), load_manifest(args.b))
    if args.json:
        print(json.dumps(changes_json(changes, args.a, args.b), indent=2, default=str))
    else:
        sys.stdout.write(format_changes(changes, args.a, args.b))
    return 1 if changes else 0
