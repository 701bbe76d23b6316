"""Speech app: front end against librosa/scipy, data sources, models, export and serving."""

from __future__ import annotations

import base64
import io
import wave
from pathlib import Path

import numpy as np
import pytest

from dlsuite.apps.speech.config import SpeechConfig

MANIFEST_INFO = Path(__file__).resolve().parents[2] / "docs" / "manifest_example.yaml"
TINY = dict(
    model="ds_cnn",
    data="builtin:digits",
    epochs=2,
    batch_size=32,
    max_train_examples=96,
    verbose=0,
    seed=3,
    robustness="off",  # its tests do not check the robustness evaluation
)


def _wav_bytes(samples: np.ndarray, rate: int) -> bytes:
    """16-bit PCM WAV bytes of float samples (N,) or (N, channels), written with the stdlib."""
    pcm = np.round(np.clip(samples, -1, 1) * 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1 if pcm.ndim == 1 else pcm.shape[1])
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())
    return buffer.getvalue()


def _top2_gap(probabilities: np.ndarray) -> np.ndarray:
    """(N, K) -> (N,) difference between the two largest probabilities."""
    top = np.sort(probabilities, axis=-1)
    return top[:, -1] - top[:, -2]


# ------------------------------------------------------------------------------- front end


@pytest.mark.parametrize("htk", [False, True])
def test_mel_filterbank_matches_librosa(htk):
    import librosa

    from dlsuite.core_layers.log_mel_spectrogram import mel_filterbank

    ours = mel_filterbank(16000, 512, 40, 20.0, 7600.0, htk=htk, slaney_norm=not htk)
    reference = librosa.filters.mel(
        sr=16000,
        n_fft=512,
        n_mels=40,
        fmin=20.0,
        fmax=7600.0,
        htk=htk,
        norm=None if htk else "slaney",
    ).T
    assert ours.shape == (257, 40)
    np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-6 * reference.max())


def test_log_mel_and_stft_match_librosa_on_speech():
    import librosa

    from dlsuite.apps.speech import synth
    from dlsuite.core_layers import LogMelSpectrogram, STFTMagnitude

    speech = (
        synth.synthesize("seven", voice="en-us+f2")[:16000].astype(np.float32) / 32768.0
    )  # real speech
    x = np.pad(speech, (0, 16000 - len(speech)))[None, :]
    stft = STFTMagnitude(frame_length_ms=32, frame_step_ms=10)(x).numpy()[0]  # 512-sample frames
    reference = np.abs(librosa.stft(x[0], n_fft=512, hop_length=160, window="hann", center=False)).T
    assert stft.shape == reference.shape == (97, 257)
    np.testing.assert_allclose(stft, reference, atol=2e-3 * reference.max())
    ours = LogMelSpectrogram(frame_length_ms=32, frame_step_ms=10, num_mel_bins=40, fmin=20.0)(
        x
    ).numpy()[0]
    mel = librosa.feature.melspectrogram(
        y=x[0],
        sr=16000,
        n_fft=512,
        hop_length=160,
        center=False,
        n_mels=40,
        fmin=20.0,
        power=2.0,
        window="hann",
    )
    reference = np.log(mel + 1e-6).T
    loud = reference > np.log(1e-3)  # compare where there is energy (the log of ~0 is all rounding)
    assert loud.mean() > 0.1
    assert np.abs(ours - reference)[loud].max() < 1e-2


def test_mfcc_equals_tf_signal_mfccs_and_spec_augment_masks_only_in_training():
    import tensorflow as tf

    from dlsuite.core_layers import MFCC, SpecAugment

    mfcc = MFCC(num_mfcc=10, frame_length_ms=40, frame_step_ms=20)
    x = np.random.default_rng(1).standard_normal((2, 16000)).astype(np.float32) * 0.1
    features = mfcc(x).numpy()
    assert features.shape == (2, 49, 10)
    reference = tf.signal.mfccs_from_log_mel_spectrograms(mfcc.log_mel(x))[..., :10].numpy()
    np.testing.assert_allclose(features, reference, atol=1e-5 * np.abs(reference).max())
    layer = SpecAugment(
        freq_mask_param=8, num_freq_masks=2, time_mask_param=10, num_time_masks=2, seed=4
    )
    ones = np.ones((64, 49, 40), np.float32)
    np.testing.assert_array_equal(layer(ones, training=False), ones)
    masked = layer(ones, training=True).numpy() == 0
    fraction = masked.mean()
    # Expected masked share: 1 - (1 - ~8/49)(1 - ~8/40) ~ 0.3; per example some, never everything.
    assert 0.15 < fraction < 0.45, fraction
    assert masked.any(axis=(1, 2)).mean() > 0.9 and not masked.all(axis=(1, 2)).any()
    freq_masked = masked.all(axis=1)  # (B, F) whole channels masked
    assert (freq_masked.sum(axis=1) <= 16).all()


