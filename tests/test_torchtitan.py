"""torchtitan output, from a real run: torchtitan 0.3.0's own ``torchtitan.train`` (through
tests/torchtitan_run/launch.py, which makes it run on CPU with torch 2.13) trains its Llama 3 model at 2
layers, dim 64, for 20 steps with a PyTorch Distributed Checkpoint every 5 steps and TensorBoard metrics;
``init`` maps ``checkpoint/step-N/`` (``.metadata`` + ``__0_0.distcp``), the saved job config and the event
file to a manifest with no hand editing, and the audit reads the DCP metadata through its allow-list, the
model tensors against the config, the AdamW moments (keyed by the fused ``wqkv``) and the TensorBoard log
against torchtitan's own schedule."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import manifest, run_cli, write_manifest

pytest.importorskip("torchtitan", reason="torchtitan is not installed (pip install --no-deps torchtitan==0.3.0 "
                                         "tyro torchdata spmd_types==0.2.3 einops torch_checkpointing; see README)")  # fmt: skip
pytest.importorskip("tensorboard", reason="tensorboard is not installed (pip install 'llm360-audit[tensorboard]')")

pytestmark = pytest.mark.slow  # a real training run, then init and the audit as subprocesses
RUN = Path(__file__).resolve().parent / "torchtitan_run"
STEPS, EVERY = 20, 5
CHECKPOINTS = [f"checkpoint/step-{s}" for s in range(EVERY, STEPS + 1, EVERY)]
TENSORS = 21  # tok_embeddings, norm, lm_head and 9 per block of 2 (wq, wk, wv saved unfused)
OPTIMIZED = 17  # the parameters the optimizer sees: one fused wqkv per block


@pytest.fixture(scope="session")
def titan_run(tmp_path_factory) -> Path:
    """One real torchtitan run per session, kept exactly as torchtitan wrote it (the job: --module tinytitan
    --config tiny, tests/torchtitan_run/tinytitan.py: seeded token ids in memory, no download, no tokenizer)."""
    out = tmp_path_factory.mktemp("torchtitan") / "release"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    cmd = [sys.executable, str(RUN / "launch.py"), "--module", "tinytitan", "--config", "tiny",
           "--dump_folder", str(out)]  # fmt: skip
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, cwd=out.parent)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    return out


@pytest.fixture
def run_copy(titan_run, tmp_path) -> Path:
    dst = tmp_path / "release"
    shutil.copytree(titan_run, dst)
    return dst


def _event_file(root: Path) -> Path:
    [path] = root.glob("tb/*/events.out.tfevents.*")
    return path


def test_the_run_is_torchtitan_layout(titan_run):
    for name in CHECKPOINTS:
        assert {p.name for p in (titan_run / name).iterdir()} == {".metadata", "__0_0.distcp"}
    assert json.loads((titan_run / "config.json").read_text())["model_spec"]["name"] == "llama3"
    assert _event_file(titan_run).stat().st_size > 0


def test_the_metadata_reader_gives_the_items_and_loads_them_weights_only(titan_run):
    import torch

    from audit.readers.dcp import load_item, read_metadata

    d = titan_run / CHECKPOINTS[1]
    meta = read_metadata(d / ".metadata", f"{CHECKPOINTS[1]}/.metadata")
    wq = meta.items["layers.0.attention.qkv_linear.wq.weight"]
    assert (wq.kind, wq.dtype, wq.shape) == ("tensor", "F32", (64, 64))
    assert meta.items["optimizer.state.layers.0.attention.qkv_linear.wqkv.weight.exp_avg"].shape == (192, 64)
    assert load_item(d, meta, "train_state.step", CHECKPOINTS[1]) == 10
    assert load_item(d, meta, "lr_scheduler.last_epoch", CHECKPOINTS[1]) == 10
    # The same values torch's own DCP loader reads (run here on a trusted file, the test's own run).
    from torch.distributed.checkpoint import FileSystemReader

    theirs = FileSystemReader(str(d)).read_metadata()
    assert set(theirs.state_dict_metadata) == set(meta.items)
    got = load_item(d, meta, "norm.weight", CHECKPOINTS[1])
    state = {"norm.weight": torch.empty(64)}
    import torch.distributed.checkpoint as dcp

    dcp.load(state, checkpoint_id=str(d), no_dist=True)
    assert torch.equal(got, state["norm.weight"])


class Payload:
    """Unpickling this creates ``path``: proof that a pickle was loaded."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


