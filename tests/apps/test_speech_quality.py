"""Speech quality bars, measured on held-out voices: DS-CNN on eSpeak NG spoken digits and its
int8 TFLite form; the CTC recogniser on eSpeak NG spoken phrases, its SavedModel and its float
TFLite form."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.quality
MANIFEST_INFO = Path(__file__).resolve().parents[2] / "docs" / "manifest_example.yaml"


@pytest.fixture(scope="module")
def kws_run(tmp_path_factory):
    """The quality-bar run exactly as a user types it;
    returns ``(run_dir, metrics, wall_clock_s)``."""
    from dlsuite.cli import main

    root = tmp_path_factory.mktemp("speech-quality")
    start = time.perf_counter()
    code = main(
        [
            "train",
            "speech",
            "--model",
            "ds_cnn",
            "--data",
            "builtin:digits",
            "--run-root",
            str(root),
            "--verbose",
            "0",
        ]
    )
    elapsed = time.perf_counter() - start
    assert code == 0
    (run_dir,) = (root / "speech").iterdir()
    return run_dir, json.loads((run_dir / "metrics.json").read_text()), elapsed


def test_ds_cnn_on_builtin_digits_reaches_95_percent_on_held_out_voices(kws_run):
    run_dir, metrics, wall_clock_s = kws_run
    assert metrics["evaluation"]["split"] == "test"
    assert metrics["data"]["splits"]["test"] == 360  # 12 voices never heard in training
    assert metrics["evaluation"]["accuracy"] >= 0.95, metrics["evaluation"]


def test_int8_ds_cnn_agrees_with_the_saved_model(kws_run, tmp_path):
    import keras

    from dlsuite import core_layers  # noqa: F401
    from dlsuite.apps.common.export import export_run
    from dlsuite.apps.common.runs import dataset_for_run
    from dlsuite.apps.speech.export import split_front_end
    from dlsuite.serving.tflite_convert import convert_version

    run_dir, _, _ = kws_run
    version = export_run(run_dir, model_base_path=tmp_path, name="kws", manifest_info=MANIFEST_INFO)
    front_end, _ = split_front_end(keras.saving.load_model(run_dir / "model.keras", compile=False))

    def features(split: str, count: int) -> np.ndarray:
        waveforms = np.stack(
            [w for w, _ in dataset_for_run(run_dir, split).take(count).as_numpy_iterator()]
        )
        return front_end.predict(waveforms, verbose=0)

    report = convert_version(
        version,
        output_dir=tmp_path / "tflite",
        signature="predict_features",
        quantize="int8",
        representative_examples=features("train", 200),
        check_examples=features("test", 360),
    )
    assert report["check"]["num_examples"] == 360
    assert report["check"]["top1_agreement"] >= 0.97, report["check"]
    assert report["tflite_bytes"] < 60_000, report["tflite_bytes"]


@pytest.fixture(scope="module")
def ctc_run(tmp_path_factory):
    """The recognition quality-bar run exactly as a user types it;
    returns ``(run_dir, metrics, wall_clock_s)``."""
    from dlsuite.cli import main

    root = tmp_path_factory.mktemp("ctc-quality")
    start = time.perf_counter()
    code = main(
        ["train", "speech", "--preset", "ctc-phrases", "--run-root", str(root), "--verbose", "0"]
    )
    elapsed = time.perf_counter() - start
    assert code == 0
    (run_dir,) = (root / "speech").iterdir()
    return run_dir, json.loads((run_dir / "metrics.json").read_text()), elapsed


def test_ctc_on_builtin_phrases_reaches_cer_15_percent_on_held_out_voices(ctc_run):
    run_dir, metrics, wall_clock_s = ctc_run
    evaluation = metrics["evaluation"]
    assert (
        metrics["model"] == "ctc" and metrics["data"]["splits"]["test"] == 360
    )  # 12 voices never heard in training
    print(
        f"CTC on builtin:phrases, held-out voices: CER greedy {evaluation['cer_greedy']:.4f}, beam "
        f"{evaluation['cer_beam_search']:.4f}; WER greedy {evaluation['wer_greedy']:.4f}, beam "
        f"{evaluation['wer_beam_search']:.4f}; training {metrics['wall_time_s']:.0f}s, "
        f"command {wall_clock_s:.0f}s"
    )
    assert min(evaluation["cer_greedy"], evaluation["cer_beam_search"]) <= 0.15, evaluation


def test_served_recognizer_transcribes_wav_files_like_the_model_and_converts_to_tflite(
    ctc_run, tmp_path
):
    import tensorflow as tf

    from dlsuite.apps.common.export import export_run
    from dlsuite.apps.common.runs import dataset_for_run, load_trained_model
    from dlsuite.apps.speech import ctc
    from dlsuite.apps.speech.audio import decode_wav, encode_wav
    from dlsuite.apps.speech.error_rates import character_error_rate
    from dlsuite.serving.tflite_convert import convert_version

    run_dir, _, _ = ctc_run
    version = export_run(run_dir, model_base_path=tmp_path, name="asr", manifest_info=MANIFEST_INFO)
    clips, ids = zip(*dataset_for_run(run_dir, "test").take(100).as_numpy_iterator(), strict=True)
    references = [ctc.decode_ids(row) for row in ids]
    wavs = [encode_wav(c, 16000) for c in clips]
    served = tf.saved_model.load(str(version)).signatures["serving_default"](
        audio=tf.constant(wavs)
    )
    served = [t.decode() for t in served["transcript"].numpy()]
    decoded = np.stack(
        [decode_wav(w, 16000, 32000).numpy() for w in wavs]
    )  # what the server decoded
    model = load_trained_model(run_dir)
    assert served == [t.decode() for t in ctc.transcribe(model.predict(decoded, verbose=0)).numpy()]
    assert character_error_rate(references, served) <= 0.15
    report = convert_version(
        version,
        output_dir=tmp_path / "tflite",
        signature="predict_probabilities",
        quantize="none",
        check_examples=list(clips[:50]),
    )
    assert report["check"]["top1_agreement"] >= 0.99, report["check"]  # per frame
    assert report["inputs"] == {"waveform": {"shape": [-1, 32000], "dtype": "float32"}}


def test_ds_cnn_recognises_speakers_it_never_heard(tmp_path):
    """Leave-one-speaker-out on ``builtin:speakers`` with the defaults, on two hard folds.

    Before issue 20 (MFCC front end; shift and SpecAugment) the DS-CNN scored 48.0% on ada and
    66.7% on emma (mean 57.3%, `benchmarks/speaker_independence.py`); the bar is 15 points above.
    """
    from dlsuite.apps.speech.config import SpeechConfig
    from dlsuite.apps.speech.loso import leave_one_speaker_out

    config = SpeechConfig(data="builtin:speakers", verbose=0, run_root=str(tmp_path))
    result = leave_one_speaker_out(config, ["ada", "emma"])
    assert result["mean_accuracy"] >= 0.573 + 0.15, result
