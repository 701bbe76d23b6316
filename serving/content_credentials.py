"""C2PA Content Credentials on synthetic images: sign PNG, JPEG and GIF bytes, and read them.

The industry format for "this image was made by an AI model" (EU AI Act Art. 50(2)) is a C2PA
manifest embedded in the image (a ``caBX`` chunk in a PNG, APP11 segments in a JPEG, an
application extension in a GIF), signed with an X.509 certificate. It is written and read here
with c2pa-python, the binding of the C2PA reference library c2pa-rs (the optional ``sign`` extra,
``pip install 'dlsuite[sign]'``, imported only when an image is signed or read). Each manifest
holds (`sign_image`):

- ``claim_generator_info`` ``dlsuite/<version>`` and a ``title``;
- ``c2pa.actions``: one ``c2pa.created`` action whose ``digitalSourceType`` is the IPTC term
  ``trainedAlgorithmicMedia`` and whose ``softwareAgent`` names the model and its version (the
  place C2PA 2.x gives to the AI system that made the content);
- ``org.dlsuite.model`` (`MODEL_ASSERTION`, a custom assertion as C2PA allows under an entity's own
  label): model, version and training run. C2PA has no standard field for a training run
  (``c2pa.training-mining`` says whether the asset may be used *for* training; the schema.org
  CreativeWork assertion is deprecated since C2PA 2.0).

No thumbnail is embedded (it would make a 1 KB sample 130 KB) and nothing touches the network: no
timestamp authority (so the credentials are checked against the certificate's validity at
reading time, not at signing time), no OCSP, no remote manifests.

**Who signs.** With the user's certificate (`load_credentials`, ``--c2pa-cert/--c2pa-key``;
``dlsuite serve --c2pa_cert/--c2pa_key``) the credentials say who vouches for the image. Without
one, each process makes its own test chain in memory (`make_test_chain`: a root CA and a signing
certificate, ECDSA P-256, organisation `TEST_CHAIN_ORGANIZATION`); its key is never written and its
root is thrown away, so nobody can trust it: the credentials are then valid (the image has not
changed since it was signed, and it says what made it) but untrusted, and `read_credentials`
reports them as signed by a test certificate. ``dlsuite c2pa-test-cert DIR`` writes a test chain
to files, for trying ``--c2pa-cert`` and ``dlsuite detect-mark --c2pa-trust``.

**Certificates** (C2PA 2.x, "X.509 certificates", checked by `check_signing_certificate`): an
end-entity certificate (not a CA) issued by a CA (not self-signed), key usage digitalSignature,
an extended key usage of emailProtection, documentSigning or C2PA claim signing, an authority key
identifier, valid now, and an ECDSA P-256/P-384/P-521, RSA (PSS, at least 2048 bits) or Ed25519
key. c2pa-rs's default settings accept emailProtection only (a reader with its defaults reports
the other two invalid), so the test chain uses emailProtection.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import io
import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dlsuite.base.files import atomic_write_bytes, read_json
from dlsuite.base.version import suite_version
from dlsuite.serving.marking import IPTC_SYNTHETIC

log = logging.getLogger("dlsuite.c2pa")

CREATED_ACTION = "c2pa.created"
MODEL_ASSERTION = "org.dlsuite.model"
SPEC = "C2PA 2.x (claim version 2, c2pa.actions.v2)"
TEST_CHAIN_ORGANIZATION = "dlsuite C2PA test chain (untrusted)"
TEST_CHAIN_DAYS = 3650
TEST_CHAIN_FILES = {"cert": "chain.pem", "key": "key.pem", "root": "root.pem"}
INSTALL_HINT = "pip install 'dlsuite[sign]' (see constraints-sign.txt)"
# Extended key usages C2PA 2.x allows on a claim-signing certificate.
ALLOWED_EKUS = {
    "1.3.6.1.5.5.7.3.4": "emailProtection",
    "1.3.6.1.5.5.7.3.36": "documentSigning",
    "1.3.6.1.4.1.62558.2.1": "c2pa-kp-claimSigning",
}
_ANY_EKU = "2.5.29.37.0"
_MIME_BY_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


def _c2pa() -> Any:
    try:
        import c2pa
    except ImportError:
        raise ValueError(f"C2PA Content Credentials need c2pa-python: {INSTALL_HINT}") from None
    return c2pa


def available() -> bool:
    """Whether c2pa-python (and cryptography) are installed, so images can be signed and read."""
    try:
        _c2pa()
        import cryptography  # noqa: F401
    except (ValueError, ImportError):
        return False
    return True


def image_mime(data: bytes) -> str | None:
    """The MIME type of PNG, JPEG or GIF bytes (from their first bytes), else None."""
    return next((mime for magic, mime in _MIME_BY_MAGIC if data.startswith(magic)), None)


def _settings(trust_anchors: str | None = None) -> dict[str, Any]:
    """c2pa-rs settings: no network, no thumbnail, the EKUs C2PA allows, ``trust_anchors``.

    Signing does not verify what it wrote (a third of its cost): `load_credentials` checks once
    that the credentials a certificate signs read back valid."""
    trust: dict[str, Any] = {"trust_config": "\n".join(ALLOWED_EKUS) + "\n"}
    if trust_anchors:
        trust["user_anchors"] = trust_anchors
    return {
        "verify": {"remote_manifest_fetch": False, "ocsp_fetch": False, "verify_after_sign": False},
        "builder": {"thumbnail": {"enabled": False}},
        "trust": trust,
    }


@functools.cache
def _signing_context() -> Any:
    """The c2pa Context every signature uses (made once; c2pa-python shares contexts safely)."""
    return _c2pa().Context.from_dict(_settings())


@functools.cache
def _claim_generator() -> list[dict[str, str]]:
    return [{"name": "dlsuite", "version": suite_version()}]


# ------------------------------------------------------------------ certificates


@dataclasses.dataclass(frozen=True)
class SigningCredentials:
    """A C2PA signing certificate chain and its private key (PEM text; picklable, so a server's
    worker processes sign with the same chain).

    Attributes:
        chain_pem: the signing certificate first, then the certificates that issued it.
        key_pem: the private key, PKCS#8.
        algorithm: the COSE algorithm c2pa-python names (``es256``, ``ps256``, ``ed25519``, ...).
        subject: the signing certificate's subject (RFC 4514).
        test_chain: made by `make_test_chain` (trusted by nobody).
    """

    chain_pem: str
    key_pem: str = dataclasses.field(repr=False)
    algorithm: str
    subject: str
    test_chain: bool

    def describe(self) -> str:
        """One line for logs and reports: who signs, and whether that certificate is a test one."""
        kind = "untrusted test certificate" if self.test_chain else "certificate"
        return f"{kind} {self.subject} ({self.algorithm.upper()})"


def _algorithm(key: Any) -> str:
    """The C2PA signing algorithm of a private key, or ValueError naming the key."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if isinstance(key, ec.EllipticCurvePrivateKey):
        curves = {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}
        if key.curve.name in curves:
            return curves[key.curve.name]
        kind = f"an elliptic-curve key on {key.curve.name}"
    elif isinstance(key, rsa.RSAPrivateKey):
        if key.key_size >= 2048:
            return "ps256"
        kind = f"a {key.key_size}-bit RSA key"
    elif isinstance(key, ed25519.Ed25519PrivateKey):
        return "ed25519"
    else:
        kind = f"a {type(key).__name__}"
    raise ValueError(
        f"the key is {kind}; C2PA signs with ECDSA on P-256, P-384 or P-521 (ES256/384/512), "
        "RSA-PSS of at least 2048 bits or Ed25519"
    )


