"""Language model (--task lm): corpus and split, GPT model and cache, sampling, training run,
export."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dlsuite.apps.nlp.config import NLPConfig

MANIFEST_INFO = Path(__file__).resolve().parents[2] / "docs" / "manifest_example.yaml"
PROMPTS = [
    "return the value of",
    "a list of",
    "",
    "if the file does not exist , raise an error and",
]


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory):
    """The first 300 pydocs documents as one text file (paragraph = document):
    a small, real corpus."""
    from dlsuite.apps.nlp.lm.data import pydocs_documents

    path = tmp_path_factory.mktemp("corpus") / "docs.txt"
    path.write_text("\n\n".join(pydocs_documents()[:300]), encoding="utf-8")
    return path


def tiny_config(corpus_file: Path, run_root: Path, **overrides) -> NLPConfig:
    values = dict(
        task="lm",
        model="gpt",
        data=f"file:{corpus_file}",
        tokenizer="word",
        vocab_size=400,
        sequence_length=24,
        embedding_dim=16,
        num_layers=2,
        num_heads=2,
        intermediate_dim=32,
        position_embedding="learned",
        epochs=1,
        batch_size=16,
        max_train_examples=64,
        dropout=0.0,
        verbose=0,
        run_root=str(run_root),
        seed=2,
    )
    return NLPConfig(**{**values, **overrides})


@pytest.fixture(scope="module")
def lm_run(corpus_file, tmp_path_factory):
    from dlsuite.apps.nlp.train import train_and_evaluate

    return train_and_evaluate(tiny_config(corpus_file, tmp_path_factory.mktemp("runs")))


@pytest.fixture(scope="module")
def generator(lm_run):
    """The in-memory generator of the tiny run (traced once for the module)."""
    from dlsuite.apps.nlp.lm.generation import TextGenerator

    return TextGenerator(lm_run.model)


# ------------------------------------------------------------------------------- data


def test_pydocs_corpus_is_real_deterministic_english_split_by_document():
    import hashlib
    import subprocess
    import sys

    from dlsuite.apps.nlp.lm.data import PYDOCS_MODULES, pydocs_documents, split_documents

    documents = (
        pydocs_documents()
    )  # in this process TensorFlow and Keras are imported (they patch some docstrings)
    assert len(documents) > 2000 and len(set(documents)) == len(documents)
    fresh = subprocess.run(
        [
            sys.executable,
            "-c",
            "import hashlib, json; from apps.nlp.lm.data import pydocs_documents; "
            "print(hashlib.sha256(json.dumps(pydocs_documents()).encode()).hexdigest())",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert fresh.stdout.strip() == hashlib.sha256(json.dumps(documents).encode()).hexdigest()
    words = " ".join(documents).split()
    assert len(words) > 100_000 and len(PYDOCS_MODULES) > 100
    for common in ("the", "return", "file", "string"):
        assert words.count(common) > 200, common  # English prose about Python, not noise
    parts = split_documents(documents, 0.1, 0.2, seed=1234)
    assert sum(map(len, parts.values())) == len(documents)
    assert not set(parts["train"]) & (set(parts["validation"]) | set(parts["test"]))
    assert 0.15 < len(parts["test"]) / len(documents) < 0.25
    again = split_documents(
        documents[::-1], 0.1, 0.2, seed=1234
    )  # assignment depends on the text, not the order
    assert set(again["test"]) == set(parts["test"])


def test_file_and_dir_sources_and_their_errors(tmp_path):
    from dlsuite.apps.nlp.lm.data import read_documents

    (tmp_path / "a.txt").write_text(
        "First  paragraph\nwraps here.\n\nSecond one.\n\n\nFirst  paragraph\nwraps here."
    )
    documents, _ = read_documents("file", str(tmp_path / "a.txt"))
    assert documents == [
        "First paragraph wraps here.",
        "Second one.",
    ]  # paragraphs, duplicates once
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.txt").write_text("Another file.")
    assert read_documents("dir", str(tmp_path))[0] == [
        (tmp_path / "a.txt").read_text().strip(),
        "Another file.",
    ]
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        read_documents("file", str(tmp_path / "nope.txt"))
    with pytest.raises(ValueError, match="known: \\('pydocs',\\)"):
        read_documents("builtin", "wiki")
    with pytest.raises(ValueError, match="model for task='lm' expected one of \\('gpt',\\)"):
        NLPConfig(task="lm", model="transformer")


def test_windows_predict_every_token_once(corpus_file):
    from dlsuite.apps.nlp.lm.data import load_language_model_data
    from dlsuite.apps.nlp.tokenizers import END_ID, START_ID

    data = load_language_model_data(tiny_config(corpus_file, Path("unused")))
    inputs, targets = next(iter(data.splits.train.batch(1000)))
    inputs, targets = inputs.numpy(), targets.numpy()
    np.testing.assert_array_equal(
        inputs[:, 1:], targets[:, :-1]
    )  # targets are the inputs shifted by one
    np.testing.assert_array_equal(inputs[1:, 0], targets[:-1, -1])  # windows tile the stream
    assert inputs[0, 0] == START_ID and (inputs == END_ID).any()
    assert data.splits.input_dtype == "int32" and data.splits.info["documents"]["train"] > 150
    assert (
        data.unigram_counts.sum() >= inputs.size and data.unigram_counts[0] == 0
    )  # no padding in the stream


# ------------------------------------------------------------------------------- model and sampling


def test_gpt_cached_logits_equal_the_full_forward_pass_and_model_round_trips(tmp_path):
    import keras

    from dlsuite.apps.nlp.lm.models.gpt import GPTLanguageModel
    from dlsuite.apps.nlp.tokenizers import WordTokenizer

    tokenizer = WordTokenizer(["", "[UNK]", "[START]", "[END]", "a", "b", "c"])
    for tie, position in ((True, "learned"), (False, "sinusoidal")):
        model = GPTLanguageModel(
            7, 10, 2, 2, 8, 16, position=position, tie_embeddings=tie, tokenizer=tokenizer
        )
        ids = np.random.default_rng(0).integers(0, 7, (3, 10)).astype("int32")
        full = keras.ops.convert_to_numpy(model(ids))
        assert full.shape == (3, 10, 7) and full.dtype == np.float32
        cache = model.empty_cache(3)
        logits, cache = model.call_with_cache(ids[:, :4], cache, 0)
        steps = [keras.ops.convert_to_numpy(logits)]
        for i in range(4, 10):
            logits, cache = model.call_with_cache(ids[:, i : i + 1], cache, i)
            steps.append(keras.ops.convert_to_numpy(logits))
        np.testing.assert_allclose(np.concatenate(steps, axis=1), full, atol=1e-5)
        assert model.non_embedding_params() == sum(b.count_params() for b in model.blocks) + 16
        path = tmp_path / f"gpt-{tie}.keras"
        model.save(path)
        restored = keras.saving.load_model(path)
        np.testing.assert_allclose(keras.ops.convert_to_numpy(restored(ids)), full, atol=1e-6)
        assert restored.tokenizer.vocabulary == tokenizer.vocabulary


def test_sampling_filters_follow_top_k_top_p_and_temperature():
    import tensorflow as tf

    from dlsuite.apps.nlp.lm.generation import sample_tokens

    n = 4000
    logits = tf.math.log(tf.constant([[0.5, 0.3, 0.15, 0.05]] * n))
    sample = tf.function(sample_tokens)

    def draw(temperature, top_k, top_p):
        return sample(
            logits,
            tf.fill([n], temperature),
            tf.fill([n], top_k),
            tf.fill([n], top_p),
            tf.range(n),
            tf.constant(5),
        ).numpy()

    freq = np.bincount(draw(1.0, 0, 1.0), minlength=4) / n
    np.testing.assert_allclose(
        freq, [0.5, 0.3, 0.15, 0.05], atol=0.03
    )  # plain sampling follows the softmax
    assert set(draw(1.0, 2, 1.0)) == {0, 1}  # top-k keeps the two most likely
    nucleus = np.bincount(draw(1.0, 0, 0.7), minlength=4) / n  # top-p: {0.5, 0.3} reaches 0.7
    np.testing.assert_allclose(nucleus, [0.5 / 0.8, 0.3 / 0.8, 0, 0], atol=0.03)
    assert set(draw(0.0, 0, 1.0)) == {0}  # temperature 0 is greedy
    cold = (
        np.bincount(draw(0.25, 0, 1.0), minlength=4) / n
    )  # p^4 renormalized: 0.5^4 / (0.5^4 + 0.3^4 + ...)
    assert cold[0] > 0.85
    np.testing.assert_array_equal(draw(1.0, 0, 1.0), draw(1.0, 0, 1.0))  # seeded: reproducible


# ------------------------------------------------------------------------ run, generation, export


def test_tiny_run_reports_perplexity_baseline_few_shot_and_compute(lm_run):
    metrics = lm_run.metrics
    evaluation = metrics["evaluation"]
    assert (
        metrics["app"] == "nlp" and metrics["model"] == "gpt" and metrics["data"]["kind"] == "file"
    )
    assert (
        evaluation["split"] == "test" and evaluation["tokens"] == metrics["data"]["tokens"]["test"]
    )
    assert evaluation["perplexity"] == pytest.approx(
        np.exp(metrics["final"]["test"]["loss"]), rel=1e-3
    )
    assert evaluation["unigram_perplexity"] > 10 and evaluation["perplexity_ratio_to_unigram"] > 0
    few_shot = evaluation["few_shot"]
    assert set(few_shot["copy"]["accuracy_by_shots"]) == {
        "0",
        "1",
        "2",
        "4",
    }  # 8 shots do not fit in 24 tokens
    assert all(0 <= a <= 1 for a in few_shot["recall"]["accuracy_by_shots"].values())
    assert len(evaluation["samples"]) == 3 and set(evaluation["samples"][0]) == {
        "prompt",
        "greedy",
        "sampled",
    }
    accounting = metrics["language_model"]
    assert (
        accounting["tokens_seen"] == 64 * 24
        and accounting["compute_6ND"] == 6 * accounting["non_embedding_params"] * 64 * 24
    )
    assert metrics["tokenizer"]["kind"] == "WordTokenizer"


def test_generation_with_cache_equals_greedy_decoding_by_hand(lm_run, generator):
    import tensorflow as tf

    from dlsuite.apps.nlp.tokenizers import END_ID, START_ID

    model = lm_run.model
    cached = generator.generate(PROMPTS, max_new_tokens=6)
    assert generator.generate(PROMPTS, max_new_tokens=6, use_cache=False) == cached
    for prompt, completion, count in zip(
        PROMPTS, cached["completion"], cached["num_tokens"], strict=True
    ):
        ids = [START_ID] + model.tokenizer.tokenize(tf.constant([prompt])).to_list()[0]
        new = []
        while len(new) < 6:
            token = int(np.argmax(model(np.array([ids + new], "int32"))[0, -1]))
            if token == END_ID:
                break
            new.append(token)
        assert count == len(new)
        assert (
            completion
            == model.tokenizer.detokenize(np.array([new or [0]], "int32")).numpy()[0].decode()
        )
    sampled = generator.generate(PROMPTS, max_new_tokens=6, temperature=1.0, top_k=20, seed=7)
    alone = generator.generate(PROMPTS[1:2], max_new_tokens=6, temperature=1.0, top_k=20, seed=7)
    assert (
        alone["completion"][0] == sampled["completion"][1]
    )  # a row's sample does not depend on its batch
    assert generator.generate(PROMPTS[:1], max_new_tokens=0)["num_tokens"] == [0]
    with pytest.raises(ValueError, match="Received: top_p=1.5"):
        generator.generate(PROMPTS, top_p=1.5)


@pytest.fixture(scope="module")
def exported(lm_run, tmp_path_factory):
    from dlsuite.apps.common.export import export_run

    base = tmp_path_factory.mktemp("repo")
    return export_run(lm_run.run.path, model_base_path=base, name="lm", manifest_info=MANIFEST_INFO)


def test_exported_generate_at_temperature_zero_equals_in_memory_greedy(generator, exported):
    import tensorflow as tf

    from dlsuite.apps.nlp.lm.generation import DEFAULT_MAX_NEW_TOKENS
    from dlsuite.serving.warmup import read_warmup_requests

    loaded = tf.saved_model.load(str(exported))
    assert set(loaded.signatures) == {"serving_default", "generate"}
    n = len(PROMPTS)
    outputs = loaded.signatures["generate"](
        prompt=tf.constant(PROMPTS),
        max_new_tokens=tf.fill([n], 8),
        temperature=tf.zeros([n]),
        top_k=tf.zeros([n], tf.int32),
        top_p=tf.ones([n]),
        seed=tf.zeros([n], tf.int32),
    )
    expected = generator.generate(PROMPTS, max_new_tokens=8)
    assert [s.decode() for s in outputs["completion"].numpy()] == expected["completion"]
    assert [s.decode() for s in outputs["text"].numpy()] == expected["text"]
    assert outputs["num_tokens"].numpy().tolist() == expected["num_tokens"]
    default = loaded.signatures["serving_default"](prompt=tf.constant(PROMPTS[:1]))
    greedy = generator.generate(PROMPTS[:1], max_new_tokens=DEFAULT_MAX_NEW_TOKENS)
    assert default["completion"].numpy()[0].decode() == greedy["completion"][0]
    with pytest.raises(tf.errors.InvalidArgumentError, match="top_p expected in"):
        loaded.signatures["generate"](
            prompt=tf.constant(["x"]),
            max_new_tokens=[4],
            temperature=[1.0],
            top_k=[0],
            top_p=[0.0],
            seed=[0],
        )
    assert len(list(read_warmup_requests(exported))) == 3
    manifest = json.loads((exported / "assets.extra" / "manifest.json").read_text())
    assert manifest["nlp"]["task"] == "lm" and manifest["nlp"]["signatures"] == [
        "serving_default",
        "generate",
    ]


@pytest.mark.slow
def test_served_generate_answers_rest_and_grpc_with_strings(generator, exported, tmp_path):
    import requests

    from dlsuite.serving.client import grpc_predict
    from tests.serving.conftest import start_server

    expected = generator.generate(PROMPTS[:2], max_new_tokens=5, temperature=0.9, top_k=10, seed=3)
    server = start_server(
        ["--model_name=lm", f"--model_base_path={exported.parent}"],
        tmp_path / "server.log",
        ready_model="lm",
    )
    try:
        instances = [
            {
                "prompt": p,
                "max_new_tokens": 5,
                "temperature": 0.9,
                "top_k": 10,
                "top_p": 1.0,
                "seed": 3,
            }
            for p in PROMPTS[:2]
        ]
        answer = requests.post(
            f"{server.rest}/v1/models/lm:predict",
            timeout=60,
            json={"signature_name": "generate", "instances": instances},
        ).json()
        outputs = grpc_predict(
            server.grpc_target, "lm", {"prompt": PROMPTS[:1]}
        )  # serving_default: greedy
    finally:
        server.stop()
    assert [p["completion"] for p in answer["predictions"]] == expected["completion"], answer
    assert all(isinstance(p["completion"], str) for p in answer["predictions"])
    greedy = generator.generate(PROMPTS[:1])
    assert [t.decode() for t in outputs["completion"]] == greedy["completion"]
