"""Explanations (`apps.common.explain`): Grad-CAM of a model that only sees one quadrant lights
that quadrant, integrated gradients add up to f(x) - f(0), token attributions for text, and the
``explain`` signature served from a SavedModel."""

import json

import numpy as np
import pytest

from dlsuite.apps.common.explain import (
    examples_per_class,
    explain_function,
    grad_cam,
    integrated_gradients,
    last_conv_layer,
    token_attributions,
)


def quadrant_model():
    """A classifier of 16x16 images that sees only their top-left quadrant, hand-set: the image
    cropped to that quadrant and zero-padded back (fixed layers), a 3x3 conv of ones (no bias)
    measuring brightness, global average pooling and a dense layer: class 1 is "bright"."""
    import keras

    inputs = keras.Input((16, 16, 1), name="image")
    h = keras.layers.Cropping2D(((0, 8), (0, 8)), name="top_left")(inputs)  # (B, 8, 8, 1)
    h = keras.layers.ZeroPadding2D(((0, 8), (0, 8)), name="back_to_size")(h)  # (B, 16, 16, 1)
    conv = keras.layers.Conv2D(2, 3, padding="same", use_bias=False, activation="relu", name="conv")
    h = keras.layers.GlobalAveragePooling2D(name="pool")(conv(h))
    dense = keras.layers.Dense(2, name="logits")
    probabilities = keras.layers.Activation("softmax", name="probabilities")(dense(h))
    model = keras.Model(inputs, probabilities, name="quadrant")
    ones = np.ones((3, 3, 1, 1), np.float32) / 9
    conv.set_weights([np.concatenate([ones, -ones], axis=-1)])  # brightness, darkness
    dense.set_weights([np.array([[-40.0, 40.0], [0.0, 0.0]], np.float32), np.array([1.0, -1.0])])
    return model


def four_squares(n=3):
    """(n, 16, 16, 1) float32: a bright 4x4 square in the middle of every quadrant."""
    x = np.zeros((n, 16, 16, 1), np.float32)
    for top in (2, 10):
        for left in (2, 10):
            x[:, top : top + 4, left : left + 4] = 1.0
    return x


def test_grad_cam_of_a_model_that_sees_one_quadrant_lights_that_quadrant():
    model = quadrant_model()
    x = four_squares()
    assert last_conv_layer(model) == "conv"
    maps, targets, report = grad_cam(model, x, targets=[1, 1, 1])
    assert maps.shape == (3, 16, 16) and maps.dtype == np.float32
    assert maps.max() == 1.0 and maps.min() == 0.0
    top_left = maps[:, :8, :8].sum(axis=(1, 2))
    np.testing.assert_allclose(top_left / maps.sum(axis=(1, 2)), 1.0)  # nothing elsewhere
    assert np.all(maps[:, 3:5, 3:5] == 1.0)  # brightest over the middle of its square
    assert report == {
        "method": "Grad-CAM (Selvaraju et al. 2017)",
        "layer": "conv",
        "score": "logits",
        "target": "given class",
        "map_shape": [16, 16],
        "empty_maps": 0,
    }
    predicted = grad_cam(model, x, layer="conv")
    np.testing.assert_array_equal(predicted.targets, [1, 1, 1])  # the squares are bright
    assert predicted.report["target"] == "predicted class"


def test_grad_cam_names_a_model_without_a_feature_map():
    import keras

    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(inputs))
    with pytest.raises(ValueError, match="integrated_gradients"):
        grad_cam(model, np.zeros((1, 4), np.float32))
    with pytest.raises(ValueError, match="height, width, channels"):
        grad_cam(quadrant_model(), four_squares(), layer="pool")


def test_integrated_gradients_of_the_quadrant_model_stay_in_its_quadrant():
    attributions, targets, report = integrated_gradients(quadrant_model(), four_squares())
    assert attributions.shape == (3, 16, 16, 1)
    np.testing.assert_array_equal(targets, [1, 1, 1])
    outside = attributions.copy()
    outside[:, :8, :8] = 0
    assert np.all(outside == 0) and np.all(attributions[:, 2:6, 2:6] > 0)
    assert report["completeness"]["max_relative_error"] < 0.01


def small_conv_net():
    """An untrained conv net (seeded) on 12x12 pixels 0-255, rescaled in the graph."""
    import keras

    keras.utils.set_random_seed(3)
    inputs = keras.Input((12, 12, 1), name="image")
    h = keras.layers.Rescaling(1 / 255)(inputs)
    h = keras.layers.Conv2D(6, 3, activation="relu")(h)
    h = keras.layers.Conv2D(6, 3, activation="relu")(h)
    h = keras.layers.Dense(16, activation="relu")(keras.layers.Flatten()(h))
    logits = keras.layers.Dense(3, name="logits")(h)
    return keras.Model(inputs, keras.layers.Activation("softmax", name="probabilities")(logits))


def test_integrated_gradients_sum_to_the_score_difference():
    model = small_conv_net()
    x = np.random.default_rng(0).uniform(0, 255, (5, 12, 12, 1)).astype(np.float32)
    attributions, targets, report = integrated_gradients(model, x, steps=50, batch_size=2)
    difference = (
        np.asarray(model(x))[np.arange(5), targets]
        - np.asarray(model(np.zeros_like(x)))[np.arange(5), targets]
    )
    sums = attributions.reshape(5, -1).sum(axis=1)
    np.testing.assert_allclose(sums, difference, rtol=0.05, atol=1e-4)
    completeness = report["completeness"]
    assert completeness["max_abs_error"] == pytest.approx(np.abs(sums - difference).max(), abs=1e-6)
    assert completeness["max_relative_error"] < 0.05
    assert report["steps"] == 50 and report["baseline"] == "zeros" and report["layer"] == "input"
    assert json.loads(json.dumps(report)) == report
    given = integrated_gradients(model, x, targets=[0, 1, 2, 0, 1]).targets
    np.testing.assert_array_equal(given, [0, 1, 2, 0, 1])


