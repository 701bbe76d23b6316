"""Art. 50(2) marking of synthetic images: PNG text chunks and two invisible pixel watermarks.

Regulation (EU) 2024/1689 Art. 50(2) asks providers of systems that generate synthetic images to
mark the outputs "in a machine-readable format and detectable as artificially generated". Every
PNG the generative app writes or serves carries three independent marks:

1. **PNG text chunks** (``tEXt``, PNG 1.2 section 11.3.4) inserted right after ``IHDR``:
   ``AI-generated`` = ``true``, ``Model`` / ``Model-Version`` naming the generator,
   ``DigitalSourceType`` = the IPTC term ``trainedAlgorithmicMedia``, ``Software`` = ``dlsuite``.
   Readable by any PNG tool (``exiftool``, PIL ``Image.info``); lost when metadata is stripped.
2. **A robust DWT-DCT watermark** (`watermark_score`), in the luma (the grey channel, or `LUMA`
   of R, G, B; the same change goes into every colour channel). The one-level Haar wavelet's LL
   band (each 2x2 cell's sum / 2; a 0.5x area or bilinear resize gives LL / 2), then the
   orthonormal DCT of the whole band: its frequencies u, v < 8 but the DC, (0, 2) and (2, 0)
   (61 of them from 16x16 pixels) are each moved `COMPENSATION` of the way to the nearest point
   of a keyed lattice ``offset + step * k`` (dither modulation with distortion compensation);
   alternating projections keep the targets where pixels clip at 0 or 255, and dithered rounding
   (`rounding_dither`) keeps changes under one grey level (large images). Detection needs no
   original: the phase of each coefficient on its lattice gives z = sum cos(2 pi phase) /
   sqrt(n / 2), computed on the image as given and on the image read as a 0.5x resize of a marked
   one (its pixels x 2 are the LL band); marked from `Z_THRESHOLD`. For an unmarked image and a
   key independent of it the phases are uniform, z is a sum of independent bounded terms of
   variance 1/2, and P(z >= 4.5) <= exp(-4.5**2 / 2) = 4.0e-5 per grid, 8.0e-5 for both.
   Spread spectrum (a keyed +-1 pattern added to the same coefficients, normalized correlation)
   was measured first: the digits' own coefficients drown it (0% of marked 28x28 digits found,
   even unchanged, at 28 dB); dither modulation reads each coefficient's phase, not its size.
3. **A fragile LSB watermark** (`lsb_score`): the least significant bit of every 8-bit sample
   is set to a keyed pseudo-random pattern (`lsb_pattern`), before the robust watermark, which
   then changes samples in steps of 2. It is exact under any lossless round trip at every size;
   the robust watermark is not at the suite's smallest size (8x8 pixels, 13 coefficients: 51.5%
   of marked digits found even unchanged; 100% from 12x12), so both are kept.

`detect_mark(data)` reports all three. The same watermarks are embedded inside the exported
SavedModel's ``generate`` signature (`mark_and_encode_tf`, core TF ops, the same pixels as
`embed_watermark`), so served images carry them as well. Measured figures and limits:
docs/generative.md and tests/apps/test_watermark.py; `NOT_SURVIVED` lists what removes them.
"""

from __future__ import annotations

import functools
import hashlib
import io
import struct
import zlib
from collections.abc import Mapping
from typing import Any

