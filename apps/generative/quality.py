"""How good the samples are: FID-<dataset>, Inception Score and class-conditional accuracy.

All three use LeNet-5 classifiers (the vision app's model) trained by this module on the real
training split, never an Inception network:

- **FID-<dataset>**: the Fréchet distance between Gaussians fitted to real and generated images in
  the 84-d F6 feature space of the *feature* LeNet (the recipe of Heusel et al. 2017 with a
  different network, so its values are not comparable with published Inception FIDs);
- **IS-<dataset>**: ``exp(E_x KL(p(y|x) || p(y)))`` with the feature LeNet's softmax
  (Salimans et al. 2016; at most the number of classes);
- **class accuracy**: the fraction of samples requested as class k that a second, independently
  trained *judge* LeNet (another seed) assigns to class k, with per-class figures and the
  confusion matrix (rows: requested class).

Images go in as float32 pixels in [0, 255] at the GAN's size and are resized (bilinear) to 32x32.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dlsuite.apps.common.evaluation import classification_report
from dlsuite.apps.common.optimization import compile_classifier
from dlsuite.base.files import atomic_write_json, read_json

EVALUATOR_DIR = "evaluators"
EVALUATOR_SIZE = 32
FEATURE_LAYER = "f6"
EVALUATOR_ROLES = ("feature", "judge")


def dataset_name(info: dict[str, Any]) -> str:
    """``digits``, ``mnist``, ... (a folder source: the folder's name), for ``FID-<dataset>``."""
    return Path(str(info.get("name") or "data")).name


def to_evaluator_input(images: Any) -> Any:
    """(N, S, S, C) float 0-255 -> (N, 32, 32, C) float 0-255."""
    import tensorflow as tf

    return tf.clip_by_value(
        tf.image.resize(tf.cast(images, tf.float32), (EVALUATOR_SIZE, EVALUATOR_SIZE)), 0.0, 255.0
    )


def arrays(dataset: Any) -> tuple[np.ndarray, np.ndarray]:
    """An unbatched ``(image, label)`` dataset as ``(images (N, S, S, C), labels (N,))``."""
    images, labels = [], []
    for x, y in dataset.batch(512).as_numpy_iterator():
        images.append(x)
        labels.append(y)
    return np.concatenate(images), np.concatenate(labels)


class Evaluators:
    """The feature LeNet (FID, IS; None when only the judge was trained)
    and the judge LeNet (class accuracy)."""

    def __init__(self, feature_model: Any, judge_model: Any, report: dict[str, Any]) -> None:
        import keras

        self.feature_model = feature_model
        self.judge_model = judge_model
        self.report = report
        self._features = (
            None
            if feature_model is None
            else keras.Model(
                feature_model.inputs,
                [feature_model.get_layer(FEATURE_LAYER).output, feature_model.outputs[0]],
            )
        )

    def features(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, S, S, C) pixels -> F6 features (N, 84) and class probabilities (N, K)."""
        if self._features is None:
            raise ValueError(
                "FID and IS need the feature LeNet; "
                "these evaluators were trained with roles=('judge',)"
            )
        feats, probs = [], []
        for start in range(0, len(images), 500):
            f, p = self._features(to_evaluator_input(images[start : start + 500]), training=False)
            feats.append(np.asarray(f, np.float64))
            probs.append(np.asarray(p, np.float64))
        return np.concatenate(feats), np.concatenate(probs)

    def judge(self, images: np.ndarray) -> np.ndarray:
        """(N, S, S, C) pixels -> the judge's class ids (N,)."""
        preds = [
            np.argmax(
                np.asarray(
                    self.judge_model(to_evaluator_input(images[s : s + 500]), training=False)
                ),
                -1,
            )
            for s in range(0, len(images), 500)
        ]
        return np.concatenate(preds)


def train_evaluators(
    splits: Any, run_path: Path, *, epochs: int, seed: int, roles: Sequence[str] = EVALUATOR_ROLES
) -> Evaluators:
    """Train (or reload from ``<run>/evaluators/``) the feature and judge LeNet-5 classifiers, or
    only the judge with ``roles=("judge",)`` (the same network as when both are trained)."""
    import keras

    from dlsuite.apps.vision.models import build_model

    if "judge" not in roles or not set(roles) <= set(EVALUATOR_ROLES):
        raise ValueError(
            "roles expected the judge and optionally the feature LeNet. "
            f"Received: roles={tuple(roles)}"
        )
    folder = run_path / EVALUATOR_DIR
    paths = {role: folder / f"{role}_lenet5.keras" for role in roles}
    if all(p.is_file() for p in paths.values()) and (folder / "evaluators.json").is_file():
        models = {k: keras.saving.load_model(p, compile=False) for k, p in paths.items()}
        return Evaluators(
            models.get("feature"), models["judge"], read_json(folder / "evaluators.json")
        )
    folder.mkdir(parents=True, exist_ok=True)
    train_x, train_y = arrays(splits.train)
    test_x, test_y = arrays(splits.test)
    train_x = np.asarray(to_evaluator_input(train_x))
    test_x = np.asarray(to_evaluator_input(test_x))
    channels = train_x.shape[-1]
    models, report = (
        {},
        {
            "network": "lenet5",
            "input": f"resized to {EVALUATOR_SIZE}x{EVALUATOR_SIZE}",
            "trained_on": "the real training split",
            "epochs": epochs,
        },
    )
    for role in roles:
        # Independent networks: a different seed per role.
        keras.utils.set_random_seed(seed + 1000 + EVALUATOR_ROLES.index(role))
        model = build_model(
            "lenet5", (EVALUATOR_SIZE, EVALUATOR_SIZE, channels), len(splits.class_names)
        )
        compile_classifier(model, keras.optimizers.Adam(2e-3))
        model.fit(train_x, train_y, batch_size=32, epochs=epochs, verbose=0, shuffle=True)
        predicted = [
            np.argmax(np.asarray(model(test_x[s : s + 500], training=False)), -1)
            for s in range(0, len(test_x), 500)
        ]
        accuracy = float(np.mean(np.concatenate(predicted) == test_y))
        report[f"{role}_test_accuracy"] = accuracy
        model.save(paths[role])
        models[role] = model
    keras.utils.set_random_seed(seed)
    atomic_write_json(folder / "evaluators.json", report)
    return Evaluators(models.get("feature"), models["judge"], report)


def frechet_distance(real: np.ndarray, fake: np.ndarray) -> float:
    """``||mu_r - mu_f||^2 + Tr(S_r + S_f - 2 (S_r S_f)^(1/2))`` of two feature sets (N, D)."""
    from scipy import linalg

    mu_r, mu_f = real.mean(0), fake.mean(0)
    cov_r, cov_f = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
    root, _ = linalg.sqrtm(cov_r @ cov_f, disp=False)
    if not np.isfinite(root).all():  # nearly singular product: regularise as in the reference code
        eps = np.eye(len(cov_r)) * 1e-6
        root = linalg.sqrtm((cov_r + eps) @ (cov_f + eps))
    root = np.real(root)
    return float(
        np.sum((mu_r - mu_f) ** 2) + np.trace(cov_r) + np.trace(cov_f) - 2.0 * np.trace(root)
    )


def inception_score(probabilities: np.ndarray) -> float:
    """``exp(mean_x KL(p(y|x) || p(y)))`` of class probabilities (N, K)."""
    p = np.clip(probabilities, 1e-12, 1.0)
    marginal = p.mean(0, keepdims=True)
    return float(np.exp(np.mean(np.sum(p * (np.log(p) - np.log(marginal)), axis=1))))


def requested_labels(num_samples: int, num_classes: int | None) -> np.ndarray | None:
    """Balanced class requests 0, 1, ..., K-1, 0, 1, ... (None for an unconditional model)."""
    return None if not num_classes else np.arange(num_samples, dtype=np.int32) % num_classes


def generate_pixels(gan: Any, num_samples: int, labels: np.ndarray | None, seed: int) -> np.ndarray:
    """(N, S, S, C) float32 pixels in [0, 255] from the GAN's generator, seeded."""
    import tensorflow as tf

    z = tf.random.stateless_normal((num_samples, gan.latent_dim), seed=[seed, 17])
    images = []
    for start in range(0, num_samples, 500):
        batch_labels = None if labels is None else tf.constant(labels[start : start + 500])
        images.append(
            np.asarray(gan.generate(z[start : start + 500], batch_labels, training=False))
        )
    return np.rint((np.concatenate(images) + 1.0) * 127.5).clip(0, 255).astype(np.float32)


def sample_quality(
    gan: Any,
    evaluators: Evaluators,
    real_images: np.ndarray,
    *,
    num_samples: int,
    class_names: Sequence[str],
    dataset: str,
    seed: int,
) -> dict[str, Any]:
    """FID-<dataset>, IS-<dataset> and (conditional) the judge's class-conditional report."""
    labels = requested_labels(num_samples, gan.num_classes)
    fake = generate_pixels(gan, num_samples, labels, seed)
    real_features, real_probs = evaluators.features(real_images)
    fake_features, fake_probs = evaluators.features(fake)
    report: dict[str, Any] = {
        f"FID-{dataset}": frechet_distance(real_features, fake_features),
        f"IS-{dataset}": inception_score(fake_probs),
        f"IS-{dataset}-real": inception_score(real_probs),
        "num_generated": int(num_samples),
        "num_real": int(len(real_images)),
    }
    if labels is not None:
        judged = evaluators.judge(fake)
        report.update(classification_report(labels, judged, class_names))
        report["class_accuracy"] = report["accuracy"]
    return report
