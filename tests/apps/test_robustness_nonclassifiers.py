"""Robustness of the models that are not classifiers: a CTC recogniser's greedy CER and WER under
the speech corruption suite, an RL policy's return under observation noise and random actions;
in evaluation.json and metrics.json, `dlsuite evaluate --robustness`, the manifest's
``robustness`` section and the HTML card."""

from __future__ import annotations

import json
from collections import namedtuple

import numpy as np
import pytest

from tests.apps.conftest import export_once
from tests.apps.test_rl import TINY_RL, train_tiny_rl


@pytest.fixture(scope="module")
def ctc_run(tmp_path_factory):
    """A 1-epoch CTC recogniser on 16 + 16 spoken phrases, with the default (quick) robustness."""
    from dlsuite.apps.speech.config import SpeechConfig
    from dlsuite.apps.speech.make_folder import write_phrase_folder
    from dlsuite.apps.speech.train import train_and_evaluate

    folder = tmp_path_factory.mktemp("phrases")
    write_phrase_folder(folder, per_split=16)
    config = SpeechConfig(
        model="ctc",
        data=f"dir:{folder}",
        clip_ms=2000,
        features="log_mel",
        epochs=1,
        batch_size=8,
        beam_width=4,
        run_root=str(tmp_path_factory.mktemp("ctc-runs")),
        verbose=0,
    )
    assert config.robustness == "quick"
    return train_and_evaluate(config)


@pytest.fixture(scope="module")
def rl_run(tmp_path_factory):
    """The tiny DQN run of tests/apps/test_rl.py with the quick robustness evaluation."""
    return train_tiny_rl(tmp_path_factory.mktemp("rl-runs"), robustness="quick", gif_episodes=0)


def _check_table(corruption, metric, names, severities):
    """The table of ``metric``: every perturbation at every severity, and its mean."""
    table = corruption[metric]
    assert set(table) == set(names)
    assert all(list(row) == [str(s) for s in severities] for row in table.values())
    values = [v for row in table.values() for v in row.values()]
    assert corruption[f"mean_corruption_{metric}"] == pytest.approx(np.mean(values))


def test_recognizer_run_records_cer_under_corruptions(ctc_run):
    from dlsuite.apps.common.robustness import CORRUPTIONS

    evaluation = json.loads((ctc_run.run.path / "metrics.json").read_text())["evaluation"]
    report = evaluation["robustness"]
    assert ctc_run.metrics["evaluation"] == evaluation  # the report the run returned
    assert report["level"] == "quick" and report["parameters"]["examples"] == 16
    corruption = report["corruption"]
    assert (corruption["metric"], corruption["metrics"]) == ("cer", ["cer", "wer"])
    assert corruption["lower_is_better"] and corruption["num_examples"] == 16
    for metric in ("cer", "wer"):
        _check_table(corruption, metric, CORRUPTIONS["speech"], (1, 3, 5))
    # Severity 0 is the clean greedy transcript of the same 16 clips: the run's own figures.
    assert corruption["clean_cer"] == pytest.approx(evaluation["cer_greedy"], abs=1e-9)
    assert corruption["clean_wer"] == pytest.approx(evaluation["wer_greedy"], abs=1e-9)
    assert corruption["parameters"]["noise"]["values"] == [20.0, 15.0, 10.0, 5.0, 0.0]
    assert not report["adversarial"]["applicable"] and "CTC" in report["adversarial"]["reason"]
    assert not report["explanations"]["applicable"]
    assert (ctc_run.run.path / report["figures"]["corruption_curves"]).stat().st_size > 5000


def test_recognizer_robustness_is_seeded(ctc_run, tmp_path):
    from dlsuite.apps.common.runs import run_config, splits_for_run
    from dlsuite.apps.speech import ctc
    from dlsuite.apps.speech.train import recognizer_robustness

    clips = list(splits_for_run(ctc_run.run.path).test.as_numpy_iterator())
    waveforms = np.stack([x for x, _ in clips])
    references = [ctc.decode_ids(y) for _, y in clips]
    sample_rate = run_config(ctc_run.run.path).sample_rate
    again = recognizer_robustness(
        ctc_run.model, waveforms, references, tmp_path, level="quick", sample_rate=sample_rate
    )["corruption"]
    report = ctc_run.metrics["evaluation"]["robustness"]["corruption"]
    assert (again["cer"], again["wer"]) == (report["cer"], report["wer"])
    assert (tmp_path / "corruption_curves.png").is_file()


def test_evaluate_robustness_of_a_recognizer_and_its_manifest_and_card(ctc_run, tmp_path_factory):
    from dlsuite.cli import main
    from dlsuite.serving.manifest.card import model_card
    from dlsuite.serving.manifest.integrity import load_manifest, resolve_manifest_path
    from dlsuite.serving.manifest.schema import validate_manifest

    assert main(["evaluate", str(ctc_run.run.path), "--robustness"]) == 0  # full
    report = json.loads((ctc_run.run.path / "evaluation.json").read_text())["robustness"]
    assert report["level"] == "full" and report["corruption"]["severities"] == [1, 2, 3, 4, 5]

    version = export_once(ctc_run, "asr", tmp_path_factory)
    manifest = load_manifest(resolve_manifest_path(version))
    assert validate_manifest(manifest) == []
    section = manifest["robustness"]
    assert section["level"] == "full" and "calibration" not in section
    assert section["corruption"]["cer"] == report["corruption"]["cer"]
    assert "robustness" in manifest["provenance"]["recorded_from_run"]
    broken = {**manifest, "robustness": {**section, "corruption": {**section["corruption"]}}}
    del broken["robustness"]["corruption"]["clean_cer"]
    assert any("robustness" in line for line in validate_manifest(broken))

    html = model_card(version)
    assert "<h2>Robustness</h2>" in html and "Expected calibration error" not in html
    assert "Clean cer" in html and "Mean corruption wer" in html and "severity 5" in html
    assert "corruption_curves.png" in html and "a CTC recogniser emits a transcript" in html
    _check_hugging_face_card(manifest, ["cer", "wer"])


