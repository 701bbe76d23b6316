"""NLP text classification: tokenizers, data sources, models, training, export
(strings in, labels out)."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from dlsuite.apps.nlp.config import NLPConfig


@pytest.fixture(scope="module")
def langid_texts():
    from dlsuite.apps.nlp.classify.langid import generate

    return generate(("en_US", "de_DE", "fr_FR"), 300, seed=0)["texts"]


# ------------------------------------------------------------------------------- tokenizers


def test_wordpiece_vocabulary_merges_the_most_frequent_pairs():
    from dlsuite.apps.nlp.wordpiece_vocab import learn_wordpiece_vocabulary

    counts = {"low": 5, "lower": 2, "newest": 6, "widest": 3}  # Sennrich et al. 2016, section 3.2
    vocabulary = learn_wordpiece_vocabulary(counts, 30, reserved_tokens=("[PAD]",))
    assert vocabulary[0] == "[PAD]" and len(vocabulary) == len(set(vocabulary)) <= 30
    assert {"l", "n", "w", "##o", "##w", "##e", "##s", "##t"} <= set(vocabulary)
    merged = vocabulary[vocabulary.index("##t") + 1 :]
    merged = [t for t in merged if len(t.removeprefix("##")) > 1]
    assert merged[:2] == ["##es", "##est"]  # "e s" occurs 9 times, then "es t" 9 times
    assert "newest" in vocabulary and "low" in vocabulary
    assert (
        learn_wordpiece_vocabulary(counts, 30, reserved_tokens=("[PAD]",)) == vocabulary
    )  # deterministic
    with pytest.raises(ValueError, match="vocab_size=1"):
        learn_wordpiece_vocabulary(counts, 1, reserved_tokens=("[PAD]",))


def test_wordpiece_tokenizer_matches_the_greedy_longest_match_reference(langid_texts):
    import tensorflow as tf

    from dlsuite.apps.nlp.tokenizers import UNK_ID, split_words, train_tokenizer
    from dlsuite.apps.nlp.wordpiece_vocab import wordpiece_split

    tokenizer = train_tokenizer(
        "wordpiece", langid_texts, 300, sequence_length=32, max_chars_per_word=10
    )
    assert (
        tokenizer.vocabulary[:4] == ["", "[UNK]", "[START]", "[END]"]
        and tokenizer.vocabulary_size() <= 300
    )
    rng = random.Random(0)
    texts = [
        f"{rng.choice(langid_texts)} "
        f"{''.join(rng.choice('abcdeéxyz!') for _ in range(rng.randint(1, 14)))}"
        for _ in range(100)
    ]
    index = {token: i for i, token in enumerate(tokenizer.vocabulary)}
    vocabulary = set(tokenizer.vocabulary)
    ragged = tokenizer.tokenize(tf.constant(texts)).to_list()
    for words, ids in zip(split_words(tf.constant(texts)).to_list(), ragged, strict=True):
        expected = []
        for word in words:
            pieces = wordpiece_split(word.decode(), vocabulary, 10)
            expected += [UNK_ID] if pieces is None else [index[p] for p in pieces]
        assert ids == expected
    assert any(UNK_ID in ids for ids in ragged) and max(map(len, ragged)) > 1
    dense = tokenizer(tf.constant(texts)).numpy()
    assert dense.shape == (100, 32) and dense.dtype == np.int32
    for row, ids in zip(dense, ragged, strict=True):
        np.testing.assert_array_equal(row, (ids + [0] * 32)[:32])
    np.testing.assert_array_equal(
        tf.function(tokenizer)(tf.constant(texts)).numpy(), dense
    )  # same in a graph
    np.testing.assert_array_equal(
        tokenizer(tf.constant(["", "   "])).numpy(), np.zeros((2, 32), np.int32)
    )


def test_word_tokenizer_ids_padding_truncation_and_detokenize():
    import tensorflow as tf

    from dlsuite.apps.nlp.tokenizers import END_ID, START_ID, WordTokenizer, train_tokenizer

    tokenizer = train_tokenizer(
        "word", ["the cat sat.", "The dog sat!", "the end"], 10, sequence_length=4
    )
    vocabulary = tokenizer.vocabulary
    assert vocabulary[:5] == ["", "[UNK]", "[START]", "[END]", "the"] and len(vocabulary) == 10
    ids = tokenizer(
        tf.constant([["The CAT, sat!"], ["zebra"]])
    ).numpy()  # (B, 1) input is accepted too
    assert ids.tolist() == [[4, vocabulary.index("cat"), 1, vocabulary.index("sat")], [1, 0, 0, 0]]
    assert tokenizer.detokenize(ids).numpy().tolist() == [b"the cat [UNK] sat", b"[UNK]"]
    stops = np.array([[START_ID, 4, END_ID, 4]])
    assert tokenizer.detokenize(stops).numpy().tolist() == [b"the"]
    longest = WordTokenizer(vocabulary, sequence_length=None)(
        tf.constant(["the", "the cat sat"])
    ).numpy()
    assert longest.shape == (2, 3)
    with pytest.raises(ValueError, match="expected to start with"):
        WordTokenizer(["a", "b"])
    with pytest.raises(ValueError, match="tokenizer='bpe'"):
        train_tokenizer("bpe", ["a"], 10)


def test_wordpiece_detokenize_glues_pieces_back(langid_texts):
    import tensorflow as tf

    from dlsuite.apps.nlp.tokenizers import pretokenize, train_tokenizer

    tokenizer = train_tokenizer(
        "wordpiece", langid_texts, 200
    )  # small vocabulary: words split into pieces
    texts = langid_texts[:20]
    ids = tokenizer(tf.constant(texts))
    assert (ids.numpy() > 0).sum() > sum(
        len(t.split()) for t in texts
    ) + 20  # more pieces than words
    np.testing.assert_array_equal(
        tokenizer.detokenize(ids).numpy(), pretokenize(tf.constant(texts)).numpy()
    )


def test_word_tokenizer_inside_a_model_survives_keras_saving_and_saved_model_export(
    langid_texts, tmp_path
):
    """(The WordPiece tokenizer goes through the same in the tiny run's export test.)"""
    import keras
    import tensorflow as tf

    from dlsuite.apps.nlp.classify.models import build_classifier
    from dlsuite.apps.nlp.tokenizers import train_tokenizer
    from tests.core_layers.layer_checks import check_keras_round_trip

    tokenizer = train_tokenizer("word", langid_texts, 500, sequence_length=12)
    model = build_classifier("bag_of_embeddings", tokenizer, 3, embedding_dim=8)
    texts = np.array(langid_texts[:5], dtype=object)
    restored = check_keras_round_trip(model, tf.constant(texts), tmp_path)
    assert restored.get_layer("tokenizer").vocabulary == tokenizer.vocabulary
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        "serve", lambda text: model(text), input_signature=[tf.TensorSpec([None], tf.string)]
    )
    archive.write_out(str(tmp_path / "saved"), verbose=False)
    reloaded = tf.saved_model.load(str(tmp_path / "saved"))
    np.testing.assert_allclose(
        reloaded.serve(tf.constant(texts)).numpy(), model(tf.constant(texts)).numpy(), atol=1e-6
    )


