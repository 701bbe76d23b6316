"""`dlsuite.layers` and `dlsuite.models`: the public layers and the app models by name."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

# the smallest configuration of each model, and the input batch it answers
TEXTS = ["a b c", "b c d"]  # the training strings of the tiny text classifiers
_TINY_TEXT = {"num_classes": 3, "texts": TEXTS, "vocab_size": 20, "sequence_length": 8}
_TINY_NLP = {"num_layers": 1, "num_heads": 2, "hidden_dim": 8, "intermediate_dim": 16}
TINY = {
    "lenet5": {"num_classes": 3, "input_shape": (32, 32, 1)},
    "alexnet": {"num_classes": 3, "input_shape": (32, 32, 3), "dense_units": 8},
    "resnet20": {"num_classes": 3, "input_shape": (16, 16, 3)},
    "resnet32": {"num_classes": 3, "input_shape": (16, 16, 3)},
    "resnet56": {"num_classes": 3, "input_shape": (16, 16, 3)},
    "resnet50": {"num_classes": 3, "input_shape": (32, 32, 3)},
    "speech_dnn": {"num_classes": 3, "num_samples": 4000, "units": (8,)},
    "speech_cnn": {"num_classes": 3, "num_samples": 4000, "filters": 4},
    "speech_ds_cnn": {"num_classes": 3, "num_samples": 4000, "filters": 4, "num_blocks": 1},
    "speech_bilstm_attention": {"num_classes": 3, "num_samples": 4000, "units": 4},
    "speech_ctc": {"num_classes": 3, "num_samples": 4000, "filters": 4, "units": 4},
    "dcgan_generator": {"latent_dim": 4, "image_shape": (8, 8, 1), "filters": 4},
    "dcgan_discriminator": {"image_shape": (8, 8, 1), "filters": 4},
    "text_transformer": {
        **_TINY_TEXT,
        "embedding_dim": 8,
        "num_layers": 1,
        "num_heads": 2,
        "intermediate_dim": 16,
    },
    "text_bilstm": {**_TINY_TEXT, "embedding_dim": 8, "units": 4},
    "text_bag_of_embeddings": {**_TINY_TEXT, "embedding_dim": 8},
    "gpt": {"vocabulary_size": 20, "sequence_length": 8, **_TINY_NLP},
    "transformer_seq2seq": {
        "source_vocabulary_size": 20,
        "target_vocabulary_size": 30,
        "source_length": 4,
        "target_length": 6,
        **_TINY_NLP,
    },
}


def tiny_batch(name, model, rng):
    """Two input rows for the model ``name`` of `TINY`."""
    if name.startswith("text_"):
        return np.array(["a b c d", "d unseen"])  # (2,) strings
    if name == "gpt":
        return rng.integers(1, 20, (2, 8)).astype("int32")  # (2, T) token ids
    if name == "transformer_seq2seq":
        return rng.integers(1, 20, (2, 4 + 6)).astype("int32")  # (2, S + T) ids
    return rng.uniform(0, 1, (2, *model.inputs[0].shape[1:])).astype("float32")


def test_every_listed_model_builds_and_runs_on_a_tiny_batch():
    import dlsuite

    assert dlsuite.models.names() == sorted(TINY)
    rng = np.random.default_rng(0)
    for name, kwargs in TINY.items():
        model = dlsuite.models.get(name, **kwargs)
        assert model.built, name
        outputs = np.asarray(model(tiny_batch(name, model, rng), training=False))
        assert outputs.shape[0] == 2 and np.isfinite(outputs).all(), name
        if name.startswith(("resnet", "lenet", "alexnet", "speech", "text")):
            assert outputs.shape[-1] == 3, name
            np.testing.assert_allclose(outputs.sum(-1), 1.0, rtol=1e-5, err_msg=name)
        if name == "gpt":
            assert outputs.shape == (2, 8, 20)  # (B, T, vocabulary_size)
        if name == "transformer_seq2seq":
            assert outputs.shape == (2, 6, 30)  # (B, target_length, target_vocabulary_size)


def test_a_text_classifier_learns_its_tokenizer_from_texts_and_answers_strings():
    import tensorflow as tf

    import dlsuite

    model = dlsuite.models.get("text_bag_of_embeddings", num_classes=2, texts=TEXTS)
    tokenizer = model.get_layer("tokenizer")
    assert tokenizer.vocabulary_size() == 4 + 4  # [PAD, UNK, START, END] + a b c d
    assert tokenizer.sequence_length == 64  # the default
    assert model.input_shape == (None,) and model.output_shape == (None, 2)
    probabilities = np.asarray(model(tf.constant(["a b", "c d", "zzz"])))
    assert probabilities.shape == (3, 2)
    np.testing.assert_allclose(probabilities.sum(-1), 1.0, rtol=1e-5)

    # a tf.data dataset of scalar strings, a wordpiece tokenizer of the given size
    model = dlsuite.models.get(
        "text_bilstm",
        num_classes=2,
        texts=tf.data.Dataset.from_tensor_slices(TEXTS * 3),
        vocab_size=12,
        sequence_length=5,
        tokenizer_kind="wordpiece",
        units=4,
    )
    tokenizer = model.get_layer("tokenizer")
    assert type(tokenizer).__name__ == "WordPieceTokenizer"
    assert tokenizer.sequence_length == 5 and tokenizer.vocabulary_size() <= 12
    assert np.asarray(model(tf.constant(["a b c d e f g"]))).shape == (1, 2)

    # a trained tokenizer is used as it is
    model = dlsuite.models.get("text_transformer", num_classes=2, tokenizer=tokenizer)
    assert model.get_layer("tokenizer") is tokenizer


@pytest.mark.parametrize("name", ["text_transformer", "gpt", "transformer_seq2seq"])
def test_nlp_models_survive_a_keras_save_and_load(name, tmp_path):
    import keras

    import dlsuite

    model = dlsuite.models.get(name, **TINY[name])
    batch = tiny_batch(name, model, np.random.default_rng(1))
    expected = np.asarray(model(batch, training=False))
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    assert type(loaded) is type(model)
    np.testing.assert_allclose(np.asarray(loaded(batch, training=False)), expected, atol=1e-6)


def test_text_classifiers_refuse_a_missing_or_doubled_tokenizer_naming_the_fix():
    import dlsuite
    from dlsuite.apps.nlp.tokenizers import train_tokenizer

    tokenizer = train_tokenizer("word", TEXTS, 20, sequence_length=8)
    fix = r"either tokenizer= .* or texts= .*"
    with pytest.raises(ValueError, match=fix + "it got neither"):
        dlsuite.models.get("text_bilstm", num_classes=2)
    with pytest.raises(ValueError, match=fix + "it got both"):
        dlsuite.models.get("text_bilstm", num_classes=2, tokenizer=tokenizer, texts=TEXTS)
    with pytest.raises(ValueError, match=r"vocab_size size a tokenizer .*drop them"):
        dlsuite.models.get("text_bilstm", num_classes=2, tokenizer=tokenizer, vocab_size=50)
    with pytest.raises(ValueError, match=r"not one string; wrap it in a list"):
        dlsuite.models.get("text_bilstm", num_classes=2, texts="a b c")
    with pytest.raises(ValueError, match=r"tokenizer_kind expected one of \('word', 'wordpiece'\)"):
        dlsuite.models.get("text_bilstm", num_classes=2, texts=TEXTS, tokenizer_kind="bpe")
    with pytest.raises(
        TypeError, match=r"unknown options \['hidden_dim'\]; it takes: embedding_dim"
    ):
        dlsuite.models.get("text_bilstm", num_classes=2, texts=TEXTS, hidden_dim=8)


def test_defaults_and_the_keras_habit_of_sizing_by_keyword():
    import dlsuite

    model = dlsuite.models.get("resnet20", num_classes=10)
    assert model.name == "resnet20" and model.input_shape == (None, 32, 32, 3)
    assert model.output_shape == (None, 10)


def test_unknown_names_and_arguments_are_refused_naming_the_known_ones():
    import dlsuite

    with pytest.raises(ValueError, match=r"unknown model 'resnet18'.*'resnet20'"):
        dlsuite.models.get("resnet18", num_classes=10)
    with pytest.raises(TypeError, match=r"lenet5 takes: input_shape, num_classes, dropout"):
        dlsuite.models.get("lenet5", num_classes=10, classes=10)
    with pytest.raises(TypeError, match=r"num_classes"):
        dlsuite.models.get("lenet5")
    with pytest.raises(
        TypeError, match=r"'vocabulary_size'; gpt takes: vocabulary_size, .*\*\*options"
    ):
        dlsuite.models.get("gpt")


def test_layers_are_the_registered_core_layers_and_compose():
    import keras

    import dlsuite
    from dlsuite import core_layers

    assert sorted(dlsuite.layers.__all__) == sorted(core_layers.__all__)
    assert dlsuite.layers.TransformerEncoderBlock is core_layers.TransformerEncoderBlock
    name = keras.saving.get_registered_name(dlsuite.layers.TransformerEncoderBlock)
    assert name == "dlsuite>TransformerEncoderBlock"
    tokens = keras.Input((None,), dtype="int32")
    h = dlsuite.layers.PositionalEmbedding(50, 8, max_length=16, mask_zero=True)(tokens)
    h = dlsuite.layers.TransformerEncoderBlock(num_heads=2, intermediate_dim=16)(h)
    model = keras.Model(tokens, h)
    assert model(np.ones((2, 5), "int32")).shape == (2, 5, 8)


def test_importing_dlsuite_layers_and_models_names_stays_lazy():
    code = (
        "import sys, dlsuite; assert {'layers', 'models'} <= set(dir(dlsuite));"
        "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
