"""Evaluation beyond accuracy in a run (`apps.common.evaluation.robustness_report`): a tiny LeNet
run's quick robustness report and PNGs, `dlsuite evaluate --robustness` (full), the export's
``explain`` signature served over REST, the manifest's ``robustness`` section and the cards;
text and speech classifiers' reports."""

from __future__ import annotations

import json

import numpy as np
import pytest
import requests

from tests.apps.conftest import MANIFEST_INFO, train_tiny
from tests.serving.conftest import start_server

FIGURES = ("reliability_diagram", "corruption_curves", "adversarial_example", "explanations")


@pytest.fixture(scope="module")
def robust_run(tmp_path_factory):
    """A tiny LeNet-5 run with the default (quick) robustness evaluation."""
    return train_tiny(tmp_path_factory.mktemp("robust-runs"), robustness="quick")


@pytest.fixture(scope="module")
def full_report(robust_run):
    """`dlsuite evaluate RUN --robustness` on `robust_run`: its evaluation.json."""
    from dlsuite.cli import main

    assert main(["evaluate", str(robust_run.run.path), "--robustness"]) == 0
    return json.loads((robust_run.run.path / "evaluation.json").read_text())


@pytest.fixture(scope="module")
def robust_export(robust_run, full_report, tmp_path_factory):
    """`robust_run` exported after its full evaluation, as ``<base>/robust/1``."""
    from dlsuite.apps.common.export import export_run

    base = tmp_path_factory.mktemp("robust-export")
    return export_run(
        robust_run.run.path, model_base_path=base, name="robust", manifest_info=MANIFEST_INFO
    )