WATERMARK_KEY = "dlsuite-art50-v1"
# The robust watermark (chosen by measurement, tests/apps/test_watermark.py).
LOW_FREQUENCIES = 8  # the DCT frequencies u, v < 8 of the LL band ...
SKIPPED_FREQUENCIES = ((0, 0), (0, 2), (2, 0))  # ... but the DC and the two JPEG shifts most
LATTICE_STEP = 32.0  # lattice step at (u, v): LATTICE_STEP * (1 + STEP_SLOPE * (u + v))
STEP_SLOPE = 0.08
COMPENSATION = 0.75  # move each coefficient this fraction of the way to its lattice point
PROJECTIONS = 10  # alternating projections between the targets and the 0..255 pixel range
Z_THRESHOLD = 4.5  # P(z >= 4.5) <= exp(-4.5**2 / 2) = 4.0e-5 per grid for an unmarked image
LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601, as JPEG's YCbCr and PIL's convert("L")
# The fragile LSB watermark.
LSB_THRESHOLD = 0.95  # fraction of LSBs that must match the pattern
MIN_SAMPLES = 64  # fewer samples than this: too few to decide
IPTC_SYNTHETIC = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
METHOD = (
    "PNG tEXt chunks (AI-generated=true, Model, Model-Version, DigitalSourceType=IPTC "
    "trainedAlgorithmicMedia); a robust invisible DWT-DCT watermark (keyed dither modulation of "
    "the 61 lowest DCT frequencies of the luma's Haar LL band, read without the original on the "
    f"image as given and as a 0.5x resize, marked from z >= {Z_THRESHOLD}); and a fragile keyed "
    f"least-significant-bit watermark (from {LSB_THRESHOLD:.0%} matching bits); "
    f"key {WATERMARK_KEY!r}"
)
TRANSPARENCY_OBLIGATION = (
    "Regulation (EU) 2024/1689 Art. 50(2): outputs of an AI system generating synthetic image "
    "content are marked in a machine-readable format and detectable as artificially generated"
)
NOT_SURVIVED = (
    "the robust watermark survives JPEG quality 75, a 0.5x bilinear or area resize, and the two "
    "together from 28x28 pixels (16x16: either one, not both), but not cropping, rotation, flips, "
    "other scale factors, contrast or gamma changes, and it needs at least 12x12 pixels; the LSB "
    "watermark survives lossless copies only; both can be removed or forged on purpose (the key "
    "is public); the text chunks are lost whenever metadata is stripped "
    "or the image is re-encoded by a tool that drops them"
)


def marking_text(model: str, version: str | int) -> dict[str, str]:
    """The text chunks of a marked PNG, as ``{keyword: text}``."""
    return {
        "AI-generated": "true",
        "Model": str(model),
        "Model-Version": str(version),
        "DigitalSourceType": IPTC_SYNTHETIC,
        "Software": "dlsuite",
        "Description": (
            f"Synthetic image generated by the AI model {model} version {version} "
            "(EU AI Act Art. 50(2))"
        ),
    }


def manifest_section() -> dict[str, Any]:
    """The manifest's ``synthetic_content_marking`` section."""
    return {
        "method": METHOD,
        "machine_readable": True,
        "standard": "PNG 1.2 tEXt chunks; IPTC Digital Source Type trainedAlgorithmicMedia",
        "detection": "dlsuite detect-mark IMAGE (serving.marking.detect_mark)",
        "notes": f"Transparency obligation: {TRANSPARENCY_OBLIGATION}. Limits: {NOT_SURVIVED}.",
    }


# ------------------------------------------------------------------ PNG text chunks


def text_chunk(keyword: str, text: str) -> bytes:
    """One PNG ``tEXt`` chunk (length, type, Latin-1 ``keyword\\0text``, CRC-32)."""
    if not 1 <= len(keyword) <= 79:
        raise ValueError(f"PNG keywords have 1 to 79 characters. Received: keyword={keyword!r}")
    data = keyword.encode("latin-1") + b"\0" + text.encode("latin-1", errors="replace")
    body = b"tEXt" + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def text_chunks(text: Mapping[str, str]) -> bytes:
    return b"".join(text_chunk(k, v) for k, v in text.items())


def insert_chunks(png: bytes, chunks: bytes) -> bytes:
    """``png`` with ``chunks`` inserted right after the IHDR chunk (byte 33)."""
    if not png.startswith(PNG_SIGNATURE) or png[12:16] != b"IHDR":
        raise ValueError("not a PNG file (no signature and IHDR chunk)")
    return png[:33] + chunks + png[33:]