def test_resampler_matches_scipy_and_wav_decoding_handles_rate_and_channels():
    from scipy.signal import resample_poly

    from dlsuite.apps.speech.audio import decode_wav, resample

    t = np.arange(44100) / 44100
    tone = (0.5 * np.sin(2 * np.pi * 440 * t) + 0.3 * np.sin(2 * np.pi * 3000 * t)).astype(
        np.float32
    )
    ours = resample(tone, 44100, 16000).numpy()
    reference = resample_poly(tone, 160, 441)
    assert ours.shape == (16000,)
    assert np.abs(ours - reference)[100:-100].max() < 3e-3
    stereo = np.stack([tone, tone], axis=1)
    decoded = decode_wav(_wav_bytes(stereo, 44100), 16000, 12000).numpy()  # cropped to 12000
    assert decoded.shape == (12000,)
    assert np.abs(decoded - reference[:12000])[100:-100].max() < 3e-3
    padded = decode_wav(
        _wav_bytes(tone[:8000], 8000), 16000, 16000
    ).numpy()  # upsampled, zero-padded
    assert (
        padded.shape == (16000,)
        and np.all(padded[16100 - 100 :] == 0)
        and np.abs(padded[:15000]).max() > 0.3
    )


# ------------------------------------------------------------------------------- data


@pytest.fixture(scope="module")
def digit_splits():
    from dlsuite.apps.speech.data import load_splits

    return load_splits(SpeechConfig())


def test_builtin_digits_are_real_speech_with_held_out_voices(digit_splits):
    from dlsuite.apps.speech import digits

    splits = digit_splits
    assert splits.class_names == list(digits.WORDS)
    assert splits.sizes == {"train": 1296, "validation": 144, "test": 360}
    assert "f4" in splits.info["preprocessing"] and "m7" in splits.info["preprocessing"]
    data = digits.load(16000, 16000)
    assert data["audio"].dtype == np.int16 and data["audio"].shape == (1800, 16000)
    train_voices = set(data["voice"][~data["held_out"]])
    test_voices = set(data["voice"][data["held_out"]])
    assert len(train_voices) == 48 and len(test_voices) == 12 and not train_voices & test_voices
    assert not any(
        v.endswith(("+m7", "+f4")) for v in train_voices
    )  # held-out variants never in training
    waveform, label = next(iter(splits.test))
    assert waveform.shape == (16000,) and waveform.dtype == "float32" and 0 <= int(label) < 10
    # Speech, not noise: energy concentrated in a few hundred milliseconds of each clip.
    frames = (
        np.square(data["audio"][:50].astype(np.float32) / 32768).reshape(50, 50, 320).mean(axis=2)
    )
    assert np.median(frames.max(axis=1) / np.median(frames, axis=1)) > 10
    again = digits.load(16000, 16000)  # served from the cache, identical
    np.testing.assert_array_equal(again["audio"], data["audio"])


def test_tfds_speech_commands_loads_with_real_loading_code(tmp_path):
    import tensorflow_datasets as tfds

    from dlsuite.apps.speech.data import load_splits

    with tfds.testing.mock_data(num_examples=6, data_dir=str(tmp_path)):
        splits = load_splits(SpeechConfig(data="tfds:speech_commands", data_dir=str(tmp_path)))
        assert len(splits.class_names) == 12 and splits.info["kind"] == "tfds"
        waveform, label = next(iter(splits.train))
        assert waveform.shape == (16000,) and waveform.dtype == "float32"
        assert float(np.abs(waveform.numpy()).max()) <= 1.0 and 0 <= int(label) < 12


