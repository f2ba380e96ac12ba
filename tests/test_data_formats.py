"""Data formats besides JSONL: the example release's chunks rewritten, sequence for sequence, as numpy
arrays, a Megatron indexed dataset and Parquet; `init` declares them and the audit recounts them. Then
defects planted in each format, and an OLMo-style global order."""

from __future__ import annotations

import json
import random
import struct
from pathlib import Path

import numpy as np
import pytest

from audit.formats.registry import scan_chunk
from audit.storage.hashing import sha256_stream
from audit.spec.manifest import DataFormat
from audit.init import init_release
from conftest import audit, finding_ids, manifest, read_jsonl, run_cli, write_manifest

CHUNKS = 7
SEQUENCES, LENGTH, TOKENS = 32, 65, 2080  # per chunk of the example
VOCAB = 256
DATA_CRITERIA = ("data_availability", "data_mix", "data_order")


def _write_npy2d(data: Path, stem: str, ids: np.ndarray, sources: list[str]) -> None:
    np.save(data / f"{stem}.npy", ids.astype(np.uint16))


def _write_npy1d(data: Path, stem: str, ids: np.ndarray, sources: list[str]) -> None:
    np.save(data / f"{stem}.npy", ids.reshape(-1).astype(np.int32))


def write_megatron(prefix: Path, ids: np.ndarray, docs_per: int = 4, code: int = 8, dtype=np.uint16) -> None:
    """A Megatron indexed dataset written from the documented layout: one sequence per row."""
    n = len(ids)
    sizes = np.full(n, ids.shape[1], np.int32)
    pointers = np.arange(n, dtype=np.int64) * ids.shape[1] * np.dtype(dtype).itemsize
    docs = np.arange(0, n + 1, docs_per, dtype=np.int64)
    prefix.with_suffix(".bin").write_bytes(ids.astype(dtype).tobytes())
    header = b"MMIDIDX\x00\x00" + struct.pack("<QBQQ", 1, code, n, len(docs))
    prefix.with_suffix(".idx").write_bytes(header + sizes.tobytes() + pointers.tobytes() + docs.tobytes())


def _write_megatron(data: Path, stem: str, ids: np.ndarray, sources: list[str]) -> None:
    write_megatron(data / stem, ids)


def _pyarrow():
    """pyarrow and pyarrow.parquet, or a skip: Parquet support is an optional extra (llm360-audit[parquet])."""
    return pytest.importorskip("pyarrow"), pytest.importorskip("pyarrow.parquet")


def _write_parquet(data: Path, stem: str, ids: np.ndarray, sources: list[str]) -> None:
    pa, pq = _pyarrow()
    table = pa.table({"token_ids": pa.array(ids.tolist(), pa.list_(pa.int32())), "source": sources})
    pq.write_table(table, data / f"{stem}.parquet", row_group_size=10)


WRITERS = {"npy-2d": _write_npy2d, "npy-1d": _write_npy1d, "megatron": _write_megatron, "parquet": _write_parquet}
KIND = {"npy-2d": "npy-tokens", "npy-1d": "npy-tokens", "megatron": "megatron-indexed", "parquet": "parquet-tokens"}
SUFFIX = {"npy-2d": ".npy", "npy-1d": ".npy", "megatron": ".bin", "parquet": ".parquet"}


def convert(root: Path, layout: str, *, keep_order: bool = True) -> dict:
    """Rewrite every JSONL chunk in ``layout`` (same sequences, same order), drop the manifest's data
    section (keeping the human-written order unless told) and let `init` rediscover the data."""
    for i in range(CHUNKS):
        src = root / "data" / f"train_{i:03d}.jsonl"
        rows = read_jsonl(src)
        WRITERS[layout](root / "data", src.stem, np.array([r["token_ids"] for r in rows]), [r["source"] for r in rows])
        src.unlink()
    m = manifest(root)
    if keep_order:
        m["data"] = {"order": m["data"]["order"]}
    else:
        del m["data"]
    write_manifest(root, m)
    init_release(root)
    return manifest(root)


def rehash(root: Path, *rels: str) -> None:
    """Declare the current sha256 and size of files changed on purpose, so only the defect is found."""
    m = manifest(root)
    entries = [c for c in m["data"]["chunks"]] + [c["index"] for c in m["data"]["chunks"] if "index" in c]
    entries += [m["data"]["order"]["global_indices"]] if "global_indices" in m["data"]["order"] else []
    for e in entries:
        if e["path"] in rels:
            e["sha256"], e["size"] = sha256_stream(root / e["path"]), (root / e["path"]).stat().st_size
    write_manifest(root, m)


def data_findings(report) -> list:
    return [f for f in report.findings if f.criterion in DATA_CRITERIA]


