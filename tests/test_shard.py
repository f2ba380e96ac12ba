"""--shard I/N and merge: N partial audits combine into exactly the report of one run."""

from __future__ import annotations

import json

import pytest

from audit.core.auditor import Auditor
from audit.core.evidence import Evidence, ShardPart
from audit.core.options import AuditOptions, ScopeOptions
from audit.core.merge import merge_reports, read_shard_reports
from audit.core.artifacts import write_artifacts
from audit.replay import ReplayOptions
from audit.spec.report import ReplayCoverage
from audit.core.shard import Shard, ShardError
from conftest import manifest, run_cli, write_manifest

REPLAY = ReplayOptions(mode="3", seed=1)


def run(root, shard=None, replay=REPLAY):
    return Auditor().audit(root, AuditOptions(replay=replay, evidence=ShardPart(shard) if shard else Evidence()))


def comparable(report) -> dict:
    data = json.loads(report.model_dump_json())
    for seg in data["replay"]["segments"]:
        seg.pop("wall_s")  # the only measurement that differs between two runs of the same segment
    return data


def split(root, n, replay=REPLAY):
    return [run(root, Shard(i, n), replay) for i in range(1, n + 1)]


def test_shard_parse():
    assert Shard.parse("2/3") == Shard(2, 3)
    for bad in ("0/3", "4/3", "3", "a/b", "1/0"):
        with pytest.raises(ShardError):
            Shard.parse(bad)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_merged_shards_equal_single_run(built_release, n):
    single = run(built_release)
    assert single.verdict == "pass" and len(single.replay.segments) == 3
    shards = split(built_release, n)
    merged = merge_reports(shards, built_release, AuditOptions())
    assert comparable(merged) == comparable(single)
    assert merged.shard is None and merged.scope.bytes_hashed == single.scope.bytes_hashed > 0
    assert merged.replay.coverage == single.replay.coverage == ReplayCoverage(segments_total=7, segments_replayed=3)
    assert sum(s.replay.coverage.segments_replayed for s in shards) == 3  # each shard counts its own part
    assert merged.level == "reproduced (sampled 3/7)"


def test_shards_split_the_expensive_work(built_release):
    single = run(built_release)
    shards = split(built_release, 3)
    hashed = [set(s.shard.hashes) for s in shards]
    assert all(hashed) and sum(map(len, hashed)) == len(set().union(*hashed))  # disjoint, none empty
    m = manifest(built_release)
    declared = {f["path"] for c in m["checkpoints"] for f in c["files"]} | {c["path"] for c in m["data"]["chunks"]}
    declared |= {m["metrics"][k]["path"] for k in ("training_log", "evaluations")}
    assert set().union(*hashed) == declared
    scanned = [set(s.shard.chunk_scans) for s in shards]
    assert sorted(p for s in scanned for p in s) == sorted(c["path"] for c in m["data"]["chunks"])
    assert [len(s.replay.segments) for s in shards] == [1, 1, 1]
    assert sum(s.scope.bytes_hashed for s in shards) == single.scope.bytes_hashed
    assert "Shard 2/3" in shards[1].partial_note()


def test_aggregate_findings_are_recomputed_not_concatenated(release):
    """Defects owned by different shards: the merged findings, criteria and summaries are the single run's."""
    m = manifest(release)
    chunk = release / m["data"]["chunks"][1]["path"]  # chunk 1: shard 2 of 3
    lines = chunk.read_bytes().splitlines(keepends=True)
    chunk.write_bytes(b"".join(lines[:-1]))  # one sequence fewer: hash, count and step coverage break
    for k in (2, 4):  # optimizer state gone for checkpoints owned by shards 3 and 2
        ck = m["checkpoints"][k]
        ck["state"] = [s for s in ck["state"] if s != "optimizer"]
        ck["files"] = [f for f in ck["files"] if f["role"] != "optimizer"]
    write_manifest(release, m)
    replay = ReplayOptions(mode="none")
    single = run(release, replay=replay)
    assert single.verdict == "fail"
    shards = split(release, 3, replay)
    partial = [{f.id for f in s.findings} for s in shards]
    # sizes are structural (every shard checks them); the recount is the owner's (shard 2)
    assert all("data.size-mismatch" in p for p in partial)
    assert "data.sequence-count-mismatch" in partial[1] and "data.sequence-count-mismatch" not in partial[0] | partial[2]
    merged = merge_reports(shards, release, AuditOptions())
    assert comparable(merged) == comparable(single)
    opt = [f for f in merged.findings if f.criterion == "optimizer_checkpoints" and f.severity == "error"]
    assert opt and opt == [f for f in single.findings if f.criterion == "optimizer_checkpoints" and f.severity == "error"]