def test_a_hostile_metadata_runs_nothing_and_is_named(titan_run, tmp_path):
    from audit.readers.dcp import DcpError, read_metadata

    marker = tmp_path / "payload-ran"
    bad = tmp_path / ".metadata"
    bad.write_bytes(pickle.dumps({"state_dict_metadata": Payload(marker)}, protocol=4))
    with pytest.raises(DcpError, match=r"step-9/\.metadata: .*(os|posix)\.system"):
        read_metadata(bad, "step-9/.metadata")
    assert not marker.exists(), "a payload ran"


def test_a_damaged_metadata_is_a_one_line_error_never_a_crash(titan_run, tmp_path):
    import random

    from audit.readers.dcp import DcpError, read_metadata

    good = (titan_run / CHECKPOINTS[0] / ".metadata").read_bytes()
    rng, bad, read = random.Random(0), tmp_path / ".metadata", 0
    for i in range(150):
        data = bytearray(good[: rng.randrange(len(good))] if i % 3 == 0 else good)
        for _ in range(rng.randrange(1, 4)):
            if data:
                data[rng.randrange(len(data))] = rng.randrange(256)
        bad.write_bytes(bytes(data))
        try:
            read_metadata(bad, "x/.metadata")
            read += 1
        except DcpError as exc:
            assert str(exc).startswith("x/.metadata: ") and "\n" not in str(exc)
    assert read < 150  # most damage is noticed


def test_the_schedule_is_torchtitans_own(titan_run):
    import torch
    from torchtitan.components.optimizer.lr_scheduler import LRSchedulersContainer

    from audit.readers.tensorboard_log import read_event_file
    from audit.spec.schedule import lr_at

    for decay_type, warmup, ratio, factor, total in (("cosine", 4, 0.8, 0.1, 20), ("linear", 2, None, 0.0, 10),
                                                     ("sqrt", 3, 0.5, 0.2, 12), ("linear", 30, 0.8, 0.0, 20)):  # fmt: skip
        config = LRSchedulersContainer.Config(warmup_steps=warmup, decay_ratio=ratio, decay_type=decay_type,
                                              min_lr_factor=factor)  # fmt: skip
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
        lam = config.build(optimizers=[opt], training_steps=total).schedulers[0].lr_lambdas[0]
        w = min(warmup, total)
        d = min(round(total * ratio) if ratio is not None else total - w, total - w)
        for step in range(1, total + 1):
            want = 1e-3 * lam(step - 1)  # LambdaLR: update s runs at count s - 1
            got = lr_at(step, schedule=f"torchtitan-wsd-{decay_type}", peak_lr=1e-3, final_lr=1e-3 * factor,
                        warmup_steps=w, total_steps=total, decay_steps=d)  # fmt: skip
            assert got == pytest.approx(want, rel=1e-12, abs=1e-18), (decay_type, step)
    # ... and what the run itself logged (TensorBoard holds float32)
    log = read_event_file(_event_file(titan_run))
    for step, logged in log.rows.series("learning_rate"):
        want = lr_at(step, schedule="torchtitan-wsd-cosine", peak_lr=1e-3, final_lr=1e-4, warmup_steps=4,
                     total_steps=STEPS, decay_steps=16)  # fmt: skip
        assert torch.tensor(want, dtype=torch.float32).item() == logged, step


def _init(root: Path, *extra: str) -> dict:
    r = run_cli("init", str(root), *extra)
    assert r.returncode == 0, r.stdout + r.stderr
    return manifest(root)


def _audit(root: Path, out: Path, *extra: str) -> tuple[int, dict]:
    r = run_cli(str(root), "--replay", "none", "--out", str(out), *extra)
    assert "Traceback" not in r.stdout + r.stderr, r.stderr
    return r.returncode, json.loads((out / "report.json").read_text())


def _criterion(report: dict, name: str) -> dict:
    crits = report["criteria"]
    return next(c for c in crits if c["criterion"] == name) if isinstance(crits, list) else crits[name]


#: What a bare torchtitan dump folder lacks: data, evaluations and code are not in it.
ERRORS = {"code.not-released", "data.not-released", "data_mix.not-declared", "data_order.incomplete",
          "metrics.no-evaluations"}  # fmt: skip