def _public_der(key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def check_signing_certificate(chain: Sequence[Any]) -> None:
    """Raise ValueError saying why ``chain`` (cryptography certificates, the signing certificate
    first, then its issuers) cannot sign C2PA manifests; return if it can."""
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature

    cert = chain[0]
    now = dt.datetime.now(dt.UTC)
    ext = cert.extensions

    def extension(kind: Any) -> Any:
        try:
            return ext.get_extension_for_class(kind).value
        except x509.ExtensionNotFound:
            return None

    if cert.version != x509.Version.v3:
        raise ValueError(f"it is an X.509 {cert.version.name} certificate; C2PA needs v3")
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise ValueError(
            f"it is valid from {cert.not_valid_before_utc:%Y-%m-%d %H:%M} to "
            f"{cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC, not now"
        )
    constraints = extension(x509.BasicConstraints)
    if constraints is not None and constraints.ca:
        raise ValueError(
            "it is a CA certificate (basicConstraints cA=TRUE); sign with an end-entity "
            "certificate that the CA issued"
        )
    if cert.issuer == cert.subject:
        raise ValueError(
            "it is self-signed; a C2PA signing certificate is issued by a CA, so that verifiers "
            "can chain it to a root they trust (make a test chain with: dlsuite c2pa-test-cert DIR)"
        )
    usage = extension(x509.KeyUsage)
    if usage is None or not usage.digital_signature:
        raise ValueError("its key usage does not include digitalSignature")
    if usage.key_cert_sign:
        raise ValueError("its key usage includes keyCertSign, which only CA certificates have")
    ekus = extension(x509.ExtendedKeyUsage)
    oids = [oid.dotted_string for oid in ekus] if ekus is not None else []
    if _ANY_EKU in oids:
        raise ValueError("its extended key usage includes anyExtendedKeyUsage, which C2PA refuses")
    if not set(oids) & set(ALLOWED_EKUS):
        allowed = ", ".join(f"{name} ({oid})" for oid, name in ALLOWED_EKUS.items())
        have = ", ".join(oids) or "none"
        raise ValueError(f"its extended key usages ({have}) include none of {allowed}")
    if extension(x509.AuthorityKeyIdentifier) is None:
        raise ValueError(
            "it has no authority key identifier extension, which c2pa-rs requires of a "
            "certificate a CA issued"
        )
    for position, (child, parent) in enumerate(zip(chain, chain[1:], strict=False), start=1):
        try:
            child.verify_directly_issued_by(parent)
        except (ValueError, TypeError, InvalidSignature):
            raise ValueError(
                f"certificate {position + 1} of the chain did not issue certificate {position}: "
                "give the signing certificate first, then the certificates that issued it, in order"
            ) from None


def _read_file(path: str | os.PathLike[str], what: str) -> bytes:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} does not exist")
    return path.read_bytes()