def test_merge_refuses_an_incomplete_or_inconsistent_set(release, tmp_path):
    replay = ReplayOptions(mode="none")
    shards = split(release, 3, replay)
    with pytest.raises(ShardError, match="missing 2/3"):
        merge_reports([shards[0], shards[2]], release, AuditOptions())
    with pytest.raises(ShardError, match="repeated 1/3"):
        merge_reports([shards[0], shards[0], shards[1], shards[2]], release, AuditOptions())
    other = run(release, Shard(2, 3), ReplayOptions(mode="all"))
    with pytest.raises(ShardError, match="replay options"):
        merge_reports([shards[0], other, shards[2]], release, AuditOptions())
    (release / "llm360.yaml").write_text((release / "llm360.yaml").read_text() + "\n# edited\n")
    with pytest.raises(ShardError, match="not the manifest the shards audited"):
        merge_reports(shards, release, AuditOptions())
    single = tmp_path / "single"
    write_artifacts(run(release, replay=replay), single)
    with pytest.raises(ShardError, match="not the report of a shard"):
        read_shard_reports([single])


def test_cli_shards_and_merge(release, tmp_path):
    outs = [tmp_path / f"s{i}" for i in (1, 2)]
    for i, out in enumerate(outs, 1):
        r = run_cli(str(release), "--shard", f"{i}/2", "--replay", "none", "--no-cache", "--out", str(out), "-q")
        assert r.returncode == 0, r.stderr
        assert f"shard {i}/2" in r.stdout
        assert "Shard" in (out / "report.md").read_text()
    merged = tmp_path / "merged"
    r = run_cli("merge", *map(str, outs), "--out", str(merged), "-q")
    assert r.returncode == 0, r.stderr
    data = json.loads((merged / "report.json").read_text())
    assert data["shard"] is None and data["verdict"] == "pass"
    assert {"report.html", "report.sarif", "report.junit.xml"} <= {p.name for p in merged.iterdir()}
    r = run_cli("merge", str(outs[0]), "--out", str(tmp_path / "m2"))
    assert r.returncode == 2 and "missing 2/2" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "m2").exists()
    r = run_cli(str(release), "--shard", "3/2", "--out", str(tmp_path / "x"))
    assert r.returncode == 2 and "between 1 and 2 (N)" in r.stderr
    (tmp_path / "junk.json").write_text("{")
    r = run_cli("merge", str(tmp_path / "junk.json"))
    assert r.returncode == 2 and "not a report.json" in r.stderr and "Traceback" not in r.stderr


def test_merge_with_megatron_chunks_and_a_format_error(release):
    """Recounts of another format (and its format errors) travel through the shard reports intact."""
    from test_data_formats import convert, rehash

    convert(release, "megatron")
    path = release / "data/train_003.bin"  # chunk 3: shard 2 of 2
    path.write_bytes(path.read_bytes()[:-10])
    rehash(release, "data/train_003.bin")
    replay = ReplayOptions(mode="none")
    single = run(release, replay=replay)
    assert "data.malformed-file" in {f.id for f in single.findings}
    shards = split(release, 2, replay)
    assert any(s["errors"] for s in shards[1].shard.chunk_scans.values())
    assert comparable(merge_reports(shards, release, AuditOptions())) == comparable(single)


def test_merged_shards_with_a_data_sample_equal_the_single_run(built_release):
    """The chunk sample is drawn over all chunks, then each shard recounts the sampled chunks it owns."""
    replay = ReplayOptions(mode="none")

    def sampled(shard=None):
        return Auditor().audit(built_release, AuditOptions(replay=replay, scope=ScopeOptions(data_sample=0.5, data_sample_seed=3),
                                                           evidence=ShardPart(shard) if shard else Evidence()))  # fmt: skip

    single = sampled()
    assert single.criteria["data_availability"].evidence["sample"]["chunks_recounted"] == 4  # of 7
    shards = [sampled(Shard(i, 2)) for i in (1, 2)]
    assert sum(len(s.shard.chunk_scans) for s in shards) == 4
    assert comparable(merge_reports(shards, built_release, AuditOptions())) == comparable(single)
