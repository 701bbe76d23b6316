"""Data sources and tf.data input pipelines, the same for every app.

A source is named by a string:

* ``tfds:<name>`` — real `tensorflow_datasets` loading (``--data-dir`` for its data directory);
* ``dir:<path>``  — a folder with one sub-folder per class (Keras ``*_dataset_from_directory``
  conventions); if it has ``train/`` and ``test/`` sub-folders those are used as the splits, if
  it has Speech Commands' ``testing_list.txt`` / ``validation_list.txt`` those name the held-out
  files, and ``--group-by`` keeps each group (speaker) in one split (`class_folder_splits`);
* ``builtin:<name>`` — small real data that ships inside an installed package or that the project
  generates, so everything works offline.

Each app turns a source into `Splits` (unbatched train/validation/test datasets plus what the
manifest needs to know about them); `make_pipeline` then shuffles, caches, augments, batches and
prefetches.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

SOURCE_KINDS = ("tfds", "dir", "builtin")
# Speech Commands: the folder of background noise clips beside the word folders (not a class),
# and the lists of the files of the held-out splits, paths relative to the data folder.
BACKGROUND_NOISE_FOLDER = "_background_noise_"
SPLIT_LISTS = {"validation": "validation_list.txt", "test": "testing_list.txt"}


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
    return _split_by_assignment(dataset, assignment, names)


def _split_by_assignment(
    dataset: Any, assignment: Any, names: Sequence[str]
) -> dict[str, tuple[Any, int]]:
    """``{name: (dataset, size)}``: example ``i`` of the ordered, finite ``dataset`` goes to the
    part ``names[assignment[i]]`` (``assignment`` an int array, one entry per example)."""
    import numpy as np
    import tensorflow as tf

    counts = np.bincount(assignment, minlength=len(names))
    table = tf.constant(assignment, tf.int32)
    result = {}
    for k, name in enumerate(names):
        part = (
            dataset.enumerate()
            .filter(lambda i, *ex, k=k: tf.equal(tf.gather(table, i), k))
            .map(lambda i, *ex: ex if len(ex) > 1 else ex[0])
        )
        part = part.apply(tf.data.experimental.assert_cardinality(int(counts[k])))
        result[name] = (part, int(counts[k]))
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


def split_by_group(
    dataset: Any, groups: Sequence[str], config: Any, *, test: bool = True
) -> tuple[dict[str, tuple[Any, int]], dict[str, list[str]]]:
    """Split an ordered, finite dataset so that each group (e.g. a speaker) lies in one split.

    ``groups[i]`` is the group of example ``i``. The test split is ``config.test_groups`` when
    given, else a ``config.split_seed``-seeded choice of ``test_fraction`` of the groups (at least
    one); validation is ``validation_fraction`` of the remaining groups (at least one), seeded the
    same way; train is the rest. With ``test=False`` (the source has its own test split) only
    train and validation are made.

    Returns:
        ``({split: (dataset, size)}, {split: sorted group names})``.

    Raises:
        ValueError: when ``groups`` does not have one entry per example, when
            ``config.test_groups`` names unknown groups (listing the known ones) or is given with
            ``test=False``, or when there are too few groups to leave one for every split.
    """
    import numpy as np

    cardinality = int(dataset.cardinality())
    if cardinality >= 0 and cardinality != len(groups):
        raise ValueError(
            f"split_by_group expected one group per example: {len(groups)} groups "
            f"for {cardinality} examples"
        )
    names = sorted(set(groups))
    test_groups = sorted(set(config.test_groups))
    if test_groups and not test:
        raise ValueError(
            f"test_groups={test_groups} choose the test split, but this source has its own "
            "test split (e.g. a test/ folder); drop --test-groups or use one folder of classes"
        )
    unknown = [g for g in test_groups if g not in names]
    if unknown:
        raise ValueError(
            f"test_groups {unknown} are not groups of the data; known groups: {_listing(names)}"
        )
    order = [names[i] for i in np.random.default_rng(config.split_seed).permutation(len(names))]
    chosen: dict[str, list[str]] = {"train": [], "validation": []}
    if test:
        count = max(1, int(round(len(names) * config.test_fraction)))
        chosen["test"] = test_groups or order[:count]
        order = [g for g in order if g not in chosen["test"]]
    count = max(1, int(round(len(order) * config.validation_fraction)))
    chosen["validation"], chosen["train"] = order[:count], order[count:]
    if not chosen["train"]:
        held_out = " and ".join(k for k in chosen if k != "train")
        raise ValueError(
            f"{len(names)} groups {_listing(names)} are too few to hold out whole groups for "
            f"{held_out} and keep one for train; add groups or check the --group-by pattern"
        )
    split_names = list(chosen)
    split_of = {g: k for k, name in enumerate(split_names) for g in chosen[name]}
    assignment = np.array([split_of[g] for g in groups], dtype=np.int32)
    parts = _split_by_assignment(dataset, assignment, split_names)
    return parts, {name: sorted(chosen[name]) for name in split_names}


def _listing(names: Sequence[str], limit: int = 20) -> str:
    """``names`` for an error message: all of them, or the first ``limit`` and how many more."""
    shown = list(names[:limit])
    return f"{shown}" if len(names) <= limit else f"{shown} and {len(names) - limit} more"


def class_folder_files(
    root: Path, suffixes: tuple[str, ...], what: str
) -> tuple[list[str], list[int], list[str]]:
    """``(files, labels, class_names)`` of ``root/<class>/**/*<suffix>``: classes are the sorted
    sub-folder names (hidden ones and Speech Commands' ``_background_noise_`` skipped), files
    sorted within each class.

    Raises:
        ValueError: naming ``what`` (e.g. ".wav files") when no file matches.
    """
    class_names = sorted(
        p.name
        for p in root.iterdir()
        if p.is_dir() and not p.name.startswith(".") and p.name != BACKGROUND_NOISE_FOLDER
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


def _file_groups(
    root: Path, files: list[str], labels: list[int], class_names: list[str], group_by: str
) -> list[str]:
    """The group of each file: ``group_by`` searched in its path relative to its class folder
    (``alice/1.wav`` or ``7_alice_12.wav``); the named group ``group`` when the pattern has one,
    else the whole match.

    Raises:
        ValueError: naming the first file the pattern does not match (or matches emptily).
    """
    pattern = re.compile(group_by)
    groups = []
    for file, label in zip(files, labels, strict=True):
        name = Path(file).relative_to(root / class_names[label]).as_posix()
        match = pattern.search(name)
        group = None
        if match:
            group = match.group("group") if "group" in pattern.groupindex else match.group(0)
        if not group:
            raise ValueError(
                f"--group-by {group_by!r} finds no group in {file} (it is searched in {name!r}, "
                "the path within the class folder); fix the pattern or move the file"
            )
        groups.append(group)
    return groups


def _carve_validation(
    dataset: Any, count: int, groups: list[str] | None, config: Any
) -> tuple[dict[str, tuple[Any, int]], dict[str, list[str]]]:
    """Train and validation parts of ``dataset`` (its source has its own test split): whole
    groups (`split_by_group`) when ``groups`` are given, else a seeded ``validation_fraction``."""
    if groups is not None:
        return split_by_group(dataset, groups, config, test=False)
    fraction = config.validation_fraction
    parts = split_by_index(
        dataset, count, {"train": 1.0 - fraction, "validation": fraction}, config.split_seed
    )
    return parts, {}


def _listed_splits(
    path: Path, files: list[str], dataset: Any, groups: list[str] | None, config: Any
) -> tuple[dict[str, tuple[Any, int]], dict[str, list[str]], str]:
    """The splits of a Speech Commands folder: the files named in ``testing_list.txt`` and
    ``validation_list.txt`` (else validation is carved from the rest, `_carve_validation`) form
    those splits, the rest is train. Lines of a class that is not in ``path`` are skipped (a copy
    with a subset of the words). Returns ``(parts, groups per split, how)``.

    Raises:
        ValueError: for a listed file missing from its class folder, a file in both lists,
            ``--test-groups`` (the list chooses the test split) or a validation list alone.
    """
    import numpy as np

    listed = {split: path / name for split, name in SPLIT_LISTS.items()}
    present = [split for split, file in listed.items() if file.is_file()]
    if "test" not in present:
        raise ValueError(
            f"{listed['validation']} needs {SPLIT_LISTS['test']} beside it to name the test "
            "split; add it, or remove the validation list for a seeded split"
        )
    if config.test_groups:
        raise ValueError(
            f"--test-groups {list(config.test_groups)} and {listed['test']} both choose the "
            "test split; drop one of them"
        )
    index = {Path(file).relative_to(path).as_posix(): i for i, file in enumerate(files)}
    classes = {name.split("/", 1)[0] for name in index}
    names = ["train", *present]
    assignment = np.zeros(len(files), dtype=np.int32)
    for k, split in enumerate(present, start=1):
        for line in listed[split].read_text(encoding="utf-8").splitlines():
            name = line.strip()
            if not name or name.split("/", 1)[0] not in classes:
                continue
            if name not in index:
                raise ValueError(
                    f"{SPLIT_LISTS[split]} names {name}, which is not under {path}; "
                    "restore the file or remove the line"
                )
            if assignment[index[name]] not in (0, k):
                raise ValueError(f"{name} is in both {' and '.join(SPLIT_LISTS.values())}")
            assignment[index[name]] = k
    parts = _split_by_assignment(dataset, assignment, names)
    split_groups: dict[str, list[str]] = {}
    if groups is not None:
        split_groups = {
            name: sorted({g for g, a in zip(groups, assignment, strict=True) if a == k})
            for k, name in enumerate(names)
        }
    how = "Speech Commands " + " and ".join(SPLIT_LISTS[split] for split in present)
    if "validation" not in present:
        train, count = parts["train"]
        train_groups = None
        if groups is not None:
            train_groups = [g for g, a in zip(groups, assignment, strict=True) if a == 0]
        carved, carved_groups = _carve_validation(train, count, train_groups, config)
        parts.update(carved)
        split_groups.update(carved_groups)
        how += ", validation carved from the rest"
    order = ("train", "validation", "test")
    return parts, {k: split_groups[k] for k in order if k in split_groups}, how


def class_folder_splits(
    path: Path,
    suffixes: tuple[str, ...],
    what: str,
    load: Callable[[list[str], list[int]], Any],
    config: Any,
) -> tuple[dict[str, tuple[Any, int]], list[str], str, dict[str, list[str]]]:
    """The splits of a ``dir:`` source of class folders (files found by `class_folder_files`).

    The first rule that applies splits it:

    * ``path/train/`` and ``path/test/``: those are train and test, validation is carved from
      train (by group with ``config.group_by``, and ``how`` warns when test/ shares groups with
      train/);
    * Speech Commands lists: ``path/testing_list.txt`` (and ``validation_list.txt``) name the
      files of those splits (``right/0a7c2a8d_nohash_0.wav``, relative to ``path``), the rest is
      train; without a validation list, validation is carved from train as above;
    * ``config.group_by``: whole groups per split (`split_by_group`, groups by `_file_groups`);
    * else a seeded split (`three_way_split`).

    ``load(files, labels)`` gives the ordered dataset of those files. Returns
    ``({split: (dataset, count)}, class_names, how, groups)``: ``how`` says which rule split it,
    ``groups`` the sorted group names per split (empty without ``group_by``).

    Raises:
        FileNotFoundError: when ``path`` is not a folder.
        ValueError: when test/ has other classes than train/, ``--test-groups`` is given without
            ``--group-by``, and for the errors of `split_by_group`, `_file_groups` and
            `_listed_splits`.
    """
    if not path.is_dir():
        raise FileNotFoundError(f"data folder {path} does not exist")
    if config.test_groups and not config.group_by:
        raise ValueError(
            f"--test-groups {list(config.test_groups)} names groups of --group-by; "
            "give --group-by (the pattern that finds each file's group) too"
        )

    def files_of(root: Path) -> tuple[list[str], list[int], list[str], list[str] | None]:
        files, labels, class_names = class_folder_files(root, suffixes, what)
        groups = None
        if config.group_by:
            groups = _file_groups(root, files, labels, class_names, config.group_by)
        return files, labels, class_names, groups

    if (path / "train").is_dir() and (path / "test").is_dir():
        files, labels, class_names, groups = files_of(path / "train")
        test_files, test_labels, test_names, test_groups = files_of(path / "test")
        if test_names != class_names:
            raise ValueError(f"test/ classes {test_names} differ from train/ classes {class_names}")
        parts, split_groups = _carve_validation(load(files, labels), len(files), groups, config)
        parts["test"] = (load(test_files, test_labels), len(test_files))
        if test_groups is not None:
            split_groups["test"] = sorted(set(test_groups))
        how = "train/ and test/ folders"
    else:
        files, labels, class_names, groups = files_of(path)
        dataset = load(files, labels)
        if any((path / name).is_file() for name in SPLIT_LISTS.values()):
            parts, split_groups, how = _listed_splits(path, files, dataset, groups, config)
        elif groups is not None:
            parts, split_groups = split_by_group(dataset, groups, config)
            how = f"whole groups of --group-by {config.group_by!r} per split"
            if config.test_groups:
                how += ", test = --test-groups"
        else:
            parts, split_groups = three_way_split(dataset, len(files), config), {}
            how = "seeded split"
    how += f" (split_seed={config.split_seed})"
    if split_groups:
        how += "; groups: " + ", ".join(f"{k} {len(v)}" for k, v in split_groups.items())
        counts = Counter(g for names in split_groups.values() for g in names)
        shared = sorted(g for g, n in counts.items() if n > 1)
        if shared:
            how += f"; WARNING: groups in more than one split: {_listing(shared)}"
    return parts, class_names, how, split_groups


def source_fingerprint(
    kind: str,
    name: str,
    *,
    how: str | None = None,
    groups: dict[str, list[str]] | None = None,
    tfds_info: Any = None,
    generator_version: str | int | None = None,
    seed: int | None = None,
    arrays: Sequence[Any] = (),
) -> dict[str, Any]:
    """The ``fingerprint`` entry of `Splits.info`: which exact data a run saw.

    * ``dir`` / ``file``: `files_fingerprint` of the folder or file (relative paths only), with
      the files, bytes and digest of each class folder (``train/<class>`` and ``test/<class>``
      for a folder with train/ and test/ sub-folders), the split rule ``how`` and the ``groups``
      per split when the split kept groups together;
    * ``tfds``: `tfds_fingerprint` of ``tfds_info`` (the loaded dataset's ``DatasetInfo``);
    * ``builtin``: the generator ``name``, its ``generator_version`` and ``seed``, and
      `arrays_fingerprint` of ``arrays`` (the generated data) when given.

    Raises:
        ValueError: for a ``tfds`` source without ``tfds_info`` or an unknown ``kind``.
    """
    from dlsuite.apps.common.fingerprint import (
        arrays_fingerprint,
        files_fingerprint,
        tfds_fingerprint,
    )

    if kind in ("dir", "file"):
        path = Path(name)
        depth = 0
        if kind == "dir":
            depth = 2 if (path / "train").is_dir() and (path / "test").is_dir() else 1
        fingerprint = files_fingerprint(path, folder_depth=depth)
        if "folders" in fingerprint:
            fingerprint["classes"] = fingerprint.pop("folders")
        if how is not None:
            fingerprint["split_rule"] = how
        if groups:
            fingerprint["groups"] = {split: list(names) for split, names in groups.items()}
        return fingerprint
    if kind == "tfds":
        if tfds_info is None:
            raise ValueError(f"fingerprint of tfds:{name} needs the DatasetInfo (tfds_info=)")
        return tfds_fingerprint(tfds_info)
    if kind == "builtin":
        generated = arrays_fingerprint(*arrays) if arrays else {}
        return {
            **generated,
            "generator": name,
            "generator_version": generator_version,
            "seed": seed,
        }
    raise ValueError(
        f"no fingerprint for data source kind {kind!r}; known: dir, file, tfds, builtin"
    )


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
