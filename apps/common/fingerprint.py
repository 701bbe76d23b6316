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
  of the content) list, with the file count and bytes (and, asked for, the same per sub-folder,
  e.g. per class folder);
* `tfds_fingerprint`: a `tensorflow_datasets` dataset's name, version and its own checksums (the
  download checksums and each split's example count, bytes and shard lengths).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from dlsuite.base.files import sha256_file

ARRAYS_METHOD = "sha256 of each array's dtype, shape and bytes, in order"
DATASET_METHOD = "sum mod 2**64 of each row's farmhash64 (tf.fingerprint): order-independent"
FILES_METHOD = "sha256 of the sorted (relative path, size, sha256 of content) list"
TFDS_METHOD = "sha256 of the tfds name, version, download checksums and split shard lengths/bytes"


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


def files_fingerprint(path: str | os.PathLike[str], *, folder_depth: int = 0) -> dict[str, Any]:
    """SHA-256 over a folder's files (sorted by relative path) or one file, with counts.

    Only paths relative to ``path`` (to its parent for a file) are hashed, so the same files in
    another place fingerprint the same. With ``folder_depth`` > 0 the result also has
    ``"folders"``: for each sub-folder ``folder_depth`` levels down (``cat`` at 1, ``train/cat``
    at 2) the same ``files``, ``bytes`` and ``value`` over the files under it.
    """
    root = Path(path)
    if root.is_file():
        files = [root]
        base = root.parent
    elif root.is_dir():
        files = sorted(p for p in root.rglob("*") if p.is_file())
        base = root
    else:
        raise FileNotFoundError(f"cannot fingerprint {root}: no such file or folder")
    entries = [(f.relative_to(base).as_posix(), f.stat().st_size, sha256_file(f)) for f in files]
    result = {"method": FILES_METHOD, **_entries_digest(entries)}
    if folder_depth > 0:
        folders: dict[str, list[tuple[str, int, str]]] = {}
        for entry in entries:
            parts = entry[0].split("/")
            if len(parts) > folder_depth:
                folders.setdefault("/".join(parts[:folder_depth]), []).append(entry)
        result["folders"] = {name: _entries_digest(part) for name, part in folders.items()}
    return result


def _entries_digest(entries: list[tuple[str, int, str]]) -> dict[str, Any]:
    """``value``, ``files`` and ``bytes`` of sorted (relative path, size, sha256) entries."""
    digest = hashlib.sha256()
    for relative, size, content in entries:
        digest.update(f"{relative}\0{size}\0{content}\n".encode())
    return {
        "value": "sha256:" + digest.hexdigest(),
        "files": len(entries),
        "bytes": sum(size for _, size, _ in entries),
    }


def tfds_fingerprint(info: Any) -> dict[str, Any]:
    """Name, version and own checksums of a tfds dataset from its ``tfds.core.DatasetInfo``.

    Records the download checksums (URL -> SHA-256, as the builder verified them), the file
    format and, per prepared split, ``num_examples``, ``num_bytes`` and ``shard_lengths``;
    ``value`` hashes all of them, so two preparations of the same version compare equal. A
    dataset that is not prepared (e.g. under ``tfds.testing.mock_data``) has none of them.
    """
    proto = info.as_proto
    facts = {
        "name": info.full_name,
        "version": str(info.version),
        "file_format": info.file_format.value if info.file_format else None,
        "download_size": int(proto.download_size),
        "download_checksums": dict(sorted(proto.download_checksums.items())),
        "split_files": {
            split.name: {
                "num_examples": int(sum(split.shard_lengths)),
                "num_bytes": int(split.num_bytes),
                "shard_lengths": [int(n) for n in split.shard_lengths],
            }
            for split in sorted(proto.splits, key=lambda split: split.name)
        },
    }
    digest = hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()
    return {"method": TFDS_METHOD, "value": "sha256:" + digest, **facts}


def files_differences(recorded: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """How two `files_fingerprint` results differ, one line each (empty when they are equal).

    Names the file count and bytes when they differ, and for each class folder that either
    records (``classes``) the changed counts, or that its files changed at the same count.
    """
    if recorded.get("value") == current.get("value"):
        return []
    lines = [f"digest {current.get('value')} is not the recorded {recorded.get('value')}"]
    for key in ("files", "bytes"):
        if recorded.get(key) != current.get(key):
            lines.append(f"{key}: {current.get(key)}, recorded {recorded.get(key)}")
    before, after = recorded.get("classes") or {}, current.get("classes") or {}
    for name in sorted(set(before) | set(after)):
        if name not in after:
            lines.append(f"class folder {name!r}: missing ({before[name]['files']} files recorded)")
        elif name not in before:
            lines.append(f"class folder {name!r}: not recorded ({after[name]['files']} files)")
        elif before[name]["files"] != after[name]["files"]:
            lines.append(
                f"class folder {name!r}: {after[name]['files']} files, "
                f"recorded {before[name]['files']}"
            )
        elif before[name]["value"] != after[name]["value"]:
            lines.append(
                f"class folder {name!r}: same {after[name]['files']} files count, "
                "but names or contents changed"
            )
    return lines
