"""A tiny translation run trained, exported and served: strings in, strings out over REST
and gRPC."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import requests

from tests.serving.conftest import start_server

pytestmark = pytest.mark.slow
MANIFEST_INFO = Path(__file__).resolve().parents[2] / "docs" / "manifest_example.yaml"
SENTENCES = ["three hundred and twelve", "forty-one", "nine hundred and ninety-nine"]


@pytest.fixture(scope="module")
def translation_run(tmp_path_factory):
    from dlsuite.apps.nlp.config import NLPConfig
    from dlsuite.apps.nlp.train import train_and_evaluate

    config = NLPConfig(
        task="translate",
        model="transformer_seq2seq",
        data="builtin:numbers",
        numbers_count=300,
        numbers_max=999,
        sequence_length=10,
        embedding_dim=16,
        intermediate_dim=32,
        num_layers=1,
        num_heads=2,
        epochs=1,
        beam_size=3,
        run_root=str(tmp_path_factory.mktemp("runs")),
        verbose=0,
    )
    return train_and_evaluate(config)


@pytest.fixture(scope="module")
def served(translation_run, tmp_path_factory):
    import tensorflow as tf

    from dlsuite.apps.common.export import export_run
    from dlsuite.apps.nlp.translate.decoding import translate_texts

    base = tmp_path_factory.mktemp("repo")
    version = export_run(
        translation_run.run.path, model_base_path=base, name="numbers", manifest_info=MANIFEST_INFO
    )
    expected = {
        beams: [
            t.decode()
            for t in translate_texts(translation_run.model, tf.constant(SENTENCES), beams)[
                0
            ].numpy()
        ]
        for beams in (1, 3)
    }
    server = start_server(
        ["--model_name=numbers", f"--model_base_path={base / 'numbers'}"],
        tmp_path_factory.mktemp("log") / "server.log",
        ready_model="numbers",
    )
    yield server, version, expected
    server.stop()


def test_metrics_and_manifest_report_bleu_chrf_and_exact_match(translation_run, served):
    _, version, _ = served
    evaluation = translation_run.metrics["evaluation"]
    assert evaluation["split"] == "test" and evaluation["beam_size"] == 3
    for kind in ("greedy", "beam"):
        assert set(evaluation[kind]) >= {"bleu", "chrf", "exact_match", "bleu_signature"}
    assert (
        (translation_run.run.path / "translations.tsv")
        .read_text()
        .startswith("source\treference\tgreedy\tbeam")
    )
    manifest = json.loads((version / "assets.extra" / "manifest.json").read_text())
    assert manifest["evaluation"]["metrics"]["beam_chrf"] == pytest.approx(
        evaluation["beam"]["chrf"]
    )
    assert manifest["nlp"]["task"] == "translate" and "translate" in manifest["nlp"]["signatures"]


def test_rest_translate_with_plain_strings(served):
    server, _, expected = served
    for signature, beams in (("translate", 3), ("serving_default", 3), ("translate_greedy", 1)):
        body = {"signature_name": signature, "instances": [{"text": s} for s in SENTENCES]}
        answer = requests.post(
            f"{server.rest}/v1/models/numbers:predict", json=body, timeout=60
        ).json()
        assert [p["translations"] for p in answer["predictions"]] == expected[beams], answer


def test_grpc_translate_with_plain_strings(served):
    from dlsuite.serving.client import grpc_predict

    server, _, expected = served
    outputs = grpc_predict(
        server.grpc_target, "numbers", {"text": SENTENCES}, signature="translate"
    )
    assert [t.decode() for t in outputs["translations"]] == expected[3]
    assert outputs["scores"].shape == (3,) and np.all(outputs["scores"] <= 0)
