"""``llm360-audit verify``: both signatures hold for the key, the release's files still have the signed
digests (through the hash cache: unchanged files cost a lookup), and the report directory's report.json
and the release's llm360.yaml are the ones signed. Every difference is one line."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from audit.attest import RELEASE_SIG, REPORT_PREDICATE_TYPE, REPORT_SIG, STATEMENT_TYPE
from audit.attest.dsse import BadSignature, open_bundle, payload_bytes
from audit.attest.keys import PublicKey
from audit.attest.statements import release_statement, signed_files
from audit.attest.tree import TreeProblem, digests, release_files


class Unreadable(ValueError):
    """A file that exists but cannot be read (permissions, a directory): a usage error, one line."""


@dataclass
class Verification:
    differences: list[str] = field(default_factory=list)
    claim: dict | None = None  # report.sig's predicate, once its signature holds
    files: int = 0  # files release.sig lists
    statement_sha256: str | None = None  # of report.sig's statement (canonical JSON), as the badges carry it

    @property
    def ok(self) -> bool:
        return not self.differences


def _read(path: Path) -> str | None:
    """The file's text; None when it does not exist (raises :class:`Unreadable`)."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise Unreadable(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None


class Opener(Protocol):
    """Opens a signature file's bundle: the statement once its signature holds (raises BadSignature)."""

    name: str

    def open(self, text: str) -> dict: ...


@dataclass(frozen=True)
class KeyOpener:
    key: PublicKey

    @property
    def name(self) -> str:
        return f"key {self.key.fingerprint[:16]}"

    def open(self, text: str) -> dict:
        return open_bundle(text, self.key)


def _statement(path: Path, opener: Opener, out: Verification) -> dict | None:
    text = _read(path)
    if text is None:
        out.differences.append(f"{path.name}: missing (not a signed audit, or signed into another directory)")
        return None
    try:
        return opener.open(text)
    except BadSignature as exc:
        out.differences.append(f"{path.name}: {exc}")
        return None


def _compare(root: Path, signed: dict[str, str], cache_dir: Path | None, out: Verification) -> dict[str, str]:
    """Differences between the signed files and the release's; returns the current digests computed."""
    try:
        present = release_files(root)
    except (TreeProblem, OSError) as exc:
        out.differences.append(f"{root}: {exc}")
        return {}
    try:
        current = digests(root, [n for n in present if n in signed], {}, cache_dir)
    except OSError as exc:
        raise Unreadable(f"{exc.filename}: cannot read: {exc.strerror or exc}") from None
    for name in sorted(set(signed) | set(present)):
        if name not in present:
            out.differences.append(f"{name}: missing")
        elif name not in signed:
            out.differences.append(f"{name}: not signed")
        elif current[name] != signed[name]:
            out.differences.append(f"{name}: expected sha256 {signed[name]}, actual {current[name]}")
    return current


def _subjects(statement: dict, root: Path, report_dir: Path, current: dict[str, str], out: Verification) -> None:
    try:
        subjects = {s["name"]: s["digest"]["sha256"] for s in statement["subject"]}
    except (KeyError, TypeError):
        out.differences.append(f"{REPORT_SIG}: its subjects are not name + sha256")
        return
    places = {"report.json": report_dir / "report.json", "llm360.yaml": root / "llm360.yaml"}
    for name, path in places.items():
        if name not in subjects:
            if path.exists():  # a release without a manifest is signed without that subject
                out.differences.append(f"{name}: not signed")
            continue
        actual = current.get(name) if name == "llm360.yaml" else None
        if actual is None:
            try:
                actual = hashlib.sha256(path.read_bytes()).hexdigest()
            except FileNotFoundError:
                out.differences.append(f"{name}: missing")
                continue
            except OSError as exc:
                raise Unreadable(f"{path}: cannot read: {exc.strerror or exc}") from None
        if actual != subjects[name]:
            out.differences.append(f"{name}: expected sha256 {subjects[name]}, actual {actual}")


def verify(root: Path, report_dir: Path, opener: Opener, cache_dir: Path | None) -> Verification:
    out = Verification()
    current: dict[str, str] = {}
    release = _statement(report_dir / RELEASE_SIG, opener, out)
    if release is not None:
        try:
            signed = signed_files(release)
            consistent = release_statement(release["subject"][0]["name"], signed)["subject"] == release["subject"]
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            out.differences.append(f"{RELEASE_SIG}: {exc}")
        else:
            if not consistent:
                out.differences.append(f"{RELEASE_SIG}: its subject digest does not match its resources")
            out.files = len(signed)
            current = _compare(root, signed, cache_dir, out)
    report = _statement(report_dir / REPORT_SIG, opener, out)
    if report is not None:
        if report.get("_type") != STATEMENT_TYPE or report.get("predicateType") != REPORT_PREDICATE_TYPE:
            out.differences.append(f"{REPORT_SIG}: not an llm360-audit attestation ({report.get('predicateType')})")
        else:
            _subjects(report, root, report_dir, current, out)
            out.claim = report.get("predicate") if isinstance(report.get("predicate"), dict) else None
            out.statement_sha256 = hashlib.sha256(payload_bytes(report)).hexdigest()
    return out
