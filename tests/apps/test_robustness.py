"""Robustness (`apps.common.robustness`): FGSM and PGD on a small trained digit classifier, the
seeded corruption suite of every modality, and the corruption accuracy table."""

import json

import numpy as np
import pytest

from dlsuite.apps.common.robustness import (
    CORRUPTIONS,
    SEVERITIES,
    corrupt,
    corruption_accuracy,
    fgsm_accuracy,
    pgd_accuracy,
)

EPSILONS = (0.0, 4.0, 8.0, 16.0, 32.0, 64.0)  # pixels 0-255
RATE = 16000


@pytest.fixture(scope="module")
def digits():
    """``(model, x, y)``: a conv net (pixels 0-255 rescaled in the graph, as the suite's vision
    models) trained 5 epochs on 1,400 sklearn 8x8 digits (about 2 s), and 200 held-out ones."""
    import keras
    from sklearn.datasets import load_digits

    data = load_digits()
    x = (data.images[..., None] * 255 / 16).astype(np.float32)  # (1797, 8, 8, 1) in 0-255
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 1), name="image")
    h = keras.layers.Rescaling(1 / 255)(inputs)
    h = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv")(h)
    h = keras.layers.Flatten()(keras.layers.MaxPooling2D()(h))
    logits = keras.layers.Dense(10, name="logits")(h)
    model = keras.Model(inputs, keras.layers.Activation("softmax", name="probabilities")(logits))
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    model.fit(x[:1400], data.target[:1400], epochs=5, batch_size=64, verbose=0)
    return model, x[1400:1600], data.target[1400:1600]


def accuracy(model, x, y):
    return float(np.mean(np.asarray(model(x)).argmax(-1) == y))


def test_fgsm_at_zero_is_clean_accuracy_and_falls_as_epsilon_rises(digits):
    model, x, y = digits
    report, example = fgsm_accuracy(model, x, y, EPSILONS, value_range=(0, 255))
    curve = [report["accuracy"][str(e)] for e in EPSILONS]
    assert curve[0] == report["clean_accuracy"] == accuracy(model, x, y) > 0.7
    assert all(a > b for a, b in zip(curve, curve[1:], strict=False)), curve
    assert curve[-1] < 0.2
    assert report["applicable"] and report["norm"] == "linf" and report["steps"] == 1
    assert report["loss"] == "cross-entropy of the logits layer"
    assert json.loads(json.dumps(report)) == report
    # The example: a correct digit flipped at the largest epsilon, within the ball and 0-255.
    assert example.epsilon == 64.0 and example.clean_prediction == example.label
    assert example.adversarial_prediction != example.label
    assert np.abs(example.perturbed - example.clean).max() <= 64.0 + 1e-3
    assert example.perturbed.min() >= 0 and example.perturbed.max() <= 255
    assert report["example"]["adversarial_prediction"] == example.adversarial_prediction


def test_pgd_is_at_least_as_strong_as_fgsm(digits, tmp_path):
    from dlsuite.apps.common.plots import plot_adversarial_example

    model, x, y = digits
    fgsm = fgsm_accuracy(model, x, y, EPSILONS, value_range=(0, 255)).report["accuracy"]
    pgd, example = pgd_accuracy(model, x, y, EPSILONS, value_range=(0, 255), steps=10)
    assert pgd["accuracy"]["0.0"] == fgsm["0.0"]
    assert all(pgd["accuracy"][k] <= fgsm[k] for k in fgsm), (pgd["accuracy"], fgsm)
    assert sum(pgd["accuracy"].values()) < sum(fgsm.values())
    assert pgd["random_start"] and pgd["step_size"] == "0.25 x epsilon"
    assert np.abs(example.perturbed - example.clean).max() <= 64.0 + 1e-3
    again = pgd_accuracy(model, x, y, EPSILONS, value_range=(0, 255), steps=10)
    assert again.report == pgd  # seeded random start
    path = plot_adversarial_example(example, tmp_path / "adversarial.png", (0, 255))
    assert path.read_bytes().startswith(b"\x89PNG")


