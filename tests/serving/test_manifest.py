"""The compliance manifest: build, schema, integrity, person fields, energy, HTML card, CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from dlsuite.base.files import atomic_write_json
from dlsuite.serving import manifest as mf

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_YAML = REPO / "docs" / "manifest_example.yaml"

CONFIG = {
    "app": "vision",
    "run_id": "20250101-000000-abc",
    "config_hash": "deadbeef",
    "model": "tiny_mlp",
    "dataset": "builtin:digits",
    "epochs": 2,
    "batch_size": 64,
    "learning_rate": 0.001,
    "seed": 0,
}


def _metrics(training_flops: float = 3.6e10) -> dict:
    return {
        "app": "vision",
        "model": "tiny_mlp",
        "run_id": CONFIG["run_id"],
        "final": {
            "test": {"loss": 0.05, "accuracy": 0.98},
            "validation": {"loss": 0.06, "accuracy": 0.97},
        },
        "history": [
            {"epoch": 1, "loss": 1.2, "accuracy": 0.6, "val_loss": 0.5, "val_accuracy": 0.8}
        ],
        "epochs_completed": 2,
        "resumed": False,
        "wall_time_s": 42.0,
        "examples_seen": 2514,
        "num_params": 23,
        "flops_per_example": 46,
        "training_flops": training_flops,
        "flops_method": "forward FLOPs at batch 1; training = 3 x forward x examples seen",
        "devices": {
            "kind": "CPU",
            "count": 1,
            "names": ["/job:localhost/replica:0/task:0/device:CPU:0"],
        },
        "strategy": "one_device",
        "replicas": 1,
        "global_batch_size": 64,
        "mixed_precision": None,
        "jit_compile": False,
        "seed": 0,
        "data": {
            "source": "builtin:digits",
            "kind": "builtin",
            "name": "digits",
            "version": "scikit-learn 1.9.1",
            "splits": {"train": 1257, "validation": 180, "test": 360},
            "preprocessing": "scale to [0, 1]",
            "class_names": ["0", "1"],
            "input_shape": [4],
        },
        "evaluation": {
            "split": "test",
            "accuracy": 0.98,
            "loss": 0.05,
            "per_class": {
                "0": {"precision": 1.0, "recall": 0.97, "f1": 0.985, "support": 36},
                "1": {"precision": 0.97, "recall": 1.0, "f1": 0.985, "support": 35},
            },
            "confusion_matrix": [[35, 1], [0, 35]],
        },
        "framework": {
            "python": "3.11.7",
            "tensorflow": "2.21.0",
            "keras": "3.15.1",
            "dlsuite": "0.1.0",
        },
    }


def _run_dir(root: Path, training_flops: float = 3.6e10) -> Path:
    run = root / "runs" / "vision" / CONFIG["run_id"]
    atomic_write_json(run / "config.json", CONFIG)
    atomic_write_json(run / "metrics.json", _metrics(training_flops))
    return run


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory) -> Path:
    """A tiny real SavedModel (2 Dense layers), exported once for the module."""
    import keras

    model = keras.Sequential(
        [
            keras.Input((4,), name="features"),
            keras.layers.Dense(3, activation="relu"),
            keras.layers.Dense(2, activation="softmax"),
        ],
        name="tiny_mlp",
    )
    path = tmp_path_factory.mktemp("export") / "1"
    model.export(str(path), format="tf_saved_model", verbose=False)
    return path


@pytest.fixture
def person() -> dict:
    return mf.load_person_fields(EXAMPLE_YAML)


@pytest.fixture
def version_dir(tmp_path, saved_model) -> Path:
    target = tmp_path / "saved_models" / "tiny" / "1"
    shutil.copytree(saved_model, target)
    return target


def _build(tmp_path, version_dir, person, training_flops=3.6e10, **kwargs) -> dict:
    run = _run_dir(tmp_path, training_flops)
    return mf.build_manifest(
        run_dir=run, version_dir=version_dir, name="tiny", version=1, person=person, **kwargs
    )


def test_build_write_validate_and_verify(tmp_path, version_dir, person):
    manifest = _build(tmp_path, version_dir, person)
    assert "integrity" not in manifest
    path = mf.write_manifest(version_dir, manifest)
    assert path == version_dir / "assets.extra" / "manifest.json"
    written = json.loads(path.read_text())
    assert mf.validate_manifest(written) == []
    assert mf.verify_version(version_dir) == []

    ident = written["identity"]
    assert (ident["name"], ident["version"], ident["license"]) == ("tiny", 1, "Apache-2.0")
    assert ident["created_utc"].endswith("Z")
    assert ident["frameworks"]["training"]["tensorflow"] == "2.21.0"
    assert written["model"]["parameter_count"] == 23
    sig = written["model"]["signatures"]["serving_default"]
    assert sig["method_name"] == "tensorflow/serving/predict"
    assert sig["inputs"]["features"] == {"dtype": "float32", "shape": [-1, 4]}
    assert next(iter(sig["outputs"].values()))["shape"] == [-1, 2]
    assert "__saved_model_init_op" not in written["model"]["signatures"]
    training = written["training"]
    assert training["hyperparameters"]["learning_rate"] == 0.001
    assert "run_id" not in training["hyperparameters"]
    assert training["data"]["sources"][0] == {
        "kind": "builtin",
        "name": "digits",
        "version": "scikit-learn 1.9.1",
        "source": "builtin:digits",
    }
    assert training["data"]["splits"]["test"] == 360
    evaluation = written["evaluation"]
    assert evaluation["split"] == "test"
    assert evaluation["metrics"] == {"accuracy": 0.98, "loss": 0.05}
    assert evaluation["per_class"]["1"]["support"] == 35
    assert evaluation["other_splits"]["validation"]["accuracy"] == 0.97
    files = written["integrity"]["files"]
    assert "saved_model.pb" in files and "variables/variables.index" in files
    assert "assets.extra/manifest.json" not in files


def test_verify_reports_changed_added_and_missing_files(tmp_path, version_dir, person):
    mf.write_manifest(version_dir, _build(tmp_path, version_dir, person))
    data_file = next((version_dir / "variables").glob("variables.data-*"))
    raw = bytearray(data_file.read_bytes())
    raw[0] ^= 0xFF
    data_file.write_bytes(bytes(raw))
    problems = mf.verify_version(version_dir)
    assert len(problems) == 1
    assert problems[0].startswith("changed: variables/variables.data-")

    (version_dir / "assets.extra" / "notes.txt").write_text("hi")
    (version_dir / "variables" / "variables.index").unlink()
    problems = mf.verify_version(version_dir)
    assert "added: assets.extra/notes.txt" in problems
    assert "missing: variables/variables.index" in problems
    assert len(problems) == 3


def test_verify_without_manifest_is_a_problem(version_dir):
    problems = mf.verify_version(version_dir)
    assert len(problems) == 1 and "missing manifest" in problems[0]


def test_missing_person_fields_named_in_one_error(tmp_path, version_dir, person):
    for key in ("license", "intended_users"):
        del person[key]
    person["provider"]["contact"] = "  "
    person["risk"] = {"classification": "high_risk"}
    with pytest.raises(ValueError) as info:
        _build(tmp_path, version_dir, person)
    message = str(info.value)
    for field in ("license", "intended_users", "provider.contact", "risk.annex_iii_area"):
        assert field in message
    assert "intended_purpose" not in message


def test_load_person_fields_overrides_and_unknown_keys(tmp_path):
    person = mf.load_person_fields(
        EXAMPLE_YAML, {"provider.name": "ACME", "risk": {"rationale": "r"}}
    )
    assert person["provider"] == {"name": "ACME", "contact": "ml-compliance@example.org"}
    assert person["risk"]["classification"] == "minimal" and person["risk"]["rationale"] == "r"
    json_file = tmp_path / "fields.json"
    json_file.write_text(json.dumps({"license": "MIT"}))
    assert mf.load_person_fields(json_file, mf.parse_assignments(["general_purpose_ai=true"])) == {
        "license": "MIT",
        "general_purpose_ai": True,
    }
    with pytest.raises(ValueError, match="intended_user"):
        mf.load_person_fields(None, {"intended_user": ["x"]})
    assert mf.missing_person_fields(mf.load_person_fields(EXAMPLE_YAML)) == []


@pytest.mark.parametrize(
    ("flops", "gpai", "exceeds", "presumed"),
    [(3.6e10, True, False, False), (2e25, True, True, True), (2e25, False, True, False)],
)
def test_systemic_risk_presumption(tmp_path, version_dir, person, flops, gpai, exceeds, presumed):
    person["general_purpose_ai"] = gpai
    risk = _build(tmp_path, version_dir, person, training_flops=flops)["intended_use"][
        "systemic_risk"
    ]
    assert risk["threshold_flop"] == 1e25
    assert risk["training_flop"] == flops
    assert risk["exceeds_threshold"] is exceeds
    assert risk["presumed_systemic_risk"] is presumed


def test_energy_follows_formula_with_recorded_constants(tmp_path, version_dir, person):
    person["energy"] = {
        "device_power_w": {"CPU": 100},
        "pue": 1.2,
        "grid_intensity_kgco2e_per_kwh": 0.3,
    }
    energy = _build(tmp_path, version_dir, person)["training"]["energy"]
    c = energy["constants"]
    assert c == {
        "device_kind": "CPU",
        "device_count": 1,
        "device_power_w": 100.0,
        "wall_time_s": 42.0,
        "pue": 1.2,
        "grid_intensity_kgco2e_per_kwh": 0.3,
    }
    expected_kwh = 1 * 100.0 * 42.0 / 3.6e6 * 1.2
    assert energy["energy_kwh"] == pytest.approx(expected_kwh)
    assert energy["co2e_kg"] == pytest.approx(expected_kwh * 0.3)
    defaults = mf.energy_estimate(wall_time_s=3600, device_kind="GPU", device_count=2)
    assert defaults["energy_kwh"] == pytest.approx(
        2 * mf.DEFAULT_DEVICE_POWER_W["GPU"] / 1000 * mf.DEFAULT_PUE
    )
    with pytest.raises(ValueError, match="device_power_w.NPU"):
        mf.energy_estimate(wall_time_s=1, device_kind="NPU", device_count=1)


def test_schema_rejects_missing_section_and_bad_values(tmp_path, version_dir, person):
    mf.write_manifest(version_dir, _build(tmp_path, version_dir, person))
    manifest = mf.load_manifest(version_dir)
    del manifest["evaluation"]
    manifest["intended_use"]["risk"]["classification"] = "medium"
    errors = mf.validate_manifest(manifest)
    assert any(e.startswith("$:") and "'evaluation' is a required property" in e for e in errors)
    assert any(e.startswith("$.intended_use.risk.classification:") for e in errors)
    with pytest.raises(ValueError, match="required property"):
        mf.write_manifest(version_dir, {k: v for k, v in manifest.items() if k != "integrity"})


def test_extra_and_synthetic_marking(tmp_path, version_dir, person):
    person["synthetic_content_marking"] = {"method": "C2PA", "machine_readable": True}
    manifest = _build(
        tmp_path,
        version_dir,
        person,
        extra={"training": {"training_flops": 5e25}, "export": {"signatures_doc": "x"}},
    )
    assert manifest["intended_use"]["systemic_risk"]["exceeds_threshold"] is True
    assert manifest["training"]["seed"] == 0  # merged, not replaced
    mf.write_manifest(version_dir, manifest)
    assert mf.load_manifest(version_dir)["synthetic_content_marking"]["method"] == "C2PA"


def test_folder_source_and_evaluation_json(tmp_path, version_dir, person):
    run = _run_dir(tmp_path)
    metrics = _metrics()
    metrics["data"].update(kind="dir", name="/data/digits", version=None, source="dir:/data/digits")
    atomic_write_json(run / "metrics.json", metrics)
    report = {"split": "test", "accuracy": 0.5, "num_examples": 4, "per_class": {"0": {"f1": 0.5}}}
    atomic_write_json(run / "evaluation.json", report)
    manifest = mf.build_manifest(
        run_dir=run, version_dir=version_dir, name="tiny", version=1, person=person
    )
    assert manifest["training"]["data"]["sources"][0]["kind"] == "folder"
    assert manifest["evaluation"]["metrics"] == {"accuracy": 0.5, "num_examples": 4}
    assert manifest["evaluation"]["per_class"] == {"0": {"f1": 0.5}}


def test_html_card_is_escaped_and_complete(tmp_path, version_dir, person):
    person["limitations"] = ["<script>alert(1)</script>"]
    mf.write_manifest(version_dir, _build(tmp_path, version_dir, person))
    card = mf.render_html(mf.load_manifest(version_dir))
    assert card.startswith("<!DOCTYPE html>")
    assert "<script>" not in card and "&lt;script&gt;alert(1)&lt;/script&gt;" in card
    assert "Model card: tiny version 1" in card
    for text in (
        "accuracy",
        "0.98",
        "Per-class figures",
        "0.985",
        "serving_default",
        "Integrity",
        "Example Analytics GmbH",
        "kWh",
    ):
        assert text in card
    assert "http://" not in card and "https://" not in card and "<link" not in card


@pytest.fixture
def cli(monkeypatch):
    """`dlsuite.cli.main` with only the manifest commands
    (other modules may be in progress)."""
    from dlsuite import cli

    monkeypatch.setattr(cli, "COMMAND_MODULES", ("dlsuite.cli.manifest",))
    return cli.main


def test_cli_validate_verify_render(tmp_path, version_dir, person, cli, capsys):
    mf.write_manifest(version_dir, _build(tmp_path, version_dir, person))
    assert cli(["manifest", "validate", str(version_dir)]) == 0
    assert cli(["manifest", "validate", str(mf.manifest_path(version_dir))]) == 0
    assert cli(["manifest", "verify", str(version_dir)]) == 0
    out = tmp_path / "card.html"
    assert cli(["manifest", "render", str(version_dir), "-o", str(out)]) == 0
    assert "Model card: tiny version 1" in out.read_text()
    assert cli(["manifest", "render", str(version_dir), "-o", str(version_dir / "card.html")]) == 2
    assert not (version_dir / "card.html").exists()

    (version_dir / "extra.bin").write_bytes(b"x")
    capsys.readouterr()
    assert cli(["manifest", "verify", str(version_dir)]) == 1
    assert "added: extra.bin" in capsys.readouterr().err

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"schema_version": "1.0"}))
    assert cli(["manifest", "validate", str(bad)]) == 1
    assert "'identity' is a required property" in capsys.readouterr().err
    assert cli(["manifest", "validate", str(tmp_path / "nope.json")]) == 2


def test_export_signs_the_version_before_publishing_it(tmp_path, saved_model, person):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from dlsuite.serving.export import export_version
    from tests.serving.golden import warmup_logs

    key = ec.generate_private_key(ec.SECP256R1())
    private = tmp_path / "key.pem"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    published = []

    def save(folder: Path, name: str, version: int) -> None:
        published.append(sorted(p.name for p in folder.parent.iterdir()))
        shutil.copytree(saved_model, folder, dirs_exist_ok=True)

    base = tmp_path / "saved_models"
    version_dir = export_version(
        model_base_path=base,
        name="tiny",
        run_dir=_run_dir(tmp_path),
        save=save,
        warmup_logs=lambda name: warmup_logs(),
        person=person,
        sign_key=private,
    )
    assert version_dir == base / "tiny" / "1"
    assert published[0][0].startswith(".tmp-1-")  # written under a temporary name, then renamed
    assert sorted(p.name for p in (base / "tiny").iterdir()) == ["1"]
    assert mf.signature_path(version_dir).is_file()
    assert mf.verify_version(version_dir) == []
    assert mf.SIGNATURE_RELPATH in mf.load_manifest(version_dir)["integrity"]["excluded"]
    assert mf.verify_signature(version_dir, [public.decode()]) == 0

    (tmp_path / "not_a_key.pem").write_text("not a key")
    with pytest.raises(ValueError, match="not a PEM private key"):  # before any work
        export_version(
            model_base_path=base,
            name="tiny",
            run_dir=_run_dir(tmp_path),
            save=save,
            warmup_logs=lambda name: warmup_logs(),
            person=person,
            sign_key=tmp_path / "not_a_key.pem",
        )
    assert len(published) == 1 and sorted(p.name for p in (base / "tiny").iterdir()) == ["1"]


def test_manifest_without_a_run_holds_what_the_model_gives_and_says_so(version_dir, person):
    from dlsuite.serving.manifest.build import ModelFacts

    facts = ModelFacts("Sequential 'tiny_mlp'", 23, 46, "forward FLOPs at batch 1")
    manifest = mf.build_manifest(
        run_dir=None, version_dir=version_dir, name="tiny", version=1, person=person,
        model_facts=facts,
    )  # fmt: skip
    mf.write_manifest(version_dir, manifest)
    written = mf.load_manifest(version_dir)
    assert mf.validate_manifest(written) == [] and mf.verify_version(version_dir) == []
    model = written["model"]
    assert (model["parameter_count"], model["flops_per_example"]) == (23, 46)
    assert "serving_default" in model["signatures"]
    assert written["training"]["recorded"] is False and "energy" not in written["training"]
    assert written["evaluation"]["split"] is None
    assert written["intended_use"]["systemic_risk"]["training_flop"] is None
    assert written["identity"]["frameworks"]["training"] == {}
    provenance = written["provenance"]
    assert provenance["recorded_run"] is False and provenance["recorded_from_run"] == []
    assert {"model.parameter_count", "model.signatures", "integrity"} <= set(
        provenance["derived_from_model"]
    )
    card = mf.render_html(written)
    assert "Model card: tiny version 1" in card and "no training run was recorded" in card

    # a manifest that says "no run" may not carry a run's figures half-way, nor the reverse
    claims_run = {**written, "provenance": {**provenance, "run_dir": "runs/x"}}
    assert any(e.startswith("$.provenance.run_dir") for e in mf.validate_manifest(claims_run))
    no_training = {**written, "provenance": {**provenance, "recorded_run": True}}
    assert any("'run_id' is a required property" in e for e in mf.validate_manifest(no_training))

    with pytest.raises(ValueError, match="needs run_dir .* or model_facts"):
        mf.build_manifest(
            run_dir=None, version_dir=version_dir, name="tiny", version=1, person=person
        )


def test_manifest_from_a_run_says_which_fields_it_recorded(tmp_path, version_dir, person):
    from dlsuite.serving.manifest.build import ModelFacts

    metrics = _metrics()
    del metrics["flops_per_example"]
    run = _run_dir(tmp_path)
    atomic_write_json(run / "metrics.json", metrics)
    manifest = mf.build_manifest(
        run_dir=run, version_dir=version_dir, name="tiny", version=1, person=person,
        model_facts=ModelFacts("tiny_mlp", 23, 46, "counted"),
    )  # fmt: skip
    provenance = manifest["provenance"]
    assert provenance["recorded_run"] is True and provenance["run_dir"] == run.as_posix()
    assert {"training", "evaluation", "model.parameter_count"} <= set(
        provenance["recorded_from_run"]
    )
    assert "model.flops_per_example" in provenance["derived_from_model"]
    assert manifest["model"]["flops_per_example"] == 46
    assert "energy" in manifest["training"]
