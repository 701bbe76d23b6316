"""``dlsuite manifest validate|verify|render|export|diff``: check and read the manifest of a model
version (``verify --public-key`` also checks its model-signing signature, ``verify --data DIR``
whether DIR is the data it was trained on), export it as a Hugging Face or Model Card Toolkit
card, and list what changed between two versions."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dlsuite.serving.manifest.card import model_card, write_model_card, write_outside_version
from dlsuite.serving.manifest.cards import CARD_FORMATS, render_card
from dlsuite.serving.manifest.diff import changes_json, diff_manifests, format_changes
from dlsuite.serving.manifest.gpai_summary import render_summary, training_content_summary
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

GPAI_SUMMARY = "gpai-summary"


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
    verify.add_argument(
        "--data",
        metavar="DIR",
        help="instead of the version's files, check whether DIR (a folder or file) is the data "
        "the version was trained on: its fingerprint against the manifest's (exit 0 same data, "
        "1 different, naming how; 2 when the version recorded no folder or file, e.g. tfds: or "
        "builtin: data)",
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
        "schema, or the public summary of training content of a general-purpose AI model",
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
        choices=(*CARD_FORMATS, GPAI_SUMMARY),
        help="hf: Hugging Face README.md; mct: Model Card Toolkit JSON (schema v0.0.2); "
        f"{GPAI_SUMMARY}: the Art. 53(1)(d) public summary of training content in the "
        "Commission's template (JSON when FILE ends in .json, else Markdown)",
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
    if args.data is not None:
        return _verify_data(args.version_dir, args.data)
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


def _verify_data(version_dir: str, data: str) -> int:
    from dlsuite.apps.common.data import source_fingerprint
    from dlsuite.apps.common.fingerprint import FILES_METHOD, files_differences

    sources = ((load_manifest(version_dir).get("training") or {}).get("data") or {}).get(
        "sources"
    ) or []
    recorded = [s for s in sources if (s.get("fingerprint") or {}).get("method") == FILES_METHOD]
    if not recorded:
        names = ", ".join(str(s.get("source") or s.get("name")) for s in sources) or "no source"
        print(
            f"{version_dir}: trained on {names}; the manifest records no fingerprint of a folder "
            f"or file, so there is nothing to compare {data} with (tfds: and builtin: data are "
            "identified by their recorded name, version and checksums)",
            file=sys.stderr,
        )
        return 2
    expected = recorded[0]["fingerprint"]
    path = Path(data)
    current = source_fingerprint("dir" if path.is_dir() else "file", data)
    differences = files_differences(expected, current)
    if differences:
        print(
            f"{data}: not the data {version_dir} was trained on "
            f"({recorded[0].get('source') or recorded[0].get('name')}):",
            file=sys.stderr,
        )
        for line in differences:
            print(f"  {line}", file=sys.stderr)
        return 1
    print(
        f"{data}: same data as {version_dir} was trained on: {current['files']} files, "
        f"{current['bytes']} bytes, {current['value']}"
    )
    return 0


def _render(args: argparse.Namespace) -> int:
    if args.output == "-":
        sys.stdout.write(model_card(args.path))
        return 0
    write_model_card(args.path, args.output)
    print(f"wrote {args.output}")
    return 0


def _export(args: argparse.Namespace) -> int:
    manifest = load_manifest(args.path)
    if args.card_format == GPAI_SUMMARY:
        if args.language:
            raise ValueError(
                f"--language applies to the hf format only; for {GPAI_SUMMARY} set "
                "training_content_summary.languages in the manifest fields file"
            )
        # The summary built at export holds the person's fields; any other manifest gets one now.
        summary = (manifest.get("general_purpose") or {}).get(
            "training_content_summary"
        ) or training_content_summary(manifest)
        card = render_summary(summary, args.output)
    else:
        card = render_card(manifest, args.card_format, language=args.language)
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
