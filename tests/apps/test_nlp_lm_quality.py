"""Language-model quality bar, measured: GPT on builtin:pydocs against the unigram baseline,
held-out documents."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.quality


def test_gpt_on_pydocs_has_held_out_perplexity_far_below_the_unigram_baseline(tmp_path):
    """The quality-bar run exactly as a user types it (plus where to put the run)."""
    from dlsuite.cli import main

    code = main(
        ["train", "nlp", "--preset", "gpt-pydocs", "--run-root", str(tmp_path), "--verbose", "0"]
    )
    assert code == 0
    (run_dir,) = (tmp_path / "nlp").iterdir()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    evaluation = metrics["evaluation"]
    assert (
        evaluation["split"] == "test"
        and evaluation["tokens"] == metrics["data"]["tokens"]["test"] > 40_000
    )
    assert (
        metrics["data"]["documents"]["test"] > 400
    )  # whole held-out docstrings, never seen in training
    assert evaluation["perplexity"] < 0.5 * evaluation["unigram_perplexity"], evaluation
    assert set(evaluation["few_shot"]) >= {
        "copy",
        "recall",
    }  # reported, whatever the small model scores
