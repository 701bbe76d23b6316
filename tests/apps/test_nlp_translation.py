"""Translation (task=translate) parts: data, schedule, loss, cached decoder, greedy and beam
search, scores."""

from __future__ import annotations

import math

import numpy as np
import pytest


def translate_config(**overrides):
    from dlsuite.apps.nlp.config import NLPConfig

    values = dict(
        task="translate",
        model="transformer_seq2seq",
        data="builtin:numbers",
        tokenizer="wordpiece",
        vocab_size=120,
        sequence_length=12,
        embedding_dim=16,
        intermediate_dim=32,
        num_layers=1,
        num_heads=2,
        numbers_count=200,
        numbers_max=999,
        verbose=0,
    )
    return NLPConfig(**{**values, **overrides})


def test_builtin_numbers_splits_never_share_a_number():
    from num2words import num2words

    from dlsuite.apps.nlp.translate.data import load_splits

    splits = load_splits(translate_config(numbers_pair="en-de"))
    seen = {}
    for name in ("train", "validation", "test"):
        pairs = [(s.decode(), t.decode()) for s, t in getattr(splits, name).as_numpy_iterator()]
        assert len(pairs) == splits.sizes[name]
        seen[name] = {s for s, _ in pairs}
    assert sum(splits.sizes.values()) == 200
    assert not (seen["train"] & seen["test"]) and not (seen["train"] & seen["validation"])
    assert not (seen["validation"] & seen["test"])
    source, target = next(splits.train.as_numpy_iterator())
    number = {num2words(n, lang="en"): n for n in range(1000)}[source.decode()]
    assert target.decode() == num2words(number, lang="de")
    assert splits.info["pair"] == "en-de" and splits.info["version"].startswith("num2words")


def test_numbers_options_are_checked():
    with pytest.raises(ValueError, match="numbers_pair=.de-fr."):
        translate_config(numbers_pair="de-fr")
    with pytest.raises(ValueError, match="label_smoothing=1.0"):
        translate_config(label_smoothing=1.0)
    with pytest.raises(ValueError, match="model for task='translate'"):
        translate_config(model="bilstm")
    from dlsuite.apps.nlp.translate.data import load_splits

    with pytest.raises(ValueError, match="numbers_count=2000"):
        load_splits(translate_config(numbers_count=2000))


def test_tsv_pairs_and_their_errors(tmp_path):
    from dlsuite.apps.nlp.translate.data import load_splits, read_tsv_pairs

    good = tmp_path / "pairs.tsv"
    good.write_text("".join(f"s{i} x\tt{i} y\n" for i in range(20)) + "\n", encoding="utf-8")
    assert read_tsv_pairs(good)[0][:2] == ["s0 x", "s1 x"]
    splits = load_splits(translate_config(data=f"file:{good}"))
    assert sum(splits.sizes.values()) == 20
    cases = {
        "pairs.csv": ("a\tb\n", r"expected a \.tsv file"),
        "three.tsv": ("a\tb\nc\td\te\n", "line 2: expected source<TAB>target .2 fields., found 3"),
        "empty_target.tsv": ("a\t \n", "line 1: empty target"),
        "blank.tsv": ("\n\n", "has no source<TAB>target pairs"),
    }
    for name, (text, message) in cases.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
        with pytest.raises(ValueError, match=message):
            read_tsv_pairs(tmp_path / name)
    with pytest.raises(FileNotFoundError, match="missing.tsv"):
        read_tsv_pairs(tmp_path / "missing.tsv")


def test_tfds_ted_hrlr_with_mock_data(tmp_path):
    import tensorflow_datasets as tfds

    from dlsuite.apps.nlp.translate.data import load_splits

    with tfds.testing.mock_data(num_examples=12, data_dir=str(tmp_path)):
        splits = load_splits(
            translate_config(data="tfds:ted_hrlr_translate/pt_to_en", data_dir=str(tmp_path))
        )
        source, target = next(splits.train.as_numpy_iterator())
    assert isinstance(source, bytes) and isinstance(target, bytes)
    assert splits.info["pair"] == "pt-en" and set(splits.sizes) == {"train", "validation", "test"}


