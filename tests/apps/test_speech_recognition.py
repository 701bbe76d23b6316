"""Speech recognition: error rates, CTC loss and decoders on hand-worked examples, transcribed
data, the CTC model, and a run from a folder of WAVs with transcripts to an exported
SavedModel."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dlsuite.apps.speech.config import SpeechConfig
from tests.apps.test_speech import _wav_bytes

MANIFEST_INFO = Path(__file__).resolve().parents[2] / "docs" / "manifest_example.yaml"


# ------------------------------------------------------------------------------- CER, WER


def test_error_rates_on_hand_worked_examples():
    from dlsuite.apps.speech.error_rates import character_error_rate, edit_distance, word_error_rate

    assert edit_distance("kitten", "sitting") == 3  # k->s, e->i, +g
    assert (
        edit_distance("", "abc") == 3
        and edit_distance("abc", "") == 3
        and edit_distance("abc", "abc") == 0
    )
    # Corpus level: (1 substitution + 1 deletion) / 5 reference characters, not the mean of
    # 1/3 and 1/2.
    assert character_error_rate(["abc", "de"], ["abd", "d"]) == pytest.approx(2 / 5)
    assert character_error_rate(["one two"], ["one to"]) == pytest.approx(1 / 7)  # the space counts
    assert character_error_rate(["a"], ["abc"]) == pytest.approx(2.0)  # insertions can exceed 100%
    # "the cat sat" -> "the bat sat down": 1 substitution + 1 insertion;
    # "on it" -> "it": 1 deletion.
    assert word_error_rate(["the cat sat", "on it"], ["the bat sat down", "it"]) == pytest.approx(
        3 / 5
    )
    assert word_error_rate(["left  stop"], ["left stop"]) == 0.0
    with pytest.raises(ValueError, match="2 references and 1 hypotheses"):
        character_error_rate(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="references are empty"):
        word_error_rate([""], ["x"])
    with pytest.raises(ValueError, match="not one string"):
        character_error_rate("abc", "abd")


# ------------------------------------------------------------------------------- CTC


def _frames(*rows: dict[str, float]) -> np.ndarray:
    """(1, T, C) probabilities from per-frame {token: probability}
    (the rest of each frame's mass is 0)."""
    from dlsuite.apps.speech import ctc

    out = np.zeros((1, len(rows), ctc.NUM_CLASSES), np.float32)
    for t, row in enumerate(rows):
        for token, p in row.items():
            out[0, t, 0 if token == "-" else ctc.VOCABULARY.index(token) + 1] = p
    return out


def test_vocabulary_encoding_and_ctc_frame_count():
    from dlsuite.apps.speech import ctc

    assert ctc.NUM_CLASSES == 29 and ctc.TOKENS[:4] == ("<blank>", "<space>", "'", "a")
    assert ctc.encode("  Don't  STOP ") == [ctc.VOCABULARY.index(c) + 1 for c in "don't stop"]
    assert ctc.decode_ids([4, 5, 0, 0, -1]) == "bc"
    np.testing.assert_array_equal(ctc.encode_batch(["ab", "c"]), [[3, 4], [5, 0]])
    assert ctc.min_frames(ctc.encode("three")) == 6  # t h r e - e: a blank between the two e's
    with pytest.raises(ValueError, match=r"characters \['!', '2'\] are outside"):
        ctc.encode("go 2 left!")


def test_greedy_decoding_collapses_repeats_and_drops_blanks():
    from dlsuite.apps.speech import ctc

    best = _frames(
        {"a": 0.9, "-": 0.1},
        {"a": 0.8, "b": 0.2},
        {"-": 0.7, "a": 0.3},
        {"a": 0.6, "-": 0.4},
        {"b": 0.9, "-": 0.1},
        {"b": 0.5, "a": 0.4, "-": 0.1},
        {"-": 0.99, "c": 0.01},
    )
    # Best path a a - a b b -: repeats merge (aa -> a, bb -> b), the blank keeps the two a's apart.
    assert ctc.transcribe(best, "greedy").numpy().tolist() == [b"aab"]
    assert ctc.decode_ids(ctc.decode(best, "greedy").numpy()[0]) == "aab"


def test_beam_search_finds_the_labelling_the_best_path_misses_and_ctc_loss_sums_its_paths():
    import keras

    from dlsuite.apps.speech import ctc

    # Two frames, p(blank) = 0.6 and p(a) = 0.4 in each. The best path is "- -" (0.36), so
    # greedy says ""; but "a" is reached by "a a", "a -" and "- a": 0.16 + 0.24 + 0.24 = 0.64,
    # the more probable labelling.
    probabilities = _frames({"-": 0.6, "a": 0.4}, {"-": 0.6, "a": 0.4})
    assert ctc.transcribe(probabilities, "greedy").numpy().tolist() == [b""]
    assert ctc.transcribe(probabilities, "beam_search", beam_width=4).numpy().tolist() == [b"a"]
    loss = ctc.CTCLoss()
    labels = np.array([[ctc.encode("a")[0], 0, 0]])  # "a", padded with 0 to length 3
    per_example = keras.ops.convert_to_numpy(loss.call(labels, probabilities))
    assert per_example.shape == (1,) and per_example[0] == pytest.approx(-np.log(0.64), abs=1e-4)
    unpadded = keras.ops.convert_to_numpy(loss.call(labels[:, :1], probabilities))
    np.testing.assert_allclose(
        unpadded, per_example, rtol=1e-6
    )  # the padding is not part of the label
    assert float(loss(labels, probabilities)) == pytest.approx(-np.log(0.64), abs=1e-4)
    restored = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(restored, ctc.CTCLoss)


def test_character_error_rate_metric_accumulates_over_batches():
    from dlsuite.apps.speech import ctc
    from dlsuite.apps.speech.error_rates import character_error_rate

    metric = ctc.CharacterErrorRate()
    metric.update_state(
        ctc.encode_batch(["ab"], 3), _frames({"a": 1.0}, {"-": 1.0}, {"b": 1.0})
    )  # "ab": right
    metric.update_state(
        ctc.encode_batch(["c"], 3), _frames({"d": 1.0}, {"-": 1.0}, {"-": 1.0})
    )  # "d": 1 error
    assert float(metric.result()) == pytest.approx(character_error_rate(["ab", "c"], ["ab", "d"]))
    metric.reset_state()
    assert float(metric.result()) == 0.0


# ------------------------------------------------------------------------------- model


def test_ctc_model_builds_saves_trains_and_unrolls(tmp_path):
    import keras

    from dlsuite.apps.speech import ctc
    from dlsuite.apps.speech.export import unrolled
    from dlsuite.apps.speech.models import build_model
    from tests.core_layers.layer_checks import check_keras_round_trip

    model = build_model(
        "ctc", 8000, ctc.NUM_CLASSES, frontend={"sample_rate": 16000}, units=8, filters=8
    )
    assert model.name == "ctc" and model.output.shape == (
        None,
        12,
        ctc.NUM_CLASSES,
    )  # 24 frames, stride 2
    x = np.random.default_rng(0).standard_normal((4, 8000)).astype(np.float32) * 0.1
    probabilities = model(x).numpy()
    np.testing.assert_allclose(probabilities.sum(axis=-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(unrolled(model)(x).numpy(), probabilities, atol=1e-6)
    check_keras_round_trip(model, x, tmp_path)
    labels = ctc.encode_batch(["on", "go", "up", "no"])
    before = [w.numpy().copy() for w in model.trainable_weights]
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=ctc.CTCLoss(),
        metrics=[ctc.CharacterErrorRate()],
    )
    history = model.fit(x, labels, batch_size=4, epochs=1, verbose=0).history
    assert np.isfinite(history["loss"][0]) and "cer" in history
    assert all(
        not np.array_equal(w.numpy(), b)
        for w, b in zip(model.trainable_weights, before, strict=True)
    )
    with pytest.raises(ValueError, match="`cell` expected one of"):
        build_model("ctc", 8000, ctc.NUM_CLASSES, cell="rnn")


# ------------------------------------------------------------------------------- data


def test_builtin_phrases_have_transcripts_and_held_out_voices():
    from dlsuite.apps.speech import ctc, phrases
    from dlsuite.apps.speech.data import load_splits

    splits = load_splits(SpeechConfig(model="ctc", data="builtin:phrases", clip_ms=2000))
    assert splits.sizes == {"train": 1296, "validation": 144, "test": 360}
    assert splits.class_names == list(ctc.TOKENS) and splits.info["task"] == "recognition"
    assert "+m7" in splits.info["preprocessing"] and "+f4" in splits.info["preprocessing"]
    waveform, ids = next(iter(splits.test))
    assert waveform.shape == (32000,) and ids.shape == (splits.info["max_transcript_chars"],)
    words = ctc.decode_ids(ids.numpy()).split()
    assert 2 <= len(words) <= 3 and set(words) <= set(phrases.WORDS)
    data = phrases.load(16000, 32000)
    assert not set(data["voice"][data["held_out"]]) & set(data["voice"][~data["held_out"]])
    assert len(set(data["text"].tolist())) > 1000  # different phrases, not a few repeated ones
    with pytest.raises(ValueError, match="longer than the 1.00 s clip"):
        phrases.load(
            16000, 16000, cache_dir="/nonexistent-never-written"
        )  # fails while rendering, before caching


def _write_clips(folder: Path, names: list[str], seconds: float = 0.5) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(16000 * seconds)) / 16000
    for i, name in enumerate(names):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(
            _wav_bytes(0.3 * np.sin(2 * np.pi * (200 + 100 * i) * t), 16000)
        )


def test_wav_folder_with_transcripts_tsv_or_ljspeech_metadata(tmp_path):
    from dlsuite.apps.speech import ctc
    from dlsuite.apps.speech.data import load_splits

    _write_clips(tmp_path / "tsv", [f"{i}.wav" for i in range(10)])
    texts = ["Yes  No", "left", "don't stop", "up", "go", "on off", "one", "two", "three", "four"]
    (tmp_path / "tsv" / "transcripts.tsv").write_text(
        "file\ttext\n# a comment\n" + "".join(f"{i}.wav\t{t}\n" for i, t in enumerate(texts))
    )
    splits = load_splits(
        SpeechConfig(model="ctc", data=f"dir:{tmp_path / 'tsv'}", test_fraction=0.2)
    )
    assert sum(splits.sizes.values()) == 10 and splits.info["kind"] == "dir"
    found = {
        ctc.decode_ids(ids)
        for _, ids in splits.train.concatenate(splits.validation)
        .concatenate(splits.test)
        .as_numpy_iterator()
    }
    assert found == {ctc.normalize(t) for t in texts}  # "yes no": lower case, one space
    _write_clips(tmp_path / "lj", [f"wavs/LJ001-000{i}.wav" for i in range(5)])
    (tmp_path / "lj" / "metadata.csv").write_text(
        "".join(
            f"LJ001-000{i}|Raw text {i}|raw text {w}\n"
            for i, w in enumerate(["one", "two", "six", "go", "up"])
        )
    )
    splits = load_splits(
        SpeechConfig(
            model="ctc", data=f"dir:{tmp_path / 'lj'}", test_fraction=0.2, validation_fraction=0.25
        )
    )
    assert sum(splits.sizes.values()) == 5 and splits.info["max_transcript_chars"] == len(
        "raw text one"
    )


@pytest.mark.parametrize(
    "case, error, match",
    [
        ("no_file", FileNotFoundError, "has no transcript file"),
        ("missing_wav", FileNotFoundError, "names WAV files that do not exist: .*ghost.wav"),
        (
            "bad_characters",
            ValueError,
            r"transcripts.tsv:2: characters \['!', '7'\] outside the vocabulary",
        ),
        ("no_tab", ValueError, "transcripts.tsv:1: expected file<TAB>text"),
        ("empty", ValueError, "empty transcript for 1.wav"),
        ("too_long", ValueError, "longer than clip_ms=1000 .*0.wav \\(1.50 s\\)"),
    ],
)
def test_transcribed_folder_errors_name_the_problem(tmp_path, case, error, match):
    from dlsuite.apps.speech.data import load_splits

    _write_clips(tmp_path, ["0.wav", "1.wav"], seconds=1.5 if case == "too_long" else 0.5)
    lines = {
        "no_file": None,
        "missing_wav": "0.wav\tyes\nghost.wav\tno\n",
        "bad_characters": "0.wav\tyes\n1.wav\tseven 7!\n",
        "no_tab": "0.wav yes\n",
        "empty": "0.wav\tyes\n1.wav\t  \n",
        "too_long": "0.wav\tyes\n1.wav\tno\n",
    }[case]
    if lines is not None:
        (tmp_path / "transcripts.tsv").write_text(lines)
    with pytest.raises(error, match=match):
        load_splits(SpeechConfig(model="ctc", data=f"dir:{tmp_path}", clip_ms=1000))


def test_recognition_and_keyword_sources_do_not_mix():
    from dlsuite.apps.speech.data import load_splits

    with pytest.raises(ValueError, match="needs transcribed speech"):
        load_splits(SpeechConfig(model="ctc", data="tfds:speech_commands"))
    with pytest.raises(ValueError, match="train them with --model ctc"):
        load_splits(SpeechConfig(model="ds_cnn", data="builtin:phrases"))


# ------------------------------------------------------------------------------- run, export


@pytest.fixture(scope="module")
def phrase_folder(tmp_path_factory):
    from dlsuite.apps.speech.make_folder import write_phrase_folder

    root = tmp_path_factory.mktemp("phrases")
    assert write_phrase_folder(root, per_split=16) == {"train": 16, "test": 16}
    return root


@pytest.fixture(scope="module")
def ctc_cli_run(phrase_folder, tmp_path_factory):
    """The worked example of docs/speech.md on a small folder: train and export a recogniser
    from the CLI."""
    from dlsuite.cli import main

    root = tmp_path_factory.mktemp("ctc-runs")
    assert (
        main(
            [
                "train",
                "speech",
                "--model",
                "ctc",
                "--data",
                f"dir:{phrase_folder}",
                "--clip-ms",
                "2000",
                "--features",
                "log_mel",
                "--epochs",
                "1",
                "--batch-size",
                "8",
                "--beam-width",
                "4",
                "--run-root",
                str(root),
                "--verbose",
                "0",
            ]
        )
        == 0
    )
    (run_dir,) = (root / "speech").iterdir()
    assert (
        main(
            [
                "export",
                str(run_dir),
                "--name",
                "asr",
                "--model-base-path",
                str(root / "repo"),
                "--manifest-info",
                str(MANIFEST_INFO),
            ]
        )
        == 0
    )
    return run_dir, root / "repo" / "asr" / "1"


def _levenshtein(a: list, b: list) -> int:
    """Edit distance by the full dynamic-programming table (a second implementation)."""
    table = [[i + j if i * j == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            table[i][j] = min(
                table[i - 1][j] + 1,
                table[i][j - 1] + 1,
                table[i - 1][j - 1] + (a[i - 1] != b[j - 1]),
            )
    return table[-1][-1]


def test_ctc_run_records_cer_and_wer_greedy_and_beam(ctc_cli_run, phrase_folder):
    import tensorflow as tf

    from dlsuite.cli import main

    run_dir, version_dir = ctc_cli_run
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["model"] == "ctc" and metrics["data"]["splits"] == {
        "train": 14,
        "validation": 2,
        "test": 16,
    }
    evaluation = metrics["evaluation"]
    assert evaluation["num_examples"] == 16 and evaluation["beam_width"] == 4
    # The greedy error rates again, from the exported model's transcripts of the test WAVs and an
    # edit distance written here, independently of apps.speech.error_rates.
    rows = [
        line.split("\t")
        for line in (phrase_folder / "test" / "transcripts.tsv").read_text().split("\n")[1:]
        if line
    ]
    served = tf.saved_model.load(str(version_dir)).signatures["serving_default"]
    wavs = tf.constant([(phrase_folder / "test" / name).read_bytes() for name, _ in rows])
    hypotheses = [t.decode("utf-8") for t in served(audio=wavs)["transcript"].numpy()]
    references = [text for _, text in rows]
    for tokens, key in ((list, "cer_greedy"), (str.split, "wer_greedy")):
        pairs = [(tokens(r), tokens(h)) for r, h in zip(references, hypotheses, strict=True)]
        expected = sum(_levenshtein(r, h) for r, h in pairs) / sum(len(r) for r, _ in pairs)
        assert evaluation[key] == pytest.approx(expected, abs=1e-9), key
    for key in ("cer_beam_search", "wer_beam_search"):
        assert 0.0 <= evaluation[key] <= 2.0  # beam search has no second implementation here
    assert len(evaluation["examples"]) == 10 and set(evaluation["examples"][0]) == {
        "reference",
        "greedy",
        "beam_search",
    }
    assert {"cer", "val_cer", "loss"} <= set(metrics["history"][0])
    assert main(["evaluate", str(run_dir)]) == 0
    assert json.loads((run_dir / "evaluation.json").read_text())["cer_greedy"] == pytest.approx(
        evaluation["cer_greedy"], abs=1e-6
    )


def test_exported_recognizer_transcribes_wav_bytes_like_the_model(ctc_cli_run, phrase_folder):
    import tensorflow as tf

    from dlsuite.apps.common.runs import load_trained_model, splits_for_run
    from dlsuite.apps.speech import ctc
    from dlsuite.serving.warmup import read_warmup_requests

    run_dir, version = ctc_cli_run
    model = load_trained_model(run_dir)
    waveforms = np.stack([w for w, _ in splits_for_run(run_dir).test.take(6).as_numpy_iterator()])
    expected = model.predict(waveforms, verbose=0)
    greedy = ctc.transcribe(expected).numpy().tolist()
    loaded = tf.saved_model.load(str(version))
    assert set(loaded.signatures) == {
        "serving_default",
        "transcribe_waveform",
        "predict_probabilities",
    }
    probabilities = loaded.signatures["predict_probabilities"](waveform=tf.constant(waveforms))[
        "probabilities"
    ]
    np.testing.assert_allclose(probabilities.numpy(), expected, atol=1e-5)
    assert (
        loaded.signatures["transcribe_waveform"](waveform=tf.constant(waveforms))["transcript"]
        .numpy()
        .tolist()
        == greedy
    )
    files = [
        line.split("\t")[0]
        for line in (phrase_folder / "test" / "transcripts.tsv").read_text().splitlines()[1:7]
    ]
    wavs = [
        (phrase_folder / "test" / name).read_bytes() for name in files
    ]  # the files the test split decoded
    assert (
        loaded.signatures["serving_default"](audio=tf.constant(wavs))["transcript"].numpy().tolist()
        == greedy
    )
    assert len(list(read_warmup_requests(version))) == 4
    manifest = json.loads((version / "assets.extra" / "manifest.json").read_text())
    assert manifest["speech"]["task"] == "recognition" and manifest["speech"]["tokens"] == list(
        ctc.TOKENS
    )
