"""What ``--sign-key`` adds to the report directory: ``release.sig`` over every file of the release (the
digests the audit verified, the others through the hash cache), ``report.sig`` over ``llm360.yaml`` and
``report.json``, and badges that carry the report statement's digest."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from audit.attest import RELEASE_SIG, REPORT_PREDICATE_TYPE, REPORT_SIG, SealError
from audit.attest.dsse import bundle, payload_bytes
from audit.attest.keys import SigningKey
from audit.attest.statements import release_statement, report_statement
from audit.attest.tree import TreeProblem, digests, release_files
from audit.render.badges import render_badges
from audit.spec.report import Report, Signing


@dataclass(frozen=True)
class KeySigner:
    """Signs with a private key (``--sign-key``)."""

    key: SigningKey

    def signing(self) -> Signing:
        return Signing(method="key", key_fingerprint=self.key.public.fingerprint, algorithm=self.key.public.algorithm,
                       predicate_type=REPORT_PREDICATE_TYPE)  # fmt: skip

    def bundles(self, payloads: list[bytes]) -> list[str]:
        return [bundle(p, self.key) for p in payloads]


class Signer(Protocol):
    def signing(self) -> Signing: ...

    def bundles(self, payloads: list[bytes]) -> list[str]: ...


@dataclass(frozen=True)
class Sealer:
    signer: Signer  # KeySigner, or audit.attest.keyless.KeylessSigner
    root: Path  # resolved
    cache_dir: Path | None  # the audit's hash cache; None: --no-cache

    def stamp(self, report: Report) -> Report:
        """The report, saying who signs it (the HTML shows the key's fingerprint or the identity)."""
        return report.model_copy(update={"signing": self.signer.signing()})

    def seal(self, report: Report, rendered: dict[str, str], known: dict[str, str]) -> dict[str, str]:
        """The signatures and the badges that name them, keyed by path relative to --out.

        Raises :class:`audit.attest.SealError` when the release cannot be listed or read, or signing fails."""
        try:
            files = digests(self.root, release_files(self.root), known, self.cache_dir)
        except TreeProblem as exc:
            raise SealError(str(exc)) from None
        except OSError as exc:
            raise SealError(f"{exc.filename or self.root}: cannot read: {exc.strerror or exc}") from None
        time = dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
        report_sha = hashlib.sha256(rendered["report.json"].encode()).hexdigest()
        release_payload = payload_bytes(release_statement(self.root.name, files))
        report_payload = payload_bytes(report_statement(report, files.get("llm360.yaml"), report_sha, time))
        release_sig, report_sig = self.signer.bundles([release_payload, report_payload])
        out = {RELEASE_SIG: release_sig, REPORT_SIG: report_sig}
        out.update(render_badges(report, statement_sha256=hashlib.sha256(report_payload).hexdigest()))
        return out
