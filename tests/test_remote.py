"""Components published elsewhere (a git URL, a Hugging Face repository): reported as not fetched
offline, checked in full where --resolve-local maps them to a local clone. Nothing is downloaded."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import git
import pytest

from audit.core.auditor import Auditor
from audit.core.options import AuditOptions
from audit.init import init_release
from audit.storage.remote import Resolver, ResolveError, canonical
from audit.replay import ReplayOptions
from conftest import finding_ids, manifest, run_cli, write_manifest
from test_git_checkpoints import model_repo

CODE_URL = "https://github.com/example/tiny-train.git"


def run(root: Path, *resolve: str):
    return Auditor().audit(root, AuditOptions(replay=ReplayOptions(mode="none"), resolver=Resolver.from_options(list(resolve))))


def clone_with_remote(src: str | Path, dest: Path, url: str) -> Path:
    repo = git.Repo.clone_from(str(src), dest)
    repo.git.remote("set-url", "origin", url)
    repo.close()
    return dest


def test_canonical_references():
    same = {canonical(r) for r in ("LLM360/Amber", "hf://LLM360/Amber", "https://huggingface.co/LLM360/Amber",
                                   "https://huggingface.co/LLM360/Amber.git", "git@huggingface.co:LLM360/Amber")}
    assert same == {"huggingface.co/LLM360/Amber"}
    assert canonical("https://github.com/x/y.git") == canonical("git@github.com:x/y") == "github.com/x/y"
    assert canonical("hf://datasets/LLM360/AmberDatasets") == "huggingface.co/datasets/LLM360/AmberDatasets"
    assert canonical("https://huggingface.co/datasets/LLM360/AmberDatasets") == canonical("hf://datasets/LLM360/AmberDatasets")


def test_resolve_local_errors(tmp_path):
    with pytest.raises(ResolveError, match="not a directory"):
        Resolver.from_options([str(tmp_path / "nope")])
    with pytest.raises(ResolveError, match="REF=PATH"):
        Resolver.from_options([str(tmp_path)])  # a plain directory has no remotes to say what it is
    assert Resolver.from_options([f"LLM360/Amber={tmp_path}"]).find("hf://LLM360/Amber") == tmp_path.resolve()


def test_remote_code_offline_then_resolved(release, tmp_path):
    m = manifest(release)
    bundle = release / m["code"]["repo"]
    m["code"]["repo"] = CODE_URL
    write_manifest(release, m)
    offline = run(release)
    assert "code.remote-unverified" in finding_ids(offline)
    assert offline.criteria["code"].status == "partial"
    assert not [f for f in offline.findings if f.criterion == "code" and f.severity == "error"]
    clone = clone_with_remote(bundle, tmp_path / "tiny-train", CODE_URL)
    git.Repo(clone).git.checkout(m["code"]["commit"])
    resolved = run(release, str(clone))
    assert resolved.criteria["code"].status == "pass", resolved.criteria["code"].summary
    assert resolved.criteria["config"].status == "pass"
    assert resolved.criteria["config"].evidence["hyperparameters_compared"] == 15  # against the config at the commit
    assert "hyperparameters_compared" not in offline.criteria["config"].evidence
    # The clone is checked like any code: an uncommitted change there is caught.
    (clone / "train.py").write_text("# edited\n")
    assert "code.dirty-tree" in finding_ids(run(release, str(clone)))


def test_checkpoints_source_offline_then_resolved(tmp_path):
    clone = model_repo(tmp_path / "hub", {"ckpt_000": 4, "ckpt_001": 8}, lfs_local={"ckpt_000", "ckpt_001"})
    git.Repo(clone).git.remote("set-url", "origin", "https://huggingface.co/LLM360/Amber")
    init_release(clone, checkpoint_every=4)
    release = tmp_path / "release"
    release.mkdir()
    m = manifest(clone)
    m["checkpoints_source"] = {"repo": "LLM360/Amber"}
    write_manifest(release, m)
    offline = run(release)
    notes = [f for f in offline.findings if f.id == "checkpoints.remote-not-fetched"]
    assert len(notes) == 1 and "2 checkpoint revision(s)" in notes[0].message and "LLM360/Amber" in notes[0].message
    assert not [f for f in offline.findings if f.criterion == "model_checkpoints" and f.severity == "error"]
    resolved = run(release, str(clone))
    crit = resolved.criteria["model_checkpoints"]
    assert crit.status == "pass", [f.message for f in resolved.findings if f.criterion == "model_checkpoints"]
    assert crit.evidence["revisions_contents_local"] == ["ckpt_000", "ckpt_001"]
    assert crit.evidence["tensors_checked"] > 0


def test_data_source_offline_then_resolved(release, tmp_path):
    before = run(release).criteria["data_availability"].evidence["tokens_counted"]
    dataset = tmp_path / "AmberDatasets"
    shutil.copytree(release / "data", dataset / "data")
    shutil.rmtree(release / "data")
    repo = git.Repo.init(dataset)
    repo.git.remote("add", "origin", "https://huggingface.co/datasets/LLM360/AmberDatasets")
    m = manifest(release)
    m["data"]["source"] = {"repo": "hf://datasets/LLM360/AmberDatasets", "revision": "main"}
    write_manifest(release, m)
    offline = run(release)
    assert "data.remote-not-fetched" in finding_ids(offline)
    assert not [f for f in offline.findings if f.criterion == "data_availability" and f.severity == "error"]
    resolved = run(release, str(dataset))
    assert resolved.criteria["data_availability"].status == "pass"
    assert resolved.criteria["data_availability"].evidence["tokens_counted"] == before
    # Paths stay inside the clone: a chunk path escaping it is refused, not read.
    m["data"]["chunks"][0]["path"] = "../../../etc/passwd"
    write_manifest(release, m)
    assert "data.unsafe-path" in finding_ids(run(release, str(dataset)))


def test_cli_resolve_local(release, tmp_path):
    r = run_cli(str(release), "--resolve-local", str(tmp_path / "missing"), "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "not a directory" in r.stderr and "Traceback" not in r.stderr
    m = manifest(release)
    m["code"]["repo"] = CODE_URL
    write_manifest(release, m)
    r = run_cli(str(release), "--replay", "none", "--no-cache", "--format", "json", "--out", str(tmp_path / "o"))
    assert r.returncode == 0, r.stderr  # a warning: the gate fails on errors by default
    assert any(f["id"] == "code.remote-unverified" for f in json.loads(r.stdout)["findings"])


def test_amber_as_published_is_audited_offline_for_what_can_be_said(tmp_path):
    """examples/amber-manifest.yaml points at LLM360/Amber and LLM360/AmberDatasets where they are
    published: with nothing fetched, the audit says so once per component, and still reports what the
    manifest alone establishes (no optimizer state, an unknown order inside chunks)."""
    from conftest import REPO

    root = tmp_path / "amber"
    root.mkdir()
    shutil.copy(REPO / "examples" / "amber-manifest.yaml", root / "llm360.yaml")
    report = run(root)
    ids = finding_ids(report)
    assert {"checkpoints.remote-not-fetched", "data.remote-not-fetched", "code.commit-unpinned"} <= ids
    assert not ids & {"checkpoints.file-missing", "data.file-missing", "checkpoints.revision-missing",
                      "audit.internal-error"}
    (ck,) = [f for f in report.findings if f.id == "checkpoints.remote-not-fetched"]
    assert "360 checkpoint revision(s) are published at LLM360/Amber" in ck.message
    assert {"optimizer.not-released", "data_order.within-chunk-unknown"} <= ids
    assert report.criteria["data_mix"].evidence["declared_total"] > 1.259e12
