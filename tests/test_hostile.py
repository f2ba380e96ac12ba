"""A corpus of broken and hostile releases, built by code: each gives its specific finding (exit 1
through the CLI for a sample), never a traceback or an internal error, never runs a payload, and
leaves the release tree unchanged."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import struct
from pathlib import Path

import git
import pytest

from audit.spec.rules import INTERNAL_ERROR
from conftest import audit, manifest, run_cli, write_manifest

MARKER = Path("/tmp/llm360-audit-pwned")


class Payload:
    """Unpickling this creates MARKER: proof that a pickle was loaded."""

    def __reduce__(self):
        return (os.system, (f"touch {MARKER}",))


def _tensor_file(path: Path, header: bytes | dict, data: bytes = b"", length: int | None = None) -> None:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw) if length is None else length) + raw + data)


T = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}
WEIGHTS = "checkpoints/step_000012/model.safetensors"


def _m(root, fn):
    m = manifest(root)
    fn(m)
    write_manifest(root, m)


def _lines(root, rel, lines: list[bytes]):
    (root / rel).write_bytes(b"".join(lines))


# -- the corpus: (name, how to break the release, expected finding id) -----------------------------
def manifest_missing(r): (r / "llm360.yaml").unlink()
def manifest_list(r): (r / "llm360.yaml").write_text("- spec_version: '1.0'\n- name: x\n")
def manifest_empty(r): (r / "llm360.yaml").write_text("")
def manifest_binary(r): (r / "llm360.yaml").write_bytes(bytes(range(256)) * 8)
def manifest_alias_bomb(r):
    (r / "llm360.yaml").write_text("a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n" for p, c in zip("abcdefgh", "bcdefghi")))
def manifest_python_tag(r):
    (r / "llm360.yaml").write_text(f"!!python/object/apply:os.system ['touch {MARKER}']\n")
def manifest_deep(r): (r / "llm360.yaml").write_text("a: " + "[" * 5000 + "]" * 5000 + "\n")
def manifest_huge(r): (r / "llm360.yaml").write_text("name: x\n" + "# padding\n" * 2_000_000)
def manifest_bad_utf8(r): (r / "llm360.yaml").write_bytes(b"spec_version: '1.0'\nname: \xff\xfe\n")
def manifest_wrong_type(r): _m(r, lambda m: m.update(checkpoints="all of them"))
def manifest_spec_version(r): _m(r, lambda m: m.update(spec_version="9.9"))
def manifest_extra_key(r): _m(r, lambda m: m.update(exec="rm -rf /"))


def path_dotdot(r): _m(r, lambda m: m["checkpoints"][3]["files"][1].update(path="../../outside.safetensors"))
def path_absolute(r): _m(r, lambda m: m["checkpoints"][3]["files"][1].update(path="/etc/passwd"))
def symlink_passwd(r):
    (r / "data" / "train_001.jsonl").unlink()
    (r / "data" / "train_001.jsonl").symlink_to("/etc/passwd")
def symlink_dir_out(r):
    shutil.rmtree(r / "checkpoints" / "step_000020")
    (r / "checkpoints" / "step_000020").symlink_to("/etc")
def config_path_escape(r): _m(r, lambda m: m["config"].update(model="../../../etc/hostname"))
def code_repo_escape(r): _m(r, lambda m: m["code"].update(repo="../../"))
def log_absolute(r): _m(r, lambda m: m["metrics"]["training_log"].update(path="/proc/self/environ"))
def chunk_is_dir(r):
    (r / "data" / "train_005.jsonl").unlink()
    (r / "data" / "train_005.jsonl").mkdir()


def header_2_62(r): _tensor_file(r / WEIGHTS, b"{}", length=2**62)
def header_overlap(r): _tensor_file(r / WEIGHTS, {"a": T, "b": {**T, "data_offsets": [4, 12]}}, b"\0" * 12)
def header_out_of_file(r): _tensor_file(r / WEIGHTS, {"a": {**T, "data_offsets": [0, 8]}, "b": {**T, "data_offsets": [8, 16]}}, b"\0" * 8)
def header_duplicate(r):
    t = json.dumps(T).encode()
    _tensor_file(r / WEIGHTS, b'{"a": ' + t + b', "a": ' + t + b"}", b"\0" * 8)
def header_not_json(r): _tensor_file(r / WEIGHTS, b"\x00\x01garbage")
def header_array(r): _tensor_file(r / WEIGHTS, b"[1,2,3]")
def header_truncated(r): (r / WEIGHTS).write_bytes(b"\x05\x00")
def header_bad_dtype(r): _tensor_file(r / WEIGHTS, {"a": {**T, "dtype": "Q7"}}, b"\0" * 8)
def header_empty_file(r): (r / WEIGHTS).write_bytes(b"")
def safetensors_is_pickle(r): (r / WEIGHTS).write_bytes(pickle.dumps(Payload(), protocol=4))


def pickle_optimizer(r):
    d = r / "checkpoints" / "step_000008"
    (d / "optimizer.safetensors").unlink()
    (d / "optimizer.pt").write_bytes(pickle.dumps(Payload(), protocol=2))
def training_args_bin(r): (r / "checkpoints" / "step_000004" / "training_args.bin").write_bytes(pickle.dumps(Payload()))
def dcp_metadata(r): (r / "checkpoints" / "step_000004" / ".metadata").write_bytes(pickle.dumps(Payload()))


def planted_payload_bin(r): (r / "checkpoints" / "step_000012" / "pytorch_model.bin").write_bytes(pickle.dumps(Payload(), protocol=2))
def planted_torch_zip(r):
    """A real torch.save archive at the release root whose data.pkl was swapped for a payload."""
    import io
    import zipfile

    import torch

    buf = io.BytesIO()
    torch.save({"w": torch.zeros(2)}, buf)
    with zipfile.ZipFile(buf) as src, zipfile.ZipFile(r / "model.pt", "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            dst.writestr(item, pickle.dumps(Payload(), protocol=2) if item.filename.endswith("data.pkl") else data)
def planted_data_pickle(r): (r / "data" / "extra.pkl").write_bytes(pickle.dumps(Payload(), protocol=0))
def planted_log_pickle(r): (r / "logs" / "state.pt").write_bytes(pickle.dumps({"x": Payload()}, protocol=4))
def planted_notes(r): (r / "checkpoints" / "step_000004" / "NOTES.txt").write_text("hello\n")
def planted_link_out(r): (r / "checkpoints" / "step_000004" / "secrets").symlink_to("/etc/passwd")
def cursor_edited(r):
    p = r / "checkpoints" / "step_000012" / "training_state.json"
    state = json.loads(p.read_text())
    state["data_cursor"]["sequences_consumed"] = 88
    p.write_text(json.dumps(state))
def weights_shared(r):
    def share(m):
        ck8, ck12 = (next(c for c in m["checkpoints"] if c["step"] == s) for s in (8, 12))
        ck12["files"][1] = dict(ck8["files"][1])
    _m(r, share)
def recorded_lr(r):
    p = r / "checkpoints" / "step_000016" / "training_state.json"
    state = json.loads(p.read_text())
    state["scheduler"]["peak_lr"] = 0.03
    p.write_text(json.dumps(state))


def gigabyte_line(r):
    with open(r / "data" / "train_002.jsonl", "wb") as f:
        f.truncate(1 << 30)  # sparse: one 1 GiB line of NUL bytes, no newline
def chunk_array_lines(r): _lines(r, "data/train_003.jsonl", [b"[1, 2, 3]\n"] * 32)
def chunk_string_ids(r): _lines(r, "data/train_003.jsonl", [b'{"token_ids": ["a", "b"], "source": "prose"}\n'] * 32)
def chunk_negative_ids(r): _lines(r, "data/train_003.jsonl", [b'{"token_ids": [' + b"-1," * 64 + b'-1], "source": "prose"}\n'] * 32)
def chunk_deep_json(r): _lines(r, "data/train_003.jsonl", [b"[" * 100_000 + b"]" * 100_000 + b"\n"])
def chunk_bad_utf8(r): _lines(r, "data/train_003.jsonl", [b'{"token_ids": [1], "source": "\xff"}\n'])


def log_infinity(r): _lines(r, "logs/train_log.jsonl", [b'{"step": %d, "loss": Infinity, "learning_rate": 0.1, "grad_norm": 1}\n' % s for s in range(1, 29)])
def log_garbage(r): (r / "logs" / "train_log.jsonl").write_bytes(os.urandom(4096).replace(b"\n", b" "))
def eval_huge_int(r): _lines(r, "evals/evaluations.jsonl", [b'{"step": 0, "task": "heldout_prose", "value": 1' + b"0" * 400 + b"}\n"])


def config_list(r):
    (r / "config.json").write_text("[1, 2, 3]")
def config_string_vocab(r):
    cfg = json.loads((r / "config.json").read_text())
    cfg["vocab_size"] = "lots"
    (r / "config.json").write_text(json.dumps(cfg))
def state_not_json(r): (r / "checkpoints" / "step_000016" / "training_state.json").write_bytes(b"\x80\x04not json")
def state_huge(r):
    with open(r / "checkpoints" / "step_000016" / "training_state.json", "r+b") as f:
        f.truncate(128 << 20)  # sparse: refused by size, never parsed
def code_not_bundle(r): (r / "code" / "training-code.bundle").write_bytes(b"# v2 git bundle\nthis is not one\n")


CASES = [
    (manifest_missing, "manifest.missing"),
    (manifest_list, "manifest.not-a-mapping"),
    (manifest_empty, "manifest.not-a-mapping"),
    (manifest_binary, "manifest.yaml-invalid"),
    (manifest_alias_bomb, "manifest.yaml-invalid"),
    (manifest_python_tag, "manifest.yaml-invalid"),
    (manifest_deep, "manifest.yaml-invalid"),
    (manifest_huge, "manifest.yaml-invalid"),
    (manifest_bad_utf8, "manifest.yaml-invalid"),
    (manifest_wrong_type, "manifest.schema-violation"),
    (manifest_spec_version, "manifest.schema-violation"),
    (manifest_extra_key, "manifest.schema-violation"),
    (path_dotdot, "checkpoints.unsafe-path"),
    (path_absolute, "checkpoints.unsafe-path"),
    (symlink_passwd, "data.unsafe-path"),
    (symlink_dir_out, "checkpoints.unsafe-path"),
    (config_path_escape, "config.model-config-invalid"),
    (code_repo_escape, "code.repo-unreadable"),
    (log_absolute, "metrics.unsafe-path"),
    (chunk_is_dir, "data.file-missing"),
    (header_2_62, "checkpoints.header-invalid"),
    (header_overlap, "checkpoints.header-invalid"),
    (header_out_of_file, "checkpoints.header-invalid"),
    (header_duplicate, "checkpoints.header-invalid"),
    (header_not_json, "checkpoints.header-invalid"),
    (header_array, "checkpoints.header-invalid"),
    (header_truncated, "checkpoints.header-invalid"),
    (header_bad_dtype, "checkpoints.header-invalid"),
    (header_empty_file, "checkpoints.header-invalid"),
    (safetensors_is_pickle, "checkpoints.pickle-weights"),
    (pickle_optimizer, "optimizer.pickle-unsafe"),  # its opcodes import os.system: never handed to torch.load
    (training_args_bin, "checkpoints.pickle-unsafe"),
    (dcp_metadata, "checkpoints.pickle-unsafe"),
    (planted_payload_bin, "checkpoints.pickle-unsafe"),  # undeclared, in a checkpoint directory
    (planted_torch_zip, "checkpoints.pickle-unsafe"),  # undeclared, at the release root, inside a zip archive
    (planted_data_pickle, "data.pickle-unsafe"),
    (planted_log_pickle, "metrics.pickle-unsafe"),
    (planted_notes, "checkpoints.undeclared-file"),
    (planted_link_out, "checkpoints.undeclared-file"),
    (cursor_edited, "data_order.cursor-mismatch"),
    (weights_shared, "checkpoints.file-shared"),
    (recorded_lr, "config.recorded-mismatch"),
    (gigabyte_line, "data.malformed-line"),
    (chunk_array_lines, "data.malformed-line"),
    (chunk_string_ids, "data.malformed-line"),
    (chunk_negative_ids, "data.token-out-of-vocab"),
    (chunk_deep_json, "data.malformed-line"),
    (chunk_bad_utf8, "data.malformed-line"),
    (log_infinity, "metrics.non-finite"),
    (log_garbage, "metrics.malformed"),
    (eval_huge_int, "metrics.evaluation-non-finite"),
    (config_list, "config.model-config-invalid"),
    (config_string_vocab, "checkpoints.architecture-unknown"),
    (state_not_json, "optimizer.training-state-invalid"),
    (state_huge, "optimizer.training-state-invalid"),
    (code_not_bundle, "code.repo-unreadable"),
]
#: Cases whose extra files must be declared in the manifest to be looked at (init would list them).
DECLARE = {pickle_optimizer, training_args_bin, dcp_metadata}


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        h.update(str(p.relative_to(root)).encode())
        if p.is_symlink():
            h.update(b"->" + os.readlink(p).encode())
        elif p.is_file():
            with open(p, "rb") as f:
                while chunk := f.read(1 << 24):
                    h.update(chunk)
    return h.hexdigest()


def _declare_new_files(root: Path) -> None:
    from audit.init import init_release

    init_release(root)


def _break(release: Path, breaker) -> str:
    """Plant the defect (declaring new files where init would) and return the tree digest."""
    MARKER.unlink(missing_ok=True)
    breaker(release)
    if breaker in DECLARE:
        _declare_new_files(release)
    return _digest(release)


def test_the_corpus_is_large_enough():
    assert len(CASES) >= 40 and len({fn.__name__ for fn, _ in CASES}) == len(CASES)


@pytest.mark.parametrize("breaker, finding", CASES, ids=[fn.__name__ for fn, _ in CASES])
def test_hostile_release(release, breaker, finding):
    before = _break(release, breaker)
    report = audit(release)
    ids = {f.id for f in report.findings}
    assert finding in ids, sorted(ids)
    assert INTERNAL_ERROR not in ids
    assert report.verdict == "fail" or all(f.severity != "error" for f in report.findings if f.id == finding)
    assert not MARKER.exists(), "a payload ran"
    assert _digest(release) == before


CLI_SAMPLE = [manifest_python_tag, symlink_passwd, header_2_62, header_overlap, pickle_optimizer, gigabyte_line,
              manifest_binary, log_garbage, code_not_bundle, safetensors_is_pickle, state_huge, planted_torch_zip,
              planted_payload_bin]  # fmt: skip


@pytest.mark.parametrize("breaker", CLI_SAMPLE, ids=[fn.__name__ for fn in CLI_SAMPLE])
def test_hostile_release_through_the_cli(release, tmp_path, breaker):
    before = _break(release, breaker)
    r = run_cli(str(release), "--replay", "all", "--out", str(tmp_path / "o"))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Traceback" not in r.stdout + r.stderr
    assert not MARKER.exists()
    assert _digest(release) == before


def test_fsmonitor_in_a_code_repository_never_runs(release):
    repo = git.Repo.clone_from(str(release / "code" / "training-code.bundle"), release / "code" / "repo")
    with repo.config_writer() as cw:
        cw.set_value("core", "fsmonitor", f"touch {MARKER}; echo")
    repo.close()
    _m(release, lambda m: m["code"].update(repo="code/repo"))
    MARKER.unlink(missing_ok=True)
    report = audit(release)
    assert not MARKER.exists(), "core.fsmonitor from the release ran"
    assert report.criteria["code"].status == "pass"