def test_tfds_speech_commands_training_runs_offline(tmp_path):
    import tensorflow_datasets as tfds

    from dlsuite.apps.speech.train import train_and_evaluate

    with tfds.testing.mock_data(num_examples=16, data_dir=str(tmp_path / "tfds")):
        result = train_and_evaluate(
            SpeechConfig(
                **{
                    **TINY,
                    "data": "tfds:speech_commands",
                    "epochs": 1,
                    "batch_size": 8,
                    "max_train_examples": 16,
                },
                data_dir=str(tmp_path / "tfds"),
                run_root=str(tmp_path),
            )
        )
    metrics = result.metrics
    assert metrics["data"]["source"] == "tfds:speech_commands" and metrics["data"][
        "input_shape"
    ] == [16000]
    assert len(metrics["data"]["class_names"]) == 12 and metrics["examples_seen"] == 16
    assert np.isfinite(metrics["final"]["test"]["loss"])


def test_wav_folders_at_any_sample_rate(tmp_path):
    from dlsuite.apps.speech.data import load_splits

    rates = {"high": 44100, "low": 8000}
    for name, rate in rates.items():
        (tmp_path / name).mkdir()
        for i in range(5):
            t = np.arange(rate // 2) / rate
            tone = 0.4 * np.sin(2 * np.pi * (300 if name == "low" else 1200) * t)
            (tmp_path / name / f"{i}.wav").write_bytes(_wav_bytes(tone, rate))
    splits = load_splits(
        SpeechConfig(data=f"dir:{tmp_path}", test_fraction=0.2, validation_fraction=0.2)
    )
    assert splits.class_names == ["high", "low"]
    assert sum(splits.sizes.values()) == 10
    for waveform, label in splits.train.concatenate(splits.test):
        spectrum = np.abs(np.fft.rfft(waveform.numpy()[:8000]))
        peak_hz = np.argmax(spectrum) * 16000 / 8000
        assert peak_hz == pytest.approx(1200 if int(label) == 0 else 300, abs=4)
        assert np.all(waveform.numpy()[8200:] == 0)  # half a second of audio, zero-padded to 1 s


def test_augmentation_shifts_and_adds_noise():
    import keras
    import tensorflow as tf

    from dlsuite.apps.speech.augment import augmentation

    keras.utils.set_random_seed(
        0
    )  # op seeds combine with the global seed, which other tests change
    x = np.zeros((64, 16000), np.float32)
    x[:, 8000:8100] = 0.5
    shifted = augmentation(SpeechConfig(augment=("shift",), time_shift_ms=100))(
        tf.constant(x)
    ).numpy()
    starts = np.argmax(shifted > 0.25, axis=1)
    assert np.all(np.abs(starts - 8000) <= 1600) and len(set(starts.tolist())) > 1
    noisy = augmentation(SpeechConfig(augment=("noise",), noise_snr_db=10))(tf.constant(x)).numpy()
    changed = np.abs(noisy - x).max(axis=1) > 0
    assert 38 <= changed.sum() <= 62  # noise on about 80% of clips (51 of 64 expected)
    snr = 10 * np.log10(np.mean(x[changed] ** 2) * 4 / np.mean((noisy - x)[changed] ** 2))
    assert 8 < snr < 32, snr


# ------------------------------------------------------------------------------- models


@pytest.mark.parametrize("name", ["dnn", "cnn", "ds_cnn", "bilstm_attention"])
def test_model_builds_from_waveform_saves_and_trains(name, tmp_path):
    from dlsuite.apps.speech.export import split_front_end
    from dlsuite.apps.speech.models import build_model
    from tests.core_layers.layer_checks import check_keras_round_trip, check_training_step

    model = build_model(name, 8000, 3, frontend={"sample_rate": 16000})
    assert model.name == name and model.inputs[0].shape == (None, 8000)
    x = np.random.default_rng(0).standard_normal((4, 8000)).astype(np.float32) * 0.1
    probabilities = model(x).numpy()
    assert probabilities.shape == (4, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    front_end, body = split_front_end(
        model
    )  # the int8 TFLite cut: normalized features -> probabilities
    # The default front end's only weights are PCEN's alpha, delta, r and smoother (40 mel bins).
    assert front_end.count_params() == 4 * 40
    assert body.count_params() + front_end.count_params() == model.count_params()
    np.testing.assert_allclose(body(front_end(x)).numpy(), probabilities, atol=1e-6)
    check_keras_round_trip(model, x, tmp_path)
    check_training_step(model, x, targets=np.eye(3, dtype=np.float32)[[0, 1, 2, 0]])


def test_unknown_model_and_bad_config_are_errors():
    from dlsuite.apps.speech.models import build_model

    with pytest.raises(ValueError, match="Known models: dnn, cnn, ds_cnn, bilstm_attention"):
        build_model("wav2vec", 16000, 10)
    with pytest.raises(ValueError, match="augment expected"):
        SpeechConfig(augment=("mixup",))
    with pytest.raises(ValueError, match="num_mfcc expected at most"):
        SpeechConfig(num_mfcc=50, num_mel_bins=40)


# ------------------------------------------------------------------------------- run, export, serve


@pytest.fixture(scope="module")
def tiny_speech_run(tmp_path_factory):
    from dlsuite.apps.speech.train import train_and_evaluate

    return train_and_evaluate(SpeechConfig(**TINY, run_root=str(tmp_path_factory.mktemp("runs"))))


@pytest.fixture(scope="module")
def exported(tiny_speech_run, tmp_path_factory):
    from dlsuite.apps.common.export import export_run

    base = tmp_path_factory.mktemp("repo")
    return export_run(
        tiny_speech_run.run.path, model_base_path=base, name="kws", manifest_info=MANIFEST_INFO
    )


def test_tiny_run_writes_metrics(tiny_speech_run):
    metrics = tiny_speech_run.metrics
    assert metrics["app"] == "speech" and metrics["model"] == "ds_cnn"
    assert metrics["data"]["splits"]["test"] == 360 and metrics["examples_seen"] == 192
    assert metrics["evaluation"]["num_examples"] == 360
    assert 20_000 < metrics["num_params"] < 30_000 and metrics["flops_per_example"] > 1e6


def test_export_signatures_match_the_keras_model(tiny_speech_run, exported):
    import tensorflow as tf

    from dlsuite.apps.common.explain import explain_function
    from dlsuite.apps.common.runs import splits_for_run
    from dlsuite.apps.speech.audio import encode_wav
    from dlsuite.serving.warmup import read_warmup_requests

    splits = splits_for_run(tiny_speech_run.run.path)
    clips, labels = zip(*splits.test.take(5).as_numpy_iterator(), strict=True)
    clips = np.stack(clips)
    expected = tiny_speech_run.model.predict(clips, verbose=0)
    loaded = tf.saved_model.load(str(exported))
    assert set(loaded.signatures) == {
        "serving_default",
        "predict_waveform",
        "predict_features",
        "detect_keywords",
        "detect_keywords_wav",
        "compute_features",
        "explain",
    }
    floats = loaded.signatures["predict_waveform"](waveform=tf.constant(clips))
    np.testing.assert_allclose(floats["scores"].numpy(), expected, atol=1e-5)
    assert floats["labels"].numpy().astype(str).tolist() == [
        splits.class_names[i] for i in expected.argmax(-1)
    ]
    wavs = [encode_wav(c, 16000) for c in clips]
    from_wav = loaded.signatures["serving_default"](audio=tf.constant(wavs))
    np.testing.assert_allclose(
        from_wav["scores"].numpy(), expected, atol=2e-3
    )  # 16-bit PCM rounding
    clear = _top2_gap(expected) > 5e-3  # the argmax of a near tie may flip with the rounding
    np.testing.assert_array_equal(from_wav["class_ids"].numpy()[clear], expected.argmax(-1)[clear])
    assert len(list(read_warmup_requests(exported))) == 5
    # explain: integrated gradients on the normalised features, as explain_function computes them
    explained = loaded.signatures["explain"](waveform=tf.constant(clips[:2]))
    reference = explain_function(tiny_speech_run.model, layer="cmvn")(tf.constant(clips[:2]))
    assert explained["attributions"].shape == (
        2,
        *tiny_speech_run.model.get_layer("cmvn").output.shape[1:],
    )
    np.testing.assert_allclose(
        explained["attributions"].numpy(), reference["attributions"].numpy(), atol=1e-5
    )
    # Streaming: a 5 s recording of the clips one after another; windows every 250 ms, so the
    # windows at 0, 1, 2, ... s are exactly the clips.
    stream = loaded.signatures["detect_keywords"](waveform=tf.constant(clips.reshape(1, -1)))
    starts = stream["window_start_s"].numpy()[0]
    assert len(starts) == 20 and starts[4] == pytest.approx(1.0)
    np.testing.assert_array_equal(stream["window_class_ids"].numpy()[0, ::4], expected.argmax(-1))
    np.testing.assert_allclose(stream["window_scores"].numpy()[0, ::4], expected.max(-1), atol=1e-5)


def test_detect_keywords_takes_wav_files_of_any_length_and_rate(tiny_speech_run, exported):
    import tensorflow as tf

    from dlsuite.apps.common.runs import splits_for_run
    from dlsuite.apps.speech.audio import decode_wav_any_length

    clips = np.stack(
        [c for c, _ in splits_for_run(tiny_speech_run.run.path).test.take(5).as_numpy_iterator()]
    )
    recording = _wav_bytes(clips.reshape(-1), 16000)  # 5 s, the clips one after another
    short = _wav_bytes(clips[0, ::2], 8000)  # 1 s at 8 kHz: resampled in the graph
    loaded = tf.saved_model.load(str(exported))
    both = loaded.signatures["detect_keywords_wav"](audio=tf.constant([recording, short]))
    floats = loaded.signatures["detect_keywords"](
        waveform=decode_wav_any_length(recording, 16000)[None, :]
    )
    for key in ("window_start_s", "window_class_ids", "window_scores"):
        np.testing.assert_allclose(both[key].numpy()[0], floats[key].numpy()[0], atol=1e-6)
    assert both["window_start_s"].shape == (2, 20)  # the short file is zero-padded to the long one
    alone = loaded.signatures["detect_keywords_wav"](audio=tf.constant([short]))
    assert alone["window_start_s"].shape == (1, 4)  # 1 s in 250 ms hops
    np.testing.assert_array_equal(
        alone["window_class_ids"].numpy()[0, 0], both["window_class_ids"].numpy()[1, 0]
    )


def test_convert_calibrates_int8_predict_features_on_features_from_the_front_end(
    tiny_speech_run, exported, tmp_path
):
    import json

    import tensorflow as tf

    from dlsuite.apps.common.runs import splits_for_run
    from dlsuite.cli import main

    assert (
        main(
            [
                "convert",
                str(exported),
                "--signature",
                "predict_features",
                "--quantize",
                "int8",
                "--num-check",
                "40",
                "--num-representative",
                "40",
                "--output",
                str(tmp_path),
            ]
        )
        == 0
    )
    report = json.loads((tmp_path / "report.json").read_text())["int8"]
    assert report["inputs"] == {"features": {"shape": [-1, 49, 40], "dtype": "float32"}}
    assert report["representative_examples"] == 40 and report["check"]["num_examples"] == 40
    # The examples were the run's waveforms through the version's compute_features signature.
    waveforms = np.stack(
        [w for w, _ in splits_for_run(tiny_speech_run.run.path).test.take(3).as_numpy_iterator()]
    )
    features = tf.saved_model.load(str(exported)).signatures["compute_features"](
        waveform=tf.constant(waveforms)
    )
    from dlsuite.serving.tflite_from_run import examples_for_signature

    np.testing.assert_allclose(
        examples_for_signature(exported, "predict_features", list(waveforms)),
        features["features"].numpy(),
        atol=1e-6,
    )
    with pytest.raises(ValueError, match="no signature of .* computes 'features'"):
        examples_for_signature(exported, "predict_features", [np.zeros(123, np.float32)])


def test_front_end_alone_converts_to_a_small_float_tflite_model(exported, tmp_path):
    """The device pipeline beside the int8 network: compute_features as its own float
    TFLite model."""
    import json

    from dlsuite.cli import main

    assert (
        main(
            [
                "convert",
                str(exported),
                "--signature",
                "compute_features",
                "--quantize",
                "none",
                "--num-check",
                "20",
                "--output",
                str(tmp_path),
            ]
        )
        == 0
    )
    report = json.loads((tmp_path / "report.json").read_text())["none"]
    assert report["inputs"]["waveform"]["dtype"] == "float32"
    assert report["check"]["num_examples"] == 20 and report["check"]["max_abs_diff"] < 1e-3
    model = next(tmp_path.glob("*.tflite"))
    # the mel filterbank (513 x 40), framing and PCEN (its smoother a 49 x 49 matrix): no network
    assert model.stat().st_size < 150_000


@pytest.mark.slow
def test_served_model_answers_rest_with_wav_bytes(tiny_speech_run, exported, tmp_path):
    import requests

    from dlsuite.apps.common.runs import splits_for_run
    from dlsuite.apps.speech.audio import encode_wav
    from tests.serving.conftest import start_server

    clips = np.stack(
        [c for c, _ in splits_for_run(tiny_speech_run.run.path).test.take(3).as_numpy_iterator()]
    )
    expected = tiny_speech_run.model.predict(clips, verbose=0)
    server = start_server(
        ["--model_name=kws", f"--model_base_path={exported.parent}"],
        tmp_path / "server.log",
        ready_model="kws",
    )
    try:
        body = {
            "instances": [{"b64": base64.b64encode(encode_wav(c, 16000)).decode()} for c in clips]
        }
        answer = requests.post(f"{server.rest}/v1/models/kws:predict", json=body, timeout=60).json()
    finally:
        server.stop()
    predictions = answer["predictions"]
    np.testing.assert_allclose([p["scores"] for p in predictions], expected, atol=2e-3)
    names = tiny_speech_run.metrics["data"]["class_names"]
    for prediction, probabilities in zip(predictions, expected, strict=True):
        assert prediction["labels"] == names[prediction["class_ids"]]
        if (
            _top2_gap(probabilities[None])[0] > 5e-3
        ):  # the argmax of a near tie may flip with 16-bit rounding
            assert prediction["class_ids"] == int(probabilities.argmax())


def test_cli_trains_evaluates_and_exports_from_a_wav_folder(tmp_path):
    """The worked example of docs/speech.md on a small folder: train, evaluate, export
    from the CLI."""
    import json

    from dlsuite.apps.speech.make_folder import write_folder
    from dlsuite.cli import main

    counts = write_folder(tmp_path / "kws", per_class=4)
    assert counts == {"train": 40, "test": 40}
    code = main(
        [
            "train",
            "speech",
            "--model",
            "dnn",
            "--data",
            f"dir:{tmp_path / 'kws'}",
            "--epochs",
            "1",
            "--batch-size",
            "16",
            "--run-root",
            str(tmp_path / "runs"),
            "--verbose",
            "0",
        ]
    )
    assert code == 0
    (run_dir,) = (tmp_path / "runs" / "speech").iterdir()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["data"]["kind"] == "dir" and metrics["data"]["splits"] == {
        "train": 36,
        "validation": 4,
        "test": 40,
    }
    assert metrics["data"]["class_names"] == [
        "eight",
        "five",
        "four",
        "nine",
        "one",
        "seven",
        "six",
        "three",
        "two",
        "zero",
    ]
    assert main(["evaluate", str(run_dir)]) == 0
    assert json.loads((run_dir / "evaluation.json").read_text())["num_examples"] == 40
    assert (
        main(
            [
                "export",
                str(run_dir),
                "--name",
                "kws",
                "--model-base-path",
                str(tmp_path / "repo"),
                "--manifest-info",
                str(MANIFEST_INFO),
            ]
        )
        == 0
    )
    manifest = json.loads(
        (tmp_path / "repo" / "kws" / "1" / "assets.extra" / "manifest.json").read_text()
    )
    assert manifest["speech"]["sample_rate"] == 16000 and manifest["speech"]["labels"][0] == "eight"
