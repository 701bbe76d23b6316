"""`dlsuite detect-mark IMAGE...`:
does an image carry the suite's Art. 50(2) synthetic-content marks?
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from dlsuite.serving.content_credentials import read_trust_anchors
from dlsuite.serving.marking import detect_mark


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "detect-mark",
        help="report whether images carry the AI-generated marks (EU AI Act Art. 50(2))",
        description=(
            "Read each image and report its PNG text chunks (AI-generated, Model, Model-Version), "
            "the robust pixel watermark's z-score (about 0 unmarked, about 10 marked, marked from "
            "4.5; read on the image as given and as a 0.5x resize), the LSB watermark "
            "(fraction of least significant bits matching the keyed pattern: "
            "about 0.5 unmarked, 1.0 marked) "
            "and its C2PA Content Credentials, verified with the C2PA reference library "
            "(present, valid, trusted, model, version). "
            "An image is marked when any of these says AI-generated (credentials only when "
            "valid and naming the IPTC source type trainedAlgorithmicMedia). "
            "Exit code 0 when every image is marked, 1 when at least one is not. "
            "The robust watermark survives JPEG quality 75 and a 0.5x resize (both together from "
            "28x28 pixels), not cropping, rotation or other scale factors; the LSB watermark "
            "survives lossless copies only; the credentials do not survive re-encoding."
        ),
    )
    parser.add_argument(
        "images", nargs="+", metavar="IMAGE", help="image files (PNG, GIF, JPEG, BMP)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object per image")
    parser.add_argument(
        "--c2pa-trust",
        metavar="PEM",
        help="PEM file of root certificates whose Content Credentials count as trusted "
        "(none by default: no trust list is built in or fetched)",
    )
    parser.set_defaults(func=_detect)


def _credentials_text(credentials: dict[str, Any]) -> str:
    """The ``c2pa=...`` part of an image's line."""
    if credentials["error"]:
        return f"c2pa={credentials['error']}"
    if not credentials["present"]:
        return "c2pa=none"
    if not credentials["valid"]:
        failures = ",".join(credentials["status_codes"]["failure"])
        return f"c2pa=INVALID ({failures})"
    if credentials["trusted"]:
        trust = "trusted"
    elif credentials["test_certificate"]:
        trust = "untrusted test certificate"
    else:
        trust = "untrusted"
    return (
        f"c2pa=valid, {trust} (signer {credentials['signer']}, issuer {credentials['issuer']}) "
        f"model={credentials['model']} version={credentials['version']} "
        f"run={credentials['run']}"
    )


def _detect(args: argparse.Namespace) -> int:
    trust = read_trust_anchors(args.c2pa_trust) if args.c2pa_trust else None
    all_marked = True
    for name in args.images:
        path = Path(name)
        if not path.is_file():
            raise FileNotFoundError(f"image {path} does not exist")
        data = path.read_bytes()
        report = detect_mark(data, trust)
        credentials, marked = report["credentials"], report["ai_generated"]
        all_marked &= marked
        if args.json:
            print(json.dumps({"image": str(path), **report}))
            continue
        mark, lsb = report["watermark"], report["lsb_watermark"]
        text = report["text"]
        who = (
            f" model={text.get('Model')} version={text.get('Model-Version')}"
            if report["text_mark"]
            else ""
        )
        print(
            f"{path}: {'AI-GENERATED' if marked else 'no mark'}  "
            f"text_chunk={'yes' if report['text_mark'] else 'no'}{who}  "
            f"watermark={'yes' if mark['detected'] else 'no'} (z={mark['z_score']:.1f} "
            f"{mark['grid']})  lsb={'yes' if lsb['detected'] else 'no'} "
            f"(match {lsb['match_fraction']:.3f} of {lsb['samples']} samples)  "
            f"{_credentials_text(credentials)}"
        )
    return 0 if all_marked else 1