def only(report, rule: str):
    found = [f for f in report.findings if f.id == rule]
    assert len(found) == 1, [(f.id, f.message) for f in report.findings]
    return found[0]


@pytest.mark.parametrize("layout", sorted(WRITERS))
def test_init_declares_each_layout_and_the_audit_recounts_it(release, layout):
    jsonl = audit(release)
    m = convert(release, layout)
    data = m["data"]
    assert data["format"]["kind"] == KIND[layout]
    assert data["format"]["tokens_per_sequence"] == LENGTH
    assert [c["path"] for c in data["chunks"]] == [f"data/train_{i:03d}{SUFFIX[layout]}" for i in range(CHUNKS)]
    assert [(c["sequences"], c["tokens"]) for c in data["chunks"]] == [(SEQUENCES, TOKENS)] * CHUNKS
    assert [(c["first_step"], c["last_step"]) for c in data["chunks"]] == [(4 * i + 1, 4 * i + 4) for i in range(CHUNKS)]
    if layout == "megatron":
        assert [c["index"]["path"] for c in data["chunks"]] == [f"data/train_{i:03d}.idx" for i in range(CHUNKS)]
        assert all(len(c["index"]["sha256"]) == 64 for c in data["chunks"])
    if layout == "parquet":  # per-sequence sources kept: the same mixture as the JSONL original
        assert data["mixture"] == jsonl.criteria["data_availability"].evidence["tokens_per_source"]
    else:  # one source per chunk, the file stem
        assert data["chunks"][0]["sources"] == {"train_000": TOKENS}
    report = audit(release)
    assert data_findings(report) == []
    assert {c: report.criteria[c].status for c in DATA_CRITERIA} == dict.fromkeys(DATA_CRITERIA, "pass")
    for key in ("sequences_counted", "tokens_counted"):
        assert report.criteria["data_availability"].evidence[key] == jsonl.criteria["data_availability"].evidence[key]
    assert report.criteria["data_order"].evidence["steps_mapped"] == 28
    assert report.verdict == "pass"


def test_megatron_bin_is_data_not_checkpoint_weights(release):
    m = convert(release, "megatron")
    assert not any(c["path"] == "data" for c in m["checkpoints"])
    assert [c["step"] for c in m["checkpoints"]] == [0, 4, 8, 12, 16, 20, 24, 28]


def test_replay_names_the_sequence_a_step_lacks(release):
    """The replay reads every format (tests/test_replay_formats.py); a chunk shorter than its steps
    need is an error segment naming the file, not a crash."""
    convert(release, "megatron")
    m = manifest(release)
    m["data"]["chunks"][1]["last_step"] = 9  # chunk 1 holds 32 sequences: 4 steps of 8, not 5
    m["data"]["chunks"][2]["first_step"] = 10
    write_manifest(release, m)
    seg = audit(release, replay="all").replay.segments[2]
    assert (seg.start_step, seg.status) == (8, "error")
    assert seg.reason == "data/train_001.bin: sequence 32 is asked for, but the index holds 32 sequences"


# -- planted defects -----------------------------------------------------------------------------


def test_truncated_bin(release):
    convert(release, "megatron")
    path = release / "data/train_003.bin"
    path.write_bytes(path.read_bytes()[:-10])
    rehash(release, "data/train_003.bin")
    f = only(audit(release), "data.malformed-file")
    assert f.path == "data/train_003.bin" and f.message.startswith("data/train_003.bin: 4150 bytes")


def test_idx_with_wrong_magic(release):
    convert(release, "megatron")
    path = release / "data/train_001.idx"
    path.write_bytes(b"NOTANIDX!" + path.read_bytes()[9:])
    rehash(release, "data/train_001.idx")
    f = only(audit(release), "data.malformed-file")
    assert f.path == "data/train_001.idx" and "magic is b'NOTANIDX!'" in f.message


def test_pointer_inconsistent_with_sizes(release):
    convert(release, "megatron")
    path = release / "data/train_002.idx"
    raw = bytearray(path.read_bytes())
    at = 34 + 4 * SEQUENCES + 8 * 5  # pointer of sequence 5
    raw[at : at + 8] = struct.pack("<q", 12345)
    path.write_bytes(bytes(raw))
    rehash(release, "data/train_002.idx")
    f = only(audit(release), "data.malformed-file")
    assert f.path == "data/train_002.idx"
    assert f.message == f"data/train_002.idx: pointer of sequence 5 is 12345; the sizes before it put it at byte {5 * LENGTH * 2}"


