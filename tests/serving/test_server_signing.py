"""Signed model versions: model-signing signatures, `dlsuite manifest verify --public-key`, and a
server started with ``--trusted_signers`` that refuses unsigned, foreign-signed and tampered
versions while the version it serves keeps serving.

One server for the module; each test publishes the next version number (copied in atomically, as
an export would) and checks what became of it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import requests

from dlsuite.base.files import atomic_write_json
from dlsuite.serving import manifest as mf
from dlsuite.serving.repository import next_version
from tests.serving.conftest import ServerProcess, copy_version, start_server, wait_until


def _write_key(folder: Path, name: str, curve=None) -> tuple[Path, Path]:
    """A new EC key pair: ``<name>.pem`` (private) and ``<name>.pub`` (public), both PEM."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(curve or ec.SECP256R1())
    private, public = folder / f"{name}.pem", folder / f"{name}.pub"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> dict[str, Path]:
    """Private keys ``a`` and ``c`` (trusted), ``b`` (not trusted), and ``trusted``: one PEM file
    holding the public keys of ``a`` and ``c``."""
    from cryptography.hazmat.primitives.asymmetric import ec

    folder = tmp_path_factory.mktemp("keys")
    a, a_pub = _write_key(folder, "a")
    b, _ = _write_key(folder, "b")
    c, c_pub = _write_key(folder, "c", ec.SECP384R1())
    trusted = folder / "trusted.pem"
    trusted.write_text(a_pub.read_text() + c_pub.read_text())
    return {"a": a, "b": b, "c": c, "trusted": trusted}


def _write_integrity_manifest(version_dir: Path) -> None:
    """A manifest holding only the integrity section (what the server checks)."""
    atomic_write_json(
        mf.manifest_path(version_dir), {"integrity": mf.compute_integrity(version_dir)}
    )


def _staged(src: Path, folder: Path, key: Path | None) -> Path:
    """A copy of ``src`` in ``folder`` with a manifest, signed with ``key`` unless None."""
    shutil.copytree(src, folder)
    _write_integrity_manifest(folder)
    if key is not None:
        mf.VersionSigner(key).sign(folder)
    return folder


def _flip_byte(path: Path) -> None:
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))


def _data_file(version_dir: Path) -> Path:
    return next((version_dir / "variables").glob("variables.data-*"))


# --- sign and verify, without a server ------------------------------------------------------------
@pytest.fixture
def small_version(tmp_path, keys) -> Path:
    """A version-like folder of three small files with a manifest, signed with key ``a``."""
    version = tmp_path / "7"
    (version / "variables").mkdir(parents=True)
    (version / "saved_model.pb").write_bytes(b"graph" * 100)
    (version / "variables" / "variables.index").write_bytes(b"index")
    (version / "variables" / "variables.data-00000-of-00001").write_bytes(b"weights" * 100)
    _write_integrity_manifest(version)
    mf.VersionSigner(keys["a"]).sign(version)
    return version


def _trusted(keys) -> tuple[str, ...]:
    from dlsuite.serving.server.config import read_trusted_signers

    return read_trusted_signers(keys["trusted"])


def test_signature_covers_the_manifest_and_is_not_an_added_file(small_version, keys):
    assert mf.signature_path(small_version).is_file()
    assert mf.verify_version(small_version) == []  # the signature is not an "added" file
    manifest = mf.load_manifest(small_version)
    assert mf.SIGNATURE_RELPATH not in manifest["integrity"]["files"]
    assert mf.SIGNATURE_RELPATH in mf.compute_integrity(small_version)["excluded"]
    assert mf.verify_signature(small_version, _trusted(keys)) == 0  # key a: first in the file
    # the digests rewritten after a change (the "anyone can rewrite them"): the manifest
    # is consistent again, the signature is not
    (small_version / "saved_model.pb").write_bytes(b"other graph")
    _write_integrity_manifest(small_version)
    assert mf.verify_version(small_version) == []
    with pytest.raises(mf.SignatureMismatch) as info:
        mf.verify_signature(small_version, _trusted(keys))
    message = str(info.value)
    assert "changed: assets.extra/manifest.json" in message and "changed: saved_model.pb" in message
    assert "Digest(" not in message


