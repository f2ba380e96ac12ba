"""Where the report goes and what happens when it cannot: --out checked before any work, the default
for `llm360-audit .` outside the release, files with the umask's mode, a best-effort hash cache, and a
full disk as one clear line — each through the CLI, in a child process."""

from __future__ import annotations

import json
import stat

from conftest import run_cli

AUDIT = ("--replay", "none", "--quiet")


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_out_that_is_a_file_is_a_usage_error_before_any_work(release, tmp_path):
    target = tmp_path / "taken"
    target.write_text("not a directory")
    r = run_cli(str(release), *AUDIT, "--out", str(target))
    assert r.returncode == 2
    assert r.stderr.strip() == f"llm360-audit: error: --out {target} is a file, not a directory"
    assert target.read_text() == "not a directory"


def test_out_below_a_file_is_a_usage_error(release, tmp_path):
    (tmp_path / "taken").write_text("x")
    r = run_cli(str(release), *AUDIT, "--out", str(tmp_path / "taken" / "report"))
    assert r.returncode == 2
    assert f"cannot be created: {tmp_path / 'taken'} is a file" in r.stderr


def test_default_out_from_inside_the_release_goes_to_the_cache(release, tmp_path):
    cache = tmp_path / "cache"
    before = sorted(p.relative_to(release) for p in release.rglob("*"))
    r = run_cli(".", *AUDIT, "--no-cache", cwd=release, env={"XDG_CACHE_HOME": str(cache)})
    assert r.returncode == 0, r.stderr
    reports = list((cache / "llm360-audit" / "reports").iterdir())
    assert len(reports) == 1 and reports[0].name.startswith("release-")
    assert f"the report goes to {reports[0]}" in r.stderr
    assert json.loads((reports[0] / "report.json").read_text())["verdict"] == "pass"
    assert sorted(p.relative_to(release) for p in release.rglob("*")) == before  # nothing written inside


def test_artifacts_and_the_manifest_follow_the_umask(release, tmp_path):
    for umask, want in ((0o022, 0o644), (0o077, 0o600)):
        out = tmp_path / f"out-{umask:o}"
        prelude = f"import os; os.umask({umask:#o})"
        r = run_cli(str(release), *AUDIT, "--no-cache", "--out", str(out), prelude=prelude)
        assert r.returncode == 0, r.stderr
        assert {_mode(p) for p in out.rglob("*") if p.is_file()} == {want}
        manifest = release / "llm360.yaml"
        kept = manifest.read_bytes()
        manifest.unlink()  # a manifest init creates has the umask's mode; one it refreshes keeps its own
        assert run_cli("init", str(release), "--no-cache", prelude=prelude).returncode == 0
        assert _mode(manifest) == want
        manifest.write_bytes(kept)


def test_an_unusable_hash_cache_is_skipped_with_one_note(release, tmp_path):
    cache_file = tmp_path / "not-a-dir"
    cache_file.write_text("a file where the cache directory should be")
    broken = tmp_path / "broken" / "llm360-audit"
    broken.mkdir(parents=True)
    (broken / "hashes.sqlite").write_bytes(b"this is not an SQLite database" * 100)
    for env, where in (({"XDG_CACHE_HOME": str(cache_file)}, str(cache_file)), ({"XDG_CACHE_HOME": str(broken.parent)}, "hashes.sqlite")):
        r = run_cli(str(release), *AUDIT, "--out", str(tmp_path / "out"), env=env)
        assert r.returncode == 0, r.stderr
        notes = [line for line in r.stderr.splitlines() if "hashed without the cache" in line]
        assert len(notes) == 1 and where in notes[0]
        report = json.loads((tmp_path / "out" / "report.json").read_text())
        assert report["scope"]["bytes_hashed"] > 0 and where in report["scope"]["hash_cache_problem"]


def test_a_full_disk_for_out_is_one_clear_line_and_keeps_the_previous_report(release, tmp_path):
    out = tmp_path / "out"
    assert run_cli(str(release), *AUDIT, "--no-cache", "--out", str(out)).returncode == 0
    previous = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    # The kernel refuses any file beyond 4 KiB (EFBIG, as a full disk refuses with ENOSPC): report.html cannot be written.
    prelude = ("import resource, signal; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
               "resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))")  # fmt: skip
    r = run_cli(str(release), *AUDIT, "--no-cache", "--out", str(out), prelude=prelude)
    assert r.returncode == 3
    assert r.stderr.strip() == (f"llm360-audit: error: cannot write the report into {out}: File too large "
                                "(any previous report there is intact)")  # fmt: skip
    assert "internal error" not in r.stderr and "Traceback" not in r.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == previous
    assert not [p for p in out.rglob("*.tmp")]
