"""The two in-toto Statement v1 documents: the release's files (OMS, ``release.sig``) and the report's
verdict (``report.sig``, predicate :data:`audit.attest.REPORT_PREDICATE_TYPE`)."""

from __future__ import annotations

import hashlib
from pathlib import PurePosixPath

from audit.attest import OMS_PREDICATE_TYPE, REPORT_PREDICATE_TYPE, STATEMENT_TYPE
from audit.attest.tree import GIT_PATHS
from audit.spec.report import Report


def release_statement(model_name: str, files: dict[str, str]) -> dict:
    """The OpenSSF Model Signing v1.0 statement model_signing writes for a ``files`` serialization with
    SHA-256: one subject (the model's name; SHA-256 over the resources' digests, in order), the
    serialization parameters, one resource per file."""
    names = sorted(files, key=lambda rel: PurePosixPath(rel).parts)
    root = hashlib.sha256(b"".join(bytes.fromhex(files[n]) for n in names)).hexdigest()
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": model_name, "digest": {"sha256": root}}],
        "predicateType": OMS_PREDICATE_TYPE,
        "predicate": {
            "serialization": {"method": "files", "hash_type": "sha256", "allow_symlinks": False,
                              "ignore_paths": list(GIT_PATHS)},
            "resources": [{"name": n, "algorithm": "sha256", "digest": files[n]} for n in names],
        },
    }  # fmt: skip


def signed_files(statement: dict) -> dict[str, str]:
    """{name: sha256} of an OMS statement's resources (raises ValueError on another shape)."""
    if statement.get("_type") != STATEMENT_TYPE or statement.get("predicateType") != OMS_PREDICATE_TYPE:
        raise ValueError(f"not an OpenSSF Model Signing statement ({statement.get('predicateType')})")
    pred = statement["predicate"]
    if pred.get("serialization", {}).get("method") != "files" or pred["serialization"].get("hash_type") != "sha256":
        raise ValueError("only the `files` serialization with sha256 is supported")
    files = {r["name"]: r["digest"] for r in pred["resources"] if r.get("algorithm") == "sha256"}
    if len(files) != len(pred["resources"]):
        raise ValueError("a resource is not digested with sha256")
    return files


def report_statement(report: Report, manifest_sha256: str | None, report_sha256: str, time: str) -> dict:
    """What the audit found, signed: subjects llm360.yaml (when the release has one) and report.json, the
    verdict and its scope."""
    cov = report.replay.coverage
    subjects = [{"name": "llm360.yaml", "digest": {"sha256": manifest_sha256}}] if manifest_sha256 else []
    return {
        "_type": STATEMENT_TYPE,
        "subject": subjects + [{"name": "report.json", "digest": {"sha256": report_sha256}}],
        "predicateType": REPORT_PREDICATE_TYPE,
        "predicate": {
            "release": report.release.name,
            "verdict": report.verdict,
            "level": report.level,
            "mof_class": report.mof_class,
            "criteria": {c: r.status for c, r in report.criteria.items()},
            "replay_segments": [{"start_step": s.start_step, "end_step": s.end_step, "status": s.status}
                                for s in report.replay.segments],
            "scope": {
                "hashing": report.scope.hashing,
                "data_sample": report.scope.data_sample,
                "replay": report.replay.mode,
                "segments_replayed": cov.segments_replayed if cov else None,
                "segments_total": cov.segments_total if cov else None,
                "findings_filtered": bool(report.gate.select or report.gate.ignore),
            },
            "tool": {"name": report.tool.name, "version": report.tool.version},
            "spec_version": report.spec_version,
            "time": time,
        },
    }  # fmt: skip