def load_credentials(
    cert_path: str | os.PathLike[str], key_path: str | os.PathLike[str]
) -> SigningCredentials:
    """Read and check a user's certificate chain and private key (unencrypted PEM files).

    Raises FileNotFoundError for a missing file and ValueError saying what is wrong: not PEM, an
    encrypted key, a key that does not belong to the certificate, a certificate C2PA does not
    accept (`check_signing_certificate`) or one that c2pa-rs refuses when it signs a test image.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    chain_bytes = _read_file(cert_path, "C2PA certificate chain file")
    key_bytes = _read_file(key_path, "C2PA private key file")
    try:
        chain = x509.load_pem_x509_certificates(chain_bytes)
    except ValueError as err:
        raise ValueError(
            f"{cert_path} is not a PEM certificate chain (-----BEGIN CERTIFICATE----- blocks, the "
            f"signing certificate first): {err}"
        ) from None
    try:
        key = serialization.load_pem_private_key(key_bytes, password=None)
    except TypeError:
        raise ValueError(
            f"{key_path} is an encrypted private key; give it unencrypted (a 0600 file), e.g. "
            "openssl pkey -in encrypted.pem -out key.pem"
        ) from None
    except ValueError as err:
        raise ValueError(f"{key_path} is not a PEM private key: {err}") from None
    if _public_der(key.public_key()) != _public_der(chain[0].public_key()):
        raise ValueError(
            f"the private key {key_path} does not belong to the first certificate of {cert_path} "
            f"({chain[0].subject.rfc4514_string()})"
        )
    try:
        algorithm = _algorithm(key)
        check_signing_certificate(chain)
    except ValueError as err:
        raise ValueError(f"{cert_path} cannot sign C2PA Content Credentials: {err}") from None
    credentials = SigningCredentials(
        chain_pem="".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in chain),
        key_pem=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode(),
        algorithm=algorithm,
        subject=chain[0].subject.rfc4514_string(),
        test_chain=False,
    )
    try:
        probe = sign_image(_probe_png(), credentials, model="probe", version=0, run=None, title="")
    except RuntimeError as err:
        raise ValueError(f"c2pa-rs refuses to sign with {cert_path}: {err}") from None
    report = read_credentials(probe)
    if not report["valid"]:
        failures = ", ".join(report["status_codes"]["failure"])
        raise ValueError(f"c2pa-rs finds the credentials {cert_path} signs invalid: {failures}")
    return credentials


@functools.cache
def _probe_png() -> bytes:
    """A 1x1 grey PNG (for checking that a certificate signs)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (1, 1), 128).save(buffer, format="PNG")
    return buffer.getvalue()