def test_documents_not_ending_at_sequence_count(release):
    convert(release, "megatron")
    ids = np.zeros((SEQUENCES, LENGTH), np.uint16)
    write_megatron(release / "data/train_004", ids, docs_per=5)  # 0, 5, …, 30: stops short of 32
    rehash(release, "data/train_004.bin", "data/train_004.idx")
    f = only(audit(release), "data.malformed-file")
    assert f.path == "data/train_004.idx" and "run from 0 to the sequence count 32; they run 0 … 30" in f.message


def test_float_megatron_dtype(release):
    convert(release, "megatron")
    write_megatron(release / "data/train_000", np.zeros((SEQUENCES, LENGTH)), code=7, dtype=np.float32)
    rehash(release, "data/train_000.bin", "data/train_000.idx")
    f = only(audit(release), "data.malformed-file")
    assert f.path == "data/train_000.idx" and "float32 (code 7) is not an integer type" in f.message


def test_megatron_chunk_without_declared_index(release):
    m = convert(release, "megatron")
    del m["data"]["chunks"][6]["index"]
    write_manifest(release, m)
    f = only(audit(release), "data.index-undeclared")
    assert f.path == "data/train_006.bin" and "Megatron reads data/train_006.idx" in f.message
    (release / "data/train_005.idx").unlink()
    assert "data/train_005.idx does not exist" in only(audit(release), "data.file-missing").message


@pytest.mark.parametrize("layout", sorted(WRITERS))
def test_token_id_beyond_vocab(release, layout):
    rows = read_jsonl(release / "data/train_002.jsonl")
    convert(release, layout)
    ids = np.array([r["token_ids"] for r in rows])
    ids[3, 7] = VOCAB  # one past the last id
    WRITERS[layout](release / "data", "train_002", ids, [r["source"] for r in rows])
    rel = f"data/train_002{SUFFIX[layout]}"
    rehash(release, rel)
    report = audit(release)
    f = only(report, "data.token-out-of-vocab")
    assert f.path == rel and f.message == f"{rel}: 1 token id(s) outside the vocabulary of {VOCAB}"
    assert "data.malformed-file" not in finding_ids(report)


def test_float_npy(release):
    convert(release, "npy-2d")
    np.save(release / "data/train_005.npy", np.zeros((SEQUENCES, LENGTH), np.float32))
    rehash(release, "data/train_005.npy")
    f = only(audit(release), "data.malformed-file")
    assert f.message == "data/train_005.npy: dtype float32 is not an integer type"


def test_object_npy_is_refused_unread(release, tmp_path):
    convert(release, "npy-2d")
    marker = tmp_path / "pickle-ran"

    class Payload:
        def __reduce__(self):
            return (Path.mkdir, (marker,))

    np.save(release / "data/train_001.npy", np.array([Payload()], dtype=object), allow_pickle=True)
    rehash(release, "data/train_001.npy")
    f = only(audit(release), "data.malformed-file")
    assert f.message == "data/train_001.npy: holds Python objects (a pickle); refused unread"
    init_release(release)  # discovery reads headers only, too
    assert not marker.exists()
    np.load(release / "data/train_001.npy", allow_pickle=True)  # the payload is real: loading runs it
    assert marker.is_dir()


def test_flat_array_with_partial_trailing_sequence(release):
    convert(release, "npy-1d")
    path = release / "data/train_003.npy"
    np.save(path, np.load(path)[:-7])
    rehash(release, "data/train_003.npy")
    report = audit(release)
    f = only(report, "data.malformed-file")
    assert f.message == ("data/train_003.npy: 2073 token ids are not a whole number of 65-token sequences: "
                         "the last 58 form a partial sequence")  # fmt: skip
    assert "data/train_003.npy holds 31 sequences, manifest says 32" in {x.message for x in report.findings}


def test_flat_array_needs_tokens_per_sequence(release):
    m = convert(release, "npy-1d")
    del m["data"]["format"]["tokens_per_sequence"]
    write_manifest(release, m)
    report = audit(release)
    bad = [f for f in report.findings if f.id == "data.malformed-file"]
    assert len(bad) == CHUNKS and "needs data.format.tokens_per_sequence" in bad[0].message


def test_parquet_token_column_not_a_list(release):
    pa, pq = _pyarrow()
    convert(release, "parquet")
    pq.write_table(pa.table({"token_ids": ["1 2 3"] * SEQUENCES}), release / "data/train_004.parquet")
    rehash(release, "data/train_004.parquet")
    f = only(audit(release), "data.malformed-file")
    assert f.message == "data/train_004.parquet: column 'token_ids' is string, not a list of integers"


def test_missing_pyarrow_is_a_finding(release, tmp_path):
    convert(release, "parquet")
    done = run_cli(str(release), "--replay", "none", "--format", "json", "--out", str(tmp_path / "out"),
                   prelude="import sys; sys.modules['pyarrow'] = None")  # fmt: skip
    assert "Traceback" not in done.stderr
    findings = [f for f in json.loads(done.stdout)["findings"] if f["id"] == "data.reader-missing"]
    assert len(findings) == CHUNKS
    assert findings[0]["message"] == ("data/train_000.parquet: reading Parquet needs pyarrow, which is not "
                                      "installed: pip install 'llm360-audit[parquet]'")  # fmt: skip


