"""C2PA Content Credentials (serving/content_credentials.py): signing and verifying with the C2PA
reference library, bad certificates, detect-mark, the training samples and the served images."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import struct

import numpy as np
import pytest

from tests.apps.conftest import export_once
from tests.apps.test_generative import TINY

IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"


@pytest.fixture(scope="module")
def chain():
    """A test chain: ``(credentials, root_pem)``."""
    from dlsuite.serving.content_credentials import make_test_chain

    return make_test_chain()


def _pixels(seed=0, shape=(16, 16)):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _encode(pixels, fmt):
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return buffer.getvalue()


def _decode(data):
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image)


def _chunks(png):
    """``[(type, offset, whole chunk bytes)]`` of a PNG."""
    found, offset = [], 8
    while offset < len(png):
        (length,) = struct.unpack(">I", png[offset : offset + 4])
        found.append((png[offset + 4 : offset + 8], offset, png[offset : offset + 12 + length]))
        offset += 12 + length
    return found


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_signed_image_reads_back_valid_and_is_trusted_only_with_its_root(chain, fmt):
    from dlsuite.serving.content_credentials import make_test_chain, read_credentials, sign_image
    from dlsuite.serving.marking import encode_marked_png, read_text_chunks

    credentials, root = chain
    if fmt == "PNG":  # with the Art. 50 text chunks and watermark
        original = encode_marked_png(_pixels(shape=(16, 16, 1)), "digits-gan", 3)
    else:
        original = _encode(_pixels(1, (16, 16, 3)), fmt)
    signed = sign_image(original, credentials, model="digits-gan", version=3, run="r1", title="t")
    assert len(signed) - len(original) < 8000  # a manifest, no thumbnail
    np.testing.assert_array_equal(_decode(signed), _decode(original))  # the pixels are unchanged

    report = read_credentials(signed)
    assert report["present"] and report["valid"] and report["ai_generated"]
    assert report["state"] == "Valid" and not report["trusted"] and report["test_certificate"]
    assert report["status_codes"]["failure"] == ["signingCredential.untrusted"]
    assert "assertion.dataHash.match" in report["status_codes"]["success"]
    assert report["actions"] == ["c2pa.created"] and report["digital_source_type"] == IPTC
    assert (report["model"], report["version"], report["run"]) == ("digits-gan", "3", "r1")
    assert report["claim_generator"].startswith("dlsuite/") and report["claim_version"] == 2
    assert report["spec_version"].startswith("2.")  # C2PA 2.x
    assert report["issuer"] == "dlsuite C2PA test chain (untrusted)"

    trusted = read_credentials(signed, trust_anchors=root)
    assert trusted["trusted"] and trusted["state"] == "Trusted"
    assert "signingCredential.trusted" in trusted["status_codes"]["success"]
    other_root = make_test_chain()[1]
    assert not read_credentials(signed, trust_anchors=other_root)["trusted"]
    if fmt == "PNG":  # the Art. 50 text chunks are still there
        assert read_text_chunks(signed)["Model"] == "digits-gan"


def test_a_changed_pixel_after_signing_is_invalid(chain):
    from dlsuite.serving.content_credentials import read_credentials, sign_image

    pixels = _pixels()
    signed = sign_image(_encode(pixels, "PNG"), chain[0], model="m", version=1, run=None, title="t")
    ((_, offset, manifest_chunk),) = [c for c in _chunks(signed) if c[0] == b"caBX"]
    changed = pixels.copy()
    changed[5, 5] ^= 1
    recoded = _encode(changed, "PNG")
    tampered = recoded[:offset] + manifest_chunk + recoded[offset:]  # the manifest put back
    report = read_credentials(tampered)
    assert report["present"] and not report["valid"] and not report["ai_generated"]
    assert report["state"] == "Invalid"
    assert "assertion.dataHash.mismatch" in report["status_codes"]["failure"]


def test_detect_mark_verifies_credentials_and_a_reencoded_copy_has_none(chain, tmp_path, capsys):
    from dlsuite.cli import main
    from dlsuite.serving.content_credentials import sign_image

    credentials, root = chain
    (tmp_path / "root.pem").write_text(root)
    # an image with no text chunk and no watermark: the credentials alone mark it
    signed = sign_image(
        _encode(_pixels(), "PNG"), credentials, model="m", version=2, run=None, title="t"
    )
    (tmp_path / "signed.png").write_bytes(signed)
    (tmp_path / "stripped.png").write_bytes(_encode(_decode(signed), "PNG"))  # re-encoded
    assert main(["detect-mark", str(tmp_path / "signed.png")]) == 0
    line = capsys.readouterr().out
    assert "AI-GENERATED" in line and "c2pa=valid, untrusted test certificate" in line
    assert "model=m version=2" in line
    trust = ["--c2pa-trust", str(tmp_path / "root.pem")]
    assert main(["detect-mark", "--json", *trust, str(tmp_path / "stripped.png")]) == 1
    stripped = json.loads(capsys.readouterr().out)
    assert stripped["credentials"]["present"] is False and stripped["ai_generated"] is False
    assert main(["detect-mark", *trust, str(tmp_path / "signed.png")]) == 0
    assert "c2pa=valid, trusted" in capsys.readouterr().out
    assert main(["detect-mark", str(tmp_path / "stripped.png")]) == 1
    assert "no mark" in (out := capsys.readouterr().out) and "c2pa=none" in out
    assert main(["detect-mark", "--c2pa-trust", str(tmp_path / "signed.png"), "x"]) == 2
    assert "holds no PEM certificate" in capsys.readouterr().err


def _issue(tmp_path, name, **change):
    """Write ``<name>.pem`` and ``<name>.key``: a certificate issued by a fresh CA (P-256,
    emailProtection, valid now) with ``change`` applied; returns the two paths."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "CA")])
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    usage = dict.fromkeys(
        ["content_commitment", "key_encipherment", "data_encipherment", "key_agreement"], False
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject if change.get("self_signed") else ca)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=change.get("age_days", 1)))
        .not_valid_after(now + dt.timedelta(days=30 - change.get("age_days", 1)))
        .add_extension(x509.BasicConstraints(ca=change.get("ca", False), path_length=None), True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=change.get("ca", False),
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
                **usage,
            ),
            True,
        )
        .add_extension(
            x509.ExtendedKeyUsage(change.get("ekus", [ExtendedKeyUsageOID.EMAIL_PROTECTION])), False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
    )
    cert = builder.sign(key if change.get("self_signed") else ca_key, hashes.SHA256())
    signing_key = ec.generate_private_key(ec.SECP256R1()) if change.get("other_key") else key
    cert_path, key_path = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    encryption = (
        serialization.BestAvailableEncryption(b"secret")
        if change.get("encrypted")
        else serialization.NoEncryption()
    )
    key_path.write_bytes(
        signing_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, encryption
        )
    )
    return cert_path, key_path


