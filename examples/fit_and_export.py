"""A plain Keras ``model.fit`` recorded with `dlsuite.RunRecorder`, then `dlsuite.export`.

Trains a small CNN on scikit-learn's handwritten digits (8x8 grey images, bundled with
scikit-learn: no download), writes the run directory, and exports the model as the next version
of ``OUT/saved_models/digits_cnn/`` with warmup requests and a compliance manifest that carries
the recorded training figures. Serve it with::

    dlsuite serve --model_name=digits_cnn --model_base_path=OUT/saved_models/digits_cnn

Run: ``python examples/fit_and_export.py --out /tmp/digits`` (``--epochs 1`` for a quick look).
"""

import argparse
from pathlib import Path

import keras
import numpy as np
from sklearn.datasets import load_digits

import dlsuite

MANIFEST_INFO = Path(__file__).resolve().parents[1] / "docs" / "manifest_example.yaml"


def main() -> None:
    """Parse the flags, train, record, export; save test predictions for comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="directory for the run and model")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--filters", type=int, default=16, help="channels of the conv layer")
    parser.add_argument("--manifest-info", type=Path, default=MANIFEST_INFO)
    args = parser.parse_args()

    digits = load_digits()
    x = digits.images[..., None].astype("float32")  # (1797, 8, 8, 1), pixel values 0..16
    y = digits.target.astype("int32")
    keras.utils.set_random_seed(0)
    order = np.random.permutation(len(x))  # the set is ordered by writer: shuffle before splitting
    x, y = x[order], y[order]
    x_train, y_train, x_test, y_test = x[:1500], y[:1500], x[1500:], y[1500:]

    model = keras.Sequential(
        [
            keras.Input((8, 8, 1), name="pixels"),
            keras.layers.Rescaling(1 / 16),
            keras.layers.Conv2D(args.filters, 3, activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ],
        name="digits_cnn",
    )
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])

    recorder = dlsuite.RunRecorder(
        args.out / "run",
        data={
            "name": "sklearn-digits",
            "source": "sklearn.datasets.load_digits",
            "train": (x_train, y_train),
            "validation": (x_test, y_test),
        },
        config={"seed": 0, "filters": args.filters},
    )
    model.fit(
        x_train,
        y_train,
        validation_data=(x_test, y_test),
        epochs=args.epochs,
        batch_size=64,
        callbacks=[recorder],
        verbose=0,
    )
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"held-out: accuracy {accuracy:.4f}, loss {loss:.4f} ({len(x_test)} digits)")
    print(f"run: {recorder.path}")

    version = dlsuite.export(
        model,
        "digits_cnn",
        model_base_path=args.out / "saved_models",
        examples=x_test[:4],
        run_dir=recorder.path,
        manifest_info=args.manifest_info,
    )
    print(f"exported: {version}")
    # the in-memory model's answers, to compare with the served model's
    np.savez(args.out / "predictions.npz", x=x_test[:8], y=model.predict(x_test[:8], verbose=0))


if __name__ == "__main__":
    main()