def test_warmup_schedule_follows_the_paper():
    import keras

    from dlsuite.apps.common.schedules import TransformerSchedule

    schedule = TransformerSchedule(512, 4000)
    for step in (0, 99, 3999, 4000, 99999):  # Keras counts from 0, the paper from 1
        n = step + 1
        expected = 512**-0.5 * min(n**-0.5, n * 4000**-1.5)
        assert float(schedule(step)) == pytest.approx(expected, rel=1e-5)
    peak = TransformerSchedule.for_peak(2e-3, 64, 300)
    assert float(peak(299)) == pytest.approx(2e-3, rel=1e-5)
    assert float(peak(150)) < float(peak(299)) and float(peak(1199)) == pytest.approx(
        1e-3, rel=1e-5
    )
    restored = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(peak))
    assert isinstance(restored, TransformerSchedule) and restored.get_config() == peak.get_config()
    with pytest.raises(ValueError, match="warmup_steps=0"):
        TransformerSchedule(64, 0)


def test_label_smoothed_crossentropy_ignores_padding():
    from dlsuite.apps.nlp.losses import LabelSmoothedCrossentropy, MaskedTokenAccuracy

    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 3, 5)).astype("float32")
    labels = np.array([[4, 2, 0], [1, 0, 0]])
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    real = [(0, 0), (0, 1), (1, 0)]
    for epsilon in (0.0, 0.1):
        expected = np.mean(
            [
                -(1 - epsilon) * logp[b, t, labels[b, t]] - epsilon * logp[b, t].mean()
                for b, t in real
            ]
        )
        assert float(LabelSmoothedCrossentropy(epsilon)(labels, logits)) == pytest.approx(
            expected, rel=1e-5
        )
    hits = np.mean([logits[b, t].argmax() == labels[b, t] for b, t in real])
    metric = MaskedTokenAccuracy()
    metric.update_state(labels, logits)
    metric.update_state(
        labels[:1], logits[:1]
    )  # counts tokens, not batches: 2 + 3 real tokens in all
    first = np.mean([logits[0, t].argmax() == labels[0, t] for t in (0, 1)])
    assert float(metric.result()) == pytest.approx((hits * 3 + first * 2) / 5)
    assert LabelSmoothedCrossentropy(0.2).get_config()["label_smoothing"] == 0.2
    with pytest.raises(ValueError, match="label_smoothing=1.5"):
        LabelSmoothedCrossentropy(1.5)


def toy_step(table):
    """A decoder whose next-token distribution depends only on the previous token:
    ``table[prev]``."""
    import tensorflow as tf

    log_table = tf.math.log(tf.constant(table, tf.float32))

    def step(tokens, state, static, index):
        return tf.gather(log_table, tokens[:, 0]), state

    return step


def test_beam_search_finds_a_more_likely_sequence_than_greedy():
    import tensorflow as tf

    from dlsuite.apps.nlp.translate.decoding import beam_search, greedy_search

    # ids: 0 pad, 1 unk, 2 start, 3 end, 4 "A", 5 "B". Greedy takes A (0.6) then can only end
    # with 0.35: p(A end) = 0.21; beam search finds B (0.4) followed by a sure end:
    # p(B end) = 0.396.
    uniform = [0.2] * 6
    table = [
        uniform,
        uniform,
        [0.0, 0.0, 0.0, 0.0, 0.6, 0.4],
        uniform,
        [0.0, 0.0, 0.0, 0.35, 0.33, 0.32],
        [0.0, 0.0, 0.0, 0.99, 0.005, 0.005],
    ]
    step, state = toy_step(table), tf.zeros([1, 1])
    greedy, greedy_logp = greedy_search(step, state, state, 1, 4)
    beam, beam_score = beam_search(step, state, state, 1, 4, beam_size=2)
    assert greedy.numpy().tolist() == [[4, 3, 0, 0]]
    assert beam.numpy().tolist() == [[5, 3, 0, 0]]
    assert float(greedy_logp[0]) == pytest.approx(math.log(0.6 * 0.35), rel=1e-5)
    penalty = ((5 + 2) / 6) ** 0.6
    assert float(beam_score[0]) == pytest.approx(math.log(0.4 * 0.99) / penalty, rel=1e-5)
    with pytest.raises(ValueError, match="beam_size=0"):
        beam_search(step, state, state, 1, 4, beam_size=0)