def test_attacks_go_through_a_keyword_spotters_front_end(tmp_path):
    """The gradient reaches the waveform through the in-graph log-mel front end."""
    from dlsuite.apps.common.plots import plot_adversarial_example
    from dlsuite.apps.speech.models import build_model

    model = build_model("cnn", 1600, 3, frontend={"features": "log_mel"}, seed=0)
    x = np.random.default_rng(0).uniform(-0.5, 0.5, (4, 1600)).astype(np.float32)
    y = np.asarray(model(x)).argmax(-1)  # its own predictions: clean accuracy 1
    report, example = fgsm_accuracy(model, x, y, [0.0, 0.01], value_range=(-1, 1))
    assert report["accuracy"]["0.0"] == 1.0
    moved = np.abs(example.perturbed - example.clean)
    assert moved.max() <= 0.01 + 1e-6 and np.mean(moved > 0.009) > 0.9  # sign steps everywhere
    path = plot_adversarial_example(example, tmp_path / "adversarial.png", (-1, 1))
    assert path.read_bytes().startswith(b"\x89PNG")


def test_attacks_on_text_are_reported_not_applicable():
    from dlsuite.apps.nlp.classify.models.bag_of_embeddings import build_bag_of_embeddings
    from dlsuite.apps.nlp.tokenizers import WordTokenizer

    tokenizer = WordTokenizer(["", "[UNK]", "[START]", "[END]", "good", "bad"], sequence_length=4)
    model = build_bag_of_embeddings(tokenizer, 2)
    for attack in (fgsm_accuracy, pgd_accuracy):
        report, example = attack(model, ["good", "bad"], [1, 0], [0.1], value_range=(0, 1))
        assert report["applicable"] is False and "text" in report["reason"]
        assert example is None


def test_attacks_name_bad_arguments(digits):
    model, x, y = digits
    with pytest.raises(ValueError, match="ascending"):
        fgsm_accuracy(model, x, y, [8.0, 4.0], value_range=(0, 255))
    with pytest.raises(ValueError, match="value_range"):
        fgsm_accuracy(model, x, y, [4.0], value_range=(255, 0))
    with pytest.raises(ValueError, match="same non-zero number"):
        pgd_accuracy(model, x, y[:3], [4.0], value_range=(0, 255))


def smooth_images(dtype=np.uint8):
    """(4, 32, 32, 3) images: seeded 8x8 noise upsampled, in 0-255."""
    import tensorflow as tf

    low = np.random.default_rng(0).integers(0, 256, (4, 8, 8, 3)).astype(np.float32)
    return tf.image.resize(low, (32, 32)).numpy().round().clip(0, 255).astype(dtype)


def tone_bursts():
    """(2, RATE) float32: tones of 150, 1,000 and 5,000 Hz from sample 4,000 to 12,000."""
    n = np.arange(RATE)
    burst = sum(
        a * np.sin(2 * np.pi * f * n / RATE) for a, f in ((0.3, 150), (0.5, 1e3), (0.3, 5e3))
    )
    return np.repeat(np.where((n >= 4000) & (n < 12000), burst, 0.0)[None], 2, 0).astype(np.float32)


def extent(wave):
    """Samples from the first to the last one above 0.01 in magnitude."""
    loud = np.flatnonzero(np.abs(wave) > 0.01)
    return loud[-1] - loud[0] + 1


TEXTS = ["the quick brown fox jumps over the lazy dog again and again"] * 20


def change(modality, corruption, severity, x, seed=1):
    """How much the corruption changes ``x``: the mean absolute difference (images, waveforms;
    for speed, how much shorter the tone burst gets), the share of characters edited (text)."""
    import difflib

    y = corrupt(x, modality, corruption, severity, seed=seed, sample_rate=RATE)
    if modality == "text":
        return np.mean(
            [1 - difflib.SequenceMatcher(None, a, b).ratio() for a, b in zip(x, y, strict=True)]
        )
    if corruption == "speed":
        return extent(x[0]) - extent(y[0])
    return np.abs(y.astype(np.float64) - x).mean()


CASES = [(modality, name) for modality in CORRUPTIONS for name in CORRUPTIONS[modality]]
INPUTS = {"vision": smooth_images, "speech": tone_bursts, "text": lambda: TEXTS}


