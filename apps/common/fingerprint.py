"""Fingerprints of training data: which exact data a run saw (Annex IV 2(d), reproducibility).

Each function returns a ``{"method": ..., "value": ..., ...}`` mapping for ``metrics.json`` and
the manifest; the method names what was hashed, so two fingerprints compare only when their
methods match:

* `arrays_fingerprint`: SHA-256 over NumPy arrays' dtypes, shapes and bytes, in order (the same
  arrays in another row order fingerprint differently);
* `dataset_fingerprint`: a finite `tf.data` dataset, in one pass, independent of the order of its
  rows and of how they are batched (each row's 64-bit FarmHash, ``tf.fingerprint``, summed modulo
  2**64). A pipeline with random augmentation fingerprints differently on each pass: fingerprint
  its files instead;
* `files_fingerprint`: a folder or a file, SHA-256 over the sorted (relative path, size, SHA-256
  of the content) list, with the file count and bytes.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np

from dlsuite.base.files import sha256_file

ARRAYS_METHOD = "sha256 of each array's dtype, shape and bytes, in order"
DATASET_METHOD = "sum mod 2**64 of each row's farmhash64 (tf.fingerprint): order-independent"
FILES_METHOD = "sha256 of the sorted (relative path, size, sha256 of content) list"


def arrays_fingerprint(*arrays: Any) -> dict[str, Any]:
    """SHA-256 over ``arrays`` (e.g. ``x, y``), each as dtype, shape and C-order bytes."""
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        if array.dtype == object:
            raise TypeError(
                "cannot fingerprint a NumPy object array; use dtype=str or bytes for strings"
            )
        digest.update(f"{array.dtype.str}{array.shape};".encode())
        digest.update(array.tobytes())
    return {"method": ARRAYS_METHOD, "value": "sha256:" + digest.hexdigest()}


def dataset_fingerprint(dataset: Any) -> dict[str, Any]:
    """Order-independent fingerprint of a finite, batched ``tf.data`` dataset (one pass).

    Each element's tensors are fingerprinted row by row (the first axis is the batch), a row's
    fingerprint combines those of its tensors, and the rows' fingerprints are summed modulo 2**64,
    so reshuffling or re-batching the same rows gives the same value.
    """
    import tensorflow as tf

    def rows(*element: Any) -> Any:
        parts = [
            tf.bitcast(tf.fingerprint(tf.reshape(t, [tf.shape(t)[0], -1])), tf.uint64)
            for t in tf.nest.flatten(element)
        ]
        combined = parts[0]
        for i, part in enumerate(parts[1:], start=1):  # mix in each tensor's position
            combined = combined ^ (part * tf.constant(0x9E3779B97F4A7C15 * i % 2**64, tf.uint64))
        return tf.reduce_sum(combined), tf.shape(combined, tf.int64)[0]

    total, count = dataset.map(rows).reduce(
        (tf.constant(0, tf.uint64), tf.constant(0, tf.int64)),
        lambda state, part: (state[0] + part[0], state[1] + part[1]),
    )
    return {
        "method": DATASET_METHOD,
        "value": f"farmhash64-sum:{int(total.numpy()):016x}",
        "rows": int(count),
    }


def files_fingerprint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """SHA-256 over a folder's files (sorted by relative path) or one file, with counts."""
    root = Path(path)
    if root.is_file():
        files = [root]
        base = root.parent
    elif root.is_dir():
        files = sorted(p for p in root.rglob("*") if p.is_file())
        base = root
    else:
        raise FileNotFoundError(f"cannot fingerprint {root}: no such file or folder")
    digest = hashlib.sha256()
    total = 0
    for file in files:
        size = file.stat().st_size
        total += size
        relative = file.relative_to(base).as_posix()
        digest.update(f"{relative}\0{size}\0{sha256_file(file)}\n".encode())
    return {
        "method": FILES_METHOD,
        "value": "sha256:" + digest.hexdigest(),
        "files": len(files),
        "bytes": total,
    }