def read_text_chunks(png: bytes) -> dict[str, str]:
    """Every ``tEXt`` chunk of a PNG as ``{keyword: text}`` (empty for other formats)."""
    if not png.startswith(PNG_SIGNATURE):
        return {}
    found, offset = {}, 8
    while offset + 8 <= len(png):
        (length,) = struct.unpack(">I", png[offset : offset + 4])
        kind = png[offset + 4 : offset + 8]
        data = png[offset + 8 : offset + 8 + length]
        if kind == b"tEXt" and b"\0" in data:
            keyword, _, text = data.partition(b"\0")
            found[keyword.decode("latin-1")] = text.decode("latin-1")
        if kind == b"IEND":
            break
        offset += 12 + length
    return found


# ------------------------------------------------------------------ robust DWT-DCT watermark


def _colour_channels(channels: int) -> int:
    """How many of an image's channels carry colour (the rest is alpha)."""
    if channels not in (1, 2, 3, 4):
        raise ValueError(
            "expected pixels with 1 to 4 channels (grey, grey + alpha, RGB, RGBA). "
            f"Received {channels} channels; convert the image to one of these first"
        )
    return 1 if channels <= 2 else 3


def _luma(pixels: Any) -> Any:
    """float64 (H, W): the grey channel, or ``LUMA`` of the RGB channels (alpha ignored)."""
    if pixels.ndim == 2:
        return pixels
    if _colour_channels(pixels.shape[-1]) == 1:
        return pixels[..., 0]
    red, green, blue = LUMA
    return red * pixels[..., 0] + green * pixels[..., 1] + blue * pixels[..., 2]


def _ll_band(luma: Any) -> Any:
    """The Haar wavelet's LL band of (H, W): (H // 2, W // 2), each 2x2 sum / 2 (orthonormal).

    A 0.5x area or bilinear resize averages the same 2x2 cells, so its pixels are LL / 2.
    """
    height, width = luma.shape[0] // 2, luma.shape[1] // 2
    return luma[: 2 * height, : 2 * width].reshape(height, 2, width, 2).sum(axis=(1, 3)) / 2


