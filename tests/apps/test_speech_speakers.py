"""``builtin:speakers`` (eight synthetic people) and the leave-one-speaker-out evaluation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dlsuite.apps.speech.config import SpeechConfig


@pytest.fixture(scope="module")
def speaker_data():
    from dlsuite.apps.speech import speakers

    return speakers.load(16000, 16000)


def test_every_speaker_says_every_digit_the_same_number_of_times(speaker_data):
    from dlsuite.apps.speech import speakers

    data = speaker_data
    assert data["audio"].dtype == np.int16 and data["audio"].shape == (2400, 16000)
    names = [s.name for s in speakers.SPEAKERS]
    for name in names:
        labels = data["label"][data["speaker"] == name]
        assert np.bincount(labels, minlength=10).tolist() == [speakers.TAKES] * 10
    # Speech, not noise: the loudest 20 ms frame stands well above the clip's median frame.
    frames = np.square(data["audio"][::97].astype(np.float32) / 32768).reshape(-1, 50, 320)
    energy = frames.mean(axis=2)
    assert np.median(energy.max(axis=1) / np.median(energy, axis=1)) > 5
    again = speakers.load(16000, 16000)  # served from the cache, identical
    np.testing.assert_array_equal(again["audio"], data["audio"])


def test_speakers_differ_by_their_microphones(speaker_data):
    """bruno's telephone band (300-3400 Hz) leaves less of his energy above 4 kHz than anyone's."""
    data = speaker_data

    def high_band_share(name: str) -> float:
        clips = data["audio"][data["speaker"] == name][:60].astype(np.float64)
        power = np.abs(np.fft.rfft(clips, axis=1)) ** 2  # (60, 8001), 1 Hz bins
        return float(power[:, 4000:].sum() / power.sum())

    shares = {name: high_band_share(name) for name in sorted(set(data["speaker"].tolist()))}
    assert min(shares, key=shares.get) == "bruno", shares


def test_splits_hold_out_whole_speakers():
    from dlsuite.apps.speech.data import load_splits

    splits = load_splits(SpeechConfig(data="builtin:speakers"))
    groups = splits.info["groups"]
    assert groups["test"] == ["hugo"]  # the default fold
    assert len(groups["validation"]) == 1 and len(groups["train"]) == 6
    assert not set(groups["train"]) & set(groups["validation"])
    assert splits.sizes == {"train": 1800, "validation": 300, "test": 300}
    emma = load_splits(SpeechConfig(data="builtin:speakers", test_groups=("emma",)))
    assert emma.info["groups"]["test"] == ["emma"] and "hugo" in emma.info["groups"]["train"]
    with pytest.raises(ValueError, match="known groups"):
        load_splits(SpeechConfig(data="builtin:speakers", test_groups=("zoe",)))


def test_leave_one_speaker_out_trains_one_run_per_speaker_and_plots(tmp_path):
    from dlsuite.apps.speech.loso import leave_one_speaker_out, plot_folds

    config = SpeechConfig(
        data="builtin:speakers",
        model="dnn",
        epochs=1,
        max_train_examples=64,
        augment=(),
        verbose=0,
        run_root=str(tmp_path),
    )
    result = leave_one_speaker_out(config, ["ada", "bruno"])
    assert list(result["folds"]) == ["ada", "bruno"]
    for name, fold in result["folds"].items():
        metrics = json.loads(Path(fold["run"], "metrics.json").read_text())
        assert metrics["data"]["groups"]["test"] == [name]
        assert metrics["final"]["test"]["accuracy"] == fold["accuracy"]
    accuracies = [f["accuracy"] for f in result["folds"].values()]
    assert result["mean_accuracy"] == pytest.approx(np.mean(accuracies))
    assert result["min_accuracy"] == min(accuracies)
    png = plot_folds({"tiny": result}, tmp_path / "loso.png", "tiny")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="builtin:speakers"):
        leave_one_speaker_out(SpeechConfig(data="builtin:digits"))