def test_perturbed_actions_are_seeded_and_severity_zero_is_the_policy():
    from dlsuite.apps.rl.evaluation import perturbed_action_fn

    Step = namedtuple("Step", "observation")
    observations = np.arange(8 * 4, dtype=np.float32).reshape(8, 4)
    seen = []

    def policy(time_step):
        seen.append(np.asarray(time_step.observation))
        return np.zeros(len(time_step.observation), dtype=np.int64)

    for value in (0.0, 0.5):
        first, second = (
            perturbed_action_fn(policy, "observation_noise", value, 2, (0, 0, 1)) for _ in range(2)
        )
        first(Step(observations)), second(Step(observations))
        np.testing.assert_array_equal(seen[-2], seen[-1])  # the same seed, the same noise
        assert np.std(seen[-1] - observations) == pytest.approx(value, abs=0.15)
    assert seen[-1].dtype == np.float32
    # epsilon 0 keeps every action; epsilon 1 draws uniformly from the two actions.
    kept = perturbed_action_fn(policy, "action_noise", 0.0, 2, (0, 1, 1))(Step(observations))
    np.testing.assert_array_equal(kept, np.zeros(8))
    random = perturbed_action_fn(policy, "action_noise", 1.0, 2, (0, 1, 1))
    actions = np.concatenate([random(Step(observations)) for _ in range(100)])
    assert set(actions.tolist()) == {0, 1} and abs(actions.mean() - 0.5) < 0.05
    assert actions.dtype == np.int64
    with pytest.raises(ValueError, match="`perturbation` expected one of"):
        perturbed_action_fn(policy, "reward_noise", 0.1, 2, (0,))


def test_rl_robustness_option_is_checked(capsys):
    from dlsuite.apps.rl.config import PRESETS, RLConfig
    from dlsuite.apps.rl.train import robustness_level

    assert RLConfig().robustness == "quick" and PRESETS["dqn-pong"].robustness == "off"
    with pytest.raises(ValueError, match="`robustness` expected one of"):
        RLConfig(robustness="thorough")
    assert robustness_level(RLConfig(), "full") == "full"
    with pytest.raises(ValueError, match="`robustness` expected one of"):
        robustness_level(RLConfig(), "some")
    # Atari: not measured (the perturbation levels are CartPole's), and said so
    assert robustness_level(RLConfig(env="ALE/Pong-v5"), "quick") == "off"
    assert "not measured for ALE/Pong-v5" in capsys.readouterr().out


def test_policy_run_records_return_under_perturbations(rl_run):
    from dlsuite.apps.rl.evaluation import PERTURBATIONS
    from dlsuite.apps.rl.train import evaluate_run

    evaluation = json.loads((rl_run.run.path / "metrics.json").read_text())["evaluation"]
    report = evaluation["robustness"]
    assert rl_run.metrics["evaluation"] == evaluation
    corruption = report["corruption"]
    assert (corruption["metric"], corruption["modality"]) == ("average_return", "policy")
    assert not corruption["lower_is_better"] and corruption["num_examples"] == 5
    _check_table(corruption, "average_return", PERTURBATIONS, (1, 3, 5))
    # Severity 0: the final evaluation's 5 episodes, played again unperturbed.
    assert corruption["clean_average_return"] == evaluation["average_return"]
    assert corruption["parameters"]["action_noise"]["values"] == list(PERTURBATIONS["action_noise"])
    assert not report["adversarial"]["applicable"] and not report["explanations"]["applicable"]
    assert (rl_run.run.path / "corruption_curves.png").stat().st_size > 5000
    # The same seeds and the restored best policy give the same table again.
    again = evaluate_run(rl_run.run.path, robustness="quick")["robustness"]["corruption"]
    assert again["average_return"] == corruption["average_return"]
    assert TINY_RL["final_eval_episodes"] == 5


def test_policy_manifest_robustness_section_and_card(rl_run, tmp_path_factory):
    from dlsuite.serving.manifest.card import model_card
    from dlsuite.serving.manifest.integrity import load_manifest, resolve_manifest_path
    from dlsuite.serving.manifest.schema import validate_manifest

    version = export_once(rl_run, "cartpole-robust", tmp_path_factory)
    manifest = load_manifest(resolve_manifest_path(version))
    assert validate_manifest(manifest) == []
    section = manifest["robustness"]
    report = json.loads((rl_run.run.path / "evaluation.json").read_text())["robustness"]
    assert section["corruption"] == report["corruption"]
    assert section["adversarial"] == report["adversarial"]
    html = model_card(version)
    assert "Clean average return" in html and "observation_noise" in html
    assert "Better" in html and "higher" in html
    _check_hugging_face_card(manifest, ["average_return"])


def _check_hugging_face_card(manifest, metrics):
    """The Hugging Face card lists each metric's mean under the perturbations in model-index and
    has a Robustness section without a classifier's ECE."""
    from dlsuite.serving.manifest.cards import (
        check_hugging_face_metadata,
        hugging_face_card,
        split_front_matter,
    )

    meta, body = split_front_matter(hugging_face_card(manifest))
    assert check_hugging_face_metadata(meta) == []
    listed = [m["type"] for r in meta["model-index"][0]["results"] for m in r["metrics"]]
    assert all(metric in listed for metric in metrics) and "ece" not in listed
    assert "## Robustness" in body and "Expected calibration error" not in body
