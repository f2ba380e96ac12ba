"""What a rule is (a stable finding id, its severity, what to do about it) and who owns it: a check's
criterion, the manifest, the gate policy or the auditor itself. Plain dataclasses, no pydantic."""

from __future__ import annotations

from dataclasses import dataclass

from audit.spec.names import Severity


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity
    remediation: str


@dataclass(frozen=True)
class CheckInfo:
    """An owner of rules: a criterion's check (id = the criterion), the manifest, the policy or the auditor."""

    criterion: str  # what its findings carry: a criterion, "manifest" or "policy"
    title: str
    rationale: str
    rules: tuple[Rule, ...]
    id: str = ""  # default: the criterion

    @property
    def check_id(self) -> str:
        return self.id or self.criterion


@dataclass(frozen=True)
class RuleInfo:
    """A rule with the check that owns it, for reporters (SARIF rules, JUnit test cases, --explain)."""

    rule: Rule
    check_id: str
    criterion: str
    title: str
    rationale: str


def file_rules(prefix: str) -> dict[str, Rule]:
    """The standard per-file rules of a criterion, ids prefixed with ``prefix``."""
    return {
        "unsafe": Rule(f"{prefix}.unsafe-path", "error",
                       "Manifest paths must be relative and stay inside the release; symlinks may not leave it."),
        "missing": Rule(f"{prefix}.file-missing", "error",
                        "Publish the file, or remove it from the manifest with `llm360-audit init`."),
        "size": Rule(f"{prefix}.size-mismatch", "error",
                     "The file differs from the one described: restore the published file, or run `llm360-audit init` if the change is intended."),
        "sha": Rule(f"{prefix}.sha256-mismatch", "error",
                    "The file differs from the one described: restore the published file, or run `llm360-audit init` if the change is intended."),
        "nohash": Rule(f"{prefix}.no-hash", "warning",
                       "Declare sha256 and size for every file (`llm360-audit init` computes them)."),
        "pointer": Rule(f"{prefix}.lfs-pointer-mismatch", "error",
                        "The manifest and the git-LFS pointer published in the repository describe different "
                        "contents: re-run `llm360-audit init` on the clone, or publish the intended file."),
    }  # fmt: skip


def content_rules(prefix: str) -> dict[str, Rule]:
    """The rules about what lies under a criterion's directories besides the declared files."""
    return {
        "undeclared": Rule(f"{prefix}.undeclared-file", "warning",
                           "Declare the file in llm360.yaml (`llm360-audit init` does) or remove it from the release: "
                           "an undeclared file is unverified, and a downstream user may load it."),
        "pickle": Rule(f"{prefix}.pickle-unsafe", "error",
                       "The pickle imports a callable that can run code when it is loaded (its opcodes were read, "
                       "nothing was imported or called): remove the file, or publish the data as safetensors."),
    }  # fmt: skip
