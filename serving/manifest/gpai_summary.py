"""The public summary of training content of a general-purpose AI model (Art. 53(1)(d)).

`training_content_summary(manifest, filled)` fills the structure of the European Commission's
Template for the Public Summary of Training Content for general-purpose AI models (July 2025)
from what the manifest records, and leaves what only a person knows as ``null``, listed under
``to_be_filled``; `summary_markdown` renders it. Three sections, as in the template:

1. ``general_information``: provider, model, modalities, training data size per modality (the
   template's order-of-magnitude band and the exact counts), types of content, latest collection
   date, languages;
2. ``data_sources``: each recorded source under its category (2.1 publicly available datasets,
   2.2 private datasets from third parties, 2.3 crawled and scraped data, 2.4 user data,
   2.5 synthetic data, 2.6 other); ``tfds:`` sources are public datasets, the suite's built-in
   corpora have a known category, ``file:`` and ``dir:`` sources are classified by the provider;
3. ``data_processing``: respect of text-and-data-mining opt-outs, removal of illegal content, and
   the processing the suite itself did (the run's recorded preprocessing).

``filled`` is the ``training_content_summary:`` block of the person file
(``docs/manifest_example.yaml``); `check_summary_fields` validates it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

TEMPLATE = (
    "European Commission, Template for the Public Summary of Training Content for "
    "general-purpose AI models (July 2025), Art. 53(1)(d) of Regulation (EU) 2024/1689"
)
# Template section 2: category key -> heading.
SOURCE_CATEGORIES: dict[str, str] = {
    "public": "2.1 Publicly available datasets",
    "private_licensed": "2.2.1 Private datasets commercially licensed by rightsholders",
    "private_other": "2.2.2 Private datasets obtained from other third parties",
    "crawled": "2.3 Data crawled and scraped from online sources",
    "user": "2.4 User data",
    "synthetic": "2.5 Synthetic data",
    "other": "2.6 Other sources of data",
}
# Template section 1.3: training data size bands per modality, as (upper bound, band) pairs.
SIZE_BANDS: dict[str, tuple[tuple[float, str], ...]] = {
    "text": (
        (1e9, "less than 1 billion tokens"),
        (1e13, "1 billion to 10 trillion tokens"),
        (float("inf"), "more than 10 trillion tokens"),
    ),
    "image": (
        (1e6, "less than 1 million images"),
        (1e9, "1 million to 1 billion images"),
        (float("inf"), "more than 1 billion images"),
    ),
}
# The app's modality; apps not listed have no training data set (rl) or an unknown one.
_APP_MODALITY = {"nlp": "text", "vision": "image", "generative": "image", "speech": "audio"}
# The suite's built-in corpora the summary can classify (apps.nlp): category, what they are, and
# the generator of synthetic ones.
_BUILTIN: dict[str, dict[str, str]] = {
    "pydocs": {
        "category": "public",
        "content": "English prose: documentation strings of the Python standard library",
        "description": "docstrings of a fixed list of Python standard-library modules and their "
        "public members, read from the Python installation that trained the model "
        "(Python Software Foundation License)",
    },
    "langid": {
        "category": "synthetic",
        "content": "generated sentences in several languages",
        "description": "sentences generated per language locale by the suite (seeded)",
        "generator": "Faker (a rule-based fake-data library, not an AI model)",
    },
    "numbers": {
        "category": "synthetic",
        "content": "numbers written in words in two languages",
        "description": "random numbers spelled out in two languages by the suite (seeded)",
        "generator": "num2words (a rule-based number-to-words library, not an AI model)",
    },
}
# What apps.nlp.lm.data keeps of each kind of source (the language model's filtering).
_LM_FILTERING = {
    "builtin": "docstrings of fewer than 8 words left out; exact duplicates kept once",
    "file": "paragraphs (blank-line separated) are documents; whitespace collapsed; empty "
    "documents dropped; exact duplicates kept once",
    "dir": "each .txt file is a document; empty documents dropped; exact duplicates kept once",
}
# Person fields of the `training_content_summary:` block. Required ones are listed under
# `to_be_filled` while unset; `sources`, `crawled` and `languages`/`content_types` are required
# when the recorded data does not give them.
_REQUIRED_FIELDS = (
    "placement_on_market_date",
    "latest_collection_date",
    "tdm_opt_out_compliance",
    "illegal_content_removal",
)
_OPTIONAL_FIELDS = ("authorised_representative", "other_characteristics", "other_processing")
_DERIVABLE_FIELDS = ("model_dependencies", "languages", "content_types")
SUMMARY_PERSON_FIELDS: tuple[str, ...] = (
    *_REQUIRED_FIELDS,
    *_OPTIONAL_FIELDS,
    *_DERIVABLE_FIELDS,
    "sources",
    "crawled",
)
_SOURCE_FIELDS = ("category", "description", "generator")
_CRAWLED_FIELDS = ("crawlers", "purposes", "collection_period", "top_domains")
_DATE_FIELDS = ("placement_on_market_date", "latest_collection_date")


def check_summary_fields(block: Any) -> list[str]:
    """One line per problem of a person file's ``training_content_summary:`` block ([] = fine)."""
    where = "training_content_summary"
    if block is None:
        return []
    if not isinstance(block, Mapping):
        return [f"{where} (must be a mapping, got {type(block).__name__})"]
    problems = [
        f"{where}.{key} (unknown field; known: {list(SUMMARY_PERSON_FIELDS)})"
        for key in sorted(set(block) - set(SUMMARY_PERSON_FIELDS))
    ]
    for key in _DATE_FIELDS:
        value = block.get(key)
        if value is not None and not isinstance(value, dt.date):
            try:
                dt.date.fromisoformat(str(value))
            except ValueError:
                problems.append(f"{where}.{key} (must be a date YYYY-MM-DD, got {value!r})")
    for key in ("sources", "crawled"):
        if block.get(key) is not None and not isinstance(block[key], Mapping):
            problems.append(f"{where}.{key} (must be a mapping, got {type(block[key]).__name__})")
    crawled = block.get("crawled")
    if isinstance(crawled, Mapping):
        problems += [
            f"{where}.crawled.{key} (unknown field; known: {list(_CRAWLED_FIELDS)})"
            for key in sorted(set(crawled) - set(_CRAWLED_FIELDS))
        ]
    sources = block.get("sources")
    for source, entry in (sources or {}).items() if isinstance(sources, Mapping) else ():
        label = f"{where}.sources[{source!r}]"
        if not isinstance(entry, Mapping):
            problems.append(f"{label} (must be a mapping with category and description)")
            continue
        problems += [
            f"{label}.{key} (unknown field; known: {list(_SOURCE_FIELDS)})"
            for key in sorted(set(entry) - set(_SOURCE_FIELDS))
        ]
        if entry.get("category") not in SOURCE_CATEGORIES:
            problems.append(
                f"{label}.category (must be one of {list(SOURCE_CATEGORIES)}, "
                f"got {entry.get('category')!r})"
            )
    return problems


