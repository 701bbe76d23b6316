"""Public summary of training content of general-purpose AI models (Art. 53(1)(d), issue 21), on a
real tiny language-model run exported with its manifest."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from dlsuite.serving import manifest as mf
from dlsuite.serving.manifest.gpai_summary import (
    SOURCE_CATEGORIES,
    is_general_purpose,
    summary_markdown,
    training_content_summary,
)
from tests.apps.test_nlp_lm import MANIFEST_INFO, tiny_config

REQUIRED_PERSON_PATHS = [
    "general_information.model.date_of_placement_on_market",
    "general_information.latest_data_collection_date",
    "data_processing.respect_of_reservation_of_rights",
    "data_processing.removal_of_illegal_content",
]


@pytest.fixture(scope="module")
def version(tmp_path_factory) -> Path:
    """The tiny GPT of tests/apps/test_nlp_lm.py (file: corpus of 300 pydocs documents, 64
    training windows of 24 tokens, 1 epoch) exported with the example person file."""
    from dlsuite.apps.common.export import export_run
    from dlsuite.apps.nlp.lm.data import pydocs_documents
    from dlsuite.apps.nlp.train import train_and_evaluate

    corpus = tmp_path_factory.mktemp("corpus") / "docs.txt"
    corpus.write_text("\n\n".join(pydocs_documents()[:300]), encoding="utf-8")
    run = train_and_evaluate(tiny_config(corpus, tmp_path_factory.mktemp("runs")))
    base = tmp_path_factory.mktemp("repo")
    return export_run(run.run.path, model_base_path=base, name="lm", manifest_info=MANIFEST_INFO)


@pytest.fixture
def manifest(version) -> dict:
    return mf.load_manifest(version)


def example_block(source: str) -> dict:
    """The commented ``training_content_summary:`` example of docs/manifest_example.yaml, its
    source key renamed to ``source``."""
    text = MANIFEST_INFO.read_text(encoding="utf-8")
    start = text.index("# training_content_summary:")
    block = "\n".join(line[2:] for line in text[start:].splitlines())
    filled = yaml.safe_load(block)["training_content_summary"]
    filled["sources"] = {source: filled["sources"]["file:/data/handbook.txt"]}
    return filled


def test_exported_lm_manifest_carries_the_summary_with_sizes_and_to_be_filled(manifest):
    assert mf.validate_manifest(manifest) == []
    assert manifest["intended_use"]["general_purpose_ai"] is False  # the LM app alone adds it
    summary = manifest["general_purpose"]["training_content_summary"]
    general = summary["general_information"]
    assert general["provider"] == {
        "name": "Example Analytics GmbH",
        "contact": "ml-compliance@example.org",
        "authorised_representative": None,
    }
    assert general["model"]["name"] == "lm" and general["model"]["version"] == 1
    assert general["model"]["dependencies"].startswith("none: trained from randomly initialised")
    assert general["modalities"] == ["text"]
    splits = manifest["training"]["data"]["splits"]
    size = general["training_data_size"]["text"]
    assert size["unit"] == "tokens" and size["band"] == "less than 1 billion tokens"
    assert size["per_split"] == {name: n * 24 for name, n in splits.items()}
    assert size["tokens_seen_in_training"] == 64 * 24  # max_train_examples=64, one epoch
    source = manifest["training"]["data"]["sources"][0]["source"]
    sources = summary["data_sources"]
    assert source.startswith("file:") and sources["unclassified"] == [source]
    assert all(
        sources[key] == {**sources[key], "used": None, "sources": []}
        for key in SOURCE_CATEGORIES
        if key != "crawled"
    )
    assert (
        summary["data_processing"]["suite_processing"]
        == (manifest["training"]["data"]["preprocessing"])
    )
    assert summary["data_processing"]["suite_filtering"].startswith(
        "file: paragraphs (blank-line separated) are documents"
    )
    assert summary["to_be_filled"] == [
        "general_information.model.date_of_placement_on_market",
        "general_information.types_of_content",
        "general_information.latest_data_collection_date",
        "general_information.languages",
        f"data_sources.unclassified[{source!r}].category",
        "data_processing.respect_of_reservation_of_rights",
        "data_processing.removal_of_illegal_content",
    ]


def test_person_block_fills_every_required_field(manifest):
    source = manifest["training"]["data"]["sources"][0]["source"]
    filled = example_block(source)
    person = mf.load_person_fields(MANIFEST_INFO, {"training_content_summary": filled})
    assert mf.missing_person_fields(person) == []
    summary = training_content_summary(manifest, person["training_content_summary"])
    assert summary["to_be_filled"] == []
    filled_manifest = {**manifest, "general_purpose": {"training_content_summary": summary}}
    assert mf.validate_manifest(filled_manifest) == []
    general = summary["general_information"]
    assert general["model"]["date_of_placement_on_market"] == "2026-03-01"  # YAML date -> ISO
    assert general["latest_data_collection_date"] == "2026-01-15"
    assert general["languages"] == ["en"]
    sources = summary["data_sources"]
    assert sources["unclassified"] == []
    assert [s["source"] for s in sources["private_licensed"]["sources"]] == [source]
    # every source classified: each other category is known to be unused
    assert {key: sources[key]["used"] for key in SOURCE_CATEGORIES} == {
        key: key == "private_licensed" for key in SOURCE_CATEGORIES
    }
    assert summary["data_processing"]["respect_of_reservation_of_rights"].startswith(
        "The handbook is licensed"
    )
    crawled = {**filled, "sources": {source: {"category": "crawled", "description": "web"}}}
    paths = training_content_summary(manifest, crawled)["to_be_filled"]
    assert paths == [
        f"data_sources.crawled.{k}"
        for k in ("crawlers", "purposes", "collection_period", "top_domains")
    ]


def test_builtin_and_tfds_sources_get_their_template_category(manifest):
    lm = copy.deepcopy(manifest)
    lm["training"]["data"]["sources"] = [
        {"kind": "builtin", "name": "pydocs", "version": "Python 3.11", "source": "builtin:pydocs"}
    ]
    summary = training_content_summary(lm)
    (public,) = summary["data_sources"]["public"]["sources"]
    assert public["name"] == "pydocs" and public["languages"] == ["en"]
    assert summary["general_information"]["languages"] == ["en"]
    assert summary["general_information"]["types_of_content"].startswith("English prose")
    assert summary["data_sources"]["crawled"]["used"] is False
    assert summary["data_processing"]["suite_filtering"].startswith("builtin: docstrings of fewer")
    assert summary["to_be_filled"] == REQUIRED_PERSON_PATHS

    classifier = copy.deepcopy(manifest)  # builtin:langid classifier marked general-purpose
    classifier["intended_use"]["general_purpose_ai"] = True
    classifier["training"]["hyperparameters"].update(
        task="classify", sequence_length=32, langid_locales=["en_US", "de_DE", "fr_FR"]
    )
    classifier["training"]["data"]["splits"] = {"train": 3000, "validation": 600, "test": 600}
    classifier["training"]["data"]["sources"] = [
        {"kind": "builtin", "name": "langid", "version": None, "source": "builtin:langid"},
        {
            "kind": "tfds",
            "name": "ag_news_subset",
            "version": "1.0.0",
            "source": "tfds:ag_news_subset",
        },
    ]
    summary = training_content_summary(classifier)
    (synthetic,) = summary["data_sources"]["synthetic"]["sources"]
    assert synthetic["generator"].startswith("Faker") and synthetic["languages"] == [
        "de",
        "en",
        "fr",
    ]
    (tfds,) = summary["data_sources"]["public"]["sources"]
    assert (tfds["name"], tfds["version"]) == ("ag_news_subset", "1.0.0")
    size = summary["general_information"]["training_data_size"]["text"]
    assert size["unit"] == "texts" and size["tokens_at_most"] == 3000 * 32
    assert size["band"] == "less than 1 billion tokens"
    assert "general_information.languages" in summary["to_be_filled"]  # tfds: not known


def test_which_manifests_get_the_summary(manifest):
    assert is_general_purpose(manifest)
    vision = copy.deepcopy(manifest)
    vision["model"]["app"] = "vision"
    assert not is_general_purpose(vision)
    vision["intended_use"]["general_purpose_ai"] = True
    assert is_general_purpose(vision)
    assert training_content_summary(vision)["general_information"]["modalities"] == ["image"]


def test_bad_person_block_is_a_clear_error(manifest):
    with pytest.raises(ValueError, match=r"training_content_summary.sources\['file:x'\].category"):
        training_content_summary(manifest, {"sources": {"file:x": {"category": "web"}}})
    with pytest.raises(ValueError, match="which the run did not train on"):
        training_content_summary(manifest, {"sources": {"file:x": {"category": "public"}}})
    person = mf.load_person_fields(
        MANIFEST_INFO,
        {"training_content_summary": {"languagez": ["en"], "latest_collection_date": "Jan 2026"}},
    )
    assert mf.missing_person_fields(person) == [
        "training_content_summary.languagez (unknown field; known: ['placement_on_market_date', "
        "'latest_collection_date', 'tdm_opt_out_compliance', 'illegal_content_removal', "
        "'authorised_representative', 'other_characteristics', 'other_processing', "
        "'model_dependencies', 'languages', 'content_types', 'sources', 'crawled'])",
        "training_content_summary.latest_collection_date (must be a date YYYY-MM-DD, "
        "got 'Jan 2026')",
    ]


def test_markdown_has_the_template_sections(manifest):
    text = summary_markdown(manifest["general_purpose"]["training_content_summary"])
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert headings == [
        "## 1. General information",
        "## 2. List of data sources",
        "## 3. Data processing aspects",
        "## Fields to be filled by the provider",
    ]
    assert "| Date of placement on the market | *to be filled by the provider* |" in text
    assert "| Size band | less than 1 billion tokens |" in text
    assert "### 2.5 Synthetic data" in text


@pytest.fixture
def cli(monkeypatch):
    """`dlsuite.cli.main` with only the manifest commands."""
    from dlsuite import cli

    monkeypatch.setattr(cli, "COMMAND_MODULES", ("dlsuite.cli.manifest",))
    return cli.main


def test_cli_exports_markdown_or_json(version, manifest, cli, tmp_path, capsys):
    assert cli(["manifest", "export", str(version), "--format", "gpai-summary"]) == 0
    assert capsys.readouterr().out.startswith("# Public summary of training content: lm")
    out = tmp_path / "summary.json"
    assert (
        cli(["manifest", "export", str(version), "--format", "gpai-summary", "-o", str(out)]) == 0
    )
    assert json.loads(out.read_text()) == manifest["general_purpose"]["training_content_summary"]
    args = ["manifest", "export", str(version), "--format", "gpai-summary", "--language", "en"]
    assert cli(args) == 2
    assert "--language applies to the hf format only" in capsys.readouterr().err