@pytest.mark.parametrize("modality, corruption", CASES)
def test_each_corruption_changes_more_as_severity_rises_and_is_seeded(modality, corruption):
    x = INPUTS[modality]()
    changes = [change(modality, corruption, severity, x) for severity in (0, *SEVERITIES)]
    assert changes[0] == 0
    assert all(a < b for a, b in zip(changes, changes[1:], strict=False)), changes
    first, second = (corrupt(x, modality, corruption, 3, seed=5, sample_rate=RATE) for _ in "12")
    np.testing.assert_array_equal(first, second)
    assert first.shape == np.asarray(x).shape
    if modality == "vision":
        assert first.dtype == np.uint8


@pytest.mark.parametrize("corruption", ["gaussian_noise", "noise", "typos", "word_drop"])
def test_random_corruptions_change_with_the_seed(corruption):
    modality = next(m for m in CORRUPTIONS if corruption in CORRUPTIONS[m])
    x = INPUTS[modality]()
    one, other = (corrupt(x, modality, corruption, 3, seed=seed) for seed in (1, 2))
    assert not np.array_equal(one, other)


def test_vision_corruptions_take_float_pixels_in_either_range():
    images = smooth_images()
    for corruption in CORRUPTIONS["vision"]:
        as_uint8 = corrupt(images, "vision", corruption, 4).astype(np.float32)
        as_unit = corrupt(images.astype(np.float32) / 255, "vision", corruption, 4, max_value=1.0)
        assert as_unit.dtype == np.float32 and 0 <= as_unit.min() and as_unit.max() <= 1
        assert np.abs(as_unit * 255 - as_uint8).max() <= 2.0  # uint8 rounds, float does not


def test_corruptions_name_bad_arguments():
    with pytest.raises(ValueError, match="modality"):
        corrupt(smooth_images(), "radar", "gaussian_noise", 1)
    with pytest.raises(ValueError, match="corruption"):
        corrupt(smooth_images(), "vision", "fog", 1)
    with pytest.raises(ValueError, match="severity"):
        corrupt(smooth_images(), "vision", "jpeg", 6)
    with pytest.raises(ValueError, match="sample_rate"):
        corrupt(tone_bursts(), "speech", "band_limit", 1)
    with pytest.raises(ValueError, match="1 or 3 channels"):
        corrupt(np.zeros((1, 8, 8, 2), np.uint8), "vision", "jpeg", 1)


def test_corruption_accuracy_tabulates_every_corruption_and_severity(digits, tmp_path):
    from dlsuite.apps.common.plots import plot_corruption_curves

    model, x, y = digits
    result = corruption_accuracy(model, x[:64], y[:64], "vision", batch_size=32)
    assert result["clean_accuracy"] == accuracy(model, x[:64], y[:64])
    assert set(result["accuracy"]) == set(CORRUPTIONS["vision"])
    assert all(list(row) == ["1", "2", "3", "4", "5"] for row in result["accuracy"].values())
    table = [a for row in result["accuracy"].values() for a in row.values()]
    assert result["mean_corruption_accuracy"] == pytest.approx(np.mean(table))
    assert result["accuracy"]["contrast"]["5"] < result["clean_accuracy"] - 0.3
    assert result["parameters"]["jpeg"] == {"values": [25, 18, 15, 10, 7], "unit": "JPEG quality"}
    assert json.loads(json.dumps(result)) == result
    assert corruption_accuracy(model, x[:64], y[:64], "vision", batch_size=32) == result
    path = plot_corruption_curves(result, tmp_path / "corruptions.png", title="digits")
    assert path.read_bytes().startswith(b"\x89PNG")


def test_corruption_accuracy_of_text_falls_as_words_drop():
    texts = np.array([f"{'a good' if i % 2 else 'a bad'} film number {i}" for i in range(40)])
    labels = np.arange(40) % 2

    def predict(batch):  # "good" -> class 1, otherwise class 0
        good = np.array(["good" in t for t in batch], dtype=np.float32)
        return np.stack([1 - good, good], axis=1)

    result = corruption_accuracy(predict, texts, labels, "text")
    assert result["clean_accuracy"] == 1.0
    drops = [result["accuracy"]["word_drop"][str(s)] for s in SEVERITIES]
    assert drops[-1] < drops[0] <= 1.0 and result["mean_corruption_accuracy"] < 1.0
