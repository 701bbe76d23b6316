"""Deep belief network (Hinton, Osindero and Teh,
"A Fast Learning Algorithm for Deep Belief Nets", 2006).

One training run gives two models:

- `DeepBeliefNetwork`, the paper's generative model (its figure 1): a stack of
  `core_layers.RestrictedBoltzmannMachine` layers trained greedily with CD-k, one layer at a time on
  the previous layer's hidden probabilities (section 4), under a top-level associative memory: an
  RBM whose visible units are the last layer's hidden probabilities concatenated with a softmax
  group of one label unit per class, also trained with CD-k. The recognition and generative
  weights of the lower layers are then untied and fine-tuned by the up-down algorithm
  (contrastive wake-sleep, section 5 and appendix B). It classifies the paper's way (the label
  whose free energy with the image's code is lowest: exact, no sampling; section 6) and generates
  the paper's way (the label units clamped, alternating Gibbs sampling in the associative memory,
  then a top-down pass through the generative weights; section 7).
- The classifier of `build_dbn_classifier`: the greedily trained RBMs (copied before the up-down
  fine-tuning) with a softmax layer on top, the whole stack fine-tuned with backpropagation (as in
  Hinton & Salakhutdinov 2006).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from dlsuite.apps.generative.samples import SAMPLES_DIR, grid, write_marked_png
from dlsuite.base.files import atomic_write_json
from dlsuite.core_layers import RestrictedBoltzmannMachine
from dlsuite.serving.content_credentials import SigningCredentials

GENERATIVE_DBN_FILE = "generative_dbn.keras"


def build_dbn_classifier(
    input_shape: tuple[int, int, int], num_classes: int, units: int, layers: int, k: int
) -> keras.Model:
    """Pixels 0-255 (B, S, S, C) -> flattened [0, 1]
    -> RBM 1 .. RBM L (sigmoid) -> softmax (B, K)."""
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


def _sample(probabilities, seed, offset):
    """Binary states drawn from (B, N) probabilities with a stateless seed pair."""
    noise = tf.random.stateless_uniform(
        tf.shape(probabilities), seed=[seed, offset], dtype=probabilities.dtype
    )
    return tf.cast(noise < probabilities, probabilities.dtype)


@keras.saving.register_keras_serializable(package="dlsuite")
class DeepBeliefNetwork(keras.Model):
    """The generative DBN: lower RBMs under a top-level associative memory with label units.

    The lower layers have recognition weights (each RBM's `kernel` and `hidden_bias`, used by the
    up-pass) and generative weights (a `generative_kernel` per layer and the RBM's `visible_bias`,
    used by the top-down pass). Greedy training ties them (`untie` copies each RBM's kernel into
    its generative kernel); `up_down` (the paper's section 5) fine-tunes them separately.

    Args:
        image_shape: `(S, S, C)` of the images.
        num_classes: K, the label units of the associative memory.
        units: hidden units of each lower RBM.
        num_layers: number of lower RBMs.
        top_units: hidden units of the associative memory (its visible units: `units + K`).
        k: Gibbs steps of CD-k (greedy training and the up-down algorithm's top level).

    Calling the model classifies: float32 pixels in [0, 255] `(B, S, S, C)` -> `p(label | image)`
    `(B, K)`, the softmax of minus the associative memory's free energy of the image's code with
    each label (exact under the top RBM, no sampling). `generate` draws images of given classes.
    """

    def __init__(self, image_shape, num_classes, units, num_layers, top_units, k=1, **kwargs):
        super().__init__(**kwargs)
        self.image_shape = tuple(int(size) for size in image_shape)
        self.num_classes, self.units, self.num_layers = (
            int(num_classes),
            int(units),
            int(num_layers),
        )
        self.top_units, self.k = int(top_units), int(k)
        self.rbms = [
            RestrictedBoltzmannMachine(self.units, k=self.k, name=f"rbm{i + 1}")
            for i in range(self.num_layers)
        ]
        self.associative_memory = RestrictedBoltzmannMachine(
            self.top_units, k=self.k, label_units=self.num_classes, name="associative_memory"
        )
        visible = int(np.prod(self.image_shape))
        self.generative_kernels = []
        for rbm in self.rbms:
            rbm.build((None, visible))
            self.generative_kernels.append(
                self.add_weight(
                    shape=(visible, self.units),
                    initializer="zeros",
                    trainable=False,
                    name=f"{rbm.name}_generative_kernel",
                )
            )
            visible = self.units
        self.associative_memory.build((None, self.units + self.num_classes))

    def code(self, images):
        """Pixels (B, S, S, C) in [0, 255]
        -> the last lower RBM's hidden probabilities (B, units)."""
        x = tf.reshape(
            tf.cast(images, "float32") / 255.0, (-1, int(np.prod(self.image_shape)))
        )  # (B, S*S*C)
        for rbm in self.rbms:
            x = rbm(x)  # (B, units)
        return x

    def call(self, images):
        free_energy = self.associative_memory.label_free_energy(self.code(images))  # (B, K)
        return tf.nn.softmax(-free_energy, axis=-1)

    def top_down(self, code):
        """(B, units) code -> (B, S*S*C) visible probabilities through the generative weights."""
        x = code
        for rbm, kernel in zip(reversed(self.rbms), reversed(self.generative_kernels), strict=True):
            x = tf.sigmoid(tf.matmul(x, kernel, transpose_b=True) + rbm.visible_bias)  # (B, V_l)
        return x

    def generate(self, labels, steps, seed):
        """Class ids (B,) -> pixels (B, S, S, C) float32 in [0, 255].

        The label units are clamped to each requested class; alternating Gibbs sampling runs for
        `steps` rounds in the associative memory from an all-zero code; the code's probabilities
        then go down through the generative weights (probabilities at each layer).
        """
        onehot = tf.one_hot(tf.cast(labels, tf.int32), self.num_classes)  # (B, K)
        start = tf.concat(
            [tf.zeros((tf.shape(onehot)[0], self.units)), onehot], axis=-1
        )  # (B, units + K)
        visible = self.associative_memory.gibbs_sample(start, steps, seed=seed, clamp_labels=True)
        pixels = self.top_down(visible[:, : self.units])  # (B, S*S*C)
        return tf.round(tf.reshape(pixels, (-1, *self.image_shape)) * 255.0)

    def untie(self):
        """After greedy training: the generative weights start as
        copies of the recognition weights."""
        for rbm, kernel in zip(self.rbms, self.generative_kernels, strict=True):
            kernel.assign(rbm.kernel)

    def up_down(self, visible, labels, learning_rate, seed):
        """One update of the up-down algorithm (contrastive wake-sleep, the paper's appendix B).

        `visible`: (B, V) pixel probabilities, `labels`: (B, K) one-hot. Wake: a stochastic up-pass
        with the recognition weights; the generative weights learn to reconstruct each layer from
        the one above. Top level: CD-k in the associative memory from the wake states (code units
        sampled, the label block reconstructed by its softmax). Sleep: a stochastic down-pass from
        the CD chain's end with the generative weights; the recognition weights learn to recover
        each layer from the one below. Returns the mean squared error of the wake reconstruction
        of the pixels.
        """
        top, k_labels = self.associative_memory, self.num_classes
        batch = tf.cast(tf.shape(visible)[0], visible.dtype)
        wake = [visible]  # the data and the binary states of each layer, bottom up
        for i, rbm in enumerate(self.rbms):
            wake.append(_sample(rbm(wake[-1]), seed, i))  # (B, units)
        wake_top = _sample(top(tf.concat([wake[-1], labels], -1)), seed, 100)  # (B, top_units)
        positive = tf.concat([wake[-1], labels], -1)  # (B, units + K)
        hidden = wake_top
        for step in range(self.k):  # CD-k in the associative memory, started from the wake states
            # (B, units + K), label block: softmax
            probabilities = top.visible_probabilities(hidden)
            negative = tf.concat(
                [
                    _sample(probabilities[:, :-k_labels], seed, 101 + 2 * step),
                    probabilities[:, -k_labels:],
                ],
                -1,
            )
            top_probabilities = top(negative)  # (B, top_units)
            hidden = _sample(top_probabilities, seed, 102 + 2 * step)
        sleep = [negative[:, :-k_labels]]  # the top-down states, from the code down to the pixels
        for i, (rbm, kernel) in enumerate(
            zip(reversed(self.rbms), reversed(self.generative_kernels), strict=True)
        ):
            down = tf.sigmoid(tf.matmul(sleep[-1], kernel, transpose_b=True) + rbm.visible_bias)
            sleep.append(
                down if i == len(self.rbms) - 1 else _sample(down, seed, 200 + i)
            )  # pixels: probabilities
        sleep = sleep[::-1]  # bottom up, like `wake`
        # Every prediction uses the weights before this update (as in the paper's code).
        layers = list(zip(self.rbms, self.generative_kernels, strict=True))
        wake_errors = [
            wake[i]
            - tf.sigmoid(tf.matmul(wake[i + 1], kernel, transpose_b=True) + rbm.visible_bias)
            for i, (rbm, kernel) in enumerate(layers)
        ]  # generative: (B, V_l)
        sleep_misses = [
            sleep[i + 1] - rbm(sleep[i]) for i, (rbm, _) in enumerate(layers)
        ]  # recognition: (B, units)
        for i, (rbm, kernel) in enumerate(layers):
            kernel.assign_add(
                learning_rate * tf.matmul(wake_errors[i], wake[i + 1], transpose_a=True) / batch
            )
            rbm.visible_bias.assign_add(learning_rate * tf.reduce_mean(wake_errors[i], 0))
            rbm.kernel.assign_add(
                learning_rate * tf.matmul(sleep[i], sleep_misses[i], transpose_a=True) / batch
            )
            rbm.hidden_bias.assign_add(learning_rate * tf.reduce_mean(sleep_misses[i], 0))
        top.kernel.assign_add(
            learning_rate
            * (
                tf.matmul(positive, wake_top, transpose_a=True)
                - tf.matmul(negative, top_probabilities, transpose_a=True)
            )
            / batch
        )
        top.hidden_bias.assign_add(learning_rate * tf.reduce_mean(wake_top - top_probabilities, 0))
        top.visible_bias.assign_add(learning_rate * tf.reduce_mean(positive - negative, 0))
        return tf.reduce_mean(tf.square(wake_errors[0]))

    def get_config(self):
        return {
            **super().get_config(),
            "image_shape": list(self.image_shape),
            "num_classes": self.num_classes,
            "units": self.units,
            "num_layers": self.num_layers,
            "top_units": self.top_units,
            "k": self.k,
        }


def build_generative_dbn(
    image_shape: tuple[int, int, int],
    num_classes: int,
    *,
    units: int,
    layers: int,
    top_units: int,
    k: int,
) -> DeepBeliefNetwork:
    dbn = DeepBeliefNetwork(
        image_shape, num_classes, units, layers, top_units, k, name="generative_dbn"
    )
    dbn(tf.zeros((1, *image_shape)))  # build
    return dbn


def _train_epochs(
    update: Any,
    arrays: list[np.ndarray],
    *,
    epochs: int,
    batch_size: int,
    seed: int,
    rng: np.random.Generator,
) -> list[float]:
    """Shuffled mini-batch epochs of ``update(*batch, batch_seed)`` (an in-place update returning an
    error), one graph call per epoch; returns the mean error of each epoch. Batch seeds are
    ``seed + epoch + the batch's first position``."""
    tensors = [tf.constant(array) for array in arrays]

    @tf.function
    def run_epoch(order, epoch_seed):
        starts = tf.range(0, tf.shape(order)[0], batch_size)
        errors = tf.TensorArray(tf.float32, size=tf.size(starts))
        for j in tf.range(tf.size(starts)):
            index = order[starts[j] : starts[j] + batch_size]
            batch = [tf.gather(tensor, index) for tensor in tensors]
            errors = errors.write(j, update(*batch, epoch_seed + tf.cast(starts[j], tf.int64)))
        return tf.reduce_mean(errors.stack())

    return [
        float(
            run_epoch(
                tf.constant(rng.permutation(len(arrays[0]))), tf.constant(seed + epoch, tf.int64)
            )
        )
        for epoch in range(epochs)
    ]


def pretrain(
    rbms: list[RestrictedBoltzmannMachine],
    visible: np.ndarray,
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    seed: int,
) -> list[list[float]]:
    """Greedy layer-wise CD-k training; returns each layer's reconstruction error per epoch."""
    rng = np.random.default_rng(seed)
    errors = []
    data = visible.astype(np.float32)  # (N, V)
    for index, rbm in enumerate(rbms):
        errors.append(
            _train_epochs(
                lambda v, s, rbm=rbm: rbm.contrastive_divergence(v, learning_rate, seed=s),
                [data],
                epochs=epochs,
                batch_size=batch_size,
                seed=seed * 1000 + index * 100,
                rng=rng,
            )
        )
        data = np.asarray(rbm(tf.constant(data)))  # (N, H): the next layer's data
    return errors


def up_down_fine_tuning(
    dbn: DeepBeliefNetwork,
    visible: np.ndarray,
    labels: np.ndarray,
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    seed: int,
) -> list[float]:
    """Epochs of `DeepBeliefNetwork.up_down` on pixels (N, V) in [0, 1] and class ids (N,);
    returns the wake reconstruction error of the pixels per epoch."""
    onehot = np.eye(dbn.num_classes, dtype=np.float32)[labels]  # (N, K)
    return _train_epochs(
        lambda v, y, s: dbn.up_down(v, y, learning_rate, s),
        [visible.astype(np.float32), onehot],
        epochs=epochs,
        batch_size=batch_size,
        seed=seed * 1000,
        rng=np.random.default_rng(seed),
    )


def train_generative_dbn(
    dbn: DeepBeliefNetwork,
    images: np.ndarray,
    labels: np.ndarray,
    *,
    epochs: int,
    top_epochs: int,
    up_down_epochs: int,
    batch_size: int,
    learning_rate: float,
    top_learning_rate: float,
    up_down_learning_rate: float,
    seed: int,
    after_greedy: Any = None,
) -> dict[str, Any]:
    """Greedy CD-k training of the lower RBMs on images (N, S, S, C) in [0, 255], then of the
    associative memory on their codes concatenated with one-hot labels, then up-down fine-tuning.

    ``after_greedy(dbn)`` is called between the greedy training and the up-down algorithm (the
    classifier copies the greedily trained RBMs there). Returns the errors per epoch.
    """
    visible = images.reshape(len(images), -1) / 255.0  # (N, V) in [0, 1]
    lower = pretrain(
        dbn.rbms,
        visible,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        seed=seed,
    )
    codes = np.asarray(dbn.code(images))  # (N, units)
    joint = np.concatenate(
        [codes, np.eye(dbn.num_classes, dtype=np.float32)[labels]], axis=1
    )  # (N, units + K)
    (top,) = pretrain(
        [dbn.associative_memory],
        joint,
        epochs=top_epochs,
        batch_size=batch_size,
        learning_rate=top_learning_rate,
        seed=seed + 1,
    )
    dbn.untie()
    if after_greedy is not None:
        after_greedy(dbn)
    up_down = up_down_fine_tuning(
        dbn,
        visible,
        labels,
        epochs=up_down_epochs,
        batch_size=batch_size,
        learning_rate=up_down_learning_rate,
        seed=seed + 2,
    )
    return {
        "reconstruction_error": lower,
        "associative_memory_reconstruction_error": top,
        "up_down_reconstruction_error": up_down,
    }


def load_generative_dbn(run_path: Path) -> DeepBeliefNetwork:
    from dlsuite import core_layers  # noqa: F401  (registers the custom layers)

    return keras.saving.load_model(Path(run_path) / GENERATIVE_DBN_FILE, compile=False)


def grid_labels(rows: int, num_classes: int, cols: int = 10) -> np.ndarray:
    """Requested class ids of a sample grid whose row r asks for class r (mod K): (rows * cols,)."""
    return (np.arange(rows * cols, dtype=np.int32) // cols) % num_classes


class GreedyPretraining(keras.callbacks.Callback):
    """Before fine-tuning: greedy CD-k training of the generative DBN (saved in the run directory
    as ``generative_dbn.keras``), whose lower RBMs become the classifier's starting weights, and a
    marked grid of label-clamped samples, row r asking for class r, with C2PA Content Credentials
    signed with ``credentials`` (None: the process's test chain).

    Skipped when the run resumes from a backup (the classifier's weights are restored instead, and
    the generative DBN was saved before the first epoch).
    """

    def __init__(
        self,
        run: Any,
        dbn: DeepBeliefNetwork,
        train_images: np.ndarray,
        train_labels: np.ndarray,
        *,
        config: Any,
        model_label: str,
        credentials: SigningCredentials | None = None,
    ) -> None:
        super().__init__()
        self.run, self.dbn, self.images, self.labels = run, dbn, train_images, train_labels
        self.config, self.model_label, self.credentials = config, model_label, credentials

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        if (Path(self.run.backup_dir) / "state.json").is_file():
            return
        config, dbn = self.config, self.dbn

        def initialise_classifier(greedy: DeepBeliefNetwork) -> None:
            for target, source in zip(rbm_layers(self.model), greedy.rbms, strict=True):
                target.set_weights(source.get_weights())

        errors = train_generative_dbn(
            dbn,
            self.images,
            self.labels,
            epochs=config.pretrain_epochs,
            top_epochs=config.dbn_top_epochs,
            up_down_epochs=config.up_down_epochs,
            batch_size=config.batch_size,
            learning_rate=config.pretrain_learning_rate,
            top_learning_rate=config.dbn_top_learning_rate,
            up_down_learning_rate=config.up_down_learning_rate,
            seed=config.seed,
            after_greedy=initialise_classifier,
        )
        path = Path(self.run.path)
        tmp = path / f".{GENERATIVE_DBN_FILE}.tmp.keras"
        dbn.save(tmp)
        os.replace(tmp, path / GENERATIVE_DBN_FILE)
        atomic_write_json(
            path / "pretraining.json",
            {
                "method": f"greedy CD-{dbn.k}",
                "epochs": config.pretrain_epochs,
                "learning_rate": config.pretrain_learning_rate,
                "associative_memory": {
                    "units": dbn.top_units,
                    "label_units": dbn.num_classes,
                    "epochs": config.dbn_top_epochs,
                    "learning_rate": config.dbn_top_learning_rate,
                },
                "up_down": {
                    "epochs": config.up_down_epochs,
                    "learning_rate": config.up_down_learning_rate,
                    "top_level": f"CD-{dbn.k}",
                },
                **errors,
            },
        )
        labels = grid_labels(config.sample_grid_classes, dbn.num_classes)
        pixels = np.asarray(
            dbn.generate(labels, config.gibbs_steps, seed=config.seed + 2)
        )  # (rows * 10, S, S, C)
        folder = path / SAMPLES_DIR
        folder.mkdir(parents=True, exist_ok=True)
        write_marked_png(
            grid(pixels, rows=config.sample_grid_classes),
            folder / "dbn_gibbs.png",
            self.model_label,
            "generative DBN",
            run=self.run.run_id,
            credentials=self.credentials,
        )
