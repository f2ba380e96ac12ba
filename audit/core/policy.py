"""The gate policy (``.llm360-audit.yaml``): what fails the gate, and waivers for known findings.

The policy is the user's, hence trusted — and for that reason it is never read from inside the
release: it is looked up next to the release directory (in its parent) or given with ``--policy``.

    fail_on: error            # or warning
    require_level: fully-open # optional
    waivers:
      - id: data_order.within-chunk-unknown
        path: data/*.jsonl    # optional glob; omitted = any path
        reason: order published separately, see issue 12
        expires: 2027-03-31
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from pathlib import Path

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from audit.readers import yamlio
from audit.readers.bounded import MAX_YAML_BYTES, TooLarge, read_bytes
from audit.spec.names import FAIL_ON, LEVEL_NAMES, POLICY_NAME
from audit.spec.report import Finding, GateSettings, Waiver
from audit.spec.rules import Rule
from audit.spec.rules.policy import EXPIRED, NO_REASON, UNUSED


class PolicyError(ValueError):
    """The policy file cannot be used; the message is one line (a usage error)."""


class WaiverSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    path: str | None = None
    reason: str | None = None
    expires: dt.date


class Policy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    fail_on: str = Field("error", pattern=f"^({'|'.join(FAIL_ON)})$")
    require_level: str | None = None
    waivers: list[WaiverSpec] = Field(default_factory=list)
    source: str | None = Field(None, exclude=True)


def find_policy(release: Path, explicit: Path | None) -> Path | None:
    if explicit is not None:
        if not explicit.is_file():
            raise PolicyError(f"policy file {explicit} does not exist")
        return explicit
    candidate = release.resolve().parent / POLICY_NAME
    return candidate if candidate.is_file() else None


def load_policy(path: Path | None) -> Policy:
    if path is None:
        return Policy()
    try:
        data = yamlio.loads(read_bytes(path, MAX_YAML_BYTES)) or {}
        policy = Policy.model_validate(data)
    except (OSError, yamlio.YamlError, TooLarge) as exc:
        raise PolicyError(f"{path}: {exc}") from None
    except pydantic.ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(repr(p) if not isinstance(p, str) or not p.isprintable() else p for p in err["loc"])
        raise PolicyError(f"{path}: {where}: {' '.join(err['msg'].split())}") from None
    if policy.require_level is not None and policy.require_level not in LEVEL_NAMES:
        raise PolicyError(f"{path}: require_level must be one of {', '.join(LEVEL_NAMES)}")
    policy.source = str(path)
    return policy


def _matches(w: WaiverSpec, f: Finding) -> bool:
    return w.id == f.id and (w.path is None or (f.path is not None and fnmatch.fnmatchcase(f.path, w.path)))


def _finding(rule: Rule, message: str, path: str | None) -> Finding:
    return Finding(id=rule.id, severity=rule.severity, criterion="policy", message=message, path=path,
                   remediation=rule.remediation)  # fmt: skip


def mark_waived(findings: list[Finding], policy: Policy, today: dt.date, used: set[int]) -> list[Finding]:
    """Attach the first valid (reasoned, unexpired) matching waiver to each finding; record which were used."""
    out = []
    for f in findings:
        for i, w in enumerate(policy.waivers):
            if _matches(w, f) and w.reason and w.reason.strip() and w.expires >= today:
                f = f.model_copy(update={"waiver": Waiver(reason=w.reason, expires=w.expires.isoformat())})
                used.add(i)
                break
        out.append(f)
    return out


def policy_findings(policy: Policy, used: set[int], today: dt.date) -> list[Finding]:
    """Findings about the waivers themselves: expired or reason-less ones fail the gate."""
    out = []
    for i, w in enumerate(policy.waivers):
        label = f"waiver for {w.id}" + (f" ({w.path})" if w.path else "")
        if not (w.reason and w.reason.strip()):
            out.append(_finding(NO_REASON, f"{label} has no reason", policy.source))
        elif w.expires < today:
            out.append(_finding(EXPIRED, f"{label} expired on {w.expires.isoformat()}", policy.source))
        elif i not in used:
            out.append(_finding(UNUSED, f"{label} matches no finding", policy.source))
    return out


def gate_settings(policy: Policy, fail_on: str | None, require_level: str | None, select=(), ignore=()) -> GateSettings:
    """Command-line options override the policy file."""
    return GateSettings(fail_on=fail_on or policy.fail_on, require_level=require_level or policy.require_level,
                        policy=policy.source, select=list(select), ignore=list(ignore))  # fmt: skip


def rule_matches(rule_id: str, patterns) -> bool:
    """Whether a rule id is one of ``patterns``: an id, a prefix (``checkpoints`` or ``checkpoints.``), or a glob."""
    return any(rule_id == p or rule_id.startswith(p.rstrip(".") + ".") or fnmatch.fnmatchcase(rule_id, p)
               for p in patterns)  # fmt: skip


def selected(findings: list[Finding], select, ignore) -> list[Finding]:
    """--select / --ignore for local runs: the findings kept (the gate's waivers stay in the policy file)."""
    return [f for f in findings if (not select or rule_matches(f.id, select)) and not rule_matches(f.id, ignore)]