def is_general_purpose(manifest: Mapping[str, Any]) -> bool:
    """Whether the manifest gets the summary: the person marked the model general-purpose AI,
    or it is the suite's language model (``nlp`` app, ``task`` ``lm``)."""
    hyperparameters = (manifest.get("training") or {}).get("hyperparameters") or {}
    return bool((manifest.get("intended_use") or {}).get("general_purpose_ai")) or (
        (manifest.get("model") or {}).get("app") == "nlp" and hyperparameters.get("task") == "lm"
    )


def size_band(modality: str, count: float | None) -> str | None:
    """The template's order-of-magnitude band of ``count`` units of ``modality`` (None: no count
    or no band for that modality)."""
    if count is None or modality not in SIZE_BANDS:
        return None
    return next(band for bound, band in SIZE_BANDS[modality] if count < bound)


def _text(value: Any) -> Any:
    """A person value as JSON: dates (YAML reads 2025-06-30 as one) become ISO strings."""
    return value.isoformat() if isinstance(value, dt.date) else value


def _languages(source: Mapping[str, Any], hyperparameters: Mapping[str, Any]) -> list[str] | None:
    """ISO 639-1 codes of a built-in corpus (None: not known to the suite)."""
    name = source.get("name")
    if source.get("kind") != "builtin":
        return None
    if name == "pydocs":
        return ["en"]
    if name == "langid" and hyperparameters.get("langid_locales"):
        return sorted({locale.split("_")[0] for locale in hyperparameters["langid_locales"]})
    if name == "numbers" and hyperparameters.get("numbers_pair"):
        return sorted(str(hyperparameters["numbers_pair"]).split("-"))
    return None