def test_init_declares_every_checkpoint_the_log_and_the_config_and_the_audit_raises_no_false_error(run_copy, tmp_path):
    m = _init(run_copy)
    assert [(c["step"], c["path"]) for c in m["checkpoints"]] == list(zip(range(EVERY, STEPS + 1, EVERY), CHECKPOINTS))
    for c in m["checkpoints"]:
        assert set(c["state"]) == {"weights", "optimizer", "scheduler", "data_cursor"}, c  # torchtitan saves no RNG
        assert {f["path"].rsplit("/", 1)[-1]: f["role"] for f in c["files"]} == {".metadata": "weights-index",
                                                                                "__0_0.distcp": "weights"}  # fmt: skip
        assert c["tokens"] == c["step"] * 4 * 32  # train_state.ntokens_seen
    log = m["metrics"]["training_log"]
    assert log["path"] == _event_file(run_copy).relative_to(run_copy).as_posix() and log["format"] == "tensorboard"
    t = m["config"]["training"]
    assert m["config"]["model"] == "config.json"
    assert t["lr_schedule"] == {"name": "torchtitan-wsd-cosine", "peak_lr": 0.001, "final_lr": 0.001 * 0.1,
                                "warmup_steps": 4, "total_steps": STEPS, "decay_steps": 16}  # fmt: skip
    assert t["optimizer"] == {"name": "adamw", "betas": [0.9, 0.95], "eps": 1e-8, "weight_decay": 0.1,
                              "implementation": "fused"}  # fmt: skip
    assert (t["batch_size"], t["sequence_length"], t["precision"], t["grad_clip"], t["seed"]) == (4, 32, "fp32", 1.0, 42)

    code, report = _audit(run_copy, tmp_path / "report")  # hashed
    errors = {f["id"] for f in report["findings"] if f["severity"] == "error"}
    assert errors == ERRORS, errors
    ids = [f["id"] for f in report["findings"]]
    assert ids.count("checkpoints.dcp-read") == len(CHECKPOINTS) and "checkpoints.pickle-unsafe" not in ids
    ck = _criterion(report, "model_checkpoints")["evidence"]
    assert ck["tensors_checked"] == TENSORS * len(CHECKPOINTS) and ck["files_hashed"] == 2 * len(CHECKPOINTS)
    assert (ck["first_step"], ck["last_step"]) == (EVERY, STEPS)
    opt = _criterion(report, "optimizer_checkpoints")["evidence"]
    assert opt["checkpoints_with_optimizer"] == len(CHECKPOINTS)
    assert opt["moment_tensors_checked"] == 2 * OPTIMIZED * len(CHECKPOINTS)
    assert "optimizer.not-released" not in ids and "optimizer.moments-missing" not in ids
    assert _criterion(report, "metrics")["evidence"]["steps_logged"] == STEPS
    assert "metrics.lr-schedule-mismatch" not in ids
    config = _criterion(report, "config")
    assert config["status"] == "pass" and config["evidence"]["architecture"] == "torchtitan llama3 (tiny)"
    assert code == 1  # the missing data and code fail the audit, nothing else


def _distcp_tensor_offset(root: Path, ck: str, name: str) -> int:
    """Where the data of tensor ``name`` begins in the .distcp: its item is a torch.save zip whose last
    member before the directory is the storage; the first stored byte of that member, found from its header."""
    import zipfile
    import io

    from audit.readers.dcp import read_metadata

    meta = read_metadata(root / ck / ".metadata", ".metadata")
    s = meta.items[name].storage[0]
    blob = (root / ck / s.file).read_bytes()[s.offset: s.offset + s.length]
    with zipfile.ZipFile(io.BytesIO(blob)) as z:
        info = next(i for i in z.infolist() if i.filename.split("/")[-2:-1] == ["data"])
    name_len = int.from_bytes(blob[info.header_offset + 26: info.header_offset + 28], "little")
    extra_len = int.from_bytes(blob[info.header_offset + 28: info.header_offset + 30], "little")
    return s.offset + info.header_offset + 30 + name_len + extra_len


def test_a_changed_tensor_a_truncated_distcp_and_a_changed_hyperparameter_are_found(run_copy, tmp_path):
    m = _init(run_copy)
    m["config"]["training"]["optimizer"]["weight_decay"] = 0.2
    write_manifest(run_copy, m)
    changed = run_copy / CHECKPOINTS[2] / "__0_0.distcp"
    at = _distcp_tensor_offset(run_copy, CHECKPOINTS[2], "layers.1.feed_forward.w2.weight")
    data = bytearray(changed.read_bytes())
    data[at] ^= 0x01  # one bit of one weight value: same size, the metadata still reads
    changed.write_bytes(bytes(data))
    cut = run_copy / CHECKPOINTS[1] / "__0_0.distcp"
    cut.write_bytes(cut.read_bytes()[:-4096])
    _, report = _audit(run_copy, tmp_path / "report")
    found = {(f["id"], f.get("path")) for f in report["findings"]}
    assert ("checkpoints.sha256-mismatch", f"{CHECKPOINTS[2]}/__0_0.distcp") in found, found
    assert ("checkpoints.dcp-invalid", f"{CHECKPOINTS[1]}/__0_0.distcp") in found, found
    assert any(i == "config.recorded-mismatch" for i, _ in found)