# ------------------------------------------------------------------------------- data


def test_builtin_langid_is_deterministic_real_language_with_disjoint_splits():
    from dlsuite.apps.nlp.data import load_splits

    config = NLPConfig(langid_sentences=100)
    splits = load_splits(config)
    assert splits.class_names == ["en_US", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL"]
    assert sum(splits.sizes.values()) == 600 - int(
        splits.info["preprocessing"].split(";")[1].split()[0]
    )
    assert splits.input_dtype == "string" and splits.info["version"].startswith("Faker ")
    seen = {}
    for name in ("train", "validation", "test"):
        pairs = [(t.decode(), int(y)) for t, y in getattr(splits, name).as_numpy_iterator()]
        assert len(pairs) == splits.sizes[name]
        seen[name] = {" ".join(t.lower().split()) for t, _ in pairs}
        assert len(seen[name]) == len(pairs)
    assert not seen["train"] & seen["test"] and not seen["train"] & seen["validation"]
    assert not seen["validation"] & seen["test"]
    from faker import Faker

    german = {
        w.strip(".").lower()
        for t, y in splits.train.as_numpy_iterator()
        if y == 1
        for w in t.decode().split()
    }
    assert german <= {w.lower() for w in Faker("de_DE").get_words_list()}  # real German words
    assert len(german & {w.lower() for w in Faker("en_US").get_words_list()}) < 0.05 * len(german)
    again = load_splits(config)
    assert [t for t, _ in again.test.as_numpy_iterator()] == [
        t for t, _ in splits.test.as_numpy_iterator()
    ]
    with pytest.raises(ValueError, match="pt_PT"):
        load_splits(NLPConfig(langid_locales=("en_US", "pt_PT")))


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl"])
def test_table_files_with_named_columns(tmp_path, suffix):
    from dlsuite.apps.nlp.data import load_splits

    rows = [
        {
            "review": f"text number {i} {'good' if i % 2 else 'bad'}",
            "stars": "pos" if i % 2 else "neg",
        }
        for i in range(20)
    ]
    path = tmp_path / f"reviews{suffix}"
    if suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    else:
        sep = "\t" if suffix == ".tsv" else ","
        path.write_text(
            "review" + sep + "stars\n" + "".join(f"{r['review']}{sep}{r['stars']}\n" for r in rows)
        )
    config = NLPConfig(data=f"file:{path}", text_column="review", label_column="stars")
    splits = load_splits(config)
    assert splits.class_names == ["neg", "pos"] and sum(splits.sizes.values()) == 20
    for text, label in splits.train.concatenate(splits.test).as_numpy_iterator():
        assert text.decode().endswith("good" if label == 1 else "bad")
    with pytest.raises(ValueError, match=r"no column 'text' \(--text-column\).*'review', 'stars'"):
        load_splits(NLPConfig(data=f"file:{path}", label_column="stars"))


def test_bad_sources_are_named():
    from dlsuite.apps.nlp.data import load_splits

    with pytest.raises(ValueError, match="file:<.csv"):
        load_splits(NLPConfig(data="http://example.com/data"))
    with pytest.raises(ValueError, match=r"reviews\.xlsx"):
        load_splits(NLPConfig(data="file:reviews.xlsx"))
    with pytest.raises(ValueError, match="'nope'"):
        load_splits(NLPConfig(data="builtin:nope"))


def test_text_folders_follow_keras_conventions(tmp_path):
    from dlsuite.apps.nlp.data import load_splits

    for split, count in (("train", 8), ("test", 3)):
        for name in ("neg", "pos"):
            folder = tmp_path / split / name
            folder.mkdir(parents=True)
            for i in range(count):
                (folder / f"{i}.txt").write_text(f"{name} review {i}", encoding="utf-8")
    splits = load_splits(NLPConfig(data=f"dir:{tmp_path}", validation_fraction=0.25))
    assert splits.class_names == ["neg", "pos"] and splits.sizes == {
        "train": 12,
        "validation": 4,
        "test": 6,
    }
    for text, label in splits.test.as_numpy_iterator():
        assert text.decode().startswith(["neg", "pos"][label])
    flat = load_splits(NLPConfig(data=f"dir:{tmp_path / 'train'}"))
    assert sum(flat.sizes.values()) == 16


@pytest.mark.parametrize(
    "name, classes", [("imdb_reviews", 2), ("ag_news_subset", 4), ("glue/sst2", 2)]
)
def test_tfds_text_datasets_load_with_real_loading_code(name, classes, tmp_path):
    import tensorflow_datasets as tfds

    from dlsuite.apps.nlp.data import load_splits

    with tfds.testing.mock_data(num_examples=6, data_dir=str(tmp_path)):
        splits = load_splits(NLPConfig(data=f"tfds:{name}", data_dir=str(tmp_path)))
        assert len(splits.class_names) == classes and splits.info["kind"] == "tfds"
        text, label = next(iter(splits.test))
        assert text.dtype == "string" and text.shape == () and 0 <= int(label) < classes
    if name.startswith("glue/"):
        assert "test=validation" in splits.info["preprocessing"]  # GLUE's test labels are hidden


# ------------------------------------------------------------------------- models, training, export


@pytest.mark.parametrize("name", ["bag_of_embeddings", "bilstm", "transformer"])
def test_classifiers_take_strings(name, langid_texts):
    """Strings in, probabilities out (training through `fit` on strings: `nlp_tiny_run`)."""
    import tensorflow as tf

    from dlsuite.apps.nlp.classify.models import build_classifier
    from dlsuite.apps.nlp.tokenizers import train_tokenizer

    tokenizer = train_tokenizer("word", langid_texts, 300, sequence_length=10)
    model = build_classifier(name, tokenizer, 3, embedding_dim=8, dropout=0.0)
    assert model.name == name and model.input.dtype == "string" and model.output.shape == (None, 3)
    probabilities = model(tf.constant(langid_texts[:8])).numpy()
    assert probabilities.shape == (8, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    with pytest.raises(ValueError, match="num_classes=1"):
        build_classifier(name, tokenizer, 1)


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="model='gpt'|model='resnet'"):
        NLPConfig(model="resnet")
    with pytest.raises(ValueError, match="embedding_dim=30"):
        NLPConfig(embedding_dim=30, num_heads=4)
    with pytest.raises(ValueError, match="tokenizer='chars'"):
        NLPConfig(tokenizer="chars")


def test_tiny_run_records_the_tokenizer_and_reloads_for_evaluation(nlp_tiny_run):
    from dlsuite.apps.nlp.train import evaluate_run

    metrics = nlp_tiny_run.metrics
    assert metrics["app"] == "nlp" and metrics["model"] == "transformer"
    assert (
        metrics["tokenizer"]["kind"] == "WordPieceTokenizer"
        and metrics["tokenizer"]["sequence_length"] == 16
    )
    assert (
        metrics["data"]["class_names"] == ["en_US", "de_DE", "fr_FR"]
        and metrics["data"]["input_shape"] == []
    )
    assert metrics["flops_per_example"] > 2 * 16 * 16 * 16 * 4  # the attention projections alone
    assert metrics["evaluation"]["num_examples"] == metrics["data"]["splits"]["test"]
    report = evaluate_run(nlp_tiny_run.run.path, "test")
    assert report["accuracy"] == pytest.approx(metrics["evaluation"]["accuracy"])
    assert (nlp_tiny_run.run.path / "confusion_matrix.png").is_file()


def test_export_reloads_and_matches_the_in_memory_model_on_strings(nlp_tiny_run, nlp_tiny_export):
    import tensorflow as tf

    from dlsuite.apps.nlp.classify.export import text_example
    from dlsuite.serving.signatures import CLASSIFY_METHOD, read_signature_defs
    from dlsuite.serving.warmup import read_warmup_requests

    version = nlp_tiny_export
    assert version.name == "1" and version.parent.name == "langid"
    texts = [
        "Das ist nicht mein Haus.",
        "Where is the station?",
        "Il fait beau aujourd'hui!",
        "",
        "Ünïcödé ✓",
    ]
    expected = nlp_tiny_run.model(tf.constant(texts)).numpy()
    loaded = tf.saved_model.load(str(version))
    out = loaded.signatures["serving_default"](text=tf.constant(texts))
    np.testing.assert_allclose(out["scores"].numpy(), expected, atol=1e-5)
    names = np.array(["en_US", "de_DE", "fr_FR"])
    assert [s.decode() for s in out["labels"].numpy()] == names[expected.argmax(-1)].tolist()
    examples = tf.constant([text_example(t).SerializeToString() for t in texts])
    classify = loaded.signatures["classify"](inputs=examples)
    np.testing.assert_allclose(classify["scores"].numpy(), expected, atol=1e-5)
    assert classify["classes"].numpy()[0].tolist() == [n.encode() for n in names]
    assert read_signature_defs(version)["classify"].method_name == CLASSIFY_METHOD
    manifest = json.loads((version / "assets.extra" / "manifest.json").read_text())
    assert (
        manifest["nlp"]["labels"] == names.tolist()
        and manifest["nlp"]["tokenizer"]["kind"] == "WordPieceTokenizer"
    )
    warmup = list(read_warmup_requests(version))
    assert len(warmup) == 3 and warmup[-1].HasField("classify_log")
    from dlsuite.apps.common.runs import dataset_for_run

    test_texts = {t for t, _ in dataset_for_run(nlp_tiny_run.run.path, "test").as_numpy_iterator()}
    sent = tf.make_ndarray(warmup[1].predict_log.request.inputs["text"])
    assert len(sent) == 4 and set(sent.tolist()) <= test_texts  # real held-out sentences
