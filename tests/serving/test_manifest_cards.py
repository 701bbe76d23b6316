"""Card exports of the manifest (Hugging Face README.md, Model Card Toolkit JSON) and the diff of
two versions' manifests, on a real tiny exported version (issue 21)."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

import pytest

from dlsuite.base.files import atomic_write_json
from dlsuite.serving import manifest as mf
from dlsuite.serving.manifest.cards import (
    MCT_SCHEMA_FILE,
    TO_BE_FILLED,
    check_hugging_face_metadata,
    hugging_face_card,
    model_card_toolkit_json,
    split_front_matter,
    validate_model_card_toolkit,
)
from dlsuite.serving.manifest.diff import Change, changes_json, diff_manifests, format_changes
from tests.apps.conftest import export_once, train_tiny

# sha256 of model_card_toolkit/schema/v0.0.2/model_card.schema.json in model-card-toolkit 2.0.0
MCT_SCHEMA_SHA256 = "369dd9dbeff0980dd34fa8d14a6a17d7c63c4bf3874e414fdf886f47d72f46dd"
WEIGHTS = "variables/variables.data-00000-of-00001"


@pytest.fixture(scope="module")
def version(tmp_path_factory) -> Path:
    """A tiny vision run (LeNet-5 on 128 digits, 2 epochs) exported with its manifest (~15 s)."""
    return export_once(train_tiny(tmp_path_factory.mktemp("runs")), "digits", tmp_path_factory)


@pytest.fixture
def manifest(version) -> dict:
    return mf.load_manifest(version)


def _without_run(manifest: dict) -> dict:
    """``manifest`` in the documented form of a version exported without a run directory."""
    out = copy.deepcopy(manifest)
    out["training"] = {"recorded": False, "note": "no training run was recorded"}
    out["evaluation"] = {"split": None, "metrics": {}, "note": "no evaluation was recorded"}
    out["model"]["app"] = None
    out["intended_use"]["systemic_risk"]["training_flop"] = None
    out["provenance"] = {
        "recorded_run": False,
        "run_dir": None,
        "recorded_from_run": [],
        "derived_from_model": ["model.signatures"],
        "not_recorded": ["evaluation", "training"],
    }
    assert mf.validate_manifest(out) == []
    return out


def test_hf_card_front_matter_carries_the_manifest_figures(manifest):
    card = hugging_face_card(manifest, language=["en"])
    assert card.startswith("---\n")
    meta, body = split_front_matter(card)
    assert check_hugging_face_metadata(meta) == []
    assert meta["license"] == "apache-2.0"  # the manifest's SPDX "Apache-2.0" as the Hub's id
    assert meta["library_name"] == "keras"
    assert meta["pipeline_tag"] == "image-classification"
    assert meta["datasets"] == ["digits"]
    assert meta["language"] == ["en"]

    evaluation = manifest["evaluation"]
    (index,) = meta["model-index"]
    (result,) = index["results"]
    assert index["name"] == "digits"
    assert result["task"] == {"type": "image-classification", "name": "Image Classification"}
    assert result["dataset"] == {"name": "digits", "type": "digits", "split": "test"}
    assert {m["type"]: m["value"] for m in result["metrics"]} == evaluation["metrics"]
    assert meta["metrics"] == sorted(evaluation["metrics"])

    co2 = meta["co2_eq_emissions"]
    assert co2["emissions"] == manifest["training"]["energy"]["co2e_kg"] * 1000  # grams, exact
    assert co2["hardware_used"].startswith("1 x CPU")
    assert co2["training_type"] == "pre-training"

    for text in (
        manifest["intended_use"]["intended_purpose"],
        manifest["limitations"]["human_oversight"],
        "## Compliance notes (EU AI Act)",
        "| Risk classification | minimal |",
        "| learning_rate | 0.002 |",
        "| clip_norm | `null` |",  # a config value, not a missing field
        "| serving_default | predict | image_bytes string [-1] |",
    ):
        assert text in body
    assert TO_BE_FILLED not in body  # the example person file fills every optional field


def test_hf_card_leaves_out_what_was_not_recorded_and_marks_unset_person_fields(manifest):
    partial = copy.deepcopy(manifest)
    del partial["identity"]["description"], partial["training"]["data"]["provenance"]
    del partial["limitations"]["post_market_monitoring"]
    partial["identity"]["license"] = "LicenseRef-ACME Internal"
    meta, body = split_front_matter(hugging_face_card(partial))
    assert meta["license"] == "other" and meta["license_name"] == "licenseref-acme-internal"
    assert "language" not in meta
    assert body.count(f"_{TO_BE_FILLED}_") == 3  # description, data provenance, monitoring

    no_run = _without_run(manifest)
    meta, body = split_front_matter(hugging_face_card(no_run))
    assert check_hugging_face_metadata(meta) == []
    for key in ("model-index", "co2_eq_emissions", "pipeline_tag", "datasets", "metrics"):
        assert key not in meta
    assert "no training run was recorded" in body and "no evaluation was recorded" in body


MEASURED = {
    "method": "partly_measured",
    "tool": "codecarbon",
    "version": "3.3.2",
    "method_detail": "CPU: RAPL energy counters; RAM: CodeCarbon's RAM power model; GPU: NVML",
    "energy_kwh": 0.5,
    "cpu_energy_kwh": 0.1,
    "gpu_energy_kwh": 0.3,
    "ram_energy_kwh": 0.1,
    "co2e_kg": 0.2,
    "duration_s": 3600.0,
    "cpu_power_w": 100.0,
    "gpu_power_w": 300.0,
    "ram_power_w": 100.0,
    "pue": 1.0,
    "country_iso_code": "DEU",
    "grid_intensity_kgco2e_per_kwh": 0.4,
    "tracking_mode": "machine",
    "measure_power_secs": 15.0,
    "cpu_model": "AMD EPYC",
    "gpu_model": "NVIDIA A100",
}


def test_cards_say_how_the_emissions_were_obtained(manifest):
    measured = copy.deepcopy(manifest)
    measured["training"]["energy"] = MEASURED
    measured["training"]["devices"] = {"kind": "GPU", "count": 1}
    estimated = copy.deepcopy(manifest)
    estimated["training"]["energy"] = {
        **mf.energy_estimate(wall_time_s=3600.0, device_kind="GPU", device_count=2),
        "fallback_reason": "codecarbon is not installed",
    }
    assert mf.validate_manifest(measured) == mf.validate_manifest(estimated) == []

    meta, body = split_front_matter(hugging_face_card(measured))
    assert meta["co2_eq_emissions"] == {
        "emissions": 200.0,
        "source": "CodeCarbon 3.3.2 during training (partly_measured)",
        "training_type": "pre-training",
        "geographical_location": "DEU",
        "hardware_used": "1 x GPU (CPU: AMD EPYC, GPU: NVIDIA A100)",
    }
    assert "| Country | DEU |" in body and f"| How | {MEASURED['method_detail']} |" in body
    ethical = model_card_toolkit_json(measured)["considerations"]["ethical_considerations"]
    assert ethical[-1] == {
        "name": "Training emissions: 200 g CO2e from 0.5 kWh, "
        "CodeCarbon 3.3.2 during training (partly_measured)"
    }

    meta, body = split_front_matter(hugging_face_card(estimated))
    co2 = meta["co2_eq_emissions"]
    assert co2["emissions"] == estimated["training"]["energy"]["co2e_kg"] * 1000
    assert co2["source"].startswith("dlsuite constant-formula estimate")
    assert co2["hardware_used"] == "2 x GPU" and "geographical_location" not in co2
    assert "| Why not measured | codecarbon is not installed |" in body


def test_hf_metadata_check_names_each_break_of_the_spec(manifest):
    broken = {
        "license": "Apache 2",
        "library_name": "keras",
        "tags": ["dlsuite"],
        "co2_eq_emissions": {"emissions": -1},
        "model-index": [
            {
                "name": "digits",
                "results": [
                    {"task": {}, "dataset": {"name": "digits"}, "metrics": [{"type": "acc"}]}
                ],
            }
        ],
    }
    errors = check_hugging_face_metadata(broken)
    assert len(errors) == 5
    for fragment in (
        "$.license: 'Apache 2' is not one of",
        "$.co2_eq_emissions.emissions: -1 is less than the minimum of 0",
        "$['model-index'][0].results[0].task: 'type' is a required property",
        "$['model-index'][0].results[0].dataset: 'type' is a required property",
        "$['model-index'][0].results[0].metrics[0]: 'value' is a required property",
    ):
        assert any(line.startswith(fragment) for line in errors), (fragment, errors)
    assert "$: 'license_name' is a required property" in check_hugging_face_metadata(
        {**broken, "license": "other"}
    )

    bad_metric = copy.deepcopy(manifest)
    bad_metric["evaluation"]["metrics"] = {"": 0.5}
    with pytest.raises(ValueError, match=r"Hub's model card spec:\n.*\$\.metrics\[0\]"):
        hugging_face_card(bad_metric)
    with pytest.raises(ValueError, match="no YAML front matter"):
        split_front_matter("# a card\n")


def test_mct_json_validates_against_the_vendored_schema(manifest):
    schema_file = Path(mf.__file__).with_name(MCT_SCHEMA_FILE)
    assert hashlib.sha256(schema_file.read_bytes()).hexdigest() == MCT_SCHEMA_SHA256

    doc = json.loads(json.dumps(model_card_toolkit_json(manifest)))
    assert validate_model_card_toolkit(doc) == []
    assert doc["schema_version"] == "0.0.2"
    details = doc["model_details"]
    assert details["name"] == "digits" and details["licenses"] == [{"identifier": "Apache-2.0"}]
    assert details["version"] == {"name": "1", "date": manifest["identity"]["created_utc"][:10]}
    assert details["owners"] == [
        {"name": "Example Analytics GmbH", "contact": "ml-compliance@example.org"}
    ]
    assert doc["model_parameters"]["model_architecture"] == "lenet5"
    assert {"key": "serving_default/image_bytes", "value": "string [-1]"} in doc[
        "model_parameters"
    ]["input_format_map"]
    metrics = doc["quantitative_analysis"]["performance_metrics"]
    test = {m["type"]: float(m["value"]) for m in metrics if m["slice"] == "test"}
    assert test == manifest["evaluation"]["metrics"]  # str(float) round-trips exactly
    per_class = manifest["evaluation"]["per_class"]
    assert len([m for m in metrics if m["slice"].startswith("test, class ")]) == 4 * len(per_class)
    considerations = doc["considerations"]
    assert len(considerations["limitations"]) == 2 + 3  # limitations + out-of-scope uses
    assert len(considerations["ethical_considerations"]) == 2 + 1  # known risks + emissions

    no_run = model_card_toolkit_json(_without_run(manifest))
    assert no_run["quantitative_analysis"]["performance_metrics"] == []
    assert no_run["model_parameters"]["data"] == []


def test_broken_mct_document_fails_validation(manifest):
    doc = model_card_toolkit_json(manifest)
    broken = copy.deepcopy(doc)
    broken["extra"] = 1
    broken["quantitative_analysis"]["performance_metrics"][0]["value"] = 0.5
    broken["model_details"]["licenses"] = [{}]
    broken["model_details"]["version"]["date"] = "06/12/2026"
    errors = validate_model_card_toolkit(broken)
    assert [line.split(": ")[0] for line in errors] == [
        "$.model_details.licenses[0]",
        "$.model_details.version.date",
        "$.quantitative_analysis.performance_metrics[0].value",
        "$",
    ]
    assert errors[1] == "$.model_details.version.date: '06/12/2026' is not a 'date'"
    assert errors[-1] == "$: Additional properties are not allowed ('extra' was unexpected)"


def test_diff_of_a_version_with_itself_is_empty(manifest):
    assert diff_manifests(manifest, copy.deepcopy(manifest)) == []
    assert format_changes([], "a", "b") == "a and b: no differences\n"
    assert changes_json([], "a", "b") == {"a": "a", "b": "b", "identical": True, "changes": []}


def test_diff_lists_exactly_the_changed_fields(manifest):
    new = copy.deepcopy(manifest)
    new["training"]["hyperparameters"]["learning_rate"] = 0.001
    new["evaluation"]["metrics"]["accuracy"] = 0.5
    new["integrity"]["files"][WEIGHTS]["sha256"] = "0" * 64
    old_entry = manifest["integrity"]["files"][WEIGHTS]
    assert diff_manifests(manifest, new) == [
        Change(
            "hyper-parameters", "training.hyperparameters.learning_rate", "changed", 0.002, 0.001
        ),
        Change(
            "metrics",
            "evaluation.metrics.accuracy",
            "changed",
            manifest["evaluation"]["metrics"]["accuracy"],
            0.5,
        ),
        Change(
            "files",
            f'integrity.files["{WEIGHTS}"]',
            "changed",
            old_entry,
            {**old_entry, "sha256": "0" * 64},
        ),
    ]

    # a file added and one removed, a flag turned from false to 0, a new top-level section
    files = new["integrity"]["files"]
    files["extra.bin"] = files.pop("fingerprint.pb")
    new["training"]["jit_compile"] = 0
    new["review"] = {"by": "QA"}
    changes = diff_manifests(manifest, new)
    assert [(c.section, c.path, c.kind) for c in changes] == [
        ("hyper-parameters", "training.hyperparameters.learning_rate", "changed"),
        ("training", "training.jit_compile", "changed"),
        ("metrics", "evaluation.metrics.accuracy", "changed"),
        ("files", 'integrity.files["extra.bin"]', "added"),
        ("files", 'integrity.files["fingerprint.pb"]', "removed"),
        ("files", f'integrity.files["{WEIGHTS}"]', "changed"),
        ("review", "review", "added"),
    ]
    text = format_changes(changes, "digits/1", "digits/2")
    assert text.startswith("--- digits/1\n+++ digits/2\n7 change(s)\nhyper-parameters:\n")
    assert "  ~ training.hyperparameters.learning_rate: 0.002 -> 0.001\n" in text
    assert '  - integrity.files["fingerprint.pb"]: sha256 ' in text
    assert f"-> sha256 000000000000... ({old_entry['bytes']} bytes)" in text


@pytest.fixture
def cli(monkeypatch):
    """`dlsuite.cli.main` with only the manifest commands (other modules may be in progress)."""
    from dlsuite import cli

    monkeypatch.setattr(cli, "COMMAND_MODULES", ("dlsuite.cli.manifest",))
    return cli.main


def test_cli_export_writes_or_prints_the_cards(tmp_path, version, manifest, cli, capsys):
    assert cli(["manifest", "export", str(version), "--format", "hf", "--language", "en"]) == 0
    assert capsys.readouterr().out == hugging_face_card(manifest, language=["en"])

    out = tmp_path / "model_card.json"
    assert cli(["manifest", "export", str(version), "--format", "mct", "-o", str(out)]) == 0
    assert capsys.readouterr().out == f"wrote {out}\n"
    assert json.loads(out.read_text()) == model_card_toolkit_json(manifest)

    inside = version / "README.md"
    assert cli(["manifest", "export", str(version), "--format", "hf", "-o", str(inside)]) == 2
    assert "inside the version folder" in capsys.readouterr().err and not inside.exists()
    assert cli(["manifest", "export", str(version), "--format", "mct", "--language", "en"]) == 2
    assert "language applies to the Hugging Face card only" in capsys.readouterr().err
    assert cli(["manifest", "export", str(tmp_path / "nope"), "--format", "hf"]) == 2
    assert f"no manifest at {tmp_path / 'nope'}" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        cli(["manifest", "export", str(version), "--format", "pdf"])
    assert exit_info.value.code == 2


def test_cli_diff_exits_like_diff(tmp_path, version, manifest, cli, capsys):
    assert cli(["manifest", "diff", str(version), str(mf.manifest_path(version))]) == 0
    assert "no differences" in capsys.readouterr().out

    changed = copy.deepcopy(manifest)
    changed["training"]["hyperparameters"]["epochs"] = 3
    other = atomic_write_json(tmp_path / "manifest.json", changed)
    assert cli(["manifest", "diff", str(version), str(other)]) == 1
    out = capsys.readouterr().out
    assert "1 change(s)\nhyper-parameters:\n  ~ training.hyperparameters.epochs: 2 -> 3\n" in out
    assert cli(["manifest", "diff", str(version), str(other), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["identical"] is False
    assert report["changes"] == [
        {
            "section": "hyper-parameters",
            "path": "training.hyperparameters.epochs",
            "kind": "changed",
            "old": 2,
            "new": 3,
        }
    ]
    assert cli(["manifest", "diff", str(version), str(tmp_path / "nope")]) == 2
    assert "no manifest at" in capsys.readouterr().err
