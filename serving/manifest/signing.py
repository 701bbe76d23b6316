"""Sign a model version with OpenSSF model-signing, and check its signature against trusted keys.

The signature is ``assets.extra/model.sig`` beside the manifest: a Sigstore bundle that
`model-signing <https://github.com/sigstore/model-transparency>`_ writes, covering the SHA-256 of
every file of the version folder (the manifest included) except the signature itself. Keys are
elliptic-curve PEM keys (P-256, P-384 or P-521); key-based signing and verification work offline.
A version signed with model-signing's own command line verifies here too::

    model_signing sign key --private_key key.pem --signature 3/assets.extra/model.sig 3

model-signing is the optional ``sign`` extra (``pip install 'dlsuite[sign]'``); it is imported
only when a version is signed or verified.
"""

from __future__ import annotations

import ast
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dlsuite.serving.manifest.integrity import SIGNATURE_RELPATH, signature_path

_CURVES = ("secp256r1", "secp384r1", "secp521r1")  # the curves model-signing signs with


class SignatureError(Exception):
    """Why a version's signature is not accepted (one of the three subclasses)."""


class UnsignedVersion(SignatureError):
    """The version has no ``assets.extra/model.sig``."""


class UntrustedSignature(SignatureError):
    """The signature was not made by any of the trusted keys (or is not a valid key signature)."""


class SignatureMismatch(SignatureError):
    """The files differ from the ones a trusted key signed, or the signature file is damaged."""


def _model_signing() -> Any:
    try:
        import model_signing
    except ImportError:
        raise ValueError(
            "signing and verifying model versions needs model-signing: "
            "pip install 'dlsuite[sign]' (see constraints-sign.txt)"
        ) from None
    return model_signing


def _hashing_config(model_signing: Any) -> Any:
    """Every file of the version, SHA-256 per file, except the signature itself."""
    return model_signing.hashing.Config().set_ignored_paths(paths=[SIGNATURE_RELPATH])


def _check_curve(key: Any, what: str) -> None:
    curve = getattr(getattr(key, "curve", None), "name", None)
    if curve not in _CURVES:
        raise ValueError(
            f"{what} is not an elliptic-curve key on P-256, P-384 or P-521 (model-signing signs "
            "with those only; make one with: openssl ecparam -name prime256v1 -genkey -noout "
            "-out key.pem)"
        )


class VersionSigner:
    """Signs model version folders with one EC private key, loaded and checked when made.

    Args:
        private_key: path of an unencrypted PEM private key (``--sign KEY.pem``).
    """

    def __init__(self, private_key: str | os.PathLike[str]) -> None:
        from cryptography.hazmat.primitives.serialization import load_pem_private_key

        path = Path(private_key)
        if not path.is_file():
            raise FileNotFoundError(f"no such signing key: {path}")
        try:
            key = load_pem_private_key(path.read_bytes(), password=None)
        except TypeError:
            raise ValueError(
                f"signing key {path} is encrypted; give an unencrypted PEM key (no password "
                "is asked for)"
            ) from None
        except ValueError as err:
            raise ValueError(f"signing key {path} is not a PEM private key: {err}") from None
        _check_curve(key, f"signing key {path}")
        model_signing = _model_signing()
        self._config = (
            model_signing.signing.Config()
            .use_elliptic_key_signer(private_key=path)
            .set_hashing_config(_hashing_config(model_signing))
        )

    def sign(self, version_dir: str | os.PathLike[str]) -> Path:
        """Sign every file now in ``version_dir`` (write the manifest first); returns the
        signature path, ``assets.extra/model.sig``."""
        target = signature_path(version_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        self._config.sign(Path(version_dir), target)
        return target


def check_public_keys(public_keys: Sequence[str]) -> tuple[str, ...]:
    """Return the PEM public keys if each is an EC key model-signing verifies with, else raise
    `ValueError` naming the first that is not (or saying that model-signing is not installed)."""
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    _model_signing()  # a server started with trusted keys fails at once when it is missing
    if not public_keys:
        raise ValueError("no trusted public key given")
    for number, pem in enumerate(public_keys, 1):
        try:
            key = load_pem_public_key(pem.encode("utf-8"))
        except ValueError as err:
            raise ValueError(f"trusted key {number} is not a PEM public key: {err}") from None
        _check_curve(key, f"trusted key {number}")
    return tuple(public_keys)


def verify_signature(version_dir: str | os.PathLike[str], public_keys: Sequence[str]) -> int:
    """Check that ``version_dir`` is signed by one of ``public_keys`` (PEM) and matches what was
    signed; returns the index of that key.

    Raises `UnsignedVersion`, `UntrustedSignature` or `SignatureMismatch` with a readable reason.
    """
    from cryptography.exceptions import InvalidSignature

    root = Path(version_dir)
    signature = signature_path(root)
    if not signature.is_file():
        raise UnsignedVersion(
            f"unsigned: no {SIGNATURE_RELPATH} (sign versions with dlsuite export --sign KEY.pem)"
        )
    model_signing = _model_signing()
    with tempfile.TemporaryDirectory(prefix="dlsuite-keys-") as keys_dir:
        for index, pem in enumerate(check_public_keys(public_keys)):
            key_file = Path(keys_dir) / f"{index}.pem"
            key_file.write_text(pem, encoding="utf-8")
            config = model_signing.verifying.Config().use_elliptic_key_verifier(public_key=key_file)
            try:
                config.verify(root, signature)
            except InvalidSignature:
                continue  # a bundle naming this key whose signature does not verify with it
            except ValueError as err:
                text = str(err)
                if text.startswith("Key mismatch"):
                    continue  # signed with another key
                if text.startswith("Signature mismatch"):
                    raise SignatureMismatch(
                        f"signature mismatch: the files are not the ones signed by trusted key "
                        f"{index + 1} ({_describe_mismatch(text)})"
                    ) from None
                raise SignatureMismatch(f"unreadable {SIGNATURE_RELPATH}: {text}") from None
            except (KeyError, TypeError, AttributeError) as err:
                raise SignatureMismatch(
                    f"unreadable {SIGNATURE_RELPATH}: not a model-signing bundle "
                    f"({type(err).__name__}: {err})"
                ) from None
            return index
    raise UntrustedSignature(
        f"untrusted signature: {SIGNATURE_RELPATH} is not signed by any of the "
        f"{len(public_keys)} trusted key(s); only key signatures are accepted, not Sigstore ones"
    )


def _describe_mismatch(text: str) -> str:
    """model-signing's mismatch message (``Signature mismatch: [...]``, a list of lines) without
    the raw digests: ``changed: a; added: b, c; missing: d``."""
    try:
        lines = ast.literal_eval(text.removeprefix("Signature mismatch: "))
    except (ValueError, SyntaxError):
        return text
    parts = []
    for line in lines if isinstance(lines, list) else [text]:
        line = str(line)
        if line.startswith("Hash mismatch for '"):
            parts.append("changed: " + line.removeprefix("Hash mismatch for '").split("': ")[0])
        elif line.startswith(("Extra files found in model '", "Missing files in model '")):
            kind = "added" if line.startswith("Extra") else "missing"
            names = line.split("': ", 1)[-1]
            parts.append(f"{kind}: {names}")
        else:
            parts.append(line)
    return "; ".join(parts)
