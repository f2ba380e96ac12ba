"""Checkpoints published as branches of a model repository (LLM360's layout), read from git objects.

The repositories are built for real with GitPython from the example's really trained checkpoints,
split into sharded safetensors with an index; some files are git-LFS pointers whose contents are
"pulled" (present in .git/lfs/objects) for some branches only.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import git
import pytest
from safetensors.numpy import load_file, save_file

from audit.storage.gitstore import parse_lfs_pointer
from audit.init import init_release
from conftest import audit, finding_ids, flip_tensor_byte, manifest, run_cli, write_manifest

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "tiny-release"
STEPS = (4, 8, 12)


def pointer(data: bytes) -> bytes:
    return (f"version https://git-lfs.github.com/spec/v1\noid sha256:{hashlib.sha256(data).hexdigest()}\n"
            f"size {len(data)}\n").encode()  # fmt: skip


def checkpoint_files(step: int, tmp: Path) -> dict[str, bytes]:
    """The example's checkpoint at ``step`` as two safetensors shards plus index and config."""
    src = EXAMPLE / "checkpoints" / f"step_{step:06d}"
    tensors = load_file(src / "model.safetensors")
    names = sorted(tensors)
    files = {"config.json": (src / "config.json").read_bytes()}
    weight_map = {}
    for i, part in enumerate((names[: len(names) // 2], names[len(names) // 2:]), 1):
        shard = f"model-{i:05d}-of-00002.safetensors"
        save_file({n: tensors[n] for n in part}, tmp / shard)
        files[shard] = (tmp / shard).read_bytes()
        weight_map |= {n: shard for n in part}
    files["model.safetensors.index.json"] = json.dumps({"metadata": {}, "weight_map": weight_map}).encode()
    return files


def model_repo(tmp_path: Path, branches: dict[str, int], lfs_local: set[str]) -> Path:
    """A hub-like repository: main holds the final model; each branch a checkpoint, weights as LFS
    pointers. Cloned, so the checkpoint branches are origin/… refs; contents "pulled" for lfs_local."""
    origin = tmp_path / "origin"
    repo = git.Repo.init(origin, initial_branch="main")
    with repo.config_writer() as cw:
        cw.set_value("user", "name", "t").set_value("user", "email", "t@example.com")
    objects: dict[str, bytes] = {}
    work = tmp_path / "shards"
    work.mkdir()

    def commit(files: dict[str, bytes], message: str) -> None:
        for old in [p for p in origin.iterdir() if p.name != ".git"]:
            old.unlink()
        for name, data in files.items():
            stored = data
            if name.endswith(".safetensors"):
                stored = pointer(data)
                objects[hashlib.sha256(data).hexdigest()] = data
            (origin / name).write_bytes(stored)
        (origin / ".gitattributes").write_text("*.safetensors filter=lfs diff=lfs merge=lfs -text\n")
        repo.git.add(A=True)
        repo.index.commit(message)

    commit(checkpoint_files(STEPS[-1], work), "final model")
    for name, step in branches.items():
        repo.git.checkout("-b", name, "main")
        commit(checkpoint_files(step, work), f"checkpoint {name}")
        repo.git.checkout("main")
    clone = tmp_path / "clone"
    git.Repo.clone_from(origin, clone).close()
    for name in lfs_local:
        for data in checkpoint_files(branches[name], work).values():
            oid = hashlib.sha256(data).hexdigest()
            if oid in objects:
                dest = clone / ".git" / "lfs" / "objects" / oid[:2] / oid[2:4] / oid
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(data)
    shutil.copy(EXAMPLE / "LICENSE", clone / "LICENSE")
    return clone


def git_state(root: Path) -> tuple[str, str, str]:
    r = git.Repo(root)
    return r.head.commit.hexsha, r.active_branch.name, r.git.status("--porcelain", "--ignored")


@pytest.fixture
def amber_clone(tmp_path) -> Path:
    return model_repo(tmp_path, {"ckpt_000": 4, "ckpt_001": 8, "ckpt_002": 12}, lfs_local={"ckpt_000", "ckpt_002"})


def test_lfs_pointer_parsing():
    p = parse_lfs_pointer(pointer(b"abc"))
    assert p is not None and p.size == 3 and p.oid == hashlib.sha256(b"abc").hexdigest()
    assert parse_lfs_pointer(b"version https://git-lfs.github.com/spec/v1\noid md5:00\nsize 3\n") is None
    assert parse_lfs_pointer(b"\x00" * 10) is None


def test_amber_branches_init_and_audit(amber_clone):
    head = git_state(amber_clone)[:2]
    result = init_release(amber_clone, checkpoint_every=4)
    assert git_state(amber_clone)[:2] == head  # init read the branches without checking any out
    before = git_state(amber_clone)
    m = manifest(amber_clone)
    cks = m["checkpoints"]
    assert [(c["revision"], c["step"]) for c in cks] == [("ckpt_000", 4), ("ckpt_001", 8), ("ckpt_002", 12)]
    assert all("path" not in c and c["state"] == ["weights"] for c in cks)
    files = {f["path"]: f for f in cks[1]["files"]}
    assert set(files) == {"ckpt_001:config.json", "ckpt_001:model.safetensors.index.json",
                          "ckpt_001:model-00001-of-00002.safetensors", "ckpt_001:model-00002-of-00002.safetensors"}
    shard = files["ckpt_001:model-00001-of-00002.safetensors"]
    assert shard["role"] == "weights" and len(shard["sha256"]) == 64  # from the pointer: never downloaded
    assert [str(c) for c in result.changes] == ["added manifest llm360.yaml"]

    report = audit(amber_clone)
    crit = report.criteria["model_checkpoints"]
    errors = [f.message for f in report.findings if f.criterion == "model_checkpoints" and f.severity == "error"]
    assert not errors, errors
    assert crit.evidence["revisions_contents_local"] == ["ckpt_000", "ckpt_002"]
    assert crit.evidence["revisions_pointers_only"] == ["ckpt_001"]
    assert crit.evidence["files_not_local"] == 2
    assert crit.evidence["tensors_checked"] == 2 * len(load_file(EXAMPLE / "checkpoints/step_000004/model.safetensors"))
    not_local = [f for f in report.findings if f.id == "checkpoints.contents-not-local"]
    assert len(not_local) == 1 and "1 of 3" in not_local[0].message and "ckpt_001" in not_local[0].message
    assert crit.status == "partial"
    assert git_state(amber_clone) == before  # nothing checked out, working tree and index untouched


def test_tampered_lfs_object_and_lying_manifest(amber_clone):
    init_release(amber_clone, checkpoint_every=4)
    m = manifest(amber_clone)
    f0 = next(f for f in m["checkpoints"][0]["files"] if f["path"].endswith("00002-of-00002.safetensors"))
    obj = amber_clone / ".git/lfs/objects" / f0["sha256"][:2] / f0["sha256"][2:4] / f0["sha256"]
    flip_tensor_byte(obj, at=-1, mask=1)  # a flipped bit in the pulled contents of ckpt_000
    f1 = next(f for f in m["checkpoints"][1]["files"] if f["path"].endswith("00001-of-00002.safetensors"))
    f1["sha256"] = "0" * 64  # the manifest lies about a file whose contents are not local
    write_manifest(amber_clone, m)
    report = audit(amber_clone)
    by_id = {f.id: f for f in report.findings}
    assert by_id["checkpoints.sha256-mismatch"].path == f0["path"] == "ckpt_000:model-00002-of-00002.safetensors"
    assert by_id["checkpoints.lfs-pointer-mismatch"].path == "ckpt_001:model-00001-of-00002.safetensors"


def test_index_accounts_for_every_tensor(amber_clone):
    """A shard that the index does not list, or a tensor the index names but no shard holds."""
    repo = git.Repo(amber_clone)
    repo.git.checkout("-b", "ckpt_003", "origin/ckpt_002")
    index = json.loads((amber_clone / "model.safetensors.index.json").read_text())
    name = sorted(index["weight_map"])[0]
    index["weight_map"]["model.ghost.weight"] = index["weight_map"][name]
    (amber_clone / "model.safetensors.index.json").write_text(json.dumps(index))
    repo.git.add("model.safetensors.index.json")
    repo.index.commit("index names a tensor no shard holds")
    repo.git.checkout("main")
    init_release(amber_clone, checkpoint_every=4)
    report = audit(amber_clone)
    idx = [f for f in report.findings if f.id == "checkpoints.index-invalid"]
    assert idx and idx[0].path == "ckpt_003:model.safetensors.index.json" and "model.ghost.weight" in idx[0].message


def test_missing_branch_is_named(amber_clone):
    init_release(amber_clone, checkpoint_every=4)
    m = manifest(amber_clone)
    m["checkpoints"].append({**m["checkpoints"][-1], "step": 16, "revision": "ckpt_003",
                             "files": [{**f, "path": f["path"].replace("ckpt_002", "ckpt_003")}
                                       for f in m["checkpoints"][-1]["files"]]})  # fmt: skip
    write_manifest(amber_clone, m)
    report = audit(amber_clone)
    missing = [f for f in report.findings if f.id == "checkpoints.revision-missing"]
    assert len(missing) == 1 and "ckpt_003" in missing[0].message


def test_crystalcoder_branches_through_the_cli(tmp_path):
    names = {"CrystalCoder_phase1_checkpoint_000004": 4, "CrystalCoder_phase1_checkpoint_000008": 8,
             "CrystalCoder_phase2_checkpoint_000012": 12}  # fmt: skip
    clone = model_repo(tmp_path, names, lfs_local=set(names))
    r = run_cli("init", str(clone))
    assert r.returncode == 0, r.stderr
    m = manifest(clone)
    assert [(c["revision"], c["step"]) for c in m["checkpoints"]] == list(names.items())
    r = run_cli(str(clone), "--replay", "none", "--no-cache", "--out", str(tmp_path / "out"), "--format", "json")
    report = json.loads(r.stdout)
    assert "Traceback" not in r.stderr
    assert report["criteria"]["model_checkpoints"]["status"] == "pass", report["findings"]
    assert report["criteria"]["model_checkpoints"]["evidence"]["revisions_pointers_only"] == []
    # A refresh of an unchanged clone changes nothing.
    text = (clone / "llm360.yaml").read_text()
    assert init_release(clone).changes == [] and (clone / "llm360.yaml").read_text() == text


def test_ckpt_branches_without_steps_say_what_to_complete(amber_clone):
    result = init_release(amber_clone)
    assert any("--checkpoint-every" in n for n in result.notes)


def test_lfs_object_symlinked_out_of_the_release_is_not_read(amber_clone, tmp_path):
    init_release(amber_clone, checkpoint_every=4)
    m = manifest(amber_clone)
    f0 = next(f for f in m["checkpoints"][0]["files"] if f["path"].endswith("00001-of-00002.safetensors"))
    obj = amber_clone / ".git/lfs/objects" / f0["sha256"][:2] / f0["sha256"][2:4] / f0["sha256"]
    outside = tmp_path / "secret"
    outside.write_bytes(obj.read_bytes())
    obj.unlink()
    obj.symlink_to(outside)
    report = audit(amber_clone)
    assert "ckpt_000" in report.criteria["model_checkpoints"].evidence["revisions_pointers_only"]  # treated as not fetched, never followed


def test_revision_paths_cannot_leave_the_tree(amber_clone, tmp_path):
    """REVISION:PATH names a blob of that branch's tree; a path escaping it names nothing, and nothing
    outside the clone is read."""
    init_release(amber_clone, checkpoint_every=4)
    m = manifest(amber_clone)
    secret = tmp_path / "secret.json"
    secret.write_text("{}")
    m["checkpoints"][0]["files"].append({"path": f"ckpt_000:../../{secret.name}", "role": "config"})
    m["checkpoints"][0]["files"].append({"path": f"ckpt_000:{secret}", "role": "config"})
    write_manifest(amber_clone, m)
    report = audit(amber_clone)
    missing = {f.path for f in report.findings if f.id == "checkpoints.file-missing"}
    assert missing == {f"ckpt_000:../../{secret.name}", f"ckpt_000:{secret}"}
    assert "audit.internal-error" not in finding_ids(report)


def test_a_damaged_repository_is_reported_not_a_crash(amber_clone):
    """A blob missing from the object store: init says which file it could not read, the audit names
    it as missing; neither stops."""
    repo = git.Repo(amber_clone)
    sha = repo.git.rev_parse("origin/ckpt_001:config.json")
    repo.git.repack("-a", "-d")  # everything packed; then unpack all but that blob
    repo.git.gc("--prune=now")
    packs = list((amber_clone / ".git/objects/pack").glob("*.pack"))
    for pack in packs:
        data = pack.read_bytes()
        pack.unlink()
        pack.with_suffix(".idx").unlink()
        subprocess.run(["git", "-C", str(amber_clone), "unpack-objects", "-q"], input=data, check=True)
    (amber_clone / ".git/objects" / sha[:2] / sha[2:]).unlink()
    result = init_release(amber_clone, checkpoint_every=4)
    assert "dropped ckpt_001:config.json: cannot be read from the repository (a missing object?)" in [str(d) for d in result.dropped]
    m = manifest(amber_clone)
    m["checkpoints"][1]["files"].append({"path": "ckpt_001:config.json", "role": "config"})
    write_manifest(amber_clone, m)
    report = audit(amber_clone)
    assert "ckpt_001:config.json" in {f.path for f in report.findings if f.id == "checkpoints.file-missing"}
    assert "audit.internal-error" not in finding_ids(report)


def test_branches_added_and_removed_are_said(amber_clone):
    init_release(amber_clone, checkpoint_every=4)
    m = manifest(amber_clone)
    m["checkpoints"].append({**m["checkpoints"][-1], "step": 16, "revision": "ckpt_009"})  # no such branch
    write_manifest(amber_clone, m)
    repo = git.Repo(amber_clone)
    repo.git.branch("ckpt_003", "origin/ckpt_002")
    result = init_release(amber_clone, checkpoint_every=4)
    assert [str(c) for c in result.changes] == [
        "checkpoints: added checkpoint @ckpt_003 (a branch, 4 files, checkpoint index 3)",
        "checkpoints: removed checkpoint @ckpt_009 (no longer a branch of the repository)"]  # fmt: skip
    assert [(c["revision"], c["step"]) for c in manifest(amber_clone)["checkpoints"]][-1] == ("ckpt_003", 16)
