"""`dlsuite c2pa-test-cert DIR`: write a C2PA test certificate chain (root CA, signing certificate
and its key) for trying `--c2pa-cert` / `--c2pa_cert` and `detect-mark --c2pa-trust`."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "c2pa-test-cert",
        help="write a C2PA test certificate chain (for trying Content Credentials)",
        description=(
            "Write a fresh ECDSA P-256 test chain into DIR: chain.pem (the signing certificate, "
            "for --c2pa-cert), key.pem (its private key, mode 0600, for --c2pa-key) and root.pem "
            "(the root CA, for detect-mark --c2pa-trust). Nobody else trusts it: use a "
            "certificate from a CA for content you publish. Existing files are not overwritten."
        ),
    )
    parser.add_argument("folder", metavar="DIR", help="folder to write the three files into")
    parser.set_defaults(func=_write)


def _write(args: argparse.Namespace) -> int:
    from dlsuite.serving.content_credentials import (
        TEST_CHAIN_DAYS,
        write_test_chain,
    )

    paths = write_test_chain(args.folder)
    print(
        f"C2PA test chain (valid {TEST_CHAIN_DAYS} days, untrusted by anyone else):\n"
        f"  --c2pa-cert {paths['cert']} --c2pa-key {paths['key']}   (dlsuite serve: "
        f"--c2pa_cert/--c2pa_key)\n"
        f"  dlsuite detect-mark --c2pa-trust {paths['root']} IMAGE..."
    )
    return 0