def test_beam_search_over_a_batch_keeps_examples_apart():
    import tensorflow as tf

    from dlsuite.apps.nlp.translate.decoding import beam_search

    table = [[0.2] * 6] * 2 + [
        [0.0, 0.0, 0.0, 0.0, 0.6, 0.4],
        [0.2] * 6,
        [0.0, 0.0, 0.0, 0.35, 0.33, 0.32],
        [0.0, 0.0, 0.0, 0.99, 0.005, 0.005],
    ]
    state = tf.zeros([3, 1])
    beam, _ = beam_search(toy_step(table), state, state, 3, 3, beam_size=3)
    assert beam.numpy().tolist() == [[5, 3, 0]] * 3


def tiny_seq2seq():
    from dlsuite.apps.nlp.tokenizers import train_tokenizer
    from dlsuite.apps.nlp.translate.models.seq2seq import TransformerSeq2Seq

    source = train_tokenizer("word", ["one two three", "four five"], 20, 6, name="source_tokenizer")
    target = train_tokenizer(
        "wordpiece", ["eins zwei drei", "vier fünf"], 40, name="target_tokenizer"
    )
    model = TransformerSeq2Seq(
        source.vocabulary_size(),
        target.vocabulary_size(),
        6,
        5,
        num_layers=2,
        num_heads=2,
        hidden_dim=8,
        intermediate_dim=16,
        dropout=0.0,
        source_tokenizer=source,
        target_tokenizer=target,
        name="transformer_seq2seq",
    )
    model.build((None, 11))
    return model


def test_cached_decoding_matches_the_full_forward_pass():
    import tensorflow as tf

    model = tiny_seq2seq()
    source = model.source_tokenizer(tf.constant(["one two three", "four"]))  # (2, 6)
    decoder_in = tf.constant([[2, 5, 6, 7, 0], [2, 8, 4, 0, 0]], tf.int32)
    full = model(tf.concat([source, decoder_in], axis=1)).numpy()  # (2, 5, V)
    encoded, mask = model.encode(source)
    cross, cache = model.cross_attention_caches(encoded), model.empty_cache(2)
    for i in range(5):
        logits, cache = model.decode_step(decoder_in[:, i : i + 1], cache, i, cross, mask)
        np.testing.assert_allclose(logits.numpy()[:, 0], full[:, i], atol=1e-5)


def test_seq2seq_round_trips_through_keras_saving(tmp_path):
    import keras
    import tensorflow as tf

    from dlsuite.apps.nlp.translate.decoding import translate_texts

    model = tiny_seq2seq()
    model.save(tmp_path / "m.keras")
    restored = keras.saving.load_model(tmp_path / "m.keras", compile=False)
    texts = tf.constant(["one two", "five four three"])
    for beam in (1, 3):
        expected, _ = translate_texts(model, texts, beam)
        got, _ = translate_texts(restored, texts, beam)
        assert got.numpy().tolist() == expected.numpy().tolist()
    assert restored.target_tokenizer.vocabulary == model.target_tokenizer.vocabulary
    with pytest.raises(ValueError, match="Received: num_heads=0"):
        type(model)(10, 10, 4, 4, num_heads=0)


def test_scores_with_sacrebleu():
    import sacrebleu

    from dlsuite.apps.nlp.translate.translation_metrics import score_translations

    hypotheses = ["drei hundert zwölf", "vier", "eins zwei"]
    references = ["drei hundert zwölf", "fünf", "eins zwei"]
    scores = score_translations(hypotheses, references)
    assert scores["exact_match"] == pytest.approx(2 / 3)
    assert scores["bleu"] == pytest.approx(sacrebleu.corpus_bleu(hypotheses, [references]).score)
    assert scores["chrf"] == pytest.approx(sacrebleu.corpus_chrf(hypotheses, [references]).score)
    assert "version:2.6.0" in scores["bleu_signature"] and scores["num_sentences"] == 3
    sentences = ["neun tausend drei hundert und zwölf", "vier hundert und zwei und zwanzig"]
    assert score_translations(sentences, sentences)["bleu"] == pytest.approx(100.0)
    assert (
        score_translations(["dreihundertzwölf"], ["dreihundertzwölf"])["bleu"] == 0.0
    )  # no 4-grams: BLEU is 0
    with pytest.raises(ValueError, match="2 hypotheses, 3 references"):
        score_translations(hypotheses[:2], references)
