"""`dlsuite detect-mark IMAGE...`:
does an image carry the suite's Art. 50(2) synthetic-content marks?
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from dlsuite.serving.marking import detect_mark


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "detect-mark",
        help="report whether images carry the AI-generated marks (EU AI Act Art. 50(2))",
        description=(
            "Read each image and report its PNG text chunks (AI-generated, Model, Model-Version) "
            "and the pixel watermark score "
            "(fraction of least significant bits matching the keyed pattern: "
            "about 0.5 unmarked, 1.0 marked). "
            "Exit code 0 when every image is marked, 1 when at least one is not. "
            "The watermark does not survive JPEG, resizing or cropping."
        ),
    )
    parser.add_argument(
        "images", nargs="+", metavar="IMAGE", help="image files (PNG, GIF, JPEG, BMP)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object per image")
    parser.set_defaults(func=_detect)


def _detect(args: argparse.Namespace) -> int:
    all_marked = True
    for name in args.images:
        path = Path(name)
        if not path.is_file():
            raise FileNotFoundError(f"image {path} does not exist")
        report = detect_mark(path.read_bytes())
        all_marked &= report["ai_generated"]
        if args.json:
            print(json.dumps({"image": str(path), **report}))
            continue
        mark = report["watermark"]
        text = report["text"]
        who = (
            f" model={text.get('Model')} version={text.get('Model-Version')}"
            if report["text_mark"]
            else ""
        )
        print(
            f"{path}: {'AI-GENERATED' if report['ai_generated'] else 'no mark'}  "
            f"text_chunk={'yes' if report['text_mark'] else 'no'}{who}  "
            f"watermark={'yes' if mark['detected'] else 'no'} (match {mark['match_fraction']:.3f} "
            f"of {mark['samples']} samples, z={mark['z_score']:.1f})"
        )
    return 0 if all_marked else 1