def _size(manifest: Mapping[str, Any], modality: str | None) -> dict[str, Any] | None:
    """Training data size of the one modality: unit, exact counts per split, band of the
    training split (None without a recorded run)."""
    training = manifest.get("training") or {}
    splits = (training.get("data") or {}).get("splits")
    if modality is None or not splits:
        return None
    hyperparameters = training.get("hyperparameters") or {}
    sequence_length = hyperparameters.get("sequence_length")
    if modality == "text" and hyperparameters.get("task") == "lm" and sequence_length:
        per_split = {name: int(n) * int(sequence_length) for name, n in splits.items()}
        seen = training.get("examples_seen")
        return {
            "unit": "tokens",
            "band": size_band("text", per_split.get("train")),
            "per_split": per_split,
            "tokens_seen_in_training": None if seen is None else int(seen) * int(sequence_length),
            "counted_as": f"windows of {sequence_length} tokens of the model's own tokenizer "
            "x their number; the band is the training split's",
        }
    unit = {"text": "texts", "image": "images", "audio": "clips"}.get(modality, "examples")
    size: dict[str, Any] = {
        "unit": unit,
        "band": size_band(modality, splits.get("train")) if modality == "image" else None,
        "per_split": {name: int(n) for name, n in splits.items()},
    }
    if modality == "text" and sequence_length:
        size["tokens_at_most"] = int(splits.get("train", 0)) * int(sequence_length)
        size["band"] = size_band("text", size["tokens_at_most"])
        size["counted_as"] = (
            f"texts cut to {sequence_length} tokens: at most texts x {sequence_length} tokens; "
            "the band is the training split's"
        )
    return size


