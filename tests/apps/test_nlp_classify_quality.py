"""Text classification quality bar, measured: Transformer encoder on builtin:langid,
held-out sentences."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.quality


def test_transformer_on_builtin_langid_reaches_95_percent_on_held_out_sentences(tmp_path):
    """The quality-bar run exactly as a user types it (plus where to put the run)."""
    from dlsuite.cli import main

    code = main(
        [
            "train",
            "nlp",
            "--model",
            "transformer",
            "--data",
            "builtin:langid",
            "--run-root",
            str(tmp_path),
            "--verbose",
            "0",
        ]
    )
    assert code == 0
    (run_dir,) = (tmp_path / "nlp").iterdir()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    evaluation = metrics["evaluation"]
    assert (
        evaluation["split"] == "test"
        and evaluation["num_examples"] == metrics["data"]["splits"]["test"] >= 1500
    )
    assert len(metrics["data"]["class_names"]) == 6
    assert evaluation["accuracy"] >= 0.95, evaluation
    assert min(row["recall"] for row in evaluation["per_class"].values()) >= 0.9, evaluation[
        "per_class"
    ]
