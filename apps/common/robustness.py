"""Accuracy under distribution shift and under attack, for the classifiers of every app.

Distribution shift: a fixed, seeded corruption suite per modality, each corruption at
severities 1..5 (`SEVERITIES`; 0 is the clean input), in the spirit of ImageNet-C (Hendrycks and
Dietterich, "Benchmarking Neural Network Robustness to Common Corruptions and Perturbations",
ICLR 2019):

- vision, images ``(B, H, W, C)`` uint8 or float pixels in ``[0, max_value]``, TensorFlow ops:
  ``gaussian_noise`` (standard deviation in units of the pixel range, ImageNet-C's values),
  ``gaussian_blur`` (sigma in pixels for a 32-pixel side, CIFAR-10-C's values, scaled with the
  image's shorter side), ``jpeg`` (JPEG quality, ImageNet-C's values) and ``contrast`` (the
  pixels' distance from the image's per-channel mean times a factor, ImageNet-C's values);
- speech, waveforms ``(B, S)`` float in [-1, 1]: ``noise`` (white noise at an SNR in dB against
  the clip's speech, `dlsuite.apps.speech.spoken.at_snr`), ``speed`` (played a factor faster,
  `dlsuite.apps.speech.augment.change_speed`) and ``band_limit`` (a (high-pass, low-pass) band in
  Hz, at most 0.9 of the Nyquist frequency, `dlsuite.apps.speech.augment.band_limit`);
- text, strings ``(B,)``: ``typos`` (each letter or digit changed with a probability: deleted,
  doubled, replaced by a random lowercase letter or swapped with the next character) and
  ``word_drop`` (each word dropped with a probability).

`corruption_accuracy` tabulates a classifier's accuracy over the suite
(`dlsuite.apps.common.plots.plot_corruption_curves` draws it).

Adversarial robustness, for a model whose input is differentiable (image pixels, audio samples):
`fgsm_accuracy` (Goodfellow, Shlens and Szegedy, ICLR 2015) and `pgd_accuracy` (Madry et al.,
"Towards Deep Learning Models Resistant to Adversarial Attacks", ICLR 2018: L-inf projected
gradient descent from a random start in the ball), with TensorFlow gradients through the whole
model, its preprocessing included (a suite vision model rescales 0-255 pixels inside its graph;
a keyword spotter computes its features from the waveform inside its graph). Epsilons are in the
input's own units; `ADVERSARIAL_DEFAULTS` gives the suite's. The cross-entropy is taken on the
model's layer named "logits" when it has one (every suite classifier does), so a saturated
softmax does not hide the gradient. A text model's input is discrete token ids, which have no
gradient: both functions return a report saying the attack is not applicable.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from dlsuite.apps.common.explain import class_scores_model
from dlsuite.base.validation import check_positive_int

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

SEVERITIES = (1, 2, 3, 4, 5)
CORRUPTIONS: dict[str, dict[str, tuple[Any, ...]]] = {
    "vision": {
        "gaussian_noise": (0.08, 0.12, 0.18, 0.26, 0.38),
        "gaussian_blur": (0.4, 0.6, 0.7, 0.8, 1.0),
        "jpeg": (25, 18, 15, 10, 7),
        "contrast": (0.4, 0.3, 0.2, 0.1, 0.05),
    },
    "speech": {
        "noise": (20.0, 15.0, 10.0, 5.0, 0.0),
        "speed": (1.1, 1.15, 1.2, 1.3, 1.4),
        "band_limit": ((100, 4000), (200, 3400), (300, 2500), (400, 1800), (500, 1200)),
    },
    "text": {
        "typos": (0.02, 0.05, 0.1, 0.15, 0.2),
        "word_drop": (0.05, 0.1, 0.2, 0.3, 0.4),
    },
}
UNITS = {
    "gaussian_noise": "standard deviation, fraction of the pixel range",
    "gaussian_blur": "sigma in pixels of a 32-pixel side (scaled with the image's shorter side)",
    "jpeg": "JPEG quality",
    "contrast": "contrast factor",
    "noise": "SNR in dB of white noise against the speech",
    "speed": "playback speed factor",
    "band_limit": "(high-pass, low-pass) cut frequencies in Hz",
    "typos": "probability that a letter or digit is changed",
    "word_drop": "probability that a word is dropped",
}
ADVERSARIAL_DEFAULTS: dict[str, dict[str, tuple[float, ...]]] = {
    "vision": {"value_range": (0.0, 255.0), "epsilons": (0.0, 1.0, 2.0, 4.0, 8.0, 16.0)},
    "speech": {"value_range": (-1.0, 1.0), "epsilons": (0.0, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2)},
}
NOT_DIFFERENTIABLE = (
    "not applicable: the model's input is text (discrete token ids), which has no gradient; "
    "an attack on the embedding vectors would not be an attack on any text"
)


def _check_modality(modality: str) -> None:
    if modality not in CORRUPTIONS:
        raise ValueError(
            f"`modality` expected one of {sorted(CORRUPTIONS)}. Received: modality={modality!r}"
        )


def _check_severity(modality: str, corruption: str, severity: int) -> Any:
    """The parameter of ``corruption`` at ``severity`` (None at 0); raises `ValueError`."""
    _check_modality(modality)
    if corruption not in CORRUPTIONS[modality]:
        raise ValueError(
            f"`corruption` expected one of {sorted(CORRUPTIONS[modality])} for {modality}. "
            f"Received: corruption={corruption!r}"
        )
    if (
        not isinstance(severity, int)
        or isinstance(severity, bool)
        or severity not in (0, *SEVERITIES)
    ):
        raise ValueError(f"`severity` expected 0..5. Received: severity={severity!r}")
    return None if severity == 0 else CORRUPTIONS[modality][corruption][severity - 1]


@functools.cache
def _jpeg() -> Any:
    """A `tf.function`: images (B, H, W, C) float in [0, 1] and a JPEG quality -> the images
    encoded and decoded at that quality, as one graph (eager per-image ops are ~50x slower)."""
    import tensorflow as tf

    @tf.function(reduce_retracing=True)
    def jpeg(images: Any, quality: Any) -> Any:
        return tf.map_fn(lambda image: tf.image.adjust_jpeg_quality(image, quality), images)

    return jpeg


def _corrupt_images(images: Any, corruption: str, value: Any, seed: int, max_value: float) -> Any:
    """Images (B, H, W, C) uint8 or float in [0, max_value] -> the same shape and dtype."""
    import numpy as np
    import tensorflow as tf

    x = tf.convert_to_tensor(images)
    if x.shape.rank != 4 or x.shape[-1] not in (1, 3):
        raise ValueError(
            "vision corruptions expected images (batch, height, width, 1 or 3 channels). "
            f"Received: shape={tuple(x.shape)}"
        )
    unit = tf.cast(x, tf.float32) / max_value  # pixels in [0, 1]
    if corruption == "gaussian_noise":
        unit = unit + value * tf.random.stateless_normal(tf.shape(unit), seed=[seed, 0])
    elif corruption == "gaussian_blur":
        sigma = value * min(x.shape[1], x.shape[2]) / 32.0
        radius = math.ceil(3 * sigma)
        taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
        taps = tf.constant(taps / taps.sum(), tf.float32)
        channels = x.shape[-1]
        padded = tf.pad(unit, [[0, 0], [radius, radius], [radius, radius], [0, 0]], "REFLECT")
        rows = tf.tile(taps[:, None, None, None], [1, 1, channels, 1])  # (K, 1, C, 1)
        columns = tf.tile(taps[None, :, None, None], [1, 1, channels, 1])  # (1, K, C, 1)
        unit = tf.nn.depthwise_conv2d(padded, rows, [1, 1, 1, 1], "VALID")
        unit = tf.nn.depthwise_conv2d(unit, columns, [1, 1, 1, 1], "VALID")
    elif corruption == "jpeg":
        unit = _jpeg()(unit, tf.constant(value))
    else:  # contrast
        means = tf.reduce_mean(unit, axis=[1, 2], keepdims=True)
        unit = (unit - means) * value + means
    pixels = tf.clip_by_value(unit, 0.0, 1.0) * max_value
    if x.dtype.is_integer:
        pixels = tf.round(pixels)
    return tf.cast(pixels, x.dtype).numpy()


def _corrupt_waveforms(
    waveforms: Any, corruption: str, value: Any, seed: int, sample_rate: int | None
) -> Any:
    """Waveforms (B, S) in [-1, 1] -> float32 (B, S), clipped to [-1, 1]."""
    import numpy as np
    import tensorflow as tf

    from dlsuite.apps.speech import spoken
    from dlsuite.apps.speech.augment import band_limit, change_speed

    x = np.asarray(waveforms, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(
            f"speech corruptions expected waveforms (batch, samples). Received: shape={x.shape}"
        )
    if corruption == "noise":
        rng = np.random.default_rng(seed)
        noisy = [
            clip + spoken.at_snr(spoken.noise("white", x.shape[1], rng, x), clip, value)
            for clip in x
        ]
        y = np.stack(noisy) if len(noisy) else x
    elif corruption == "speed":
        y = change_speed(tf.constant(x), tf.fill([len(x)], value)).numpy()
    else:  # band_limit
        if sample_rate is None:
            raise ValueError("the band_limit corruption needs `sample_rate` (Hz) of the waveforms")
        highpass, lowpass = float(value[0]), min(float(value[1]), 0.9 * sample_rate / 2)
        y = band_limit(
            tf.constant(x), tf.fill([len(x)], highpass), tf.fill([len(x)], lowpass), sample_rate
        ).numpy()
    return np.clip(y, -1.0, 1.0).astype(np.float32)


def _typos(text: str, rate: float, rng: Any) -> str:
    """``text`` with each letter or digit edited with probability ``rate``: deleted, doubled,
    replaced by a random lowercase letter or swapped with the next character (which is then
    not edited itself)."""
    out, i = [], 0
    while i < len(text):
        character = text[i]
        if not (character.isalnum() and rng.random() < rate):
            out.append(character)
            i += 1
            continue
        kind = int(rng.integers(4))
        if kind == 1:
            out.append(character * 2)
        elif kind == 2:
            out.append(chr(ord("a") + int(rng.integers(26))))
        elif kind == 3:
            out.append(text[i + 1 : i + 2] + character)
            i += 1
        i += 1
    return "".join(out)


def _corrupt_texts(texts: Any, corruption: str, value: float, seed: int) -> Any:
    """Strings (B,) -> (B,) str array."""
    import numpy as np

    rng = np.random.default_rng(seed)
    out = []
    for text in np.asarray(texts).reshape(-1):
        text = text.decode("utf-8") if isinstance(text, bytes) else str(text)
        if corruption == "word_drop":
            out.append(" ".join(w for w in text.split() if rng.random() >= value))
        else:
            out.append(_typos(text, value, rng))
    return np.asarray(out, dtype=str)


def corrupt(
    x: Any,
    modality: str,
    corruption: str,
    severity: int,
    *,
    seed: int = 0,
    max_value: float = 255.0,
    sample_rate: int | None = None,
) -> Any:
    """``x`` under ``corruption`` of ``modality`` at ``severity`` (0: unchanged), as NumPy.

    The same arguments give the same output (noise, typos and word drops draw from ``seed``).

    Args:
        x: vision: images (B, H, W, 1 or 3), uint8 or float pixels in [0, ``max_value``];
            speech: waveforms (B, S) in [-1, 1]; text: strings (B,).
        modality: "vision", "speech" or "text" (`CORRUPTIONS`).
        corruption: a corruption of the modality (`CORRUPTIONS[modality]`).
        severity: 0 (clean) or 1..5.
        seed: the random seed.
        max_value: the pixel value of white (vision). Defaults to 255.
        sample_rate: Hz of the waveforms (speech; needed by band_limit).

    Returns:
        Images of ``x``'s shape and dtype; float32 waveforms (B, S); str array (B,).
    """
    import numpy as np

    value = _check_severity(modality, corruption, severity)
    if value is None:
        return np.asarray(x)
    if modality == "vision":
        return _corrupt_images(x, corruption, value, seed, max_value)
    if modality == "speech":
        return _corrupt_waveforms(x, corruption, value, seed, sample_rate)
    return _corrupt_texts(x, corruption, value, seed)


def _accuracy(
    predict_fn: Callable[[Any], Any],
    x: Any,
    y: Any,
    batch_size: int,
    change: Callable[[Any, int], Any] | None = None,
) -> float:
    """Share of ``x`` (N, ...) whose argmax of ``predict_fn`` is ``y`` (N,), in batches, each
    first passed through ``change(batch, index of its first example)`` if given."""
    import numpy as np

    correct = 0
    for start in range(0, len(y), batch_size):
        batch = x[start : start + batch_size]
        scores = np.asarray(predict_fn(batch if change is None else change(batch, start)))
        correct += int(np.sum(scores.argmax(axis=-1) == y[start : start + batch_size]))
    return correct / len(y)


def _examples(x: Any, y: Any, dtype: Any = None) -> tuple[Any, Any]:
    """``(x, y)`` as NumPy arrays (N, ...) and int64 (N,); raises `ValueError` unless the
    numbers of examples agree and are not 0."""
    import numpy as np

    inputs, labels = np.asarray(x, dtype=dtype), np.asarray(y)
    if len(labels) == 0 or inputs.shape[:1] != labels.shape:
        raise ValueError(
            "`x` and `y` expected the same non-zero number of examples (y one class id each). "
            f"Received: x.shape={inputs.shape}, y.shape={labels.shape}"
        )
    return inputs, labels.astype(np.int64)


def corruption_accuracy(
    predict_fn: Callable[[Any], Any],
    x: ArrayLike,
    y: ArrayLike,
    modality: str,
    *,
    seed: int = 0,
    batch_size: int = 256,
    max_value: float = 255.0,
    sample_rate: int | None = None,
    severities: Sequence[int] = SEVERITIES,
) -> dict[str, Any]:
    """Accuracy of ``predict_fn`` on ``x`` under every corruption of ``modality`` at
    ``severities`` (default 1..5; `corrupt` says what ``x``, ``max_value`` and ``sample_rate``
    are).

    Args:
        predict_fn: a batch of inputs (NumPy; a str array for text) -> scores ``(n, K)`` whose
            argmax is the predicted class, e.g. a Keras classifier.
        x: held-out inputs (N, ...).
        y: their class ids (N,).
        modality: "vision", "speech" or "text".
        seed: the corruptions' seed: the batch from example ``i`` on is corrupted with
            ``seed + i``, so the same seed and ``batch_size`` give the same table.
        batch_size: examples per call of ``predict_fn``.
        severities: ascending severities in 1..5 to measure (a quick evaluation: 1, 3, 5).

    Returns:
        A JSON-ready dict: ``method``; ``modality``; ``seed``; ``num_examples``;
        ``clean_accuracy``; ``accuracy`` ``{corruption: {"1": acc, ..., "5": acc}}`` (one key
        per severity measured); ``mean_corruption_accuracy`` (the mean over every corruption
        and severity measured); ``severities``; ``parameters`` ``{corruption: {"values": [one
        per severity 1..5], "unit": ...}}``.
    """
    import numpy as np

    check_positive_int(batch_size=batch_size)
    inputs, labels = _examples(x, y)
    _check_modality(modality)
    chosen = list(severities)
    if not chosen or chosen != sorted(set(chosen)) or not set(chosen) <= set(SEVERITIES):
        raise ValueError(
            f"`severities` expected ascending values in {SEVERITIES}, at least one. "
            f"Received: severities={severities!r}"
        )

    def shifted(name: str, severity: int) -> Callable[[Any, int], Any]:
        def change(batch: Any, start: int) -> Any:
            return corrupt(
                batch,
                modality,
                name,
                severity,
                seed=seed + start,
                max_value=max_value,
                sample_rate=sample_rate,
            )

        return change

    table = {
        name: {
            str(severity): _accuracy(
                predict_fn, inputs, labels, batch_size, shifted(name, severity)
            )
            for severity in chosen
        }
        for name in CORRUPTIONS[modality]
    }
    return {
        "method": "accuracy under a fixed, seeded corruption suite at severities of 1-5 "
        "(in the spirit of ImageNet-C, Hendrycks & Dietterich 2019)",
        "modality": modality,
        "seed": seed,
        "severities": chosen,
        "num_examples": int(len(labels)),
        "clean_accuracy": _accuracy(predict_fn, inputs, labels, batch_size),
        "accuracy": table,
        "mean_corruption_accuracy": float(
            np.mean([accuracy for row in table.values() for accuracy in row.values()])
        ),
        "parameters": {
            name: {
                "values": [list(v) if isinstance(v, tuple) else v for v in values],
                "unit": UNITS[name],
            }
            for name, values in CORRUPTIONS[modality].items()
        },
    }


class AdversarialExample(NamedTuple):
    """One input and its adversarial version (`plots.plot_adversarial_example` draws them)."""

    clean: Any  # float32, the input's shape without the batch axis
    perturbed: Any  # the same shape, within epsilon of ``clean`` everywhere
    label: int
    clean_prediction: int
    adversarial_prediction: int
    epsilon: float


class Attack(NamedTuple):
    """What `fgsm_accuracy` and `pgd_accuracy` return: the JSON-ready ``report`` and one
    ``example`` (None when the attack is not applicable)."""

    report: dict[str, Any]
    example: AdversarialExample | None


def _attack(
    model: Any,
    x: ArrayLike,
    y: ArrayLike,
    epsilons: Sequence[float],
    value_range: tuple[float, float],
    *,
    method: str,
    steps: int,
    step_size: float,
    random_start: bool,
    seed: int,
    batch_size: int,
) -> Attack:
    """L-inf PGD: ``steps`` signed-gradient steps of ``step_size * epsilon`` on the
    cross-entropy, each projected on the epsilon ball and ``value_range`` (FGSM: one step of
    size epsilon from ``x``). See `pgd_accuracy` for the arguments."""
    import keras
    import numpy as np
    import tensorflow as tf

    if len(model.inputs) != 1:
        raise ValueError(f"attacks expected a model with one input. Received: {model.inputs}")
    if not str(model.inputs[0].dtype).startswith("float"):
        return Attack({"method": method, "applicable": False, "reason": NOT_DIFFERENTIABLE}, None)
    low, high = (float(v) for v in value_range)
    if not low < high:
        raise ValueError(
            f"`value_range` expected (low, high) with low < high. Received: {value_range!r}"
        )
    if (
        not epsilons
        or not all(0 <= e < math.inf for e in epsilons)
        or list(epsilons) != sorted(epsilons)
    ):
        raise ValueError(
            "`epsilons` expected ascending finite numbers >= 0 in the input's units. "
            f"Received: epsilons={epsilons!r}"
        )
    check_positive_int(steps=steps, batch_size=batch_size)
    clean, labels = _examples(x, y, dtype="float32")
    scores_model = class_scores_model(model)
    from_logits = scores_model is not model

    @tf.function(reduce_retracing=True)
    def perturb(x0: Any, label: Any, epsilon: Any, start_seed: Any) -> Any:
        adversarial = x0
        if random_start:
            noise = tf.random.stateless_uniform(tf.shape(x0), start_seed, -1.0, 1.0)
            adversarial = tf.clip_by_value(x0 + epsilon * noise, low, high)
        for _ in tf.range(steps):
            with tf.GradientTape() as tape:
                tape.watch(adversarial)
                scores = tf.cast(scores_model(adversarial, training=False), tf.float32)
                loss = keras.losses.sparse_categorical_crossentropy(
                    label, scores, from_logits=from_logits
                )
            step = adversarial + step_size * epsilon * tf.sign(tape.gradient(loss, adversarial))
            adversarial = tf.clip_by_value(
                tf.clip_by_value(step, x0 - epsilon, x0 + epsilon), low, high
            )
        return adversarial

    def predict(batch: Any) -> Any:
        return np.asarray(model(batch, training=False)).argmax(axis=-1)

    starts = range(0, len(clean), batch_size)
    clean_predictions = np.concatenate([predict(clean[i : i + batch_size]) for i in starts])
    accuracy = {}
    # The example, at the largest (last) epsilon: the first correct input the attack flips (its
    # index, perturbed version and prediction), else the first input.
    flip: tuple[int, Any, int] | None = None
    first: tuple[int, Any, int] | None = None
    for k, epsilon in enumerate(epsilons):
        correct = 0
        for i in starts:
            rows = slice(i, i + batch_size)
            adversarial = perturb(
                tf.constant(clean[rows]),
                tf.constant(labels[rows]),
                tf.constant(epsilon, tf.float32),
                tf.constant([seed, i], tf.int32),
            ).numpy()
            predicted = predict(adversarial)
            correct += int(np.sum(predicted == labels[rows]))
            if k == len(epsilons) - 1:
                first = (0, adversarial[0], int(predicted[0])) if first is None else first
                fooled = (clean_predictions[rows] == labels[rows]) & (predicted != labels[rows])
                if flip is None and fooled.any():
                    j = int(np.argmax(fooled))
                    flip = (i + j, adversarial[j], int(predicted[j]))
        accuracy[str(float(epsilon))] = correct / len(labels)
    assert first is not None  # set by the first batch at the last epsilon
    index, perturbed, adversarial_prediction = flip or first
    example = AdversarialExample(
        clean=clean[index],
        perturbed=perturbed,
        label=int(labels[index]),
        clean_prediction=int(clean_predictions[index]),
        adversarial_prediction=adversarial_prediction,
        epsilon=float(epsilons[-1]),
    )
    report = {
        "method": method,
        "applicable": True,
        "norm": "linf",
        "value_range": [low, high],
        "epsilons": [float(e) for e in epsilons],
        "steps": steps,
        "step_size": f"{step_size:g} x epsilon",
        "random_start": random_start,
        "seed": seed,
        "loss": "cross-entropy of the logits layer" if from_logits else "cross-entropy",
        "num_examples": int(len(labels)),
        "clean_accuracy": float(np.mean(clean_predictions == labels)),
        "accuracy": accuracy,
        "example": {
            "epsilon": example.epsilon,
            "label": example.label,
            "clean_prediction": example.clean_prediction,
            "adversarial_prediction": example.adversarial_prediction,
        },
    }
    return Attack(report, example)


def fgsm_accuracy(
    model: Any,
    x: ArrayLike,
    y: ArrayLike,
    epsilons: Sequence[float],
    *,
    value_range: tuple[float, float],
    batch_size: int = 256,
) -> Attack:
    """Accuracy of ``model`` under the fast gradient sign method at each of ``epsilons``.

    ``x_adv = clip(x + epsilon * sign(grad_x loss(x, y)), value_range)`` (Goodfellow et al.
    2015). Arguments and return value as `pgd_accuracy`; at epsilon 0 the accuracy is the clean
    accuracy.
    """
    return _attack(
        model,
        x,
        y,
        epsilons,
        value_range,
        method="FGSM, L-inf (Goodfellow et al. 2015)",
        steps=1,
        step_size=1.0,
        random_start=False,
        seed=0,
        batch_size=batch_size,
    )


def pgd_accuracy(
    model: Any,
    x: ArrayLike,
    y: ArrayLike,
    epsilons: Sequence[float],
    *,
    value_range: tuple[float, float],
    steps: int = 10,
    step_size: float = 0.25,
    seed: int = 0,
    batch_size: int = 256,
) -> Attack:
    """Accuracy of ``model`` under L-inf projected gradient descent at each of ``epsilons``.

    Madry et al. 2018: from a uniform random start in the epsilon ball, ``steps`` steps
    ``x <- clip(x + step_size * epsilon * sign(grad_x loss), ball, value_range)``. The defaults
    are Madry et al.'s CIFAR-10 step (2 for epsilon 8: 0.25 x epsilon) with 10 steps.

    Args:
        model: a Keras classifier with one float input (B, ...) and probabilities (B, K) out,
            its preprocessing inside.
        x: held-out inputs (N, ...) in ``value_range``.
        y: their class ids (N,).
        epsilons: L-inf radii in the input's own units (pixels 0-255, audio samples), ascending;
            `ADVERSARIAL_DEFAULTS` has the suite's.
        value_range: (low, high) of valid inputs; every perturbed input is clipped to it.
        steps: gradient steps.
        step_size: each step as a fraction of epsilon.
        seed: the random start's seed.
        batch_size: examples per attacked batch.

    Returns:
        `Attack`: ``report`` (JSON-ready: ``method``, ``applicable``, ``norm``,
        ``value_range``, ``epsilons``, ``steps``, ``step_size``, ``random_start``, ``seed``,
        ``loss``, ``num_examples``, ``clean_accuracy``, ``accuracy`` ``{str(epsilon): acc}``,
        ``example`` (its epsilon, label and predictions)) and ``example``, an
        `AdversarialExample` at the largest epsilon: the first correctly classified input the
        attack flips, else the first input. For a model of text (string or integer input)
        ``report`` is ``{method, applicable: False, reason}`` and ``example`` None.
    """
    if not 0 < step_size <= 1:
        raise ValueError(
            f"`step_size` expected a fraction of epsilon in (0, 1]. Received: {step_size!r}"
        )
    return _attack(
        model,
        x,
        y,
        epsilons,
        value_range,
        method="PGD, L-inf, random start (Madry et al. 2018)",
        steps=steps,
        step_size=step_size,
        random_start=True,
        seed=seed,
        batch_size=batch_size,
    )
