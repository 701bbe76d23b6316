"""Data sources and tf.data input pipelines, the same for every app.

A source is named by a string:

* ``tfds:<name>`` — real `tensorflow_datasets` loading (``--data-dir`` for its data directory);
* ``dir:<path>``  — a folder with one sub-folder per class (Keras ``*_dataset_from_directory``
  conventions); if it has ``train/`` and ``test/`` sub-folders those are used as the splits;
* ``builtin:<name>`` — small real data that ships inside an installed package or that the project
  generates, so everything works offline.

Each app turns a source into `Splits` (unbatched train/validation/test datasets plus what the
manifest needs to know about them); `make_pipeline` then shuffles, caches, augments, batches and
prefetches.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

SOURCE_KINDS = ("tfds", "dir", "builtin")


@dataclasses.dataclass(frozen=True)
class DataSpec:
    """A parsed data source string."""

    kind: str
    name: str


def parse_source(source: str) -> DataSpec:
    """Parse ``kind:name``; raise a `ValueError` that shows the accepted forms."""
    kind, sep, name = source.partition(":")
    if not sep or kind not in SOURCE_KINDS or not name:
        raise ValueError(
            f"data source must be tfds:<name>, dir:<path> or builtin:<name>. Received: {source!r}"
        )
    return DataSpec(kind, name)


@dataclasses.dataclass
class Splits:
    """Unbatched ``(features, label)`` datasets and their description."""

    train: Any
    validation: Any
    test: Any
    class_names: list[str]
    input_shape: tuple[int, ...]
    sizes: dict[str, int]
    # source, kind, name, version, preprocessing (for metrics.json and the manifest)
    info: dict[str, Any]
    # dtype of the model input ("string" for models that tokenize inside)
    input_dtype: str = "float32"

    def describe(self) -> dict[str, Any]:
        return {
            **self.info,
            "splits": dict(self.sizes),
            "class_names": list(self.class_names),
            "input_shape": list(self.input_shape),
        }


def split_by_index(
    dataset: Any, num_examples: int, fractions: dict[str, float], seed: int
) -> dict[str, Any]:
    """Split an ordered, finite dataset into named parts by a seeded permutation of indices.

    ``fractions`` maps split names to fractions of ``num_examples``; the first split takes what is
    left after rounding. Every example lands in exactly one split, and the assignment depends only
    on ``seed`` and the order of ``dataset`` (so the held-out split never changes between runs).
    Returns ``{name: (dataset, size)}``.
    """
    import numpy as np
    import tensorflow as tf

    names = list(fractions)
    counts = [int(round(num_examples * fractions[n])) for n in names[1:]]
    counts.insert(0, num_examples - sum(counts))
    if min(counts) <= 0:
        raise ValueError(f"{num_examples} examples are too few to split as {fractions}")
    assignment = np.empty(num_examples, dtype=np.int32)
    order = np.random.default_rng(seed).permutation(num_examples)
    start = 0
    for k, count in enumerate(counts):
        assignment[order[start : start + count]] = k
        start += count
    table = tf.constant(assignment)
    result = {}
    for k, name in enumerate(names):
        part = (
            dataset.enumerate()
            .filter(lambda i, *ex, k=k: tf.equal(tf.gather(table, i), k))
            .map(lambda i, *ex: ex if len(ex) > 1 else ex[0])
        )
        part = part.apply(tf.data.experimental.assert_cardinality(counts[k]))
        result[name] = (part, counts[k])
    return result


def three_way_split(dataset: Any, count: int, config: Any) -> dict[str, tuple[Any, int]]:
    """Seeded train/validation/test split of one set of ``count`` examples: ``config``'s
    ``test_fraction``, ``validation_fraction`` of the rest, ``split_seed`` (`split_by_index`)."""
    test = config.test_fraction
    validation = config.validation_fraction * (1.0 - test)
    return split_by_index(
        dataset,
        count,
        {"train": 1.0 - test - validation, "validation": validation, "test": test},
        config.split_seed,
    )


def class_folder_files(
    root: Path, suffixes: tuple[str, ...], what: str
) -> tuple[list[str], list[int], list[str]]:
    """``(files, labels, class_names)`` of ``root/<class>/**/*<suffix>``: classes are the sorted
    sub-folder names (hidden ones skipped), files sorted within each class.

    Raises:
        ValueError: naming ``what`` (e.g. ".wav files") when no file matches.
    """
    class_names = sorted(
        p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")
    )
    files, labels = [], []
    for label, name in enumerate(class_names):
        for path in sorted((root / name).rglob("*")):
            if path.suffix.lower() in suffixes:
                files.append(str(path))
                labels.append(label)
    if not files:
        raise ValueError(f"no {what} in class folders under {root}")
    return files, labels, class_names


def class_folder_splits(
    path: Path, load: Callable[[Path], tuple[Any, int, list[str]]], config: Any
) -> tuple[dict[str, tuple[Any, int]], list[str], str]:
    """The splits of a ``dir:`` source of class folders: ``path/train/`` and ``path/test/`` when
    both exist (validation carved from train), else one folder split three ways
    (`three_way_split`).

    ``load(root)`` gives ``(dataset, count, class_names)`` of one folder. Returns
    ``({split: (dataset, count)}, class_names, how)``, ``how`` saying which rule split it.

    Raises:
        FileNotFoundError: when ``path`` is not a folder.
        ValueError: when test/ has other classes than train/.
    """
    if not path.is_dir():
        raise FileNotFoundError(f"data folder {path} does not exist")
    if (path / "train").is_dir() and (path / "test").is_dir():
        train, count, class_names = load(path / "train")
        test, test_count, test_names = load(path / "test")
        if test_names != class_names:
            raise ValueError(f"test/ classes {test_names} differ from train/ classes {class_names}")
        fraction = config.validation_fraction
        parts = split_by_index(
            train, count, {"train": 1.0 - fraction, "validation": fraction}, config.split_seed
        )
        parts["test"] = (test, test_count)
        how = "train/ and test/ folders"
    else:
        dataset, count, class_names = load(path)
        parts = three_way_split(dataset, count, config)
        how = "seeded split"
    return parts, class_names, f"{how} (split_seed={config.split_seed})"


def load_tfds(
    name: str, data_dir: str | None, validation_fraction: float
) -> tuple[dict[str, Any], dict[str, int], Any]:
    """Load a tfds dataset as supervised ``(features, label)`` splits with `tfds.load`.

    Uses the dataset's own ``validation`` split when it has one, else carves the last
    ``validation_fraction`` of ``train`` with tfds's split slicing; ``test`` must exist.
    Returns ``({"train"|"validation"|"test": dataset}, {split: size}, tfds DatasetInfo)``.
    """
    import tensorflow_datasets as tfds

    builder = tfds.builder(name, data_dir=data_dir)
    available = set(builder.info.splits.keys()) or {"train", "test"}
    if "test" not in available or "train" not in available:
        raise ValueError(
            f"tfds:{name} has splits {sorted(available)}; a train and a test split are needed"
        )
    if "validation" in available:
        split_names = {"train": "train", "validation": "validation", "test": "test"}
    else:
        cut = round(100 * (1 - validation_fraction))
        split_names = {"train": f"train[:{cut}%]", "validation": f"train[{cut}%:]", "test": "test"}
    loaded, info = tfds.load(
        name,
        split=list(split_names.values()),
        data_dir=data_dir,
        as_supervised=True,
        shuffle_files=False,
        with_info=True,
    )
    datasets = dict(zip(split_names, loaded, strict=True))
    sizes = {key: _num_examples(info, split, datasets[key]) for key, split in split_names.items()}
    return datasets, sizes, info


def _num_examples(info: Any, split: str, dataset: Any) -> int:
    """Examples in a split, from the dataset's metadata when it has them, else by counting."""
    try:
        return int(info.splits[split].num_examples)
    except (KeyError, ValueError):
        return int(dataset.reduce(0, lambda count, _: count + 1))


def make_pipeline(
    dataset: Any,
    *,
    batch_size: int,
    training: bool,
    seed: int,
    cache: bool = True,
    shuffle_buffer: int = 10000,
    augment: Callable[..., Any] | None = None,
    max_examples: int | None = None,
) -> Any:
    """Cache -> shuffle (training) -> batch -> augment (training) -> prefetch, shardable by data.

    ``batch_size`` is the global batch; a `tf.distribute` strategy splits it across replicas.
    The auto-shard policy is DATA, so under a multi-worker strategy each worker keeps its own
    examples of every batch, whatever the number of input files.
    """
    import tensorflow as tf

    if max_examples is not None:
        dataset = dataset.take(max_examples)
    if cache:
        dataset = dataset.cache()
    if training:
        dataset = dataset.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)
    if training and augment is not None:
        # (B, H, W, C) -> (B, H, W, C): Keras preprocessing layers run batched inside tf.data.
        dataset = dataset.map(
            lambda x, y: (augment(x, training=True), y),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    options.deterministic = True
    return dataset.with_options(options).prefetch(tf.data.AUTOTUNE)
