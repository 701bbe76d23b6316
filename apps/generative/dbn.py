"""Deep belief network (Hinton, Osindero and Teh, "A Fast Learning Algorithm for Deep Belief Nets", 2006).

A stack of `core_layers.RestrictedBoltzmannMachine` layers is trained greedily, one layer at a time
with CD-k on the previous layer's hidden probabilities (the paper's section 4), then used as the
feed-forward part of a classifier whose softmax layer is added on top and which is fine-tuned with
backpropagation (as in Hinton & Salakhutdinov 2006; the paper's own up-down fine-tuning of the
generative model is not implemented). Samples come from block Gibbs sampling in the top RBM,
started from the top-level code of real training images, followed by a top-down pass of visible
probabilities through the lower RBMs (the paper generates by Gibbs sampling in the top-level
associative memory; its label units are not implemented, so samples are not class-conditional).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import numpy as np

from core_layers import RestrictedBoltzmannMachine


def build_dbn_classifier(input_shape: tuple[int, int, int], num_classes: int, units: int, layers: int,
                         k: int) -> keras.Model:
    """Pixels 0-255 (B, S, S, C) -> flattened [0, 1] -> RBM 1 .. RBM L (sigmoid) -> softmax (B, K)."""
    inputs = keras.Input(input_shape, name="image")
    x = keras.layers.Rescaling(1.0 / 255, name="rescaling")(inputs)
    x = keras.layers.Flatten(name="flatten")(x)  # (B, S*S*C) visible probabilities
    for i in range(layers):
        x = RestrictedBoltzmannMachine(units, k=k, name=f"rbm{i + 1}")(x)  # (B, units)
    x = keras.layers.Dense(num_classes, name="logits")(x)
    outputs = keras.layers.Activation("softmax", dtype="float32", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="dbn")


def rbm_layers(model: keras.Model) -> list[RestrictedBoltzmannMachine]:
    return [layer for layer in model.layers if isinstance(layer, RestrictedBoltzmannMachine)]


def pretrain(rbms: list[RestrictedBoltzmannMachine], visible: np.ndarray, *, epochs: int, batch_size: int,
             learning_rate: float, seed: int) -> list[list[float]]:
    """Greedy layer-wise CD-k training; returns each layer's reconstruction error per epoch."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    errors = []
    data = visible.astype(np.float32)  # (N, V)
    for index, rbm in enumerate(rbms):
        step = tf.function(lambda v, s, rbm=rbm: rbm.contrastive_divergence(v, learning_rate, seed=s))
        layer_errors = []
        for epoch in range(epochs):
            order = rng.permutation(len(data))
            batch_errors = [float(step(tf.constant(data[order[i:i + batch_size]]),
                                       tf.constant(seed * 1000 + index * 100 + epoch, tf.int64) + i))
                            for i in range(0, len(data), batch_size)]
            layer_errors.append(float(np.mean(batch_errors)))
        errors.append(layer_errors)
        data = np.asarray(rbm(tf.constant(data)))  # (N, H): the next layer's data
    return errors


def gibbs_chains(rbms: list[RestrictedBoltzmannMachine], start: np.ndarray, *, snapshots: int, every: int,
                 seed: int) -> np.ndarray:
    """Gibbs chains in the top RBM from the codes of ``start`` images (N, V); returns visible
    probabilities of every snapshot after a top-down pass, (snapshots, N, V)."""
    import tensorflow as tf

    code = tf.constant(start, tf.float32)
    for rbm in rbms[:-1]:
        code = rbm(code)  # (N, H_l)
    top = rbms[-1]
    frames = []
    for s in range(snapshots):
        if s:
            code = top.gibbs_sample(code, every, seed=seed + s)
        v = code
        for rbm in reversed(rbms[:-1]):
            v = rbm.visible_probabilities(v)  # top-down pass with probabilities
        frames.append(np.asarray(v))
    return np.stack(frames)


class GreedyPretraining(keras.callbacks.Callback):
    """Before fine-tuning: CD-k pre-training of the model's RBMs, then a marked Gibbs-sample grid.

    Skipped when the run resumes from a backup (its weights are restored instead).
    """

    def __init__(self, run: Any, train_images: np.ndarray, train_labels: np.ndarray, *, epochs: int,
                 batch_size: int, learning_rate: float, seed: int, model_label: str) -> None:
        super().__init__()
        self.run, self.images, self.labels = run, train_images, train_labels
        self.epochs, self.batch_size, self.learning_rate, self.seed = epochs, batch_size, learning_rate, seed
        self.model_label = model_label
        self.errors: list[list[float]] = []

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        from apps.common.files import atomic_write_json
        from apps.generative.samples import SAMPLES_DIR, grid, write_marked_png

        if (Path(self.run.backup_dir) / "state.json").is_file():
            return
        rbms = rbm_layers(self.model)
        visible = self.images.reshape(len(self.images), -1) / 255.0  # (N, V) in [0, 1]
        self.errors = pretrain(rbms, visible, epochs=self.epochs, batch_size=self.batch_size,
                               learning_rate=self.learning_rate, seed=self.seed)
        atomic_write_json(Path(self.run.path) / "pretraining.json",
                          {"method": f"greedy CD-{rbms[0].k}", "epochs": self.epochs,
                           "learning_rate": self.learning_rate, "reconstruction_error": self.errors})
        first = [int(np.flatnonzero(self.labels == c)[0]) for c in sorted(set(self.labels.tolist()))]
        frames = gibbs_chains(rbms, visible[first], snapshots=10, every=20, seed=self.seed)  # (10, N, V)
        shape = self.images.shape[1:]
        pixels = (frames.transpose(1, 0, 2).reshape(-1, *shape) * 255.0)  # rows: chains, cols: snapshots
        folder = Path(self.run.path) / SAMPLES_DIR
        folder.mkdir(parents=True, exist_ok=True)
        write_marked_png(grid(pixels, rows=len(first)), folder / "dbn_gibbs.png", self.model_label, "pretrained")