@pytest.mark.parametrize(
    "change, message",
    [
        ({"ca": True}, "is a CA certificate"),
        ({"self_signed": True}, "is self-signed"),
        ({"ekus": ["SERVER_AUTH"]}, "include none of emailProtection"),
        ({"age_days": 40}, "not now"),
        ({"other_key": True}, "does not belong to the first certificate"),
        ({"encrypted": True}, "is an encrypted private key"),
    ],
)
def test_bad_certificates_and_keys_are_refused_with_the_reason(tmp_path, change, message):
    from cryptography.x509.oid import ExtendedKeyUsageOID

    from dlsuite.serving.content_credentials import load_credentials

    if "ekus" in change:
        change = {"ekus": [getattr(ExtendedKeyUsageOID, name) for name in change["ekus"]]}
    cert, key = _issue(tmp_path, "bad", **change)
    with pytest.raises(ValueError, match=message):
        load_credentials(cert, key)


def test_missing_or_non_pem_files_and_half_given_options_are_refused(tmp_path, chain):
    import argparse

    from dlsuite.apps.generative.config import GenerativeConfig
    from dlsuite.cli import serve
    from dlsuite.serving.content_credentials import load_credentials
    from dlsuite.serving.server import config

    cert, key = _issue(tmp_path, "good")  # a good one (SEC1 key: converted to PKCS#8)
    credentials = load_credentials(cert, key)
    assert credentials.algorithm == "es256" and not credentials.test_chain
    assert "PRIVATE KEY" not in repr(credentials)
    with pytest.raises(FileNotFoundError, match="C2PA certificate chain file .* does not exist"):
        load_credentials(tmp_path / "none.pem", key)
    (tmp_path / "text.pem").write_text("not a certificate")
    with pytest.raises(ValueError, match="is not a PEM certificate chain"):
        load_credentials(tmp_path / "text.pem", key)
    with pytest.raises(ValueError, match="is not a PEM private key"):
        load_credentials(cert, tmp_path / "text.pem")
    with pytest.raises(ValueError, match="give both"):
        GenerativeConfig(c2pa_cert=str(cert))
    parser = argparse.ArgumentParser()
    serve.add_arguments(parser)
    base = [f"--model_base_path={tmp_path}"]
    flags = vars(parser.parse_args([*base, f"--c2pa_key={key}"]))
    with pytest.raises(ValueError, match="give both"):
        config.server_options(flags)
    flags = vars(parser.parse_args([*base, f"--c2pa_cert={cert}", f"--c2pa_key={key}"]))
    assert config.server_options(flags).content_credentials.subject == "CN=good"
    with pytest.raises(ValueError, match="--c2pa_cert is a dlsuite server"):
        config.tfserving_argv(flags, "tensorflow_model_server")
    # the run's certificate does not change which run it is
    assert GenerativeConfig(c2pa_cert="a", c2pa_key="b").config_hash() == (
        GenerativeConfig().config_hash()
    )


