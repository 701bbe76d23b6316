"""Translation quality bar, measured: English -> Spanish number words, held-out numbers,
beam search."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.quality
MANIFEST_INFO = Path(__file__).resolve().parents[2] / "docs" / "manifest_example.yaml"


@pytest.fixture(scope="module")
def numbers_run(tmp_path_factory):
    """The quality-bar run exactly as a user types it;
    returns ``(run_dir, metrics, wall_clock_s)``."""
    from dlsuite.cli import main

    root = tmp_path_factory.mktemp("translation-quality")
    start = time.perf_counter()
    code = main(
        [
            "train",
            "nlp",
            "--preset",
            "transformer_seq2seq-numbers",
            "--run-root",
            str(root),
            "--verbose",
            "0",
        ]
    )
    elapsed = time.perf_counter() - start
    assert code == 0
    (run_dir,) = (root / "nlp").iterdir()
    return run_dir, json.loads((run_dir / "metrics.json").read_text()), elapsed


def test_beam_search_translates_90_percent_of_held_out_numbers_exactly(numbers_run):
    run_dir, metrics, wall_clock_s = numbers_run
    evaluation = metrics["evaluation"]
    assert (
        evaluation["split"] == "test"
        and evaluation["num_sentences"] == metrics["data"]["splits"]["test"]
    )
    assert evaluation["beam"]["exact_match"] >= 0.90, evaluation["beam"]
    assert evaluation["beam"]["chrf"] >= 90, evaluation["beam"]


def test_exported_translate_signature_matches_the_in_memory_model(numbers_run, tmp_path):
    import tensorflow as tf

    from dlsuite.apps.common.export import export_run
    from dlsuite.apps.common.runs import load_trained_model
    from dlsuite.apps.nlp.translate.decoding import translate_texts

    run_dir, metrics, _ = numbers_run
    sources = [
        row.split("\t")[0] for row in (run_dir / "translations.tsv").read_text().splitlines()[1:201]
    ]
    version = export_run(
        run_dir, model_base_path=tmp_path, name="numbers", manifest_info=MANIFEST_INFO
    )
    model = load_trained_model(run_dir)
    served = tf.saved_model.load(str(version))
    for signature, beams in (
        ("translate", metrics["evaluation"]["beam_size"]),
        ("translate_greedy", 1),
    ):
        expected = translate_texts(model, tf.constant(sources), beams)[0].numpy().tolist()
        got = (
            served.signatures[signature](text=tf.constant(sources))["translations"].numpy().tolist()
        )
        assert got == expected, signature
