"""A model built from `dlsuite.layers` blocks, trained with ``fit`` under ``MirroredStrategy``.

A small residual network (two `dlsuite.layers.BasicResidualBlock`s) on scikit-learn's handwritten
digits, mirrored over the GPUs if there are any, otherwise over ``--cpu-replicas`` logical CPU
devices (one replica works too), recorded with `dlsuite.RunRecorder` (the run records the strategy,
replicas and devices) and exported as ``OUT/saved_models/digits_resnet/``.

Run: ``python examples/mirrored_core_layers.py --out /tmp/mirrored --cpu-replicas 2``.
"""

import argparse
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from sklearn.datasets import load_digits

import dlsuite

MANIFEST_INFO = Path(__file__).resolve().parents[1] / "docs" / "manifest_example.yaml"


def split_cpu(replicas: int) -> None:
    """Split the CPU into ``replicas`` logical devices (before TensorFlow initialises them)."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    configs = [tf.config.LogicalDeviceConfiguration() for _ in range(replicas)]
    tf.config.set_logical_device_configuration(cpu, configs)


def build_model(filters: int) -> keras.Model:
    """Pixels (B, 8, 8, 1) in [0, 16] -> digit probabilities (B, 10)."""
    pixels = keras.Input((8, 8, 1), name="pixels")
    x = keras.layers.Rescaling(1 / 16)(pixels)
    x = keras.layers.Conv2D(filters, 3, padding="same", name="stem")(x)  # (B, 8, 8, F)
    x = dlsuite.layers.BasicResidualBlock(filters, name="block1")(x)  # (B, 8, 8, F)
    x = dlsuite.layers.BasicResidualBlock(2 * filters, strides=2, name="block2")(x)  # (B, 4, 4, 2F)
    x = keras.layers.GlobalAveragePooling2D()(x)  # (B, 2F)
    probabilities = keras.layers.Dense(10, activation="softmax", name="probabilities")(x)
    return keras.Model(pixels, probabilities, name="digits_resnet")


def main() -> None:
    """Parse the flags, train under MirroredStrategy, record, export; save test predictions."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="directory for the run and model")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--filters", type=int, default=16, help="channels of the first block")
    parser.add_argument("--cpu-replicas", type=int, default=2, help="used when there is no GPU")
    parser.add_argument("--manifest-info", type=Path, default=MANIFEST_INFO)
    args = parser.parse_args()

    if not tf.config.list_physical_devices("GPU"):
        split_cpu(args.cpu_replicas)
        strategy = tf.distribute.MirroredStrategy(
            [device.name for device in tf.config.list_logical_devices("CPU")]
        )
    else:
        strategy = tf.distribute.MirroredStrategy()  # every GPU
    print(f"replicas: {strategy.num_replicas_in_sync}")

    digits = load_digits()
    x = digits.images[..., None].astype("float32")  # (1797, 8, 8, 1)
    y = digits.target.astype("int32")
    keras.utils.set_random_seed(0)
    order = np.random.permutation(len(x))
    x, y = x[order], y[order]
    x_train, y_train, x_test, y_test = x[:1500], y[:1500], x[1500:], y[1500:]

    with strategy.scope():  # variables mirrored on every replica
        model = build_model(args.filters)
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])

    batch_size = 32 * strategy.num_replicas_in_sync  # the global batch, split over the replicas
    recorder = dlsuite.RunRecorder(
        args.out / "run",
        data={
            "name": "sklearn-digits",
            "train": (x_train, y_train),
            "validation": (x_test, y_test),
        },
        config={"seed": 0, "filters": args.filters},
        batch_size=batch_size,
    )
    model.fit(
        x_train,
        y_train,
        validation_data=(x_test, y_test),
        epochs=args.epochs,
        batch_size=batch_size,
        callbacks=[recorder],
        verbose=0,
    )
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"held-out: accuracy {accuracy:.4f}, loss {loss:.4f} ({len(x_test)} digits)")
    print(f"run: {recorder.path}")

    version = dlsuite.export(
        model,
        "digits_resnet",
        model_base_path=args.out / "saved_models",
        examples=x_test[:4],
        run_dir=recorder.path,
        manifest_info=args.manifest_info,
    )
    print(f"exported: {version}")
    # Each replica updates its own copy of the batch-norm moving statistics (Keras 3 under
    # MirroredStrategy), and the export holds the first replica's. model.predict splits the batch
    # over the replicas; calling the model directly runs it with the first replica's, as served.
    np.savez(args.out / "predictions.npz", x=x_test[:8], y=model(x_test[:8], training=False))


if __name__ == "__main__":
    main()
