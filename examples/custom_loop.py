"""A custom ``tf.GradientTape`` training loop recorded with ``RunRecorder(...).loop(model)``.

The same handwritten digits as ``fit_and_export.py`` (scikit-learn's bundled set), a small
multi-layer perceptron, and a loop you write yourself: ``rec.log_epoch`` records each epoch
(``history.jsonl``, TensorBoard), leaving the ``with`` block completes the run, and
`dlsuite.export` turns the model into the next version of ``OUT/saved_models/digits_mlp/``.

Run: ``python examples/custom_loop.py --out /tmp/loop`` (``--epochs 1`` for a quick look).
"""

import argparse
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from sklearn.datasets import load_digits

import dlsuite

MANIFEST_INFO = Path(__file__).resolve().parents[1] / "docs" / "manifest_example.yaml"
BATCH_SIZE = 64


def main() -> None:
    """Parse the flags, train with a GradientTape loop, record, export; save test predictions."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="directory for the run and model")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--units", type=int, default=64, help="width of the hidden layer")
    parser.add_argument("--manifest-info", type=Path, default=MANIFEST_INFO)
    args = parser.parse_args()

    digits = load_digits()
    x = digits.data.astype("float32") / 16.0  # (1797, 64) pixels in [0, 1]
    y = digits.target.astype("int32")
    keras.utils.set_random_seed(0)
    order = np.random.permutation(len(x))
    x, y = x[order], y[order]
    x_train, y_train, x_test, y_test = x[:1500], y[:1500], x[1500:], y[1500:]
    train = tf.data.Dataset.from_tensor_slices((x_train, y_train)).shuffle(1500).batch(BATCH_SIZE)

    model = keras.Sequential(
        [
            keras.Input((64,), name="pixels"),
            keras.layers.Dense(args.units, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ],
        name="digits_mlp",
    )
    optimizer = keras.optimizers.Adam(1e-3)
    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    # compile only attaches the optimizer and loss to the model: RunRecorder records their
    # configs, and its TensorBoard writer reads the learning rate from model.optimizer
    model.compile(optimizer=optimizer, loss=loss_fn)
    accuracy = keras.metrics.SparseCategoricalAccuracy()

    @tf.function
    def train_step(images: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            probabilities = model(images, training=True)
            loss = loss_fn(labels, probabilities)
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables, strict=True))
        accuracy.update_state(labels, probabilities)
        return loss

    recorder = dlsuite.RunRecorder(
        args.out / "run",
        data={"name": "sklearn-digits", "train": train, "validation": (x_test, y_test)},
        config={"seed": 0, "units": args.units, "learning_rate": 1e-3},
    )
    with recorder.loop(model, epochs=args.epochs) as rec:
        for epoch in range(args.epochs):
            accuracy.reset_state()
            losses = [float(train_step(images, labels)) for images, labels in train]
            val_probabilities = model(x_test, training=False)
            rec.log_epoch(
                epoch,
                {
                    "loss": np.mean(losses),
                    "accuracy": float(accuracy.result()),
                    "val_loss": float(loss_fn(y_test, val_probabilities)),
                    "val_accuracy": float(np.mean(np.argmax(val_probabilities, -1) == y_test)),
                },
            )
    test_accuracy = np.mean(np.argmax(model.predict(x_test, verbose=0), -1) == y_test)
    print(f"held-out: accuracy {test_accuracy:.4f} ({len(x_test)} digits)")
    print(f"run: {recorder.path}")

    version = dlsuite.export(
        model,
        "digits_mlp",
        model_base_path=args.out / "saved_models",
        examples=x_test[:4],
        run_dir=recorder.path,
        manifest_info=args.manifest_info,
    )
    print(f"exported: {version}")
    np.savez(args.out / "predictions.npz", x=x_test[:8], y=model.predict(x_test[:8], verbose=0))


if __name__ == "__main__":
    main()