def _keyed_fraction(u: int, v: int) -> float:
    """A keyed number in [0, 1) for DCT frequency (u, v): the lattice offset in steps."""
    digest = hashlib.sha256(f"{WATERMARK_KEY}:dct:{u},{v}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def _dct_rows(size: int, count: int) -> Any:
    """The first ``count`` basis vectors (count, size) of the orthonormal DCT-II of length size."""
    import numpy as np

    frequency = np.arange(count, dtype=np.float64)[:, None]
    rows = np.sqrt(2.0 / size) * np.cos(np.pi * (2 * np.arange(size) + 1) * frequency / (2 * size))
    rows[:1] /= np.sqrt(2.0)
    return rows


@functools.lru_cache(maxsize=32)
def watermark_lattice(height: int, width: int) -> tuple[Any, Any, Any, Any, Any]:
    """The keyed lattice of an LL band of (height, width): ``(rows, cols, mask, step, offset)``.

    ``rows`` (U, height) and ``cols`` (V, width) are the first U, V = min(8, size) DCT basis
    vectors, so ``rows @ ll @ cols.T`` gives the (U, V) lowest frequencies; ``mask`` (U, V) marks
    those that carry the watermark; the lattice at (u, v) is ``offset + step * k``.
    """
    import numpy as np

    count_u, count_v = min(LOW_FREQUENCIES, height), min(LOW_FREQUENCIES, width)
    u, v = np.meshgrid(np.arange(count_u), np.arange(count_v), indexing="ij")
    mask = np.ones((count_u, count_v), bool)
    for skip_u, skip_v in SKIPPED_FREQUENCIES:
        mask &= (u != skip_u) | (v != skip_v)
    step = LATTICE_STEP * (1.0 + STEP_SLOPE * (u + v))
    offset = step * np.vectorize(_keyed_fraction, otypes=[np.float64])(u, v)
    arrays = (_dct_rows(height, count_u), _dct_rows(width, count_v), mask, step, offset)
    for array in arrays:
        array.flags.writeable = False  # shared by every call (cached)
    return arrays


def rounding_dither(height: int, width: int) -> Any:
    """Keyed fractions in [0, 1) (H, W, 1) that round the marked pixels (`_embed_dwt_dct`).

    Rounding to the nearest value would undo every change smaller than half a step, which is all
    of them in a large image (61 coefficients spread over many pixels); dithered rounding keeps
    each pixel's expected value, so the coefficients only get noise of about one grey level.
    """
    import numpy as np

    digest = hashlib.sha256(f"{WATERMARK_KEY}:rounding:{height}x{width}".encode()).digest()
    rng = np.random.default_rng(int.from_bytes(digest[:8], "big"))
    return rng.random((height, width, 1))


def _lattice_targets(coefficients: Any, step: Any, offset: Any) -> Any:
    """Each coefficient moved ``COMPENSATION`` of the way to its nearest lattice point."""
    import numpy as np

    nearest = offset + step * np.round((coefficients - offset) / step)
    return coefficients + COMPENSATION * (nearest - coefficients)


def _embed_dwt_dct(pixels: Any, bits: Any) -> Any:
    """uint8 (H, W, C) whose LSBs are ``bits`` (H, W, 1) -> uint8 (H, W, C) with the robust
    watermark in the luma and the same LSBs.

    Alternating projections, ``PROJECTIONS`` times: set the marked LL coefficients to their
    targets (the same change to every colour channel), clip each sample to the values of its LSB
    (``bits`` to ``254 + bits``). Then round to those values (steps of 2) with `rounding_dither`.
    The LSB watermark goes first: set afterwards, it brightens black and darkens white areas by
    half a level on average, which lowered the z of a 140x684 digit (38% black) from 10 to 5.5.
    """
    import numpy as np

    height, width = pixels.shape[0] // 2, pixels.shape[1] // 2
    colour = _colour_channels(pixels.shape[2])
    if min(height, width) == 0 or not watermark_lattice(height, width)[2].any():
        return pixels
    rows, cols, mask, step, offset = watermark_lattice(height, width)
    low = bits.astype(np.float64)
    x = pixels.astype(np.float64)
    target = _lattice_targets(rows @ _ll_band(_luma(x)) @ cols.T, step, offset)
    for _ in range(PROJECTIONS):
        residual = np.where(mask, target - rows @ _ll_band(_luma(x)) @ cols.T, 0.0)
        change = rows.T @ residual @ cols / 2  # (h, w): added to each pixel of its 2x2 cell
        x[: 2 * height, : 2 * width, :colour] += np.repeat(np.repeat(change, 2, 0), 2, 1)[..., None]
        np.clip(x, low, low + 254.0, out=x)
    dither = rounding_dither(*pixels.shape[:2])
    return (low + 2.0 * np.floor((x - low) / 2.0 + dither)).astype(np.uint8)


def _embed_dwt_dct_tf(images: Any, bits: Any) -> Any:
    """In-graph `_embed_dwt_dct`: uint8 (N, H, W, C) with static H, W, C whose LSBs are ``bits``
    (H, W, 1) -> uint8 (N, H, W, C)."""
    import tensorflow as tf

    _, height, width, channels = images.shape
    colour = _colour_channels(channels)
    half_h, half_w = height // 2, width // 2
    if min(half_h, half_w) == 0 or not watermark_lattice(half_h, half_w)[2].any():
        return images
    rows, cols, mask, step, offset = (tf.constant(a) for a in watermark_lattice(half_h, half_w))

    def coefficients(x: Any) -> Any:  # (N, H, W, C) -> (N, U, V)
        if colour == 1:
            luma = x[..., 0]
        else:
            red, green, blue = LUMA
            luma = red * x[..., 0] + green * x[..., 1] + blue * x[..., 2]
        cells = tf.reshape(luma[:, : 2 * half_h, : 2 * half_w], [-1, half_h, 2, half_w, 2])
        return tf.einsum("uh,nhw,vw->nuv", rows, tf.reduce_sum(cells, axis=[2, 4]) / 2, cols)

    low = tf.constant(bits, tf.float64)
    x = tf.cast(images, tf.float64)
    c = coefficients(x)
    nearest = offset + step * tf.round((c - offset) / step)
    target = c + COMPENSATION * (nearest - c)
    padding = [[0, 0], [0, height - 2 * half_h], [0, width - 2 * half_w], [0, channels - colour]]
    for _ in range(PROJECTIONS):
        residual = tf.where(mask, target - coefficients(x), tf.zeros_like(target))
        change = tf.einsum("uh,nuv,vw->nhw", rows, residual, cols) / 2
        change = tf.repeat(tf.repeat(change, 2, axis=1), 2, axis=2)[..., None]
        x = tf.clip_by_value(
            x + tf.pad(tf.tile(change, [1, 1, 1, colour]), padding), low, low + 254.0
        )
    dither = tf.constant(rounding_dither(height, width))
    return tf.cast(low + 2.0 * tf.floor((x - low) / 2.0 + dither), tf.uint8)


def _lattice_z(ll: Any) -> tuple[float, int]:
    """z-score of an LL band's coefficients against the lattice, and how many were read.

    z = sum of cos(2 pi phase) / sqrt(n / 2), phase = (c - offset) / step: about N(0, 1) for an
    unmarked image, sqrt(2 n) for an exactly marked one.
    """
    import numpy as np

    if min(ll.shape) == 0 or not watermark_lattice(*ll.shape)[2].any():
        return 0.0, 0
    rows, cols, mask, step, offset = watermark_lattice(*ll.shape)
    count = int(mask.sum())
    phase = (rows @ ll @ cols.T - offset) / step
    return float(np.cos(2 * np.pi * phase)[mask].sum() / np.sqrt(count / 2)), count


def watermark_score(pixels: Any) -> dict[str, Any]:
    """The robust watermark's z-score (pixels (H, W[, C])) on the image as given and read as a
    0.5x resize of a marked image (its pixels x 2 are the LL band), the larger one, and the
    decision."""
    import numpy as np

    luma = _luma(np.asarray(pixels, dtype=np.float64))
    z_given, count_given = _lattice_z(_ll_band(luma))
    z_half, count_half = _lattice_z(2.0 * luma)
    grid, z, count = (
        ("as given", z_given, count_given)
        if z_given >= z_half
        else ("0.5x resize", z_half, count_half)
    )
    return {
        "detected": bool(z >= Z_THRESHOLD),
        "z_score": z,
        "grid": grid,
        "z_as_given": z_given,
        "z_as_0_5x_resize": z_half,
        "coefficients": count,
        "threshold": Z_THRESHOLD,
    }


# ------------------------------------------------------------------ fragile LSB watermark


def lsb_pattern(height: int, width: int) -> Any:
    """The keyed bit pattern (uint8 0/1, shape (H, W)) of an image of that size.

    The same bit goes into every channel of a pixel, so a grey image re-saved as RGB keeps it.
    """
    import numpy as np

    digest = hashlib.sha256(f"{WATERMARK_KEY}:{int(height)}x{int(width)}".encode()).digest()
    rng = np.random.default_rng(int.from_bytes(digest[:8], "big"))
    return rng.integers(0, 2, size=(int(height), int(width)), dtype=np.uint8)


def lsb_score(pixels: Any) -> dict[str, Any]:
    """Fraction of LSBs that match the pattern, its z-score against chance, and the decision."""
    import numpy as np

    pixels = np.asarray(pixels)
    if pixels.ndim == 3 and pixels.shape[-1] in (2, 4):  # drop the alpha channel
        pixels = pixels[..., :-1]
    pattern = lsb_pattern(*pixels.shape[:2])
    n = int(pixels.size)
    match = (
        float(np.mean((pixels & 1) == (pattern if pixels.ndim == 2 else pattern[..., None])))
        if n
        else 0.0
    )
    z = (match - 0.5) / (0.5 / np.sqrt(max(n, 1)))
    return {
        "match_fraction": match,
        "z_score": float(z),
        "samples": n,
        "detected": bool(n >= MIN_SAMPLES and match >= LSB_THRESHOLD),
    }


# ------------------------------------------------------------------ both marks


def embed_watermark(pixels: Any) -> Any:
    """uint8 pixels (H, W[, C]) with both watermarks: every sample's LSB replaced by
    `lsb_pattern`, then the robust one in the luma (changes in steps of 2, keeping the LSBs)."""
    import numpy as np

    pixels = np.asarray(pixels)
    if pixels.dtype != np.uint8:
        raise ValueError(f"embed_watermark expected uint8 pixels. Received dtype {pixels.dtype}")
    if pixels.ndim not in (2, 3):
        raise ValueError(
            f"embed_watermark expected pixels of shape (H, W) or (H, W, C). "
            f"Received shape {pixels.shape}"
        )
    image = pixels if pixels.ndim == 3 else pixels[..., np.newaxis]
    bits = lsb_pattern(*image.shape[:2])[..., np.newaxis]  # (H, W, 1)
    marked = _embed_dwt_dct((image & 0xFE) | bits, bits)
    return marked if pixels.ndim == 3 else marked[..., 0]


def encode_marked_png(pixels: Any, model: str, version: str | int) -> bytes:
    """uint8 (H, W[, C]) pixels -> PNG bytes with the watermarks and the text chunks."""
    import numpy as np
    import tensorflow as tf

    marked = embed_watermark(np.asarray(pixels, dtype=np.uint8))
    if marked.ndim == 2:
        marked = marked[..., np.newaxis]
    png = tf.io.encode_png(marked).numpy()
    return insert_chunks(png, text_chunks(marking_text(model, version)))


def mark_and_encode_tf(images: Any, model: str, version: str | int) -> Any:
    """In-graph `embed_watermark` and `encode_marked_png`, core TF ops only: uint8 images
    (N, H, W, C) with static H, W, C -> (marked uint8 images (N, H, W, C), PNG bytes (N,))."""
    import tensorflow as tf

    _, height, width, _ = images.shape
    bits = lsb_pattern(height, width)[..., None]  # (H, W, 1) 0/1
    lsb_marked = tf.bitwise.bitwise_or(
        tf.bitwise.bitwise_and(images, tf.constant(0xFE, tf.uint8)), tf.constant(bits)
    )
    marked = _embed_dwt_dct_tf(lsb_marked, bits)
    chunks = tf.constant(text_chunks(marking_text(model, version)))
    pngs = tf.map_fn(lambda image: tf.io.encode_png(image), marked, fn_output_signature=tf.string)
    pngs = tf.strings.join(
        [tf.strings.substr(pngs, 0, 33), chunks, tf.strings.substr(pngs, 33, tf.int32.max)]
    )
    return marked, pngs


def detect_mark(data: bytes, trust_anchors: str | None = None) -> dict[str, Any]:
    """Whether an encoded image (PNG, GIF, JPEG, ...) carries the suite's marks: the text chunks,
    the robust ``watermark`` (`watermark_score`), the ``lsb_watermark`` (`lsb_score`) and the C2PA
    ``credentials`` (`content_credentials.read_credentials`, trusted when signed under one of the
    PEM ``trust_anchors``). ``ai_generated``: any of the four says so."""
    import numpy as np
    from PIL import Image

    from dlsuite.serving.content_credentials import read_credentials  # it imports this module

    text = read_text_chunks(data)
    with Image.open(io.BytesIO(data)) as image:
        image_format = image.format
        readable: Image.Image = image
        if image.mode not in ("L", "RGB", "RGBA"):
            readable = image.convert("L" if image.mode in ("P", "1", "I", "I;16") else "RGB")
        pixels = np.asarray(readable)
    watermark = watermark_score(pixels)
    lsb = lsb_score(pixels)
    credentials = read_credentials(data, trust_anchors)
    text_mark = text.get("AI-generated") == "true"
    return {
        "format": image_format,
        "shape": list(pixels.shape),
        "text_mark": text_mark,
        "text": text,
        "watermark": watermark,
        "lsb_watermark": lsb,
        "credentials": credentials,
        "ai_generated": bool(
            text_mark or watermark["detected"] or lsb["detected"] or credentials["ai_generated"]
        ),
    }
