"""Write scikit-learn's handwritten digits as a folder of PNG images, the layout ``dir:`` reads.

``python -m dlsuite.apps.vision.make_folder OUT [--classes 5,6,7,8,9] [--train-per-class N]
[--size 32]`` writes ``OUT/train/<digit>/*.png`` and ``OUT/test/<digit>/*.png`` (a seeded half of
each class held out for the test split, then at most N training images per class): a small
labelled photo folder, for trying fine-tuning on "your own" images (README, transfer learning).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

DIGIT_SCALE = 255.0 / 16.0  # load_digits' 17 grey levels to 0-255


def write_folder(
    out: str | Path,
    classes: Sequence[int] = tuple(range(10)),
    train_per_class: int | None = None,
    size: int = 32,
    seed: int = 0,
    test_fraction: float = 0.5,
) -> dict[str, int]:
    """Write the digits of ``classes`` as ``size`` x ``size`` grey PNGs (bilinear upscaling), a
    seeded ``test_fraction`` of each class under ``test/``; returns ``{"train": files, "test":
    files}``."""
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    unknown = [c for c in classes if c not in range(10)]
    if unknown or not classes:
        raise ValueError(f"`classes` expected digits 0-9. Received: classes={list(classes)}")
    digits = load_digits()
    rng = np.random.default_rng(seed)
    counts = {"train": 0, "test": 0}
    for digit in classes:
        rows = rng.permutation(np.flatnonzero(digits.target == digit))
        held = int(len(rows) * test_fraction)
        parts = {"test": rows[:held], "train": rows[held:][:train_per_class]}
        for split, chosen in parts.items():
            folder = Path(out) / split / str(digit)
            folder.mkdir(parents=True, exist_ok=True)
            for row in chosen:
                pixels = (digits.images[row] * DIGIT_SCALE).round().astype(np.uint8)
                image = Image.fromarray(pixels, mode="L").resize((size, size), Image.BILINEAR)
                image.save(folder / f"{row:04d}.png")
                counts[split] += 1
    return counts


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", help="folder to write (train/ and test/ inside)")
    parser.add_argument("--classes", default="0,1,2,3,4,5,6,7,8,9", help="comma list of digits")
    parser.add_argument(
        "--train-per-class", type=int, default=None, help="training images per class"
    )
    parser.add_argument("--size", type=int, default=32, help="image side in pixels")
    args = parser.parse_args(argv)
    classes = [int(c) for c in args.classes.split(",") if c.strip()]
    print(write_folder(args.out, classes, args.train_per_class, args.size))


if __name__ == "__main__":
    main()
