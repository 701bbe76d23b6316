"""Translation data: ``load_splits(config)`` of ``--task translate``.

Sources yield ``(source, target)`` pairs of scalar tf.strings:

* ``builtin:numbers`` — numbers spelled out in two languages by num2words
  (`apps.nlp.translate.numbers`), split by number, so no held-out number is ever trained on;
* ``tfds:ted_hrlr_translate/pt_to_en`` (or any tfds translation dataset with supervised keys
  ``(source, target)``), its own train/validation/test splits;
* ``file:<path.tsv>`` — one ``source<TAB>target`` pair per line, no header, seeded split.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dlsuite.apps.common.data import Splits, load_tfds, source_fingerprint, three_way_split
from dlsuite.apps.nlp.config import NLPConfig
from dlsuite.apps.nlp.sources import parse_text_source
from dlsuite.apps.nlp.translate import numbers


def load_splits(config: NLPConfig) -> Splits:
    """Train/validation/test ``(source, target)`` string pairs of ``config.data``."""
    spec = parse_text_source(config.data)
    if spec.kind == "builtin":
        return _numbers(spec.name, config)
    if spec.kind == "tfds":
        return _tfds(spec.name, config)
    if spec.kind == "file":
        return _tsv(Path(spec.name), config)
    raise ValueError(
        "task=translate reads builtin:numbers, tfds:<name> or file:<path.tsv>. "
        f"Received: {config.data!r}"
    )


def _pairs(sources: list[str], targets: list[str]) -> Any:
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices(
        (tf.constant(sources, tf.string), tf.constant(targets, tf.string))
    )


def _three_way(
    sources: list[str], targets: list[str], config: NLPConfig, info: dict[str, Any]
) -> Splits:
    parts = three_way_split(_pairs(sources, targets), len(sources), config)
    return Splits(
        train=parts["train"][0],
        validation=parts["validation"][0],
        test=parts["test"][0],
        class_names=[],
        input_shape=(),
        input_dtype="string",
        sizes={k: v[1] for k, v in parts.items()},
        info=info,
    )


def _numbers(name: str, config: NLPConfig) -> Splits:
    import numpy as np

    if name != "numbers":
        raise ValueError(f"unknown builtin translation dataset {name!r}; known: ('numbers',)")
    data = numbers.generate(
        config.numbers_pair, config.numbers_count, config.numbers_max, config.split_seed
    )
    return _three_way(
        data["sources"],
        data["targets"],
        config,
        {
            "source": config.data,
            "kind": "builtin",
            "name": name,
            "version": data["version"],
            "pair": config.numbers_pair,
            "preprocessing": (
                f"num2words spellings ({config.numbers_pair}) of {config.numbers_count} "
                f"distinct integers drawn from [0, {config.numbers_max}] "
                f"(seed {config.split_seed}); "
                "seeded split of the numbers, so no number is in two splits"
            ),
            "fingerprint": source_fingerprint(
                "builtin",
                name,
                generator_version=data["version"],
                seed=config.split_seed,
                arrays=(np.array(data["sources"], dtype=str), np.array(data["targets"], dtype=str)),
            ),
        },
    )


def _tfds(name: str, config: NLPConfig) -> Splits:
    datasets, sizes, info = load_tfds(name, config.data_dir, config.validation_fraction)
    keys = info.supervised_keys
    return Splits(
        train=datasets["train"],
        validation=datasets["validation"],
        test=datasets["test"],
        class_names=[],
        input_shape=(),
        input_dtype="string",
        sizes=sizes,
        info={
            "source": config.data,
            "kind": "tfds",
            "name": name,
            "version": str(info.version),
            "pair": f"{keys[0]}-{keys[1]}" if keys else None,
            "preprocessing": f"raw text pairs (supervised keys {keys})",
            "fingerprint": source_fingerprint("tfds", name, tfds_info=info),
        },
    )


def read_tsv_pairs(path: Path) -> tuple[list[str], list[str]]:
    """``(sources, targets)`` from a ``source<TAB>target`` file
    (UTF-8, one pair per line, blank lines skipped).

    Raises:
        ValueError: for another suffix, a line without exactly one tab, an empty side, or no pairs.
        FileNotFoundError: when the file does not exist.
    """
    if path.suffix.lower() != ".tsv":
        raise ValueError(
            f"task=translate file: source expected a .tsv file of source<TAB>target lines. "
            f"Received: {path}"
        )
    if not path.is_file():
        raise FileNotFoundError(f"parallel text file {path} does not exist")
    sources, targets = [], []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            fields = line.split("\t")
            if len(fields) != 2:
                raise ValueError(
                    f"{path} line {number}: expected source<TAB>target (2 fields), "
                    f"found {len(fields)} field(s): {line[:80]!r}"
                )
            source, target = (field.strip() for field in fields)
            if not source or not target:
                raise ValueError(
                    f"{path} line {number}: empty {'source' if not source else 'target'} text"
                )
            sources.append(source)
            targets.append(target)
    if not sources:
        raise ValueError(f"{path} has no source<TAB>target pairs")
    return sources, targets


def _tsv(path: Path, config: NLPConfig) -> Splits:
    sources, targets = read_tsv_pairs(path)
    how = f"seeded split (split_seed={config.split_seed})"
    return _three_way(
        sources,
        targets,
        config,
        {
            "source": config.data,
            "kind": "file",
            "name": str(path),
            "version": None,
            "pair": None,
            "preprocessing": (f"source<TAB>target lines; {how}"),
            "fingerprint": source_fingerprint("file", str(path), how=how),
        },
    )
