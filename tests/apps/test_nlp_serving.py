"""The exported text classifier served by `dlsuite serve`: plain strings in, labels out over
REST and gRPC."""

from __future__ import annotations

import numpy as np
import pytest
import requests

from tests.serving.conftest import start_server

pytestmark = pytest.mark.slow
TEXTS = [
    "Das Wetter ist heute schön.",
    "The weather is nice today.",
    "Il fait très beau aujourd'hui.",
]


@pytest.fixture(scope="module")
def served(nlp_tiny_run, nlp_tiny_export, tmp_path_factory):
    import tensorflow as tf

    base = nlp_tiny_export.parents[1]
    expected = nlp_tiny_run.model(tf.constant(TEXTS)).numpy()
    server = start_server(
        ["--model_name=langid", f"--model_base_path={base / 'langid'}"],
        tmp_path_factory.mktemp("log") / "server.log",
        ready_model="langid",
    )
    yield server, expected, nlp_tiny_run.metrics["data"]["class_names"]
    server.stop()


def test_rest_predict_with_plain_strings(served):
    server, expected, names = served
    body = {"instances": [{"text": text} for text in TEXTS]}
    answer = requests.post(f"{server.rest}/v1/models/langid:predict", json=body, timeout=30).json()
    predictions = answer["predictions"]
    assert [p["labels"] for p in predictions] == [names[i] for i in expected.argmax(-1)]
    np.testing.assert_allclose([p["scores"] for p in predictions], expected, atol=1e-5)
    columnar = requests.post(
        f"{server.rest}/v1/models/langid:predict", json={"inputs": TEXTS[:1]}, timeout=30
    ).json()
    assert columnar["outputs"]["labels"] == [names[int(expected[0].argmax())]]


def test_rest_classify_with_tf_examples(served):
    server, expected, names = served
    body = {"signature_name": "classify", "examples": [{"text": text} for text in TEXTS]}
    results = requests.post(
        f"{server.rest}/v1/models/langid:classify", json=body, timeout=30
    ).json()["results"]
    for row, probabilities in zip(results, expected, strict=True):
        assert [label for label, _ in row] == names
        np.testing.assert_allclose([score for _, score in row], probabilities, atol=1e-5)


def test_grpc_predict_with_plain_strings(served):
    from dlsuite.serving.client import grpc_predict

    server, expected, names = served
    outputs = grpc_predict(server.grpc_target, "langid", {"text": [t.encode() for t in TEXTS]})
    assert [label.decode() for label in outputs["labels"]] == [
        names[i] for i in expected.argmax(-1)
    ]
    np.testing.assert_allclose(outputs["scores"], expected, atol=1e-5)