def make_test_chain(days: int = TEST_CHAIN_DAYS) -> tuple[SigningCredentials, str]:
    """A fresh test chain: ``(credentials, root_pem)``; ECDSA P-256 root CA and signing
    certificate (emailProtection), organisation `TEST_CHAIN_ORGANIZATION`, valid for ``days``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    def name(common_name: str) -> Any:
        return x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, TEST_CHAIN_ORGANIZATION),
                x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            ]
        )

    def usage(*, signer: bool) -> Any:
        return x509.KeyUsage(
            digital_signature=signer,
            content_commitment=False,
            key_encipherment=False,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=not signer,
            crl_sign=not signer,
            encipher_only=False,
            decipher_only=False,
        )

    start = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)  # a little clock skew is fine
    end = start + dt.timedelta(days=days)
    root_key = ec.generate_private_key(ec.SECP256R1())
    signer_key = ec.generate_private_key(ec.SECP256R1())
    root = (
        x509.CertificateBuilder()
        .subject_name(name("dlsuite C2PA test root"))
        .issuer_name(name("dlsuite C2PA test root"))
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage(signer=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), False)
        .sign(root_key, hashes.SHA256())
    )
    signer = (
        x509.CertificateBuilder()
        .subject_name(name("dlsuite C2PA test signer"))
        .issuer_name(root.subject)
        .public_key(signer_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage(signer=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(signer_key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), False
        )
        .sign(root_key, hashes.SHA256())
    )
    credentials = SigningCredentials(
        chain_pem=signer.public_bytes(serialization.Encoding.PEM).decode(),
        key_pem=signer_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode(),
        algorithm="es256",
        subject=signer.subject.rfc4514_string(),
        test_chain=True,
    )
    return credentials, root.public_bytes(serialization.Encoding.PEM).decode()


def write_test_chain(folder: str | os.PathLike[str]) -> dict[str, Path]:
    """Write a fresh test chain into ``folder``: ``chain.pem`` (the signing certificate, for
    ``--c2pa-cert``), ``key.pem`` (its private key, mode 0600, for ``--c2pa-key``) and
    ``root.pem`` (the trust anchor, for ``detect-mark --c2pa-trust``). Each file is written to a
    temporary name and renamed; an existing key is never overwritten."""
    folder = Path(folder)
    paths = {role: folder / filename for role, filename in TEST_CHAIN_FILES.items()}
    existing = [str(path) for path in paths.values() if path.exists()]
    if existing:
        raise ValueError(
            f"{', '.join(existing)} already exist(s); choose an empty folder or remove them"
        )
    credentials, root_pem = make_test_chain()
    # atomic_write_bytes writes through mkstemp, which creates the file with mode 0600
    atomic_write_bytes(paths["key"], credentials.key_pem.encode())
    atomic_write_bytes(paths["cert"], credentials.chain_pem.encode())
    atomic_write_bytes(paths["root"], root_pem.encode())
    return paths


@functools.cache
def _process_test_chain() -> SigningCredentials | None:
    """This process's test chain, made on first use; None (said once) without c2pa-python."""
    if not available():
        log.warning(
            "images are written and served without C2PA Content Credentials: c2pa-python is "
            "not installed (%s)",
            INSTALL_HINT,
        )
        return None
    credentials, _root = make_test_chain()
    log.warning(
        "C2PA Content Credentials are signed with a test certificate made for this process "
        "(untrusted: its root is not kept); give your own with --c2pa-cert/--c2pa-key "
        "(dlsuite serve: --c2pa_cert/--c2pa_key)"
    )
    return credentials