def test_quick_robustness_is_in_evaluation_and_metrics_with_sane_figures(robust_run):
    from dlsuite.apps.common.runs import splits_for_run

    path = robust_run.run.path
    evaluation = json.loads((path / "evaluation.json").read_text())
    report = evaluation["robustness"]
    assert robust_run.metrics["evaluation"]["robustness"] == report  # mirrored in metrics.json
    assert report["level"] == "quick" and report["parameters"]["modality"] == "vision"
    for name in FIGURES:
        assert report["figures"][name] == f"{name}.png"
        assert (path / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    calibration = report["calibration"]
    assert (
        0 <= calibration["ece"] <= 1 and calibration["num_examples"] == evaluation["num_examples"]
    )
    assert calibration["accuracy"] == pytest.approx(evaluation["accuracy"])
    temperature = calibration["temperature"]
    assert temperature["fitted"] and temperature["fitted_on"] == "validation"
    assert temperature["temperature"] > 0 and 0 <= temperature["ece_after"] <= 1
    assert temperature["nll_after"] <= temperature["nll_before"] + 1e-9
    # The corruption table's clean accuracy is the model's on the first 256 test images.
    images, labels = zip(*splits_for_run(path).test.take(256).as_numpy_iterator(), strict=True)
    predicted = robust_run.model.predict(np.stack(images), verbose=0).argmax(-1)
    corruption = report["corruption"]
    assert corruption["num_examples"] == len(labels) and corruption["severities"] == [1, 3, 5]
    assert corruption["clean_accuracy"] == pytest.approx(np.mean(predicted == np.array(labels)))
    assert set(corruption["accuracy"]) == {"gaussian_noise", "gaussian_blur", "jpeg", "contrast"}
    assert 0 <= corruption["mean_corruption_accuracy"] <= 1
    fgsm, pgd = report["adversarial"]["fgsm"], report["adversarial"]["pgd"]
    assert fgsm["epsilons"] == [0.0, 2.0, 8.0] and fgsm["num_examples"] == 128
    assert fgsm["accuracy"]["0.0"] == fgsm["clean_accuracy"] == pgd["accuracy"]["0.0"]
    assert fgsm["clean_accuracy"] == pytest.approx(np.mean(predicted[:128] == labels[:128]))
    assert pgd["steps"] == 5 and pgd["accuracy"]["8.0"] <= fgsm["accuracy"]["0.0"]
    explanations = report["explanations"]
    assert explanations["method"].startswith("Grad-CAM") and explanations["layer"]
    assert explanations["num_examples"] == len(explanations["classes"]) == 10  # 1 per class
    assert report["wall_time_s"] > 0


def test_evaluate_with_robustness_writes_the_full_version(full_report, robust_run):
    report = full_report["robustness"]
    assert report["level"] == "full" and full_report["split"] == "test"
    assert report["corruption"]["severities"] == [1, 2, 3, 4, 5]
    assert report["adversarial"]["pgd"]["steps"] == 10
    assert report["adversarial"]["fgsm"]["epsilons"] == [0.0, 1.0, 2.0, 4.0, 8.0, 16.0]
    assert report["explanations"]["num_examples"] == 20  # 2 per class
    assert full_report["accuracy"] == pytest.approx(robust_run.metrics["evaluation"]["accuracy"])


def test_robustness_levels_are_checked():
    from dlsuite.apps.common.evaluation import evaluate_classifier
    from dlsuite.apps.vision.config import VisionConfig

    with pytest.raises(ValueError, match="`robustness` expected one of"):
        VisionConfig(robustness="thorough")
    with pytest.raises(ValueError, match="`robustness` expected one of"):
        evaluate_classifier(None, [], ["a", "b"], ".", robustness="some")


@pytest.mark.slow
def test_served_explain_signature_matches_explain_function(robust_run, robust_export, tmp_path):
    import tensorflow as tf

    from dlsuite.apps.common.explain import explain_function
    from dlsuite.apps.common.runs import splits_for_run

    images = np.stack(
        [x for x, _ in splits_for_run(robust_run.run.path).test.take(2).as_numpy_iterator()]
    ).astype(np.float32)
    expected = explain_function(robust_run.model)(tf.constant(images))
    server = start_server(
        ["--model_name=robust", f"--model_base_path={robust_export.parent}"],
        tmp_path / "server.log",
        ready_model="robust",
    )
    try:
        body = {"signature_name": "explain", "instances": images.tolist()}
        answer = requests.post(
            f"{server.rest}/v1/models/robust:predict", json=body, timeout=60
        ).json()
    finally:
        server.stop()
    predictions = answer["predictions"]
    assert [p["class_ids"] for p in predictions] == expected["class_ids"].numpy().tolist()
    np.testing.assert_allclose(
        [p["attributions"] for p in predictions], expected["attributions"].numpy(), atol=1e-5
    )


def test_manifest_robustness_section_is_schema_valid_and_on_the_cards(robust_export, full_report):
    from dlsuite.serving.manifest.card import model_card
    from dlsuite.serving.manifest.cards import hugging_face_card, split_front_matter
    from dlsuite.serving.manifest.integrity import load_manifest, resolve_manifest_path
    from dlsuite.serving.manifest.schema import validate_manifest

    manifest = load_manifest(resolve_manifest_path(robust_export))
    assert validate_manifest(manifest) == []
    section = manifest["robustness"]
    report = full_report["robustness"]
    assert section["level"] == "full" and section["split"] == "test"
    assert section["calibration"]["ece"] == report["calibration"]["ece"]
    assert section["calibration"]["temperature"]["temperature"] == pytest.approx(
        report["calibration"]["temperature"]["temperature"]
    )
    assert section["corruption"]["accuracy"] == report["corruption"]["accuracy"]
    assert section["adversarial"]["pgd"]["accuracy"] == report["adversarial"]["pgd"]["accuracy"]
    assert "example" not in section["adversarial"]["fgsm"]
    assert section["explanations"]["method"].startswith("Grad-CAM")
    assert "robustness" in manifest["provenance"]["recorded_from_run"]
    broken = {**manifest, "robustness": {**section, "calibration": {"ece": 2.0}}}
    assert any("robustness" in line for line in validate_manifest(broken))

    html = model_card(robust_export)
    assert "<h2>Robustness</h2>" in html and "Expected calibration error" in html
    assert f"{section['calibration']['ece']:.6g}" in html and "severity 5" in html
    assert "reliability_diagram.png" in html and "FGSM" in html

    meta, body = split_front_matter(hugging_face_card(manifest))
    metrics = meta["model-index"][0]["results"][0]["metrics"]
    assert {"type": "ece", "value": section["calibration"]["ece"]}.items() <= metrics[-2].items()
    assert metrics[-1]["value"] == section["corruption"]["mean_corruption_accuracy"]
    assert "## Robustness" in body


def test_text_classifier_robustness_has_no_attack_and_token_attributions(nlp_tiny_run):
    from dlsuite.apps.common.robustness import NOT_DIFFERENTIABLE
    from dlsuite.apps.common.runs import evaluate_run  # what `dlsuite evaluate` calls

    path = nlp_tiny_run.run.path
    report = evaluate_run(path, robustness="quick")["robustness"]
    assert report["parameters"]["modality"] == "text"
    assert report["adversarial"]["fgsm"] == {"applicable": False, "reason": NOT_DIFFERENTIABLE}
    assert "adversarial_example" not in report["figures"]
    assert set(report["corruption"]["accuracy"]) == {"typos", "word_drop"}
    assert report["explanations"]["layer"] == "embedding"
    assert (path / "explanations.png").is_file() and (path / "corruption_curves.png").is_file()


def test_no_temperature_is_fitted_on_a_handful_of_validation_examples(tmp_path):
    """Five validation examples, all right, would drive T to its lower bound: none is fitted."""
    from dlsuite.apps.common.calibration import MIN_TEMPERATURE_EXAMPLES
    from dlsuite.apps.common.evaluation import robustness_report
    from dlsuite.apps.speech.models import build_model

    model = build_model("ds_cnn", 1600, 3, frontend={"features": "log_mel"}, seed=0)
    x = np.random.default_rng(0).uniform(-0.5, 0.5, (6, 1600)).astype(np.float32)
    labels = np.array([0, 1, 2, 0, 1, 2])
    report = robustness_report(
        model,
        np.asarray(model(x)),
        labels,
        x,
        ["a", "b", "c"],
        tmp_path,
        level="quick",
        sample_rate=16000,
        validation=[(x[:5], labels[:5])],
    )
    assert report["calibration"]["temperature"] == {
        "fitted": False,
        "reason": (
            "the validation split has 5 examples; a temperature is fitted on at least "
            f"{MIN_TEMPERATURE_EXAMPLES}"
        ),
    }


def test_keyword_spotter_robustness_explains_its_normalised_features(tmp_path):
    from dlsuite.apps.common.evaluation import robustness_report
    from dlsuite.apps.speech.models import build_model

    model = build_model("ds_cnn", 1600, 3, frontend={"features": "log_mel"}, seed=0)
    x = np.random.default_rng(0).uniform(-0.5, 0.5, (6, 1600)).astype(np.float32)
    labels = np.array([0, 1, 2, 0, 1, 2])
    probabilities = np.asarray(model(x))
    report = robustness_report(
        model, probabilities, labels, x, ["a", "b", "c"], tmp_path, level="quick", sample_rate=16000
    )
    assert report["calibration"]["temperature"] == {
        "fitted": False,
        "reason": "no validation split was given",
    }
    assert set(report["corruption"]["accuracy"]) == {"noise", "speed", "band_limit"}
    assert report["adversarial"]["pgd"]["epsilons"] == [0.0, 3e-4, 3e-3]
    assert report["explanations"]["layer"] == "cmvn" and report["explanations"]["num_examples"] == 3
    for name in FIGURES:
        assert (tmp_path / f"{name}.png").is_file()
    with pytest.raises(ValueError, match="sample_rate"):
        robustness_report(model, probabilities, labels, x, ["a", "b", "c"], tmp_path, level="quick")


def test_calibrated_export_serves_temperature_scaled_probabilities(
    robust_run, full_report, tmp_path
):
    """`dlsuite export RUN --calibrate`: the server answers softmax(log(p) / T) of the trained
    model's p, with the validation-fitted T in the manifest; the argmax is unchanged."""
    from dlsuite.apps.common.runs import splits_for_run
    from dlsuite.cli import main

    fit = full_report["robustness"]["calibration"]["temperature"]
    assert fit["fitted"] and fit["temperature"] > 0
    base = tmp_path / "models"
    command = ["export", str(robust_run.run.path), "--name", "cal", "--model-base-path", str(base)]
    assert main([*command, "--manifest-info", str(MANIFEST_INFO), "--calibrate"]) == 0
    manifest = json.loads((base / "cal" / "1" / "assets.extra" / "manifest.json").read_text())
    assert manifest["calibration"]["temperature"] == fit["temperature"]
    images = np.stack(
        [x for x, _ in splits_for_run(robust_run.run.path).test.take(8).as_numpy_iterator()]
    ).astype(np.float32)
    p = np.asarray(robust_run.model(images, training=False), np.float64)
    scaled = np.exp(np.log(np.maximum(p, 1e-30)) / fit["temperature"])
    scaled /= scaled.sum(axis=-1, keepdims=True)
    server = start_server(
        ["--model_name=cal", f"--model_base_path={base / 'cal'}"],
        tmp_path / "server.log",
        ready_model="cal",
    )
    try:
        body = {"signature_name": "predict_images", "instances": images.tolist()}
        answer = requests.post(f"{server.rest}/v1/models/cal:predict", json=body, timeout=60)
    finally:
        server.stop()
    served = np.array([row["probabilities"] for row in answer.json()["predictions"]])
    np.testing.assert_allclose(served, scaled, atol=1e-5)
    assert (served.argmax(-1) == p.argmax(-1)).all()
    assert not np.allclose(served, p, atol=1e-3)  # T != 1 changed the probabilities


def test_calibrate_needs_a_fitted_temperature(tiny_run):
    from dlsuite.apps.common.runs import load_trained_model

    # tiny_run trained with --robustness off: nothing was fitted
    with pytest.raises(ValueError, match="no fitted temperature"):
        load_trained_model(tiny_run.run.path, calibrated=True)
