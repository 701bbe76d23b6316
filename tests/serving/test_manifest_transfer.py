"""The manifest of a model fine-tuned from a pretrained backbone (issue 23): the
``transfer_learning`` section and ``training.class_weight`` copied from the run's metrics.json,
their schema, the HTML, Hugging Face and Model Card Toolkit cards, and the diff of two versions."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from dlsuite.base.files import atomic_write_json
from dlsuite.serving import manifest as mf
from dlsuite.serving.manifest.cards import (
    check_hugging_face_metadata,
    hugging_face_card,
    model_card_toolkit_json,
    split_front_matter,
)
from dlsuite.serving.manifest.diff import Change, diff_manifests, format_changes
from tests.serving import test_manifest
from tests.serving.test_manifest import _metrics, _run_dir

# The manifest tests' fixtures: a tiny exported version and the example person fields.
saved_model = test_manifest.saved_model
version_dir = test_manifest.version_dir
person = test_manifest.person

SHA256 = "4f0c" + "0123456789abcdef" * 3 + "89abcdef0123"
WEIGHTS_PATH = "/root/.keras/models/weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5"
TRANSFER = {
    "backbone": "MobileNetV3Small",
    "library": "keras.applications",
    "layer": "backbone",
    "weights": {
        "spec": "imagenet",
        "source": "keras-cache",
        "path": WEIGHTS_PATH,
        "sha256": SHA256,
    },
    "preprocessing": "inside the backbone (include_preprocessing)",
    "freeze_epochs": 3,
    "backbone_learning_rate_multiplier": 0.1,
    "batch_norm": "inference mode throughout: the pretrained moving statistics are used and "
    "never updated",
    "phases": [
        {"epochs": [1, 3], "trained": "head", "layers": ["logits"], "trainable_params": 2165},
        {
            "epochs": [4, 10],
            "trained": "backbone and head",
            "layers": ["backbone", "logits"],
            "trainable_params": 275965,
        },
    ],
}
CLASS_WEIGHT = {"mode": "balanced", "weights": {"0": 0.9, "1": 1.125}}
RANDOM_WEIGHTS = {"spec": "none", "source": "random", "path": None, "sha256": None}


def _transfer_manifest(tmp_path: Path, version_dir: Path, person: dict, **recorded) -> dict:
    """The manifest of a run whose metrics.json also holds ``recorded`` (``transfer``,
    ``class_weight``), written into the version (integrity and schema check included)."""
    run = _run_dir(tmp_path)
    atomic_write_json(run / "metrics.json", {**_metrics(), **recorded})
    manifest = mf.build_manifest(
        run_dir=run, version_dir=version_dir, name="tiny", version=1, person=person
    )
    mf.write_manifest(version_dir, manifest)
    return mf.load_manifest(version_dir)


@pytest.fixture
def manifest(tmp_path, version_dir, person) -> dict:
    return _transfer_manifest(
        tmp_path, version_dir, person, transfer=TRANSFER, class_weight=CLASS_WEIGHT
    )


def test_transfer_and_class_weight_are_copied_as_recorded(manifest):
    assert manifest["transfer_learning"] == TRANSFER
    assert manifest["training"]["class_weight"] == CLASS_WEIGHT
    assert "transfer_learning" in manifest["provenance"]["recorded_from_run"]
    assert mf.validate_manifest(manifest) == []


def test_run_without_transfer_gives_no_section(tmp_path, version_dir, person):
    manifest = _transfer_manifest(tmp_path, version_dir, person)
    assert "transfer_learning" not in manifest
    assert "class_weight" not in manifest["training"]
    assert "transfer_learning" not in manifest["provenance"]["recorded_from_run"]
    assert "Pretrained backbone" not in mf.render_html(manifest)
    card = hugging_face_card(manifest)
    assert "Pretrained backbone" not in card and "Class weights" not in card
    assert split_front_matter(card)[0]["co2_eq_emissions"]["training_type"] == "pre-training"


def _broken(path: tuple, value) -> dict:
    """The transfer section with the field at ``path`` set to ``value`` (deleted if None)."""
    out = copy.deepcopy(TRANSFER)
    *parents, key = path
    target = out
    for part in parents:
        target = target[part]
    if value is None:
        del target[key]
    else:
        target[key] = value
    return out


@pytest.mark.parametrize(
    "transfer, error",
    [
        (
            _broken(("weights", "sha256"), "4f0c"),
            "$.transfer_learning.weights.sha256: '4f0c' does not match '^[0-9a-f]{64}$'",
        ),
        (
            _broken(("weights", "sha256"), SHA256.upper()),
            f"$.transfer_learning.weights.sha256: '{SHA256.upper()}' does not match "
            "'^[0-9a-f]{64}$'",
        ),
        (
            _broken(("weights", "source"), "random"),
            f"$.transfer_learning.weights.path: '{WEIGHTS_PATH}' is not of type 'null'",
        ),
        (
            _broken(("weights",), {**RANDOM_WEIGHTS, "source": "file"}),
            "$.transfer_learning.weights.path: None is not of type 'string'",
        ),
        (
            _broken(("library",), "torchvision"),
            "$.transfer_learning.library: 'torchvision' is not one of ['keras.applications', "
            "'keras_hub', 'keras', 'saved_model']",
        ),
        (_broken(("phases",), None), "$.transfer_learning: 'phases' is a required property"),
        (
            _broken(("freeze_epochs",), 0),
            "$.transfer_learning.phases: [{'epochs': [1, 3], 'trained': 'head', 'layers': "
            "['logits'], 'trainable_params': 2165}, {'epochs': [4, 10], 'trained': 'backbone "
            "and head', 'layers': ['backbone', 'logits'], 'trainable_params': 275965}] is too long",
        ),
        (
            _broken(("phases",), list(reversed(TRANSFER["phases"]))),
            "$.transfer_learning.phases[0].trained: 'head' was expected",
        ),
        (
            _broken(("backbone_learning_rate_multiplier",), 0),
            "$.transfer_learning.backbone_learning_rate_multiplier: 0 is less than or equal to "
            "the minimum of 0",
        ),
        (
            _broken(("phases", 0, "epochs"), [0, 3]),
            "$.transfer_learning.phases[0].epochs[0]: 0 is less than the minimum of 1",
        ),
        (
            {**TRANSFER, "pretrained": True},
            "$.transfer_learning: Additional properties are not allowed ('pretrained' was "
            "unexpected)",
        ),
    ],
    ids=[
        "short-sha256",
        "upper-case-sha256",
        "random-with-path",
        "file-without-path",
        "unknown-library",
        "no-phases",
        "two-phases-unfrozen",
        "phases-reversed",
        "multiplier-0",
        "epoch-0",
        "unknown-field",
    ],
)
def test_schema_rejects_a_broken_transfer_section(manifest, transfer, error):
    assert error in mf.validate_manifest({**manifest, "transfer_learning": transfer})


def test_schema_checks_class_weights_and_random_weights(manifest):
    bad = copy.deepcopy(manifest)
    bad["training"]["class_weight"] = {"mode": "inverse", "weights": {"0": -1.0, "1": 0.0}}
    assert mf.validate_manifest(bad) == [
        "$.training.class_weight.mode: 'balanced' was expected",
        "$.training.class_weight.weights['0']: -1.0 is less than the minimum of 0",
    ]
    scratch = {**TRANSFER, "weights": RANDOM_WEIGHTS, "freeze_epochs": 0}
    scratch["phases"] = [{**TRANSFER["phases"][1], "epochs": [1, 10]}]
    assert mf.validate_manifest({**manifest, "transfer_learning": scratch}) == []


def test_html_card_shows_the_backbone_its_weights_and_phases(manifest):
    page = mf.render_html(manifest)
    section = page[page.index("<h2>Pretrained backbone</h2>") : page.index("<h2>Training</h2>")]
    for row in [
        "<tr><th>Backbone</th><td>MobileNetV3Small</td></tr>",
        "<tr><th>Library</th><td>keras.applications</td></tr>",
        "<tr><th>Weights (as given)</th><td>imagenet</td></tr>",
        "<tr><th>Weights source</th><td>keras-cache</td></tr>",
        f"<tr><th>Weights path</th><td>{WEIGHTS_PATH}</td></tr>",
        f"<tr><th>Weights SHA-256</th><td>{SHA256}</td></tr>",
        "<tr><th>Preprocessing</th><td>inside the backbone (include_preprocessing)</td></tr>",
        '<tr><th>Backbone frozen for (epochs)</th><td class="num">3</td></tr>',
        '<tr><th>Backbone learning-rate multiplier</th><td class="num">0.1</td></tr>',
        f"<tr><th>Batch normalisation</th><td>{TRANSFER['batch_norm']}</td></tr>",
        '<tr><td>1-3</td><td>head</td><td>logits</td><td class="num">2165</td></tr>',
        "<tr><td>4-10</td><td>backbone and head</td><td>backbone, logits</td>"
        '<td class="num">275965</td></tr>',
    ]:
        assert row in section
    training = page[page.index("<h2>Training</h2>") : page.index("<h2>Evaluation</h2>")]
    assert "<h3>Class weights (balanced)</h3>" in training
    assert '<tr><td>0</td><td class="num">0.9</td></tr>' in training
    assert '<tr><td>1</td><td class="num">1.125</td></tr>' in training


def test_hf_card_states_the_backbone_and_weights_digest(manifest):
    card = hugging_face_card(manifest)
    meta, body = split_front_matter(card)
    assert check_hugging_face_metadata(meta) == []
    assert "base_model" not in meta  # a Hub repository id, which a local weights file is not
    assert meta["co2_eq_emissions"]["training_type"] == "fine-tuning"
    assert (
        "## Pretrained backbone\n\nMobileNetV3Small backbone (keras.applications), fine-tuned "
        f"from the pretrained weights 'imagenet' (keras-cache: {WEIGHTS_PATH}, SHA-256 "
        f"{SHA256}).\n" in body
    )
    assert f"| Weights SHA-256 | {SHA256} |" in body
    assert (
        "| 1-3 | head | logits | 2165 |\n| 4-10 | backbone and head | backbone, logits | " in body
    )
    assert "### Class weights (balanced)\n\n| class | loss weight |\n|---|---|\n| 0 | 0.9 |" in body


def test_hf_card_of_a_randomly_initialised_backbone_says_so(tmp_path, version_dir, person):
    scratch = {**TRANSFER, "weights": RANDOM_WEIGHTS, "freeze_epochs": 0}
    scratch["phases"] = [{**TRANSFER["phases"][1], "epochs": [1, 10]}]
    manifest = _transfer_manifest(tmp_path, version_dir, person, transfer=scratch)
    meta, body = split_front_matter(hugging_face_card(manifest))
    assert meta["co2_eq_emissions"]["training_type"] == "pre-training"
    assert (
        "MobileNetV3Small backbone (keras.applications), trained from randomly initialised "
        "weights (no pretrained weights)." in body
    )
    assert "| Weights source | random: initialised randomly, no pretrained weights |" in body
    assert "SHA-256" not in body.split("## Pretrained backbone")[1].split("## Intended use")[0]


def test_mct_document_carries_the_backbone_phases_and_class_weights(manifest):
    document = model_card_toolkit_json(manifest)  # raises if the toolkit's schema rejects it
    architecture = document["model_parameters"]["model_architecture"]
    assert architecture == (
        f"tiny_mlp; MobileNetV3Small backbone (keras.applications), fine-tuned from the "
        f"pretrained weights 'imagenet' (keras-cache: {WEIGHTS_PATH}, SHA-256 {SHA256})"
    )
    documentation = document["model_details"]["documentation"].split("\n\n")
    assert documentation[1:3] == [
        "Training phases: epochs 1-3: head (logits), 2165 trainable parameters; epochs 4-10: "
        "backbone and head (backbone, logits), 275965 trainable parameters. Batch "
        f"normalisation: {TRANSFER['batch_norm']}",
        "Class weights (balanced): 0 0.9, 1 1.125",
    ]


def test_diff_shows_a_change_of_backbone_weights(manifest):
    new = copy.deepcopy(manifest)
    new["transfer_learning"]["weights"]["sha256"] = "f" * 64
    changes = diff_manifests(manifest, new)
    assert changes == [
        Change("transfer_learning", "transfer_learning.weights.sha256", "changed", SHA256, "f" * 64)
    ]
    assert f'  ~ transfer_learning.weights.sha256: "{SHA256}" -> "{"f" * 64}"\n' in (
        format_changes(changes, "tiny/1", "tiny/2")
    )
