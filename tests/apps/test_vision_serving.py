"""The exported vision model served by `dlsuite serve`: REST and gRPC, image bytes in,
classes out."""

from __future__ import annotations

import base64

import numpy as np
import pytest
import requests

from tests.serving.conftest import start_server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served(tiny_run, tiny_export, tmp_path_factory):
    from dlsuite.apps.common.runs import splits_for_run
    from dlsuite.apps.vision.export import encode_png

    base = tiny_export.parents[1]
    images = np.stack(
        [x for x, _ in splits_for_run(tiny_run.run.path).test.take(3).as_numpy_iterator()]
    )
    images = np.rint(images).astype(np.float32)
    expected = tiny_run.model.predict(images, verbose=0)
    server = start_server(
        # the server's own header check (--max_image_pixels) off, so the graph's answers
        [
            "--model_name=digits",
            f"--model_base_path={base / 'digits'}",
            f"--max_image_pixels={10**12}",
        ],
        tmp_path_factory.mktemp("log") / "server.log",
        ready_model="digits",
    )
    yield server, [encode_png(image) for image in images], expected
    server.stop()


def test_status_is_available_after_warmup(served):
    server, _, _ = served
    status = requests.get(f"{server.rest}/v1/models/digits", timeout=10).json()
    assert status["model_version_status"][0]["state"] == "AVAILABLE"


def test_rest_predict_with_encoded_images(served):
    server, pngs, expected = served
    body = {"instances": [{"b64": base64.b64encode(png).decode()} for png in pngs]}
    answer = requests.post(f"{server.rest}/v1/models/digits:predict", json=body, timeout=30).json()
    predictions = answer["predictions"]
    assert [p["class_ids"] for p in predictions] == expected.argmax(-1).tolist()
    assert [p["class_names"] for p in predictions] == [str(i) for i in expected.argmax(-1)]
    np.testing.assert_allclose([p["probabilities"] for p in predictions], expected, atol=1e-5)


def test_rest_classify_with_tf_examples(served):
    server, pngs, expected = served
    body = {
        "signature_name": "classify",
        "examples": [{"image/encoded": {"b64": base64.b64encode(png).decode()}} for png in pngs],
    }
    answer = requests.post(f"{server.rest}/v1/models/digits:classify", json=body, timeout=30).json()
    results = answer["results"]
    assert len(results) == len(pngs) and len(results[0]) == 10
    for row, probs in zip(results, expected, strict=True):
        best = max(row, key=lambda pair: pair[1])
        assert best[0] == str(int(probs.argmax()))
        assert best[1] == pytest.approx(float(probs.max()), abs=1e-5)


def test_grpc_predict_with_encoded_images(served):
    from dlsuite.serving.client import grpc_predict

    server, pngs, expected = served
    outputs = grpc_predict(server.grpc_target, "digits", {"image_bytes": pngs})
    np.testing.assert_array_equal(outputs["class_ids"], expected.argmax(-1))
    np.testing.assert_allclose(outputs["probabilities"], expected, atol=1e-5)


def test_rest_refuses_a_huge_image_from_its_header(served):
    """A ~100-byte PNG declaring 23,000 x 23,000 pixels is a 400 naming the export's limit; the
    server is not made to allocate the 1.5 GiB it would decode to. (The server started here has
    its own header check, ``--max_image_pixels``, off: with it on, the same request is a 413 naming
    that flag before the graph runs, as tests/serving/test_server_fuzz.py checks.)"""
    from dlsuite.apps.vision.export import MAX_IMAGE_PIXELS
    from tests.apps.test_vision_export import huge_png

    server, pngs, _ = served
    body = {"instances": [{"b64": base64.b64encode(png).decode()} for png in pngs[:1]]}
    body["instances"].append({"b64": base64.b64encode(huge_png(23_000, 23_000)).decode()})
    resp = requests.post(f"{server.rest}/v1/models/digits:predict", json=body, timeout=30)
    assert resp.status_code == 400, resp.text
    assert resp.json() == {
        "error": "assertion failed: [image of 23000 x 23000 pixels, more than "
        f"max_image_pixels={MAX_IMAGE_PIXELS} (set at export)]"
    }
