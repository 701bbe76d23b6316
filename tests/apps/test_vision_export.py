"""Vision export: versioned SavedModel, signatures equal to the Keras model, warmup, manifest."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

MANIFEST_INFO = Path(__file__).resolve().parents[2] / "docs" / "manifest_example.yaml"


@pytest.fixture(scope="module")
def exported(tiny_export: Path) -> tuple[Path, Path]:
    """``(model_base_path, version)`` of the session's export of `tiny_run`."""
    return tiny_export.parents[1], tiny_export


def _held_out(tiny_run, n=6):
    from dlsuite.apps.common.runs import splits_for_run

    splits = splits_for_run(tiny_run.run.path)
    images = np.stack([x for x, _ in splits.test.take(n).as_numpy_iterator()])
    return np.rint(images).astype(np.float32)  # what a PNG round trip keeps (uint8 pixels)


def test_version_layout(exported):
    base, path = exported
    assert path == base / "digits" / "1"
    for name in (
        "saved_model.pb",
        "variables/variables.index",
        "assets.extra/manifest.json",
        "assets.extra/tf_serving_warmup_requests",
    ):
        assert (path / name).is_file(), name
    assert not [p for p in (base / "digits").iterdir() if p.name.startswith(".tmp")]


def test_signatures_match_the_keras_model(exported, tiny_run):
    import tensorflow as tf

    from dlsuite.apps.vision.export import IMAGE_FEATURE, encode_png

    _, path = exported
    loaded = tf.saved_model.load(str(path))
    images = _held_out(tiny_run)
    expected = tiny_run.model.predict(images, verbose=0)

    out = loaded.signatures["predict_images"](images=tf.constant(images))
    np.testing.assert_allclose(out["probabilities"].numpy(), expected, atol=1e-5)
    np.testing.assert_array_equal(out["class_ids"].numpy(), expected.argmax(-1))
    assert [c.decode() for c in out["class_names"].numpy()] == [str(i) for i in expected.argmax(-1)]

    png = [encode_png(image) for image in images]
    out = loaded.signatures["serving_default"](image_bytes=tf.constant(png))
    np.testing.assert_allclose(out["probabilities"].numpy(), expected, atol=1e-5)

    examples = [
        tf.train.Example(
            features=tf.train.Features(
                feature={
                    IMAGE_FEATURE: tf.train.Feature(bytes_list=tf.train.BytesList(value=[data]))
                }
            )
        ).SerializeToString()
        for data in png
    ]
    out = loaded.signatures["classify"](inputs=tf.constant(examples))
    np.testing.assert_allclose(out["scores"].numpy(), expected, atol=1e-5)
    assert out["classes"].shape == (len(png), 10)
    assert out["classes"].numpy()[0, 3].decode() == "3"


def test_signature_methods_for_tf_serving(exported):
    from dlsuite.serving.signatures import CLASSIFY_METHOD, PREDICT_METHOD, read_signature_defs

    defs = read_signature_defs(exported[1])
    assert defs["serving_default"].method_name == PREDICT_METHOD
    assert set(defs["serving_default"].inputs) == {"image_bytes"}
    assert set(defs["serving_default"].outputs) == {"class_ids", "class_names", "probabilities"}
    assert defs["classify"].method_name == CLASSIFY_METHOD
    assert set(defs["classify"].inputs) == {"inputs"} and set(defs["classify"].outputs) == {
        "classes",
        "scores",
    }


def test_warmup_requests_replay_against_the_model(exported):
    import tensorflow as tf

    from dlsuite.serving.warmup import read_warmup_requests

    _, path = exported
    logs = list(read_warmup_requests(path))
    kinds = [log.WhichOneof("log_type") for log in logs]
    assert kinds.count("predict_log") == 3 and kinds.count("classify_log") == 1
    loaded = tf.saved_model.load(str(path))
    request = logs[1].predict_log.request
    assert (
        request.model_spec.name == "digits"
        and request.model_spec.signature_name == "serving_default"
    )
    out = loaded.signatures["serving_default"](
        image_bytes=tf.constant(tf.make_ndarray(request.inputs["image_bytes"]))
    )
    assert out["probabilities"].shape == (4, 10)