def check_cert_and_key(cert: str | None, key: str | None) -> None:
    """Raise ValueError unless both or neither of the certificate and key paths are given."""
    if (cert is None) != (key is None):
        raise ValueError(
            "the C2PA certificate chain and private key go together: give both (--c2pa-cert and "
            "--c2pa-key; dlsuite serve: --c2pa_cert and --c2pa_key) or neither. "
            f"Received: cert={cert!r}, key={key!r}"
        )


def signing_credentials(cert: str | None, key: str | None) -> SigningCredentials | None:
    """What the suite signs images with: the user's chain (``cert`` and ``key`` paths,
    `load_credentials`), or, with neither, this process's test chain; None (and a warning) when
    neither is given and c2pa-python is not installed."""
    check_cert_and_key(cert, key)
    if cert is not None and key is not None:
        _c2pa()  # a clear error naming the install command before the certificate checks
        return load_credentials(cert, key)
    return _process_test_chain()


# ------------------------------------------------------------------ signing


def sign_image(
    data: bytes,
    credentials: SigningCredentials,
    *,
    model: str,
    version: str | int,
    run: str | None,
    title: str,
) -> bytes:
    """PNG, JPEG or GIF bytes with an embedded, signed C2PA manifest: a ``c2pa.created`` action
    (digital source type trainedAlgorithmicMedia, software agent ``model`` ``version``) and the
    `MODEL_ASSERTION` naming model, version and ``run``. The pixels are not changed.

    Raises ValueError for other formats and RuntimeError when c2pa-rs cannot sign.
    """
    mime = image_mime(data)
    if mime is None:
        raise ValueError(
            f"C2PA signing takes PNG, JPEG or GIF bytes. Received bytes starting {data[:8]!r}"
        )
    c2pa = _c2pa()
    manifest = {
        "claim_generator_info": _claim_generator(),
        "title": title,
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {
                    "actions": [
                        {
                            "action": CREATED_ACTION,
                            "digitalSourceType": IPTC_SYNTHETIC,
                            "softwareAgent": {"name": str(model), "version": str(version)},
                        }
                    ]
                },
            },
            {
                "label": MODEL_ASSERTION,
                "data": {"model": str(model), "version": str(version), "run": run},
            },
        ],
    }
    info = c2pa.C2paSignerInfo(
        credentials.algorithm,
        credentials.chain_pem.encode(),
        credentials.key_pem.encode(),
        None,  # no timestamp authority: nothing goes over the network
    )
    signed = io.BytesIO()
    try:
        with c2pa.Signer.from_info(info) as signer:
            builder = c2pa.Builder(manifest, context=_signing_context())
            builder.sign(signer, mime, io.BytesIO(data), signed)
    except c2pa.C2paError as err:
        raise RuntimeError(f"C2PA signing failed: {err}") from None
    return signed.getvalue()


