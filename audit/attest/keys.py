"""Keys: an EC (P-256, P-384, P-521) or Ed25519 private key from a PEM file, its passphrase from
:data:`audit.attest.PASSWORD_ENV`; public keys; signatures; the key's fingerprint (SHA-256 of its DER).

ECDSA uses the hash model_signing pairs with the curve (P-256 → SHA-256, P-384 → SHA-384, P-521 →
SHA-512), so ``model_signing verify key`` accepts what an EC key signs. (model_signing 1.1.1 accepts
EC keys only: with an Ed25519 key, ``llm360-audit verify`` is the verifier.)"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from audit.attest import PASSWORD_ENV

CURVES = {"secp256r1": ("ecdsa-p256-sha256", "SHA256"), "secp384r1": ("ecdsa-p384-sha384", "SHA384"),
          "secp521r1": ("ecdsa-p521-sha512", "SHA512")}  # fmt: skip


class KeyProblem(ValueError):
    """A key that cannot be used: one line, for the user."""


def _crypto():
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec, ed25519
    except ImportError:
        raise KeyProblem("signing needs the `cryptography` package: pip install 'llm360-audit[sign]'") from None
    return serialization, ec, ed25519


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise KeyProblem(f"{what} {path}: cannot read: {exc.strerror or exc}") from None


@dataclass(frozen=True)
class PublicKey:
    key: object  # cryptography EllipticCurvePublicKey | Ed25519PublicKey

    @property
    def algorithm(self) -> str:
        _, ec, _ = _crypto()
        return CURVES[self.key.curve.name][0] if isinstance(self.key, ec.EllipticCurvePublicKey) else "ed25519"

    def der(self) -> bytes:
        serialization, _, _ = _crypto()
        return self.key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)

    def pem(self) -> bytes:
        serialization, _, _ = _crypto()
        return self.key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the public key's DER (SubjectPublicKeyInfo), hex."""
        return hashlib.sha256(self.der()).hexdigest()

    @property
    def hint(self) -> str:
        """What model_signing records as the bundle's public-key hint: SHA-256 of the PEM, hex."""
        return hashlib.sha256(self.pem()).hexdigest()

    def verifies(self, signature: bytes, data: bytes) -> bool:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes

        _, ec, _ = _crypto()
        try:
            if isinstance(self.key, ec.EllipticCurvePublicKey):
                self.key.verify(signature, data, ec.ECDSA(getattr(hashes, CURVES[self.key.curve.name][1])()))
            else:
                self.key.verify(signature, data)
        except InvalidSignature:
            return False
        return True


def _supported(key: object, path: Path, what: str) -> None:
    _, ec, ed25519 = _crypto()
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        if key.curve.name not in CURVES:
            raise KeyProblem(f"{what} {path}: curve {key.curve.name} is not supported (use P-256, P-384, P-521 or Ed25519)")
        return
    if not isinstance(key, (ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey)):
        raise KeyProblem(f"{what} {path}: a {type(key).__name__.lstrip('_')} is not supported (use an EC P-256 or Ed25519 key)")


@dataclass(frozen=True)
class SigningKey:
    key: object  # cryptography EllipticCurvePrivateKey | Ed25519PrivateKey
    public: PublicKey

    def sign(self, data: bytes) -> bytes:
        from cryptography.hazmat.primitives import hashes

        _, ec, _ = _crypto()
        if isinstance(self.key, ec.EllipticCurvePrivateKey):
            return self.key.sign(data, ec.ECDSA(getattr(hashes, CURVES[self.key.curve.name][1])()))
        return self.key.sign(data)


def load_signing_key(path: Path) -> SigningKey:
    """The private key in PEM file ``path``; an encrypted one needs its passphrase in $LLM360_AUDIT_KEY_PASSWORD."""
    serialization, _, _ = _crypto()
    data = _read(path, "--sign-key")
    password = os.environ.get(PASSWORD_ENV)
    try:
        key = serialization.load_pem_private_key(data, password.encode() if password is not None else None)
    except TypeError:  # encrypted without a passphrase, or a passphrase for a key that is not encrypted
        if password is None:
            raise KeyProblem(f"--sign-key {path} is encrypted: set its passphrase in ${PASSWORD_ENV}") from None
        raise KeyProblem(f"--sign-key {path} is not encrypted: unset ${PASSWORD_ENV}") from None
    except ValueError as exc:
        if password is not None and any(w in str(exc).lower() for w in ("password", "decrypt")):
            raise KeyProblem(f"--sign-key {path}: wrong passphrase in ${PASSWORD_ENV}") from None
        raise KeyProblem(f"--sign-key {path} is not a PEM private key") from None
    except Exception:  # cryptography's UnsupportedAlgorithm and the like
        raise KeyProblem(f"--sign-key {path} is not a PEM private key this tool can use") from None
    _supported(key, path, "--sign-key")
    return SigningKey(key, PublicKey(key.public_key()))


def load_public_key(path: Path) -> PublicKey:
    serialization, _, _ = _crypto()
    data = _read(path, "--key")
    try:
        key = serialization.load_pem_public_key(data)
    except Exception:
        raise KeyProblem(f"--key {path} is not a PEM public key") from None
    _supported(key, path, "--key")
    return PublicKey(key)