# -- OLMo-style global order ---------------------------------------------------------------------


def _global_release(root: Path, order: np.ndarray) -> dict:
    np.save(root / "data/global_indices.npy", order)
    return convert(root, "npy-2d", keep_order=False)


def test_global_indices_declared_by_init_and_mapped(release):
    total = CHUNKS * SEQUENCES
    m = _global_release(release, np.random.default_rng(0).permutation(total).astype(np.uint32))
    order = m["data"]["order"]
    assert order["within_chunk"] == "global-indices"
    assert order["global_indices"]["path"] == "data/global_indices.npy"
    assert all("first_step" not in c for c in m["data"]["chunks"])
    assert len(m["data"]["chunks"]) == CHUNKS  # global_indices.npy is no chunk
    report = audit(release)
    assert data_findings(report) == []
    evidence = report.criteria["data_order"].evidence
    assert (evidence["steps_mapped"], evidence["global_indices_positions"]) == (28, total)


def test_global_indices_out_of_range_and_too_short(release):
    total = CHUNKS * SEQUENCES
    order = np.arange(27 * 8 + 3, dtype=np.int64)  # 27 whole steps of 8, and 3 positions of step 28
    order[100] = total
    _global_release(release, order)
    report = audit(release)
    bad = only(report, "data_order.global-indices-invalid")
    assert bad.path == "data/global_indices.npy"
    assert bad.message == (f"data/global_indices.npy: 1 index(es) outside [0, {total}) (the chunks' sequences), "
                           f"first at position 100: {total}")  # fmt: skip
    gap = only(report, "data_order.incomplete")
    assert gap.message == ("data/global_indices.npy holds 219 positions, whole batches of 8 for 27 steps: "
                           "step 28 has no data")  # fmt: skip
    assert report.criteria["data_order"].evidence["steps_mapped"] == 27


def test_global_indices_not_integer(release):
    _global_release(release, np.arange(CHUNKS * SEQUENCES, dtype=np.int64))
    np.save(release / "data/global_indices.npy", np.zeros((4, 56), np.float64))
    rehash(release, "data/global_indices.npy")
    f = only(audit(release), "data_order.global-indices-invalid")
    assert f.message == "data/global_indices.npy: dtype float64 is not an integer type"


def test_declared_index_must_be_the_one_beside_the_bin(release):
    convert(release, "megatron")
    (release / "data/train_000.idx").rename(release / "data/elsewhere.idx")
    (release / "data/train_000.idx").symlink_to("elsewhere.idx")  # inside the release, but Megatron reads
    (release / "data/train_000.bin").rename(release / "data/other.bin")  # the .idx beside the link's target
    (release / "data/train_000.bin").symlink_to("other.bin")
    f = only(audit(release), "data.index-undeclared")
    assert f.message == "data/train_000.idx is a link to another file than the .idx beside data/train_000.bin"


# -- hostile bytes -------------------------------------------------------------------------------


def _mutate(raw: bytes, rng: random.Random) -> bytes:
    b = bytearray(raw)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(3)
        if op == 0 and b:
            b[rng.randrange(len(b))] = rng.randrange(256)
        elif op == 1:
            del b[rng.randrange(len(b) + 1) :]
        else:
            b += rng.randbytes(rng.randint(1, 20))
    return bytes(b)


@pytest.mark.parametrize("layout", ["npy-1d", "megatron", "parquet"])
def test_mutated_files_give_findings_not_exceptions(tmp_path, layout):
    """Random byte edits of each format: every scan ends in counts or one-line problems, never raises."""
    ids = (np.arange(16 * 9) % 250).reshape(16, 9)
    WRITERS[layout](tmp_path, "good", ids, ["s"] * 16)
    target = tmp_path / ("good.idx" if layout == "megatron" else f"good{SUFFIX[layout]}")
    original, rng, fmt = target.read_bytes(), random.Random(layout), DataFormat(kind=KIND[layout], tokens_per_sequence=9)
    assert scan_chunk(tmp_path / f"good{SUFFIX[layout]}", fmt, VOCAB).tokens == 144
    broken = 0
    for _ in range(300):
        target.write_bytes(_mutate(original, rng))
        scan = scan_chunk(tmp_path / f"good{SUFFIX[layout]}", fmt, VOCAB)
        assert all("\n" not in p.message for p in scan.errors)
        broken += bool(scan.errors)
    assert broken > 100  # the edits do reach the readers' checks