def _classify(
    manifest: Mapping[str, Any], person_sources: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """The recorded sources with their category (None: to be classified by the provider)."""
    training = manifest.get("training") or {}
    recorded = list((training.get("data") or {}).get("sources") or [])
    known = {str(source.get("source")) for source in recorded}
    unknown = sorted(set(person_sources) - known)
    if recorded and unknown:
        raise ValueError(
            f"training_content_summary.sources names {unknown}, which the run did not train on; "
            f"the recorded sources are {sorted(known)} (use those strings as keys)"
        )
    if not recorded:  # no recorded run: the provider's list is the list
        recorded = [
            {"kind": "other", "name": key, "version": None, "source": key} for key in unknown
        ]
    hyperparameters = training.get("hyperparameters") or {}
    classified = []
    for source in recorded:
        builtin = _BUILTIN.get(str(source.get("name"))) if source.get("kind") == "builtin" else None
        entry: dict[str, Any] = {
            "source": source.get("source"),
            "name": source.get("name"),
            "version": source.get("version"),
            "category": None,
            "description": None,
            "languages": _languages(source, hyperparameters),
            "content": None,
        }
        if source.get("kind") == "tfds":
            entry.update(category="public", description="TensorFlow Datasets catalogue dataset")
        elif builtin is not None:
            entry.update({key: builtin[key] for key in builtin if key != "content"})
            entry["content"] = builtin["content"]
        given = person_sources.get(str(source.get("source"))) or {}
        entry.update({key: _text(value) for key, value in given.items()})
        classified.append(entry)
    return classified


def training_content_summary(
    manifest: Mapping[str, Any], filled: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The template's three sections for ``manifest``, with ``to_be_filled`` listing every
    required field still ``null`` (dotted paths into the summary).

    ``filled`` is the person file's ``training_content_summary:`` block; it raises `ValueError`
    when the block is invalid or names a source the run did not train on.
    """
    problems = check_summary_fields(filled)
    if problems:
        raise ValueError("invalid manifest fields file: " + "; ".join(problems))
    filled = {key: _text(value) for key, value in (filled or {}).items()}
    identity = manifest.get("identity") or {}
    model = manifest.get("model") or {}
    training = manifest.get("training") or {}
    hyperparameters = training.get("hyperparameters") or {}
    modality = _APP_MODALITY.get(str(model.get("app")))
    sources = _classify(manifest, filled.get("sources") or {})
    suite_lm = model.get("app") == "nlp" and hyperparameters.get("task") == "lm"

    known_languages = [s["languages"] for s in sources]
    languages = filled.get("languages") or (
        sorted({code for codes in known_languages for code in codes})
        if sources and all(known_languages)
        else None
    )
    contents = [s["content"] for s in sources]
    content_types = filled.get("content_types") or (
        "; ".join(contents) if sources and all(contents) else None
    )
    dependencies = filled.get("model_dependencies") or (
        "none: trained from randomly initialised weights by dlsuite" if suite_lm else None
    )
    general = {
        "provider": {
            "name": (identity.get("provider") or {}).get("name"),
            "contact": (identity.get("provider") or {}).get("contact"),
            "authorised_representative": filled.get("authorised_representative"),
        },
        "model": {
            "name": identity.get("name"),
            "version": identity.get("version"),
            "dependencies": dependencies,
            "date_of_placement_on_market": filled.get("placement_on_market_date"),
        },
        "modalities": [modality] if modality else None,
        "training_data_size": {modality: _size(manifest, modality)} if modality else None,
        "types_of_content": content_types,
        "latest_data_collection_date": filled.get("latest_collection_date"),
        "languages": languages,
        "other_characteristics": filled.get("other_characteristics"),
    }

    complete = bool(sources) and all(s["category"] for s in sources)
    data_sources: dict[str, Any] = {}
    for key, heading in SOURCE_CATEGORIES.items():
        members = [s for s in sources if s["category"] == key]
        data_sources[key] = {
            "section": heading,
            "used": bool(members) if complete else (True if members else None),
            "sources": members,
        }
    crawled = dict(filled.get("crawled") or {})
    data_sources["crawled"].update({key: crawled.get(key) for key in _CRAWLED_FIELDS})
    data_sources["unclassified"] = [s["source"] for s in sources if not s["category"]]

    kinds = {str(s["source"]).partition(":")[0] for s in sources}
    processing = {
        "respect_of_reservation_of_rights": filled.get("tdm_opt_out_compliance"),
        "removal_of_illegal_content": filled.get("illegal_content_removal"),
        "suite_filtering": "; ".join(f"{kind}: {_LM_FILTERING[kind]}" for kind in sorted(kinds))
        if suite_lm and kinds <= set(_LM_FILTERING)
        else None,
        "suite_processing": (training.get("data") or {}).get("preprocessing"),
        "other": filled.get("other_processing"),
    }
    summary = {
        "template": TEMPLATE,
        "general_information": general,
        "data_sources": data_sources,
        "data_processing": processing,
    }
    summary["to_be_filled"] = _to_be_filled(summary)
    return summary


def _to_be_filled(summary: Mapping[str, Any]) -> list[str]:
    general = summary["general_information"]
    sources = summary["data_sources"]
    paths = [
        f"general_information.{path}"
        for path, value in (
            ("provider.name", general["provider"]["name"]),
            ("provider.contact", general["provider"]["contact"]),
            ("model.dependencies", general["model"]["dependencies"]),
            ("model.date_of_placement_on_market", general["model"]["date_of_placement_on_market"]),
            ("modalities", general["modalities"]),
            ("types_of_content", general["types_of_content"]),
            ("latest_data_collection_date", general["latest_data_collection_date"]),
            ("languages", general["languages"]),
        )
        if value is None
    ]
    sizes = general["training_data_size"] or {}
    paths += [
        f"general_information.training_data_size.{modality}.band"
        for modality, size in sizes.items()
        if size is None or size["band"] is None
    ]
    every = [s for key in SOURCE_CATEGORIES for s in sources[key]["sources"]]
    if not every and not sources["unclassified"]:
        paths.append("data_sources (no training data was recorded)")
    paths += [
        f"data_sources.unclassified[{source!r}].category" for source in sources["unclassified"]
    ]
    paths += [
        f"data_sources.synthetic.sources[{s['source']!r}].generator"
        for s in sources["synthetic"]["sources"]
        if not s.get("generator")
    ]
    if sources["crawled"]["used"]:
        paths += [
            f"data_sources.crawled.{key}"
            for key in _CRAWLED_FIELDS
            if sources["crawled"][key] is None
        ]
    processing = summary["data_processing"]
    paths += [
        f"data_processing.{key}"
        for key in ("respect_of_reservation_of_rights", "removal_of_illegal_content")
        if processing[key] is None
    ]
    return paths


_TBF = "*to be filled by the provider*"


def _cell(value: Any) -> str:
    if value is None:
        return _TBF
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) if value else "none"
    if isinstance(value, Mapping):
        return "; ".join(f"{k}: {_cell(v)}" for k, v in value.items())
    return str(value).replace("|", "\\|").replace("\n", " ")


def _table(rows: list[tuple[str, Any]]) -> list[str]:
    return ["| field | value |", "|---|---|", *(f"| {k} | {_cell(v)} |" for k, v in rows), ""]


def summary_markdown(summary: Mapping[str, Any]) -> str:
    """The summary as Markdown: the template's three numbered sections, ``null`` values read
    *to be filled by the provider*, then the list of fields still to fill."""
    general = summary["general_information"]
    lines = [
        f"# Public summary of training content: {general['model']['name']} "
        f"(version {general['model']['version']})",
        "",
        f"Structure: {summary['template']}.",
        "",
        "## 1. General information",
        "",
        *_table(
            [
                ("Provider", general["provider"]["name"]),
                ("Provider contact", general["provider"]["contact"]),
                (
                    "Authorised representative",
                    general["provider"]["authorised_representative"]
                    or "none given (needed for providers established outside the EU)",
                ),
                ("Model", f"{general['model']['name']} (version {general['model']['version']})"),
                ("Model dependencies", general["model"]["dependencies"]),
                (
                    "Date of placement on the market",
                    general["model"]["date_of_placement_on_market"],
                ),
                ("Modalities", general["modalities"]),
                ("Types of content", general["types_of_content"]),
                ("Latest date of data collection", general["latest_data_collection_date"]),
                ("Languages", general["languages"]),
                ("Other characteristics", general["other_characteristics"] or "none"),
            ]
        ),
    ]
    for modality, size in (general["training_data_size"] or {}).items():
        rows: list[tuple[str, Any]] = [("Size band", None if size is None else size["band"])]
        if size is not None:
            rows += [(f"{split} ({size['unit']})", n) for split, n in size["per_split"].items()]
            rows += [
                (key.replace("_", " "), size[key])
                for key in size
                if key not in ("unit", "band", "per_split")
            ]
        lines += [f"### Training data size: {modality}", "", *_table(rows)]
    lines += ["## 2. List of data sources", ""]
    sources = summary["data_sources"]
    for key, heading in SOURCE_CATEGORIES.items():
        section = sources[key]
        lines += [f"### {heading}", "", f"Used: {_cell(section['used'])}", ""]
        for source in section["sources"]:
            details = {
                k: source[k]
                for k in ("name", "version", "description", "generator", "languages")
                if source.get(k) is not None
            }
            lines.append(f"- `{source['source']}`: {_cell(details)}")
        if key == "crawled" and section["used"]:
            lines += ["", *_table([(k.replace("_", " "), section[k]) for k in _CRAWLED_FIELDS])]
        lines += [""] if section["sources"] else []
    if sources["unclassified"]:
        lines += ["### Sources not yet classified", ""]
        lines += [f"- `{source}`: {_TBF}" for source in sources["unclassified"]] + [""]
    processing = summary["data_processing"]
    lines += [
        "## 3. Data processing aspects",
        "",
        *_table(
            [
                (
                    "3.1 Respect of reservation of rights (TDM opt-outs)",
                    processing["respect_of_reservation_of_rights"],
                ),
                ("3.2 Removal of illegal content", processing["removal_of_illegal_content"]),
                ("3.3 Filtering by the suite", processing["suite_filtering"] or "none recorded"),
                ("3.3 Processing by the suite", processing["suite_processing"]),
                ("3.3 Other information", processing["other"] or "none"),
            ]
        ),
    ]
    if summary["to_be_filled"]:
        lines += ["## Fields to be filled by the provider", ""]
        lines += [f"- `{path}`" for path in summary["to_be_filled"]] + [""]
    return "\n".join(lines)


def render_summary(summary: Mapping[str, Any], output: str) -> str:
    """``summary`` as the text to write to ``output``: indented JSON when it ends in ``.json``,
    else Markdown."""
    if output.lower().endswith(".json"):
        return json.dumps(summary, indent=2, ensure_ascii=False) + "\n"
    return summary_markdown(summary)
