"""Sample grids (marked PNG) every epoch in the run directory, and the animated GIF of training.

Every file carries the Art. 50(2) marks of `dlsuite.serving.marking` and C2PA Content Credentials
(`dlsuite.serving.content_credentials`) signed with the run's certificate (``--c2pa-cert``) or,
without one, the process's untrusted test certificate.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import keras
import numpy as np

from dlsuite.apps.generative.quality import generate_pixels
from dlsuite.base.files import atomic_write_bytes
from dlsuite.serving.content_credentials import (
    SigningCredentials,
    sign_image,
    signing_credentials,
)
from dlsuite.serving.marking import embed_watermark, insert_chunks, marking_text, text_chunks

SAMPLES_DIR = "samples"


def grid(images: np.ndarray, rows: int, scale: int = 4) -> np.ndarray:
    """(R*C, S, S, ch) pixels 0-255
    -> one uint8 image (R*(S+1)+1)*scale wide, 1-pixel grey borders."""
    n, size, _, channels = images.shape
    cols = n // rows
    out = np.full((rows * (size + 1) + 1, cols * (size + 1) + 1, channels), 128, np.uint8)
    for i in range(rows * cols):
        r, c = divmod(i, cols)
        out[
            1 + r * (size + 1) : 1 + r * (size + 1) + size,
            1 + c * (size + 1) : 1 + c * (size + 1) + size,
        ] = np.clip(np.rint(images[i]), 0, 255).astype(np.uint8)
    return np.repeat(np.repeat(out, scale, axis=0), scale, axis=1)  # nearest-neighbour upscaling


def _write_signed(
    data: bytes,
    path: Path,
    credentials: SigningCredentials | None,
    *,
    model: str,
    version: str,
    run: str | None,
) -> Path:
    """Write encoded image bytes atomically, with Content Credentials unless ``credentials`` is
    None (c2pa-python not installed)."""
    if credentials is not None:
        data = sign_image(data, credentials, model=model, version=version, run=run, title=path.name)
    return atomic_write_bytes(path, data)


def write_marked_png(
    pixels: np.ndarray,
    path: Path,
    model: str,
    version: str,
    *,
    run: str | None = None,
    credentials: SigningCredentials | None = None,
) -> Path:
    """Write uint8 pixels (H, W[, C]) as a PNG with the Art. 50 marks (pixel watermark + text
    chunks) and C2PA Content Credentials naming ``model``, ``version`` and ``run``, signed with
    ``credentials`` (None: `signing_credentials` without a certificate, the process's test
    chain)."""
    import tensorflow as tf

    marked = embed_watermark(pixels)
    png = insert_chunks(tf.io.encode_png(marked).numpy(), text_chunks(marking_text(model, version)))
    credentials = credentials or signing_credentials(None, None)
    return _write_signed(png, path, credentials, model=model, version=version, run=run)


def write_gif(
    frames: list[Path],
    path: Path,
    model: str,
    *,
    run: str | None = None,
    credentials: SigningCredentials | None = None,
) -> Path | None:
    """An animated GIF of the epoch grids (lossless for greyscale, so the watermark stays), with
    Content Credentials as `write_marked_png`."""
    from PIL import Image

    if not frames:
        return None
    images = []
    for frame in frames:  # half size (the grids are 4x nearest-neighbour upscaled), marked again
        with Image.open(frame) as im:
            pixels = np.asarray(im.convert("L") if im.mode in ("L", "LA") else im.convert("RGB"))[
                ::2, ::2
            ]
        images.append(Image.fromarray(embed_watermark(np.ascontiguousarray(pixels))))
    comment = f"AI-generated: samples of {model} during training (dlsuite, EU AI Act Art. 50(2))"
    gif = io.BytesIO()
    images[0].save(
        gif,
        format="GIF",
        save_all=True,
        append_images=images[1:],
        duration=300,
        loop=0,
        comment=comment,
    )
    credentials = credentials or signing_credentials(None, None)
    version = f"epochs 1-{len(frames)}"
    return _write_signed(gif.getvalue(), path, credentials, model=model, version=version, run=run)


class SampleGrids(keras.callbacks.Callback):
    """Each epoch: a marked sample grid ``samples/epoch_NNN.png`` from fixed noise, and the
    validation FID-<dataset> / class accuracy in the epoch's logs (so history.jsonl has them).
    At the end: the generator's EMA weights (if any) replace its weights, then ``samples/final.png``
    and ``samples/training.gif``.

    Listed before the standard callbacks, so the values it adds to the logs are recorded.
    Every file's Content Credentials name the run (the run directory's name) and are signed with
    ``credentials`` (None: the process's test chain, `signing_credentials`).
    """

    def __init__(
        self,
        run_path: Path,
        evaluate_epoch: Any,
        *,
        rows: int,
        cols: int = 10,
        model_label: str,
        seed: int,
        credentials: SigningCredentials | None = None,
    ) -> None:
        super().__init__()
        self.folder = Path(run_path) / SAMPLES_DIR
        self.run_id = Path(run_path).name
        self.evaluate_epoch = evaluate_epoch
        self.rows, self.cols, self.model_label, self.seed = rows, cols, model_label, seed
        self.credentials = credentials or signing_credentials(None, None)

    def _grid_pixels(self) -> np.ndarray:
        gan = self.model
        n = self.rows * self.cols
        labels = None
        if gan.num_classes:  # row r asks for class r (mod K)
            labels = (np.arange(n, dtype=np.int32) // self.cols) % gan.num_classes
        return grid(generate_pixels(gan, n, labels, self.seed), self.rows)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        write_marked_png(
            self._grid_pixels(),
            self.folder / f"epoch_{epoch + 1:03d}.png",
            self.model_label,
            f"epoch {epoch + 1}",
            run=self.run_id,
            credentials=self.credentials,
        )
        if logs is not None:
            logs.update({f"val_{k}": v for k, v in self.evaluate_epoch(self.model).items()})

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        gan = self.model
        if getattr(gan.g_optimizer, "use_ema", False) and gan.g_optimizer.built:
            gan.g_optimizer.finalize_variable_values(gan.generator.trainable_variables)
        self.folder.mkdir(parents=True, exist_ok=True)
        write_marked_png(
            self._grid_pixels(),
            self.folder / "final.png",
            self.model_label,
            "final",
            run=self.run_id,
            credentials=self.credentials,
        )
        write_gif(
            sorted(self.folder.glob("epoch_*.png")),
            self.folder / "training.gif",
            self.model_label,
            run=self.run_id,
            credentials=self.credentials,
        )