def test_structure_only_audit_of_a_hostile_metadata_and_a_broken_event_file(run_copy, tmp_path):
    """One --no-hash run for two defects: a .metadata whose pickle would run a command (never loaded: the
    static scan and the allow-list both name it), and a TensorBoard event file cut short."""
    marker = tmp_path / "payload-ran"
    (run_copy / CHECKPOINTS[1] / ".metadata").write_bytes(pickle.dumps({"x": Payload(marker)}, protocol=4))
    m = _init(run_copy, "--no-hash")
    assert [c["step"] for c in m["checkpoints"]] == [5, 10, 15, 20]  # step-10: its step from the name
    event = _event_file(run_copy)
    event.write_bytes(event.read_bytes()[:-7])
    code, report = _audit(run_copy, tmp_path / "report", "--no-hash")
    assert not marker.exists(), "a payload ran"
    rel = f"{CHECKPOINTS[1]}/.metadata"
    found = {(f["id"], f["severity"]) for f in report["findings"] if f.get("path") == rel}
    assert {("checkpoints.pickle-unsafe", "error"), ("checkpoints.dcp-invalid", "error")} <= found, found
    errors = {(f["id"], f.get("path")) for f in report["findings"] if f["severity"] == "error"}
    log = event.relative_to(run_copy).as_posix()
    assert ("metrics.malformed", log) in errors, errors
    msg = next(f["message"] for f in report["findings"] if f["id"] == "metrics.malformed")
    assert log in msg and "truncated or corrupt" in msg
    # Besides what a bare dump folder lacks: the two defects, the size of the cut file, and step-10's facts
    # (its optimizer state unreadable) — nothing else.
    assert {i for i, _ in errors} - ERRORS <= {"metrics.malformed", "metrics.size-mismatch", "checkpoints.pickle-unsafe",
                                              "checkpoints.dcp-invalid", "optimizer.not-released",
                                              "optimizer.moments-missing"}, errors  # fmt: skip


REPLAY_COMMAND = ("{python} -m audit.frameworks.torchtitan_driver --checkpoint {checkpoint} --start-step {start_step} "
                  "--steps {steps} --total-steps {total_steps} --out {out} -- {python} launch.py --module tinytitan "
                  "--config tiny")  # fmt: skip


def test_without_a_declared_command_the_replay_says_what_to_declare(run_copy, tmp_path):
    """torchtitan's output does not say how the job was launched: the segment is skipped with the command
    to declare, and that example is one the command engine accepts (every placeholder known)."""
    from audit.frameworks.torchtitan import REPLAY_COMMAND_EXAMPLE
    from audit.replay.engines import PLACEHOLDERS

    _init(run_copy)
    _, report = _audit(run_copy, tmp_path / "report", "--replay", "1", "--no-hash")
    [seg] = report["replay"]["segments"]
    assert seg["status"] == "skipped" and (seg["start_step"], seg["end_step"]) == (EVERY, 2 * EVERY), seg
    assert "--module/--config" in seg["reason"] and f'"{REPLAY_COMMAND_EXAMPLE}"' in seg["reason"], seg
    assert "--allow-exec" in seg["reason"]
    REPLAY_COMMAND_EXAMPLE.format(**{p: p for p in PLACEHOLDERS})
    assert REPLAY_COMMAND.split(" -- ")[0] == REPLAY_COMMAND_EXAMPLE.split(" -- ")[0]  # the test's own is the same


