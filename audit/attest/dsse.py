"""DSSE envelopes (https://github.com/secure-systems-lab/dsse, v1.0.0) inside sigstore bundles v0.3 in
their public-key flavour, laid out as model_signing writes them (``verificationMaterial.publicKey.hint``
= SHA-256 of the public key's PEM, no transparency-log entries), so its verifier reads ours."""

from __future__ import annotations

import base64
import binascii
import json

from audit.attest.keys import PublicKey, SigningKey

BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
PAYLOAD_TYPE = "application/vnd.in-toto+json"


class BadSignature(ValueError):
    """A signature file that does not hold, for the user: one line."""


def pae(payload: bytes, payload_type: str = PAYLOAD_TYPE) -> bytes:
    """DSSE's pre-authentication encoding: what is actually signed."""
    t = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


def payload_bytes(statement: dict) -> bytes:
    """The statement as signed: canonical JSON (sorted keys, no spaces), UTF-8."""
    return json.dumps(statement, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def bundle(payload: bytes, key: SigningKey) -> str:
    """A sigstore bundle (JSON text) holding ``payload`` in a DSSE envelope signed by ``key``."""
    sig = key.sign(pae(payload))
    doc = {
        "mediaType": BUNDLE_MEDIA_TYPE,
        "verificationMaterial": {"publicKey": {"hint": key.public.hint}, "tlogEntries": []},
        "dsseEnvelope": {
            "payload": base64.b64encode(payload).decode(),
            "payloadType": PAYLOAD_TYPE,
            "signatures": [{"sig": base64.b64encode(sig).decode(), "keyid": key.public.fingerprint}],
        },
    }
    return json.dumps(doc, indent=2) + "\n"


def open_bundle(text: str, key: PublicKey) -> dict:
    """The statement a bundle carries, once its signature is checked against ``key`` (raises :class:`BadSignature`)."""
    try:
        doc = json.loads(text)
        env = doc["dsseEnvelope"]
        payload = base64.b64decode(env["payload"], validate=True)
        sigs = [(base64.b64decode(s["sig"], validate=True), s.get("keyid") or "") for s in env["signatures"]]
        payload_type = env["payloadType"]
        media = doc["mediaType"]
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise BadSignature("not a sigstore bundle with a DSSE envelope") from None
    if media != BUNDLE_MEDIA_TYPE or payload_type != PAYLOAD_TYPE:
        raise BadSignature(f"unexpected bundle ({media}) or payload type ({payload_type})")
    if not any(key.verifies(sig, pae(payload)) for sig, _ in sigs):
        signers = sorted({kid[:16] for _, kid in sigs if kid})
        by = f" (signed by key {', '.join(signers)})" if signers else ""
        raise BadSignature(f"the signature does not verify with key {key.fingerprint[:16]}{by}")
    return statement_of(payload)


def statement_of(payload: bytes) -> dict:
    """The in-toto statement a verified payload carries (raises :class:`BadSignature`)."""
    try:
        statement = json.loads(payload)
    except ValueError:
        raise BadSignature("the signed payload is not JSON") from None
    if not isinstance(statement, dict):
        raise BadSignature("the signed payload is not an in-toto statement")
    return statement
