"""Text classification data: ``load_splits(config)`` of ``--task classify``.

Sources yield ``(text, label)``: ``text`` a scalar tf.string (raw, untokenized: the tokenizer is
inside the model) and ``label`` an int64 class index.

* ``builtin:langid`` — Faker sentences in several languages (`apps.nlp.classify.langid`), seeded
  split of the distinct sentences;
* ``tfds:imdb_reviews``, ``tfds:ag_news_subset``, ``tfds:glue/sst2`` (and any tfds text dataset
  whose text and label features are named by ``--text-column``/``--label-column``);
* ``dir:<path>`` — `keras.utils.text_dataset_from_directory` conventions: one sub-folder of
  ``.txt`` files per class (sorted names), or ``train/`` and ``test/`` folders of those;
* ``file:<path>`` — a ``.csv``, ``.tsv`` or ``.jsonl`` file with a header / keys naming the text
  and label columns (``--text-column``, ``--label-column``).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from dlsuite.apps.common.data import (
    Splits,
    class_folder_splits,
    source_fingerprint,
    three_way_split,
)
from dlsuite.apps.nlp.classify import langid
from dlsuite.apps.nlp.config import NLPConfig
from dlsuite.apps.nlp.sources import parse_text_source

BUILTIN = ("langid",)
# tfds datasets with their (text feature, label feature); others use --text-column/--label-column.
TFDS_FEATURES = {
    "imdb_reviews": ("text", "label"),
    "ag_news_subset": ("description", "label"),
    "glue/sst2": ("sentence", "label"),
}
FILE_SUFFIXES = (".csv", ".tsv", ".jsonl")


def load_splits(config: NLPConfig) -> Splits:
    """Train/validation/test ``(text, label)`` splits of ``config.data``."""
    spec = parse_text_source(config.data)
    if spec.kind == "builtin":
        return _builtin(spec.name, config)
    if spec.kind == "tfds":
        return _tfds(spec.name, config)
    if spec.kind == "file":
        return _file(Path(spec.name), config)
    return _directory(Path(spec.name), config)


def _from_lists(texts: list[str], labels: list[int]) -> Any:
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices(
        (tf.constant(texts, tf.string), tf.constant(labels, tf.int64))
    )


def _splits(
    parts: dict[str, tuple[Any, int]], class_names: list[str], info: dict[str, Any]
) -> Splits:
    return Splits(
        train=parts["train"][0],
        validation=parts["validation"][0],
        test=parts["test"][0],
        class_names=class_names,
        input_shape=(),
        input_dtype="string",
        sizes={k: v[1] for k, v in parts.items()},
        info=info,
    )


def _builtin(name: str, config: NLPConfig) -> Splits:
    import numpy as np

    if name not in BUILTIN:
        raise ValueError(f"unknown builtin text dataset {name!r}; known: {BUILTIN}")
    data = langid.generate(config.langid_locales, config.langid_sentences, config.split_seed)
    parts = three_way_split(_from_lists(data["texts"], data["labels"]), len(data["texts"]), config)
    return _splits(
        parts,
        data["class_names"],
        {
            "source": config.data,
            "kind": "builtin",
            "name": name,
            "version": data["version"],
            "preprocessing": (
                f"Faker(locale).sentence() of {langid.MIN_WORDS}-{langid.MAX_WORDS} words, "
                f"{config.langid_sentences} distinct sentences per locale "
                f"(seed {config.split_seed}); "
                f"{data['dropped_shared']} sentences shared by two languages dropped; "
                "seeded train/validation/test split of distinct sentences "
                f"(split_seed={config.split_seed})"
            ),
            "fingerprint": source_fingerprint(
                "builtin",
                name,
                generator_version=data["version"],
                seed=config.split_seed,
                arrays=(np.array(data["texts"], dtype=str), np.array(data["labels"])),
            ),
        },
    )


def _tfds(name: str, config: NLPConfig) -> Splits:
    import tensorflow as tf
    import tensorflow_datasets as tfds

    text_key, label_key = TFDS_FEATURES.get(name, (config.text_column, config.label_column))
    builder = tfds.builder(name, data_dir=config.data_dir)
    features = builder.info.features
    for key in (text_key, label_key):
        if key not in features:
            raise ValueError(
                f"tfds:{name} has no feature {key!r}; its features are {sorted(features.keys())} "
                f"(choose them with --text-column and --label-column)"
            )
    # Empty until the dataset is prepared (and under mock data).
    known = set(builder.info.splits.keys())
    cut = round(100 * (1 - config.validation_fraction))
    carve = {"train": f"train[:{cut}%]", "validation": f"train[{cut}%:]"}
    if name.startswith("glue/"):
        # GLUE hides its test labels (-1): its validation split is the test split.
        split_names = {**carve, "test": "validation"}
    elif "validation" in known:
        split_names = {"train": "train", "validation": "validation", "test": "test"}
    else:
        split_names = {**carve, "test": "test"}
    missing = {s.split("[")[0] for s in split_names.values()} - known if known else set()
    if missing:
        raise ValueError(f"tfds:{name} has splits {sorted(known)}; {sorted(missing)} needed")
    loaded, info = tfds.load(
        name,
        split=list(split_names.values()),
        data_dir=config.data_dir,
        shuffle_files=False,
        with_info=True,
    )

    def pair(example: dict[str, Any]) -> tuple[Any, Any]:
        return example[text_key], tf.cast(example[label_key], tf.int64)

    datasets = {key: ds.map(pair) for key, ds in zip(split_names, loaded, strict=True)}
    sizes = {key: _num_examples(info, split, datasets[key]) for key, split in split_names.items()}
    return Splits(
        train=datasets["train"],
        validation=datasets["validation"],
        test=datasets["test"],
        class_names=list(info.features[label_key].names),
        input_shape=(),
        input_dtype="string",
        sizes=sizes,
        info={
            "source": config.data,
            "kind": "tfds",
            "name": name,
            "version": str(info.version),
            "preprocessing": f"raw text of feature {text_key!r}, label {label_key!r}; splits "
            + ", ".join(f"{k}={v}" for k, v in split_names.items()),
            "fingerprint": source_fingerprint("tfds", name, tfds_info=info),
        },
    )


def _num_examples(info: Any, split: str, dataset: Any) -> int:
    """Examples in a split, from the dataset's metadata when it has them, else by counting."""
    try:
        return int(info.splits[split].num_examples)
    except (KeyError, ValueError):
        return int(dataset.reduce(0, lambda count, _: count + 1))