def test_c2pa_test_cert_command_writes_a_chain_for_the_options(tmp_path, capsys):
    from dlsuite.cli import main
    from dlsuite.serving.content_credentials import load_credentials

    assert main(["c2pa-test-cert", str(tmp_path / "chain")]) == 0
    assert "--c2pa-cert" in capsys.readouterr().out
    folder = tmp_path / "chain"
    assert sorted(p.name for p in folder.iterdir()) == ["chain.pem", "key.pem", "root.pem"]
    assert (folder / "key.pem").stat().st_mode & 0o777 == 0o600
    credentials = load_credentials(folder / "chain.pem", folder / "key.pem")
    assert (
        credentials.subject == "CN=dlsuite C2PA test signer,O=dlsuite C2PA test chain (untrusted)"
    )
    assert main(["c2pa-test-cert", str(folder)]) == 2  # never overwrites a key
    assert "already exist" in capsys.readouterr().err


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A finished 1-epoch conditional DCGAN run on 64 digits, signed with the test chain."""
    from dlsuite.apps.generative.config import GenerativeConfig
    from dlsuite.apps.generative.train import train_and_evaluate

    root = tmp_path_factory.mktemp("c2pa-gen")
    options = {**TINY, "epochs": 1, "max_train_examples": 64, "num_eval_samples": 40}
    return train_and_evaluate(GenerativeConfig(**options, run_root=str(root)))


def test_training_writes_signed_sample_grids_and_gif(tiny_run, chain, tmp_path):
    from dlsuite.apps.generative.samples import write_marked_png
    from dlsuite.serving.content_credentials import read_credentials

    run = tiny_run.run
    samples = run.path / "samples"
    versions = {"epoch_001.png": "epoch 1", "final.png": "final", "training.gif": "epochs 1-1"}
    assert sorted(p.name for p in samples.iterdir()) == sorted(versions)
    for name, version in versions.items():
        data = (samples / name).read_bytes()
        report = read_credentials(data)
        assert report["valid"] and report["ai_generated"] and report["test_certificate"], name
        assert report["model"] == f"dlsuite generative dcgan run {run.run_id}", name
        assert (report["version"], report["run"], report["title"]) == (version, run.run_id, name)
    # with the user's certificate (what --c2pa-cert gives SampleGrids)
    credentials, root = chain
    path = write_marked_png(
        _pixels(shape=(16, 16, 1)),
        tmp_path / "grid.png",
        "m",
        "e1",
        run="r",
        credentials=credentials,
    )
    assert read_credentials(path.read_bytes(), trust_anchors=root)["trusted"]


@pytest.fixture(scope="module")
def served(tiny_run, tmp_path_factory):
    """The run exported as ``digit-gan`` version 1, served with a test chain's certificate;
    yields ``(server, root_pem, run_id, version_dir)``."""
    from dlsuite.serving.content_credentials import write_test_chain
    from tests.serving.conftest import start_server

    version = export_once(tiny_run, "digit-gan", tmp_path_factory)
    folder = tmp_path_factory.mktemp("c2pa-chain")
    paths = write_test_chain(folder)
    server = start_server(
        [
            "--model_name=digit-gan",
            f"--model_base_path={version.parent}",
            f"--c2pa_cert={paths['cert']}",
            f"--c2pa_key={paths['key']}",
        ],
        folder / "server.log",
        ready_model="digit-gan",
    )
    yield server, paths["root"].read_text(), tiny_run.run.run_id, version
    server.stop()


def test_served_generate_pngs_carry_credentials_naming_model_and_version(served):
    import requests

    from dlsuite.serving.client import grpc_predict
    from dlsuite.serving.content_credentials import read_credentials
    from dlsuite.serving.marking import read_text_chunks

    server, root, run_id, version = served
    marking = json.loads((version / "assets.extra" / "manifest.json").read_text())[
        "synthetic_content_marking"
    ]
    assert "C2PA 2.x" in marking["content_credentials"]["standard"]
    body = {"signature_name": "generate", "inputs": {"num_samples": 2, "class_ids": [], "seed": 4}}
    rest = requests.post(f"{server.rest}/v1/models/digit-gan:predict", json=body, timeout=60)
    outputs = rest.json()["outputs"]
    rest_pngs = [base64.b64decode(item["b64"]) for item in outputs["png_bytes"]]
    grpc_pngs = grpc_predict(
        server.grpc_target,
        "digit-gan",
        {"num_samples": 1, "class_ids": np.zeros([0], np.int32), "seed": 4},
        signature="generate",
    )["png_bytes"]
    v2_body = {
        "parameters": {"signature_name": "generate"},
        "inputs": [
            {"name": "num_samples", "shape": [], "datatype": "INT32", "data": [1]},
            {"name": "class_ids", "shape": [0], "datatype": "INT32", "data": []},
            {"name": "seed", "shape": [], "datatype": "INT64", "data": [4]},
        ],
    }
    v2 = requests.post(f"{server.rest}/v2/models/digit-gan/infer", json=v2_body, timeout=60)
    (v2_png,) = [o for o in v2.json()["outputs"] if o["name"] == "png_bytes"]
    v2_pngs = [base64.b64decode(item["b64"]) for item in v2_png["data"]]
    for api, png in [("rest", rest_pngs[0]), ("grpc", grpc_pngs[0]), ("v2", v2_pngs[0])]:
        report = read_credentials(png, trust_anchors=root)
        assert report["trusted"] and report["ai_generated"], api  # by the given chain
        assert (report["model"], report["version"], report["run"]) == ("digit-gan", "1", run_id)
        assert read_text_chunks(png)["Model"] == "digit-gan", api  # the in-graph marks stay
    for png, image in zip(rest_pngs, outputs["images"], strict=True):  # the pixels are unchanged
        np.testing.assert_array_equal(_decode(png)[..., None], np.array(image, np.uint8))