def test_the_driver_stops_after_the_segment_on_the_jobs_own_schedule(titan_run, tmp_path):
    """--total-steps: the job runs to the segment's end (training.steps) on the schedule of the whole run
    (lr_scheduler.total_steps), and its checkpoint of the segment's end is the released one, bit for bit."""
    import torch

    from audit.readers.dcp import load_item, read_metadata
    from audit.readers.tensorboard_log import read_event_file

    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "audit.frameworks.torchtitan_driver", "--checkpoint", str(titan_run / CHECKPOINTS[1]),
           "--start-step", "10", "--steps", "5", "--total-steps", str(STEPS), "--out", str(out), "--", sys.executable,
           "launch.py", "--module", "tinytitan", "--config", "tiny"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, cwd=RUN)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    dump = tmp_path / "torchtitan-dump"
    assert [p.name for p in (dump / "checkpoint").iterdir()] == ["step-15"]  # moved out: the folder is empty
    assert not any((dump / "checkpoint" / "step-15").iterdir())
    [events] = dump.glob("tb/*/events.out.tfevents.*")
    assert max(step for step, _ in read_event_file(events).rows.items()) == 15  # it stopped: no step 16..20 trained
    logged = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    released = dict(read_event_file(_event_file(titan_run)).rows.items())
    assert [row["step"] for row in logged] == [11, 12, 13, 14, 15]
    assert all(row["learning_rate"] == released[row["step"]]["learning_rate"] for row in logged)
    ours, theirs = read_metadata(out / ".metadata", "out"), read_metadata(titan_run / CHECKPOINTS[2] / ".metadata", "r")
    assert set(ours.items) == set(theirs.items)
    for name in theirs.tensors:
        assert torch.equal(load_item(out, ours, name, "out"), load_item(titan_run / CHECKPOINTS[2], theirs, name, "r")), name
    state = json.loads((out / "training_state.json").read_text())
    assert state["step"] == 15 and state["environment"]["torchtitan_version"] == "0.3.0"


def _with_code(root: Path) -> dict:
    """The run as its author would publish it: plus the job's code (the launcher and the job module) as a git
    repository pinned at a commit, whose replay command is the job's launch through the torchtitan driver."""
    code = root / "code"
    code.mkdir()
    for name in ("launch.py", "tinytitan.py"):
        shutil.copy2(RUN / name, code / name)
    git = ["git", "-C", str(code), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    for args in (["init", "-q"], ["add", "."], ["commit", "-qm", "job"]):
        subprocess.run(git + args, check=True, capture_output=True)
    commit = subprocess.run(git + ["rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
    m = _init(root)
    m["code"] = {"repo": "code", "commit": commit, "entrypoint": "launch.py", "replay_command": REPLAY_COMMAND}
    write_manifest(root, m)
    return m


def _replay(root: Path, out: Path, *extra: str) -> dict:
    """A one-segment replay by an auditor who set OMP_NUM_THREADS=1 (which the command engine passes on)."""
    r = run_cli(str(root), "--replay", "1", "--allow-exec", "--out", str(out), *extra, env={"OMP_NUM_THREADS": "1"})
    assert "Traceback" not in r.stdout + r.stderr, r.stderr
    report = json.loads((out / "report.json").read_text())
    [segment] = report["replay"]["segments"]
    return segment


def test_torchtitans_own_resume_replays_a_segment_bit_exactly(run_copy, tmp_path):
    _with_code(run_copy)
    seg = _replay(run_copy, tmp_path / "report")
    assert (seg["start_step"], seg["end_step"], seg["engine"]) == (EVERY, 2 * EVERY, "command"), seg
    env = json.loads((tmp_path / "report" / "report.json").read_text())["replay"]["environment"]
    assert env["omp_num_threads"] == "1" and env["torchtitan_version"] == "0.3.0", env  # the auditor's threads
    assert seg["status"] == "bit-exact", seg
    assert seg["compared"] == ["log", "state"]
    # every tensor item of .metadata: the weights, and exp_avg, exp_avg_sq and step of each optimized parameter
    assert seg["tensors_compared"] == TENSORS + 3 * OPTIMIZED and seg["tensors_differing"] == 0


def test_one_ulp_in_a_later_checkpoint_is_a_mismatch_at_its_step(run_copy, tmp_path):
    _with_code(run_copy)
    target = run_copy / CHECKPOINTS[1] / "__0_0.distcp"
    at = _distcp_tensor_offset(run_copy, CHECKPOINTS[1], "layers.0.feed_forward.w1.weight")
    data = bytearray(target.read_bytes())
    data[at] ^= 0x01  # the lowest mantissa bit of one float32 (little-endian): one ULP
    target.write_bytes(bytes(data))
    _init(run_copy)  # the changed file hashed anew: only the replay can tell
    seg = _replay(run_copy, tmp_path / "report", "--tolerance", "0")
    assert seg["status"] == "mismatch" and seg["first_divergent_step"] == 2 * EVERY, seg
    assert seg["tensors_differing"] == 1 and seg["max_ulp"] == 1, seg
    assert seg["tensors"][0]["name"] == "layers.0.feed_forward.w1.weight"
