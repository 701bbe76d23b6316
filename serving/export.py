"""Export a trained model as a new version of ``saved_models/<name>/``, the way TF Serving wants it.

`export_version` is the one way every app's model leaves the suite:

1. the person-filled manifest fields are checked first, so a missing field fails before any work;
2. the app's ``save(tmp_dir, name, version)`` writes the SavedModel with its signatures into a
   hidden temporary folder beside the versions (the version is known from here on);
3. Classify/Regress signatures get TF Serving's method names (`serving.signatures`);
4. ``assets.extra/tf_serving_warmup_requests`` is written from real examples (`serving.warmup`);
5. ``assets.extra/manifest.json`` is built from the run directory (or, for a model with no
   recorded run, from what the model alone gives: `ModelFacts`) and written, with the SHA-256 of
   every other file (`serving.manifest`);
6. with a signing key, ``assets.extra/model.sig`` is written last: an OpenSSF model-signing
   signature over every file, the manifest included (`serving.manifest.signing`);
7. the folder is renamed to ``<version>`` (next = highest + 1) in one atomic step.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from dlsuite.serving.manifest import (
    VersionSigner,
    build_manifest,
    missing_person_fields,
    write_manifest,
)
from dlsuite.serving.manifest.build import ModelFacts
from dlsuite.serving.repository import model_dir, new_version_dir
from dlsuite.serving.signatures import set_signature_methods
from dlsuite.serving.warmup import write_warmup_requests


def export_version(
    *,
    model_base_path: str | os.PathLike[str],
    name: str,
    run_dir: str | os.PathLike[str] | None,
    save: Callable[[Path, str, int], None],
    warmup_logs: Callable[[str], Sequence[Any]],
    person: Mapping[str, Any],
    signature_methods: Mapping[str, str] | None = None,
    manifest_extra: Mapping[str, Any] | None = None,
    sign_key: str | os.PathLike[str] | None = None,
    model_facts: ModelFacts | None = None,
) -> Path:
    """Write a complete new version and return its folder.

    Args:
        model_base_path: the model repository root (TF Serving's ``--model_base_path`` parent).
        name: model name; refused if it could leave the repository.
        run_dir: the training run the model comes from (metrics and config for the manifest);
            None for a model with no recorded run (then ``model_facts`` is required).
        save: ``save(folder, name, version)`` writes the SavedModel into ``folder``; ``version``
            is the number it will be published as.
        warmup_logs: ``warmup_logs(name)`` returns ``PredictionLog`` protos for the warmup file.
        person: the manifest fields only a person can know (`serving.manifest.load_person_fields`).
        signature_methods: ``{signature: method}`` for Classify/Regress signatures.
        manifest_extra: app-specific manifest additions (deep-merged).
        sign_key: an EC private key (PEM) to sign the version with; checked before any work.
        model_facts: what is derived from the model alone (architecture, parameters, FLOPs).
    """
    if run_dir is None and model_facts is None:
        raise ValueError("export_version needs run_dir or model_facts for the manifest")
    missing = missing_person_fields(person)
    if missing:
        raise ValueError(
            "the manifest needs these fields that only a person can fill: "
            + ", ".join(missing)
            + " (give them with --manifest-info FILE or --set KEY=VALUE; "
            "see docs/manifest_example.yaml)"
        )
    signer = VersionSigner(sign_key) if sign_key is not None else None
    target = model_dir(model_base_path, name)
    with new_version_dir(target) as (version, tmp):
        save(tmp, name, version)
        if signature_methods:
            set_signature_methods(tmp, signature_methods)
        write_warmup_requests(tmp, warmup_logs(name))
        manifest = build_manifest(
            run_dir=run_dir,
            version_dir=tmp,
            name=name,
            version=version,
            person=person,
            extra=manifest_extra,
            model_facts=model_facts,
        )
        write_manifest(tmp, manifest)
        if signer is not None:
            signer.sign(tmp)
    return target / str(version)