def huge_png(width: int, height: int) -> bytes:
    """A valid PNG header declaring ``width`` x ``height`` RGB pixels, with a few rows of data:
    about 100 bytes that decode_image would allocate width x height x 3 bytes for."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 1000))
        + chunk(b"IEND", b"")
    )


def huge_jpeg(width: int, height: int) -> bytes:
    """A real JPEG whose frame header (SOF0) is rewritten to declare ``width`` x ``height``."""
    import struct

    import tensorflow as tf

    data = bytearray(tf.io.encode_jpeg(np.zeros((8, 8, 3), np.uint8)).numpy())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def test_image_signatures_refuse_huge_images_before_decoding(exported, tiny_run):
    """A 23,000 x 23,000 PNG of ~100 bytes, a 60,000 x 60,000 JPEG header and bytes of no image
    format are refused from their headers (no gigabyte allocation), on both image signatures;
    the limit is the export's ``max_image_pixels``, recorded in the manifest."""
    import resource

    import tensorflow as tf

    from dlsuite.apps.vision.export import IMAGE_FEATURE, MAX_IMAGE_PIXELS, encode_png

    _, path = exported
    manifest = json.loads((path / "assets.extra" / "manifest.json").read_text())
    assert manifest["vision"] == {"max_image_pixels": MAX_IMAGE_PIXELS}
    loaded = tf.saved_model.load(str(path))
    fine = encode_png(_held_out(tiny_run, 1)[0])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB
    for data, match in (
        (huge_png(23_000, 23_000), f"23000 x 23000 pixels.*max_image_pixels={MAX_IMAGE_PIXELS}"),
        (huge_jpeg(60_000, 60_000), "60000 x 60000 pixels.*max_image_pixels"),
        (b"GIF8" + b"\xff" * 28, "65535 x 65535 pixels.*max_image_pixels"),
        (b"not an image at all", "image format not accepted"),
    ):
        with pytest.raises(tf.errors.InvalidArgumentError, match=match):
            loaded.signatures["serving_default"](image_bytes=tf.constant([fine, data]))
        example = tf.train.Example(
            features=tf.train.Features(
                feature={
                    IMAGE_FEATURE: tf.train.Feature(bytes_list=tf.train.BytesList(value=[data]))
                }
            )
        )
        with pytest.raises(tf.errors.InvalidArgumentError, match=match):
            loaded.signatures["classify"](inputs=tf.constant([example.SerializeToString()]))
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak
    assert grown < 512 * 1024, f"peak RSS grew by {grown} KiB"  # the PNG alone would be 1.5 GiB


def test_manifest_is_complete_and_verifies(exported, tiny_run):
    from dlsuite.serving.manifest import validate_manifest, verify_version

    _, path = exported
    manifest = json.loads((path / "assets.extra" / "manifest.json").read_text())
    assert validate_manifest(manifest) == []
    assert verify_version(path) == []
    text = json.dumps(manifest)
    assert "digits" in text and str(tiny_run.metrics["num_params"]) in text


def test_manifest_detects_a_changed_file(tiny_run, tmp_path):
    from dlsuite.apps.common.export import export_run
    from dlsuite.serving.manifest import verify_version

    path = export_run(
        tiny_run.run.path, model_base_path=tmp_path, name="digits", manifest_info=MANIFEST_INFO
    )
    (path / "variables" / "variables.index").write_bytes(b"tampered")
    assert any("variables/variables.index" in problem for problem in verify_version(path))


def test_export_command_signs_and_manifest_verify_checks_the_signature(tiny_run, tmp_path, capsys):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from dlsuite.cli import main

    keys = {}
    for who in ("ours", "theirs"):
        private = ec.generate_private_key(ec.SECP256R1())
        keys[who] = tmp_path / f"{who}.pub"
        keys[who].write_bytes(
            private.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        (tmp_path / f"{who}.pem").write_bytes(
            private.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    base = ["--name", "digits", "--model-base-path", str(tmp_path / "models")]
    argv = ["export", str(tiny_run.run.path), *base, "--manifest-info", str(MANIFEST_INFO)]
    assert main([*argv, "--sign", str(tmp_path / "ours.pem")]) == 0
    version = tmp_path / "models" / "digits" / "1"
    assert (version / "assets.extra" / "model.sig").is_file()
    verify = ["manifest", "verify", str(version), "--public-key"]
    assert main([*verify, str(keys["ours"])]) == 0
    assert main([*verify, str(keys["theirs"])]) == 1
    assert "untrusted signature" in capsys.readouterr().err
    (version / "variables" / "variables.index").write_bytes(b"tampered")
    assert main([*verify, str(keys["ours"])]) == 1


def test_next_export_is_the_next_version_and_failures_publish_nothing(tiny_run, tmp_path):
    from dlsuite.apps.common.export import export_run

    first = export_run(
        tiny_run.run.path, model_base_path=tmp_path, name="digits", manifest_info=MANIFEST_INFO
    )
    second = export_run(
        tiny_run.run.path, model_base_path=tmp_path, name="digits", manifest_info=MANIFEST_INFO
    )
    assert (first.name, second.name) == ("1", "2")
    with pytest.raises(ValueError, match="provider.name"):
        export_run(tiny_run.run.path, model_base_path=tmp_path, name="digits")
    with pytest.raises(ValueError, match="model name"):
        export_run(
            tiny_run.run.path,
            model_base_path=tmp_path,
            name="../escape",
            manifest_info=MANIFEST_INFO,
        )
    assert sorted(p.name for p in (tmp_path / "digits").iterdir()) == ["1", "2"]


def test_export_command_refuses_an_unfinished_run(tmp_path):
    from dlsuite.cli import main

    run = tmp_path / "vision" / "r1"
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"app": "vision"}))
    assert main(["export", str(run), "--name", "digits", "--model-base-path", str(tmp_path)]) == 2