def test_integrated_gradients_of_a_keyword_spotter_on_its_normalised_features():
    """The level-invariant front end: attributions on the "cmvn" output, a time x mel map."""
    from dlsuite.apps.speech.models import build_model

    model = build_model("cnn", 1600, 3, frontend={"features": "log_mel"}, seed=0)
    x = np.random.default_rng(0).uniform(-0.5, 0.5, (3, 1600)).astype(np.float32)
    attributions, _, report = integrated_gradients(model, x, layer="cmvn", steps=50)
    assert attributions.shape == (3, *model.get_layer("cmvn").output.shape[1:])
    assert report["layer"] == "cmvn" and report["completeness"]["max_relative_error"] < 0.05


def text_model():
    """An untrained bag-of-embeddings classifier (seeded) over a 9-word vocabulary."""
    import keras

    from dlsuite.apps.nlp.classify.models.bag_of_embeddings import build_bag_of_embeddings
    from dlsuite.apps.nlp.tokenizers import WordTokenizer

    keras.utils.set_random_seed(4)
    words = ["good", "bad", "film", "the", "plot", "was", "very", "dull", "great"]
    tokenizer = WordTokenizer(["", "[UNK]", "[START]", "[END]", *words], sequence_length=6)
    return build_bag_of_embeddings(tokenizer, 2, embedding_dim=8, dropout=0.0)


TEXTS = ["the film was very good", "dull plot", "great"]


def test_token_attributions_sum_to_the_score_difference_and_skip_padding():
    model = text_model()
    tokens, attributions, targets, report = token_attributions(model, TEXTS, batch_size=2)
    assert tokens == [["the", "film", "was", "very", "good"], ["dull", "plot"], ["great"]]
    assert attributions.shape == (3, 6)
    lengths = [len(t) for t in tokens]
    assert all(
        np.all(row[n:] == 0) and np.all(row[:n] != 0)
        for row, n in zip(attributions, lengths, strict=True)
    )
    assert report["completeness"]["max_relative_error"] < 0.05
    assert report["layer"] == "embedding"
    assert json.loads(json.dumps(report)) == report
    np.testing.assert_array_equal(targets, np.asarray(model(np.array(TEXTS))).argmax(-1))


def test_explain_signature_serves_the_attributions_from_a_saved_model(tmp_path):
    import keras
    import tensorflow as tf

    for model, x in ((quadrant_model(), four_squares()), (text_model(), np.array(TEXTS))):
        explain = explain_function(model, steps=32)
        kinds = {op.type for op in explain.get_concrete_function().graph.get_operations()}
        assert not kinds & {"PyFunc", "PyFuncStateless", "EagerPyFunc"}
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.add_endpoint("explain", explain)
        archive.write_out(str(tmp_path / model.name), verbose=False)
        loaded = tf.saved_model.load(str(tmp_path / model.name))  # owns the variables
        served = loaded.explain(tf.constant(x))
        if model.name == "quadrant":
            eager = integrated_gradients(model, x, steps=32)
        else:
            eager = token_attributions(model, x, steps=32)
        np.testing.assert_allclose(served["attributions"].numpy(), eager.attributions, atol=1e-5)
        np.testing.assert_array_equal(served["class_ids"].numpy(), eager.targets)


def test_examples_per_class_picks_the_first_of_every_class():
    np.testing.assert_array_equal(examples_per_class([2, 0, 2, 1, 0, 2], 2), [1, 4, 3, 0, 2])


def test_heat_map_and_token_plots_write_pngs(tmp_path):
    from dlsuite.apps.common.plots import plot_heat_maps, plot_token_attributions

    x = four_squares()
    cam = grad_cam(quadrant_model(), x)
    names = ["dark", "bright"]
    rng = np.random.default_rng(0)
    written = [
        plot_heat_maps(x, cam.maps, [1, 1, 1], names, tmp_path / "images.png", title="Grad-CAM"),
        # a keyword spotter: waveforms in, time x frequency maps out
        plot_heat_maps(
            rng.standard_normal((2, 800)),
            rng.random((2, 20, 8)),
            [0, 1],
            names,
            tmp_path / "spectrogram.png",
        ),
        # integrated gradients of waveforms: one attribution per sample
        plot_heat_maps(
            rng.standard_normal((2, 800)),
            rng.standard_normal((2, 800)),
            [0, 1],
            names,
            tmp_path / "waves.png",
        ),
    ]
    tokens = token_attributions(text_model(), TEXTS)
    written.append(
        plot_token_attributions(
            tokens.tokens, tokens.attributions, [1, 0, 1], names, tmp_path / "tokens.png"
        )
    )
    assert all(path.read_bytes().startswith(b"\x89PNG") for path in written)


def test_a_dense_head_after_preprocessing_has_no_grad_cam_layer():
    """The DBN classifier (Rescaling, Flatten, RBMs, softmax) has a 4-D Rescaling output but no
    convolution: no Grad-CAM layer, so the evaluation explains it by integrated gradients."""
    from dlsuite.apps.common.explain import integrated_gradients, last_conv_layer
    from dlsuite.apps.generative.dbn import build_dbn_classifier

    model = build_dbn_classifier((8, 8, 1), 3, units=16, layers=2, k=1)
    with pytest.raises(ValueError, match="no convolution"):
        last_conv_layer(model)
    x = np.random.default_rng(0).uniform(0, 255, (2, 8, 8, 1)).astype("float32")
    report = integrated_gradients(model, x, steps=16).report
    assert report["completeness"]["max_relative_error"] < 0.05
