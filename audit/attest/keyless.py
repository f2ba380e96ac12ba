"""Keyless signing and verification through sigstore (``--sigstore``; ``verify --identity --issuer``): the
same DSSE statements as with a key, signed by a short-lived Fulcio certificate for an OIDC identity and
logged in Rekor, so that ``model_signing verify sigstore`` reads release.sig as it reads its own.

Needs the ``sigstore`` package (``pip install 'llm360-audit[sigstore]'``) and the network: the identity
token comes from ``$SIGSTORE_ID_TOKEN`` or the CI's ambient credentials (GitHub Actions with
``id-token: write``, and the other providers sigstore detects); no browser flow. Tests cover only the
offline paths (a missing or malformed token, an unreachable trust root); this machine has no network."""

from __future__ import annotations

import os
from dataclasses import dataclass

from audit.attest import REPORT_PREDICATE_TYPE, SealError
from audit.attest.dsse import BadSignature, statement_of
from audit.spec.report import Signing

TOKEN_ENV = "SIGSTORE_ID_TOKEN"


class KeylessProblem(ValueError):
    """Keyless signing or verification cannot start (one line, for the user)."""


def _sigstore():
    try:
        import sigstore.dsse  # noqa: F401
        import sigstore.oidc  # noqa: F401
    except ImportError:
        raise KeylessProblem("--sigstore needs the `sigstore` package: pip install 'llm360-audit[sigstore]'") from None
    import sigstore

    return sigstore


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:160]


def identity_token():
    """The OIDC identity token to sign with (raises :class:`KeylessProblem`)."""
    _sigstore()
    from sigstore.oidc import IdentityError, IdentityToken, detect_credential

    raw = os.environ.get(TOKEN_ENV)
    if not raw:
        try:
            raw = detect_credential()
        except Exception as exc:  # an ambient provider that is present but failing
            raise KeylessProblem(f"--sigstore: the CI's identity token could not be obtained: {_first_line(exc)}") from None
    if not raw:
        raise KeylessProblem(f"--sigstore needs an OIDC identity token: set ${TOKEN_ENV}, or run in a CI job with "
                             "ambient credentials (GitHub Actions: permissions id-token: write)")  # fmt: skip
    try:
        return IdentityToken(raw)
    except IdentityError as exc:
        raise KeylessProblem(f"--sigstore: ${TOKEN_ENV} is not a usable identity token: {_first_line(exc)}") from None


@dataclass
class KeylessSigner:
    """Signs DSSE payloads with a sigstore certificate for ``token``'s identity (one certificate per audit)."""

    token: object  # sigstore.oidc.IdentityToken

    def signing(self) -> Signing:
        return Signing(method="sigstore", algorithm="ecdsa-p256-sha256", identity=str(self.token.identity),
                       issuer=str(self.token.issuer), predicate_type=REPORT_PREDICATE_TYPE)  # fmt: skip

    def bundles(self, payloads: list[bytes]) -> list[str]:
        """A sigstore bundle (JSON) for each payload; raises :class:`audit.attest.SealError` (one line)."""
        from sigstore import dsse
        from sigstore.models import ClientTrustConfig
        from sigstore.sign import SigningContext

        try:
            context = SigningContext.from_trust_config(ClientTrustConfig.production())
            with context.signer(self.token) as signer:
                return [signer.sign_dsse(dsse.Statement(p)).to_json() for p in payloads]
        except Exception as exc:  # network, trust root, Fulcio or Rekor refusing: nothing is written
            raise SealError(f"--sigstore: signing failed ({type(exc).__name__}: {_first_line(exc)}); it needs network "
                            "access to sigstore (Fulcio, Rekor, its TUF trust root)") from None  # fmt: skip


@dataclass
class KeylessVerifier:
    """Opens bundles signed keyless by ``identity`` (as issued by ``issuer``)."""

    identity: str
    issuer: str
    _verifier: object = None

    def __post_init__(self) -> None:
        _sigstore()
        from sigstore.verify import Verifier

        try:
            self._verifier = Verifier.production()
        except Exception as exc:
            raise KeylessProblem(f"sigstore's trust root could not be loaded ({_first_line(exc)}): keyless "
                                 "verification needs network access to sigstore's TUF repository") from None  # fmt: skip

    @property
    def name(self) -> str:
        return f"{self.identity} ({self.issuer})"

    def open(self, text: str) -> dict:
        """The statement a keyless bundle carries once it verifies for the identity (raises :class:`BadSignature`)."""
        from sigstore.models import Bundle
        from sigstore.verify.policy import Identity

        try:
            bundle = Bundle.from_json(text)
        except Exception as exc:
            raise BadSignature(f"not a sigstore bundle ({_first_line(exc)})") from None
        try:
            _, payload = self._verifier.verify_dsse(bundle, Identity(identity=self.identity, issuer=self.issuer))
        except Exception as exc:
            raise BadSignature(f"does not verify for {self.name}: {_first_line(exc)}") from None
        return statement_of(payload)
