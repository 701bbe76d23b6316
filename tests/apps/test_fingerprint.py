"""Data fingerprints: the same data gives the same value, one changed byte or file another."""

from __future__ import annotations

import numpy as np
import pytest

from dlsuite.apps.common.fingerprint import (
    ARRAYS_METHOD,
    FILES_METHOD,
    arrays_fingerprint,
    dataset_fingerprint,
    files_fingerprint,
)


def _arrays() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.normal(size=(50, 3)).astype("float32"), rng.integers(0, 4, 50)


def test_arrays_fingerprint_is_sha256_of_dtype_shape_and_bytes():
    import hashlib

    x, y = _arrays()
    expected = hashlib.sha256()
    for array in (x, y):
        expected.update(f"{array.dtype.str}{array.shape};".encode() + array.tobytes())
    assert arrays_fingerprint(x, y) == {
        "method": ARRAYS_METHOD,
        "value": "sha256:" + expected.hexdigest(),
    }
    changed = x.copy()
    changed[7, 1] = np.nextafter(changed[7, 1], np.float32(np.inf))  # one bit
    assert arrays_fingerprint(changed, y)["value"] != arrays_fingerprint(x, y)["value"]
    assert arrays_fingerprint(x.astype("float64"), y) != arrays_fingerprint(x, y)
    assert arrays_fingerprint(x.reshape(25, 6), y) != arrays_fingerprint(x, y)
    with pytest.raises(TypeError, match="object array"):
        arrays_fingerprint(np.array(["a", None], dtype=object))


def test_dataset_fingerprint_ignores_order_and_batching_but_not_values():
    import tensorflow as tf

    x, y = _arrays()

    def value(features, labels, batch, shuffle=False):
        dataset = tf.data.Dataset.from_tensor_slices((features, labels))
        if shuffle:
            dataset = dataset.shuffle(50, seed=3)
        return dataset_fingerprint(dataset.batch(batch))

    reference = value(x, y, 8)
    assert reference["rows"] == 50
    assert value(x, y, 5, shuffle=True) == reference
    changed = x.copy()
    changed[49, 2] += 1e-3
    assert value(changed, y, 8)["value"] != reference["value"]
    # the same features with other labels, or labels swapped between two rows
    assert value(x, (y + 1) % 4, 8)["value"] != reference["value"]
    swapped = y.copy()
    swapped[[0, 1]] = y[[1, 0]] if y[0] != y[1] else (y[[1, 0]] + 1) % 4
    assert value(x, swapped, 8)["value"] != reference["value"]
    strings = tf.data.Dataset.from_tensor_slices(["a", "b", "c"]).batch(2)
    assert dataset_fingerprint(strings)["rows"] == 3


def test_files_fingerprint_changes_with_one_file(tmp_path):
    root = tmp_path / "data"
    for label in ("cat", "dog"):
        (root / label).mkdir(parents=True)
        for i in range(3):
            (root / label / f"{i}.txt").write_bytes(f"{label} {i}".encode())
    reference = files_fingerprint(root)
    assert reference["method"] == FILES_METHOD
    assert (reference["files"], reference["bytes"]) == (6, 30)

    copy = tmp_path / "copy"
    import shutil

    shutil.copytree(root, copy)
    assert files_fingerprint(copy) == reference  # paths are relative to the folder
    (copy / "dog" / "2.txt").write_bytes(b"dog 9")  # same size, other content
    assert files_fingerprint(copy)["value"] != reference["value"]
    (copy / "dog" / "2.txt").write_bytes(b"dog 2")
    (copy / "dog" / "2.txt").rename(copy / "cat" / "9.txt")  # moved to another class
    assert files_fingerprint(copy)["value"] != reference["value"]
    single = files_fingerprint(root / "cat" / "0.txt")
    assert (single["files"], single["bytes"]) == (1, 5)
    with pytest.raises(FileNotFoundError, match="cannot fingerprint"):
        files_fingerprint(tmp_path / "missing")