@dataclasses.dataclass(frozen=True)
class ImageSigner:
    """Signs the images one served model version returns (`sign_outputs`)."""

    credentials: SigningCredentials
    model: str
    version: int
    run: str | None

    def sign_outputs(self, outputs: Mapping[str, Any]) -> dict[str, Any]:
        """``outputs`` (name -> numpy array) with every PNG, JPEG or GIF element of a string
        tensor replaced by the same image with Content Credentials; other values unchanged."""
        import numpy as np

        signed = {}
        for name, values in outputs.items():
            if not (isinstance(values, np.ndarray) and values.dtype == object):
                signed[name] = values
                continue
            out = values.copy()
            for index, item in np.ndenumerate(values):
                if isinstance(item, bytes) and image_mime(item) is not None:
                    out[index] = sign_image(
                        item,
                        self.credentials,
                        model=self.model,
                        version=self.version,
                        run=self.run,
                        title=f"{self.model} version {self.version}, output {name}{list(index)}",
                    )
            signed[name] = out
        return signed


def served_image_signer(
    credentials: SigningCredentials | None,
    version_dir: str | os.PathLike[str],
    name: str,
    version: int,
) -> ImageSigner | None:
    """The `ImageSigner` of a model version whose manifest (``assets.extra/manifest.json``) has a
    ``synthetic_content_marking`` section, naming the version's training run; None for other
    versions. ``credentials`` None: the process's test chain, made when the first marked version
    loads (so a server without generative models says nothing about certificates); None as well
    when c2pa-python is not installed."""
    from dlsuite.serving.manifest import manifest_path

    path = manifest_path(version_dir)
    if not path.is_file():
        return None
    manifest = read_json(path)
    if "synthetic_content_marking" not in manifest:
        return None
    signer = credentials or _process_test_chain()
    if signer is None:
        return None
    run = (manifest.get("training") or {}).get("run_id")
    return ImageSigner(signer, name, version, run)


# ------------------------------------------------------------------ reading


def read_trust_anchors(path: str | os.PathLike[str]) -> str:
    """The PEM certificates of a trust-anchor file (``--c2pa-trust``), checked."""
    _c2pa()  # a clear error naming the install command
    from cryptography import x509

    data = _read_file(path, "C2PA trust anchor file")
    try:
        x509.load_pem_x509_certificates(data)
    except ValueError as err:
        raise ValueError(
            f"{path} holds no PEM certificate (-----BEGIN CERTIFICATE-----): {err}"
        ) from None
    return data.decode()


def _empty_report(error: str | None) -> dict[str, Any]:
    return {
        "present": False,
        "valid": False,
        "trusted": False,
        "ai_generated": False,
        "state": None,
        "error": error,
    }