def test_unsigned_foreign_and_damaged_signatures_are_named(small_version, keys, tmp_path):
    foreign = _staged(small_version, tmp_path / "foreign", keys["b"])
    with pytest.raises(mf.UntrustedSignature, match="not signed by any of the 2 trusted key"):
        mf.verify_signature(foreign, _trusted(keys))
    second = _staged(small_version, tmp_path / "second", keys["c"])  # P-384, second in the file
    assert mf.verify_signature(second, _trusted(keys)) == 1
    (small_version / "variables" / "extra.bin").write_bytes(b"x")
    with pytest.raises(mf.SignatureMismatch, match="added: variables/extra.bin"):
        mf.verify_signature(small_version, _trusted(keys))
    mf.signature_path(small_version).write_text("{not json")
    with pytest.raises(mf.SignatureMismatch, match="unreadable assets.extra/model.sig"):
        mf.verify_signature(small_version, _trusted(keys))
    mf.signature_path(small_version).unlink()
    with pytest.raises(mf.UnsignedVersion, match="unsigned: no assets.extra/model.sig"):
        mf.verify_signature(small_version, _trusted(keys))


def test_keys_that_cannot_sign_or_verify_are_refused_up_front(tmp_path, keys):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    rsa_private = rsa.generate_private_key(65537, 2048)
    rsa_key = tmp_path / "rsa.pem"
    rsa_key.write_bytes(
        rsa_private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(ValueError, match="signing key .*rsa.pem is not an elliptic-curve key"):
        mf.VersionSigner(rsa_key)
    encrypted = tmp_path / "encrypted.pem"
    encrypted.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    with pytest.raises(ValueError, match="is encrypted"):
        mf.VersionSigner(encrypted)
    with pytest.raises(FileNotFoundError, match="no such signing key"):
        mf.VersionSigner(tmp_path / "missing.pem")
    public_rsa = rsa_private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(ValueError, match="trusted key 2 is not an elliptic-curve key"):
        mf.check_public_keys([_trusted(keys)[0], public_rsa.decode()])
    with pytest.raises(ValueError, match="trusted key 1 is not a PEM public key"):
        mf.check_public_keys(["-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"])


def test_manager_without_manifest_loads_with_a_warning_or_refuses_when_required(tmp_path, caplog):
    from dlsuite.serving.server.errors import ServingError
    from dlsuite.serving.server.manager import ModelManager

    version = tmp_path / "1"
    version.mkdir()
    (version / "saved_model.pb").write_bytes(b"graph")
    with caplog.at_level("WARNING", logger="dlsuite.serve"):
        ModelManager(()).check_version(version)
    assert "without an integrity check" in caplog.text and "--require_manifest" in caplog.text
    with pytest.raises(ServingError) as info:
        ModelManager((), require_manifest=True).check_version(version)
    assert info.value.code == "FAILED_PRECONDITION" and "--require_manifest" in info.value.message


@pytest.fixture
def cli(monkeypatch):
    """`dlsuite.cli.main` with only the manifest commands."""
    from dlsuite import cli

    monkeypatch.setattr(cli, "COMMAND_MODULES", ("dlsuite.cli.manifest",))
    return cli.main


def test_cli_verify_names_each_signature_problem(small_version, keys, tmp_path, cli, capsys):
    trusted = ["--public-key", str(keys["trusted"])]
    assert cli(["manifest", "verify", str(small_version), *trusted]) == 0
    out = capsys.readouterr().out
    assert f"signed by a key in {keys['trusted']}" in out
    assert cli(["manifest", "verify", str(small_version)]) == 0  # integrity only
    assert "model.sig not checked (give --public-key PEM)" in capsys.readouterr().out

    foreign = _staged(small_version, tmp_path / "foreign", keys["b"])
    assert cli(["manifest", "verify", str(foreign), *trusted]) == 1
    assert "untrusted signature" in capsys.readouterr().err

    _flip_byte(small_version / "variables" / "variables.data-00000-of-00001")
    assert cli(["manifest", "verify", str(small_version), *trusted]) == 1
    err = capsys.readouterr().err
    assert "2 problem(s)" in err and "changed: variables/variables.data-00000-of-00001" in err
    assert "signature mismatch" in err

    mf.signature_path(foreign).unlink()
    assert cli(["manifest", "verify", str(foreign), *trusted]) == 1
    assert "unsigned: no assets.extra/model.sig" in capsys.readouterr().err
    not_a_key = tmp_path / "not_a_key.pem"
    not_a_key.write_text("hello")
    assert cli(["manifest", "verify", str(foreign), "--public-key", str(not_a_key)]) == 2


# --- a server with --trusted_signers -------------------------------------------------------------
@pytest.fixture(scope="module")
def server(golden_versions, keys, tmp_path_factory):
    """``m`` version 1 = golden ``two`` signed with key ``a``; trusted: keys ``a`` and ``c``."""
    root = tmp_path_factory.mktemp("signed")
    copy_version(_staged(golden_versions["two"], root / "stage-1", keys["a"]), root / "m", 1)
    srv = start_server(
        [
            "--model_name=m",
            f"--model_base_path={root / 'm'}",
            f"--trusted_signers={keys['trusted']}",
            "--file_system_poll_wait_seconds=0.2",
            "--max_num_load_retries=1",
            "--load_retry_interval_micros=100000",
        ],
        root / "server.log",
        "m",
    )
    srv.root = root
    yield srv
    srv.stop()


def _status(server: ServerProcess) -> dict[str, dict]:
    resp = requests.get(f"{server.rest}/v1/models/m", timeout=10)
    return {s["version"]: s for s in resp.json()["model_version_status"]}


def _answer(server: ServerProcess) -> float:
    resp = requests.post(
        f"{server.rest}/v1/models/m:predict", json={"instances": [1.0]}, timeout=30
    )
    assert resp.status_code == 200, resp.text
    return resp.json()["predictions"][0]


def _publish(server: ServerProcess, staged: Path) -> str:
    """Copy ``staged`` in as the next version of ``m``; returns the version as status names it."""
    version = next_version(server.root / "m")
    copy_version(staged, server.root / "m", version)
    return str(version)


def _refused(server: ServerProcess, staged: Path) -> dict:
    """Publish ``staged``, wait until it is END, check the served version did not change, and
    return its status."""
    before = _answer(server)
    version = _publish(server, staged)
    assert wait_until(lambda: _status(server).get(version, {}).get("state") == "END"), server.log()
    assert _answer(server) == before  # the version already served stays served
    assert (
        requests.post(
            f"{server.rest}/v1/models/m/versions/{version}:predict",
            json={"instances": [1.0]},
            timeout=30,
        ).status_code
        == 404
    )
    return _status(server)[version]["status"]


def test_signed_version_is_served(server):
    assert _status(server)["1"]["state"] == "AVAILABLE"
    assert _answer(server) == 2.5


def test_unsigned_version_is_refused(server, golden_versions, tmp_path):
    status = _refused(server, _staged(golden_versions["two"], tmp_path / "v", None))
    assert status["error_code"] == "FAILED_PRECONDITION"
    assert "unsigned: no assets.extra/model.sig" in status["error_message"]


def test_version_signed_by_another_key_is_refused_without_retries(
    server, golden_versions, keys, tmp_path
):
    staged = _staged(golden_versions["two"], tmp_path / "v", keys["b"])
    version = next_version(server.root / "m")
    status = _refused(server, staged)
    assert status["error_code"] == "FAILED_PRECONDITION"
    assert "untrusted signature" in status["error_message"]
    assert "--trusted_signers" in status["error_message"]
    log = server.log_path.read_text()
    assert f"failed to load m version {version}:" in log
    assert f"failed to load m version {version} (attempt" not in log  # given up at once


def test_file_changed_after_signing_is_refused(server, golden_versions, keys, tmp_path):
    staged = _staged(golden_versions["two"], tmp_path / "v", keys["a"])
    _flip_byte(_data_file(staged))
    status = _refused(server, staged)
    assert status["error_code"] == "DATA_LOSS"
    assert "changed: variables/variables.data-" in status["error_message"]


def test_manifest_deleted_and_file_added_is_refused(server, golden_versions, keys, tmp_path):
    # the fail-open case: no manifest, an added file, and the server loaded it
    staged = _staged(golden_versions["two"], tmp_path / "v", keys["a"])
    mf.manifest_path(staged).unlink()
    (staged / "assets.extra" / "payload.bin").write_bytes(b"added")
    status = _refused(server, staged)
    assert status["error_code"] == "FAILED_PRECONDITION"
    assert "no assets.extra/manifest.json" in status["error_message"]


def test_rewritten_manifest_is_refused_by_the_signature(server, golden_versions, keys, tmp_path):
    staged = _staged(golden_versions["two"], tmp_path / "v", keys["a"])
    shutil.copy(_data_file(golden_versions["three"]), _data_file(staged))  # b = 3, not 2
    _write_integrity_manifest(staged)  # digests rewritten to match: the manifest alone passes
    status = _refused(server, staged)
    assert status["error_code"] == "DATA_LOSS"
    assert "signature mismatch" in status["error_message"]


def test_version_signed_by_the_second_trusted_key_replaces_the_served_one(
    server, golden_versions, keys, tmp_path
):
    before = [v for v, s in _status(server).items() if s["state"] == "AVAILABLE"]
    version = _publish(server, _staged(golden_versions["three"], tmp_path / "v", keys["c"]))
    assert wait_until(lambda: _status(server).get(version, {}).get("state") == "AVAILABLE"), (
        server.log()
    )
    assert _answer(server) == 3.5
    assert wait_until(lambda: all(_status(server)[v]["state"] == "END" for v in before))
