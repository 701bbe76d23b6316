"""The compliance manifest: ``assets.extra/manifest.json`` in every exported model version.

A machine-readable record of one model version for the EU AI Act (Regulation (EU) 2024/1689)
Annex IV technical documentation and for model-card readers: identity, intended use and risk
classification, model and signatures, training data and compute (energy and CO2e measured by
CodeCarbon, or estimated), held-out evaluation, limitations and oversight, and SHA-256 digests of
every file of the version.
Fields the suite measures come from the run directory; fields only a person can know come from a
YAML/JSON file (``docs/manifest_example.yaml``). Field reference: ``docs/manifest.md``.
A version may also carry an OpenSSF model-signing signature over all its files, the manifest
included (``assets.extra/model.sig``, `signing`).

Typical use by the export code, after every other file of the version is written::

    person = load_person_fields("manifest.yaml", overrides={"provider.contact": "ml@example.org"})
    manifest = build_manifest(run_dir=run_dir, version_dir=tmp_dir, name="digits", version=3,
                              person=person)
    write_manifest(tmp_dir, manifest)
    VersionSigner("key.pem").sign(tmp_dir)   # optional: assets.extra/model.sig, after the manifest
    ...
    assert not verify_version(version_dir)   # the server checks this before loading
    verify_signature(version_dir, trusted_pems)   # and this with --trusted_signers

Nothing here imports TensorFlow at import time.
"""

from __future__ import annotations

from dlsuite.serving.manifest.build import (
    DEFAULT_DEVICE_POWER_W,
    DEFAULT_GRID_INTENSITY,
    DEFAULT_PUE,
    SCHEMA_VERSION,
    SYSTEMIC_RISK_THRESHOLD_FLOP,
    build_manifest,
    energy_estimate,
    systemic_risk,
)
from dlsuite.serving.manifest.card import render_html
from dlsuite.serving.manifest.integrity import (
    MANIFEST_RELPATH,
    SIGNATURE_RELPATH,
    compute_integrity,
    load_manifest,
    manifest_path,
    signature_path,
    verify_version,
    write_manifest,
)
from dlsuite.serving.manifest.person import (
    ANNEX_III_AREAS,
    OPTIONAL_PERSON_FIELDS,
    REQUIRED_PERSON_FIELDS,
    RISK_CLASSES,
    load_person_fields,
    missing_person_fields,
    parse_assignments,
)
from dlsuite.serving.manifest.schema import load_schema, validate_manifest
from dlsuite.serving.manifest.signing import (
    SignatureError,
    SignatureMismatch,
    UnsignedVersion,
    UntrustedSignature,
    VersionSigner,
    check_public_keys,
    verify_signature,
)

__all__ = [
    "ANNEX_III_AREAS",
    "DEFAULT_DEVICE_POWER_W",
    "DEFAULT_GRID_INTENSITY",
    "DEFAULT_PUE",
    "MANIFEST_RELPATH",
    "OPTIONAL_PERSON_FIELDS",
    "REQUIRED_PERSON_FIELDS",
    "RISK_CLASSES",
    "SCHEMA_VERSION",
    "SIGNATURE_RELPATH",
    "SYSTEMIC_RISK_THRESHOLD_FLOP",
    "SignatureError",
    "SignatureMismatch",
    "UnsignedVersion",
    "UntrustedSignature",
    "VersionSigner",
    "build_manifest",
    "check_public_keys",
    "compute_integrity",
    "energy_estimate",
    "load_manifest",
    "load_person_fields",
    "load_schema",
    "manifest_path",
    "missing_person_fields",
    "parse_assignments",
    "render_html",
    "signature_path",
    "systemic_risk",
    "validate_manifest",
    "verify_signature",
    "verify_version",
    "write_manifest",
]
