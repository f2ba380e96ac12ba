"""Signed attestations (``--sign-key``, ``llm360-audit verify``): the release's files as an OpenSSF Model
Signing statement (``release.sig``) and the report's verdict as an llm360-audit statement (``report.sig``),
each an in-toto Statement v1 in a DSSE envelope inside a sigstore bundle (v0.3, public-key flavour).

Layout: ``keys`` (load, sign, verify, fingerprint), ``dsse`` (envelopes in bundles), ``statements`` (the two
statements), ``tree`` (the release's files as model_signing lists them, and their digests), ``seal`` (what
the audit writes), ``verify`` (what ``llm360-audit verify`` checks)."""

#: predicateType of report.sig (versioned; see README "Signed attestations").
REPORT_PREDICATE_TYPE = "https://llm360-audit.dev/attestation/v1"
#: predicateType of release.sig: the OpenSSF Model Signing (OMS) v1.0 predicate, as model_signing writes it.
OMS_PREDICATE_TYPE = "https://model_signing/signature/v1.0"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
RELEASE_SIG, REPORT_SIG = "release.sig", "report.sig"
#: The environment variable holding the private key's passphrase (never a command-line argument).
PASSWORD_ENV = "LLM360_AUDIT_KEY_PASSWORD"


class SealError(Exception):
    """Signing the artifacts failed for a reason the user can act on (one line); nothing is written."""