def _text_files(files: list[str], labels: list[int]) -> Any:
    """Dataset of ``(text, label)`` of the ``.txt`` ``files`` in order (text a scalar string)."""
    import tensorflow as tf

    paths = tf.data.Dataset.from_tensor_slices((files, tf.constant(labels, tf.int64)))
    return paths.map(lambda path, label: (tf.io.read_file(path), label))


def _directory(path: Path, config: NLPConfig) -> Splits:
    parts, class_names, how, groups = class_folder_splits(
        path, (".txt",), ".txt files", _text_files, config
    )
    return _splits(
        parts,
        class_names,
        {
            "source": config.data,
            "kind": "dir",
            "name": str(path),
            "version": None,
            "preprocessing": f"raw .txt file contents; {how}",
            "groups": groups,
            "fingerprint": source_fingerprint("dir", str(path), how=how, groups=groups),
        },
    )


def read_table(path: Path, text_column: str, label_column: str) -> tuple[list[str], list[str]]:
    """Texts and label strings from a CSV/TSV (header row) or JSONL file.

    Raises:
        ValueError: for another suffix, a missing column (naming the ones there are) or an
            empty file.
    """
    suffix = path.suffix.lower()
    if suffix not in FILE_SUFFIXES:
        raise ValueError(
            f"file: source expected a {', '.join(FILE_SUFFIXES)} file. Received: {path}"
        )
    if not path.is_file():
        raise FileNotFoundError(f"text file {path} does not exist")
    with path.open(encoding="utf-8", newline="") as handle:
        if suffix == ".jsonl":
            rows = [json.loads(line) for line in handle if line.strip()]
            columns = sorted({key for row in rows for key in row})
        else:
            reader = csv.DictReader(handle, delimiter="\t" if suffix == ".tsv" else ",")
            rows = list(reader)
            columns = list(reader.fieldnames or [])
    if not rows:
        raise ValueError(f"{path} has no rows")
    for option, column in (("--text-column", text_column), ("--label-column", label_column)):
        missing = [i for i, row in enumerate(rows) if column not in row or row[column] is None]
        if missing:
            raise ValueError(
                f"{path} has no column {column!r} ({option}) in row {missing[0] + 1}; "
                f"its columns are {columns}"
            )
    return [str(row[text_column]) for row in rows], [str(row[label_column]) for row in rows]


def _file(path: Path, config: NLPConfig) -> Splits:
    texts, raw_labels = read_table(path, config.text_column, config.label_column)
    distinct = set(raw_labels)
    numeric = all(label.lstrip("-").isdigit() for label in distinct)
    class_names = sorted(distinct, key=int) if numeric else sorted(distinct)
    if len(class_names) < 2:
        raise ValueError(
            f"{path} column {config.label_column!r} has one label {class_names}; "
            "at least two are needed"
        )
    index = {name: i for i, name in enumerate(class_names)}
    how = f"seeded split (split_seed={config.split_seed})"
    parts = three_way_split(
        _from_lists(texts, [index[label] for label in raw_labels]), len(texts), config
    )
    return _splits(
        parts,
        class_names,
        {
            "source": config.data,
            "kind": "file",
            "name": str(path),
            "version": None,
            "preprocessing": (
                f"raw text of column {config.text_column!r}, "
                f"label column {config.label_column!r}; {how}"
            ),
            "fingerprint": source_fingerprint("file", str(path), how=how),
        },
    )