def read_credentials(data: bytes, trust_anchors: str | None = None) -> dict[str, Any]:
    """The Content Credentials of an encoded image, validated by c2pa-rs.

    ``trust_anchors``: PEM root certificates to trust (none by default: no trust list is built
    in or fetched, so without them no signature is ``trusted``). Returns ``present``, ``valid``
    (signature, certificate and content hashes check out: state Valid or Trusted), ``trusted``
    (state Trusted: the chain ends at one of ``trust_anchors``), ``state``, ``test_certificate``
    (signed by a dlsuite test chain), ``issuer``, ``signer``, ``claim_generator``, ``title``,
    ``actions``, ``digital_source_type``, ``model`` / ``version`` (the created action's software
    agent), ``run`` (`MODEL_ASSERTION`), ``ai_generated`` (valid, created as
    trainedAlgorithmicMedia), ``spec_version`` and the ``status_codes`` (success, informational,
    failure); ``error`` says why nothing could be read (unsupported format, damaged manifest,
    c2pa-python missing).
    """
    try:
        c2pa = _c2pa()
    except ValueError as err:
        return _empty_report(f"not checked: {err}")
    try:
        with c2pa.Context.from_dict(_settings(trust_anchors)) as context:
            reader = c2pa.Reader.try_create(None, io.BytesIO(data), None, context)
            if reader is None:
                return _empty_report(None)
            with reader:
                store = json.loads(reader.json())
    except c2pa.C2paError.NotSupported:
        return _empty_report("not checked: C2PA does not cover this image format")
    except c2pa.C2paError as err:
        return _empty_report(f"unreadable: {err}")
    manifest = store["manifests"][store["active_manifest"]]
    assertions = {a["label"]: a.get("data") or {} for a in manifest.get("assertions", [])}
    actions = [
        action
        for label, value in assertions.items()
        if label.split(".v")[0] == "c2pa.actions"
        for action in value.get("actions", [])
    ]
    created: dict[str, Any] = next((a for a in actions if a.get("action") == CREATED_ACTION), {})
    agent = created.get("softwareAgent") or {}
    signature = manifest.get("signature_info") or {}
    results = (store.get("validation_results") or {}).get("activeManifest") or {}
    state = store.get("validation_state")
    valid = state in ("Valid", "Trusted")
    source_type = created.get("digitalSourceType")
    generators = manifest.get("claim_generator_info") or [{}]
    return {
        "present": True,
        "valid": valid,
        "trusted": state == "Trusted",
        "ai_generated": valid and source_type == IPTC_SYNTHETIC,
        "state": state,
        "error": None,
        "test_certificate": signature.get("issuer") == TEST_CHAIN_ORGANIZATION,
        "issuer": signature.get("issuer"),
        "signer": signature.get("common_name"),
        "algorithm": signature.get("alg"),
        "claim_generator": "/".join(
            str(generators[0][k]) for k in ("name", "version") if k in generators[0]
        ),
        "claim_version": manifest.get("claim_version"),
        "title": manifest.get("title"),
        "actions": [a.get("action") for a in actions],
        "digital_source_type": source_type,
        "model": agent.get("name") if isinstance(agent, dict) else agent,
        "version": agent.get("version") if isinstance(agent, dict) else None,
        "run": assertions.get(MODEL_ASSERTION, {}).get("run"),
        "spec_version": (store.get("validation_results") or {}).get("specVersion"),
        "status_codes": {
            kind: [item["code"] for item in results.get(kind, [])]
            for kind in ("success", "informational", "failure")
        },
    }


def manifest_section() -> dict[str, Any]:
    """The ``content_credentials`` entry of the manifest's ``synthetic_content_marking``
    section: what the dlsuite server embeds in every image a marked model returns."""
    return {
        "embedded": (
            "by the dlsuite server (dlsuite serve) in every PNG, JPEG or GIF output of this "
            "version, after the model call (REST, gRPC and KServe V2 alike); not by "
            "tensorflow_model_server (--backend tfserving)"
        ),
        "standard": f"{SPEC}, written and verified with the C2PA reference library c2pa-rs",
        "content": (
            f"a {CREATED_ACTION} action with IPTC digital source type trainedAlgorithmicMedia and "
            "the model name and version as software agent; the assertion "
            f"{MODEL_ASSERTION} naming model, version and training run; claim generator dlsuite"
        ),
        "signer": (
            "the certificate given to dlsuite serve --c2pa_cert/--c2pa_key; without one, an "
            "untrusted test certificate the server makes at start-up (reported as such)"
        ),
        "limits": (
            "no timestamp authority (credentials verify while the certificate is valid); removed "
            "by any re-encoding or metadata stripping; a signature proves integrity and who "
            "signed, not that the content is true"
        ),
        "detection": "dlsuite detect-mark IMAGE [--c2pa-trust ROOTS.pem], or any C2PA reader",
    }
