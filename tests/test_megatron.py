"""Megatron-LM's legacy checkpoint layout (``--ckpt-format torch``), from a run trained for real here.

Megatron-LM's training loop (``megatron/training/``) is not in the megatron-core wheel and does not run
on CPU, so no Megatron-LM command wrote this release. What is real: megatron-core's own ``GPTModel``
(local layer spec, tensor and pipeline size 1, gloo) trained 12 iterations on CPU, its state dict keys,
its ``OptimizerParamScheduler`` (Megatron's LR arithmetic); what stands in for Megatron-LM is named in
tests/megatron_run/train.py: the argument Namespace, torch's AdamW (what Megatron's FP32Optimizer wraps
and saves), the data, and the save, which writes the structure of megatron/training/checkpointing.py:
``iter_0000004/ … iter_0000012/`` each with ``mp_rank_00/model_optim_rng.pt`` = ``{args,
checkpoint_version, iteration, model, optimizer, opt_param_scheduler, rng_state,
num_floating_point_operations_so_far}``, and ``latest_checkpointed_iteration.txt``; its args hold
megatron-core's enums and torch dtypes as Megatron-LM sets them; ``tensorboard/`` holds the TensorBoard
log ``training_log`` writes (its exact tags). ``init`` maps it to a manifest with no hand editing; the
audit reads every file's tensors and moments (a pickle: scanned, then torch.load(weights_only=True) with
argparse.Namespace and inert stand-ins for the enums allowed), its args (from the opcodes only) and the log."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import manifest, run_cli, write_manifest

pytest.importorskip("megatron.core", reason="megatron-core is not installed (pip install -e '.[test]')")

pytestmark = pytest.mark.slow  # a real training run, then init and the audit as subprocesses
ITERS = [4, 8, 12]
DIRS = [f"iter_{i:07d}" for i in ITERS]
FILE = "mp_rank_00/model_optim_rng.pt"
TENSORS = 28  # word and position embeddings, 12 per layer of 2, the final norm's weight and bias
TRACKER = "latest_checkpointed_iteration.txt"


@pytest.fixture(scope="session")
def megatron_run(megatron_saves) -> Path:
    """The run's legacy save directory (conftest's one run per session), kept as the script wrote it."""
    return megatron_saves[0]


@pytest.fixture
def run_copy(megatron_run, tmp_path) -> Path:
    dst = tmp_path / "release"
    shutil.copytree(megatron_run, dst)
    return dst


def _load(path: Path):
    from audit.readers.torch_pickle import load_weights_only

    return load_weights_only(path, path.name, numpy_arrays=True, namespaces=True)


def _real(v):
    """An inert enum record as megatron-core's own member (the test imports megatron-core; the auditor never does)."""
    import importlib

    from audit.readers.pickle_inert import InertEnum

    if isinstance(v, InertEnum):
        module, _, name = v.cls.rpartition(".")
        return getattr(importlib.import_module(module), name)(v.value)
    return [_real(i) for i in v] if isinstance(v, list) else v


def _save(obj, path: Path, tmp: Path) -> None:
    """torch.save of a checkpoint the auditor's loader read, its args' enums megatron-core's again, moved over
    ``path`` (the loaded tensors are memory-mapped from it)."""
    import torch

    for key, v in vars(obj["args"]).items():
        setattr(obj["args"], key, _real(v))
    torch.save(obj, tmp / "edited.pt")
    os.replace(tmp / "edited.pt", path)


def test_the_run_is_megatrons_legacy_layout(megatron_run):
    assert (megatron_run / TRACKER).read_text() == "12"
    for it, d in zip(ITERS, DIRS):
        obj = _load(megatron_run / d / FILE)
        assert set(obj) == {"args", "checkpoint_version", "iteration", "model", "optimizer", "opt_param_scheduler",
                            "rng_state", "num_floating_point_operations_so_far"}  # fmt: skip
        assert obj["iteration"] == it and obj["args"].consumed_train_samples == 4 * it
        assert "decoder.layers.1.self_attention.linear_qkv.weight" in obj["model"]  # megatron-core's own names
        assert obj["opt_param_scheduler"]["num_steps"] == 4 * it  # counted in samples


def test_the_schedules_are_megatron_cores_get_lr_exactly():
    import torch
    from megatron.core.optimizer_param_scheduler import OptimizerParamScheduler

    from audit.spec.schedule import lr_at

    for style, warmup, total, gbs in (("cosine", 3, 12, 4), ("linear", 5, 40, 3), ("constant", 2, 9, 1),
                                      ("cosine", 0, 17, 8)):  # fmt: skip
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        sched = OptimizerParamScheduler(opt, init_lr=0.0, max_lr=3e-4, min_lr=3e-5, lr_warmup_steps=warmup * gbs,
                                        lr_decay_steps=total * gbs, lr_decay_style=style, start_wd=0.1, end_wd=0.1,
                                        wd_incr_steps=total * gbs, wd_incr_style="constant")  # fmt: skip
        for step in range(1, total + 4):
            want = opt.param_groups[0]["lr"]  # the rate update `step` uses; then Megatron steps by the global batch
            got = lr_at(step, schedule=f"megatron-{style}", peak_lr=3e-4, final_lr=3e-5, warmup_steps=warmup,
                        total_steps=total, batch_size=gbs)  # fmt: skip
            assert got == want, (style, step, got, want)
            sched.step(increment=gbs)


def _init(root: Path) -> dict:
    r = run_cli("init", str(root))
    assert r.returncode == 0, r.stdout + r.stderr
    return manifest(root)


def _audit(root: Path, out: Path) -> tuple[int, dict]:
    r = run_cli(str(root), "--replay", "none", "--out", str(out))
    assert "Traceback" not in r.stdout + r.stderr, r.stderr
    return r.returncode, json.loads((out / "report.json").read_text())


def _criterion(report: dict, name: str) -> dict:
    crits = report["criteria"]
    return next(c for c in crits if c["criterion"] == name) if isinstance(crits, list) else crits[name]


def test_init_and_audit_read_every_checkpoint_with_no_false_error(run_copy, tmp_path):
    m = _init(run_copy)
    assert [(c["step"], c["path"]) for c in m["checkpoints"]] == list(zip(ITERS, DIRS))
    for c in m["checkpoints"]:
        assert c["state"] == ["weights", "optimizer", "scheduler", "rng", "data_cursor"], c
        assert [(f["path"], f["role"]) for f in c["files"]] == [(f"{c['path']}/{FILE}", "weights")]
        assert c["tokens"] == c["step"] * 4 * 16  # args.consumed_train_samples × seq_length
    assert m["config"]["model"] == f"{DIRS[-1]}/{FILE}"
    t = m["config"]["training"]
    assert t["lr_schedule"] == {"name": "megatron-cosine", "peak_lr": 0.001, "final_lr": 0.0001, "warmup_steps": 3,
                                "total_steps": 12}  # fmt: skip
    assert t["optimizer"] == {"name": "adamw", "betas": [0.9, 0.95], "eps": 1e-8, "weight_decay": 0.1}
    assert (t["batch_size"], t["sequence_length"], t["precision"]) == (4, 16, "fp32")
    assert (t["grad_clip"], t["seed"]) == (1.0, 1234)
    log = m["metrics"]["training_log"]
    assert log["format"] == "megatron-tensorboard" and log["path"].startswith("tensorboard/events.out.tfevents."), log
    code, report = _audit(run_copy, tmp_path / "report")
    errors = {f["id"] for f in report["findings"] if f["severity"] == "error"}
    # No data, evaluations or code in a save directory with its TensorBoard log.
    assert errors == {"code.not-released", "data.not-released", "data_mix.not-declared", "data_order.incomplete",
                      "metrics.no-evaluations"}, errors  # fmt: skip
    metrics = _criterion(report, "metrics")["evidence"]
    assert metrics["steps_logged"] == metrics["steps_expected"] == ITERS[-1], metrics
    assert len(metrics["series"]["learning_rate"]) == len(metrics["series"]["loss"]) == ITERS[-1]
    ids = [f["id"] for f in report["findings"]]
    assert "checkpoints.pickle-unsafe" not in ids  # the args' megatron-core enums and dtypes are inert data
    assert ids.count("checkpoints.pickle-weights-read") == len(ITERS)
    ck = _criterion(report, "model_checkpoints")["evidence"]
    assert ck["tensors_checked"] == TENSORS * len(ITERS) and ck["parameters"] > 0
    assert "checkpoints.architecture-unknown" not in ids  # compared against the shapes the args imply
    opt = _criterion(report, "optimizer_checkpoints")["evidence"]
    assert opt["checkpoints_with_optimizer"] == opt["exactly_resumable"] == len(ITERS)
    assert opt["moment_tensors_checked"] == 2 * TENSORS * len(ITERS)
    config = _criterion(report, "config")
    assert config["status"] == "pass" and config["evidence"]["architecture"] == "Megatron-LM GPTModel"
    assert config["evidence"]["recorded_hyperparameters_compared"] == 2 * len(ITERS)  # args, opt_param_scheduler
    assert code == 1  # the missing data, evaluations and code fail the audit, nothing else


def test_a_wrong_tracker_a_misnamed_directory_and_recorded_hyperparameters_are_found(run_copy, tmp_path):
    import torch

    (run_copy / DIRS[1]).rename(run_copy / "iter_0000009")
    obj = _load(run_copy / DIRS[2] / FILE)
    obj["opt_param_scheduler"]["lr_warmup_steps"] = 5 * 4  # the scheduler's own record, against args' 3 iterations
    _save(obj, run_copy / DIRS[2] / FILE, tmp_path)
    m = _init(run_copy)
    assert [c["path"] for c in m["checkpoints"]] == [DIRS[0], "iter_0000009", DIRS[2]]
    m["config"]["training"]["lr_schedule"]["peak_lr"] = 0.002
    write_manifest(run_copy, m)
    (run_copy / TRACKER).write_text("16")
    _, report = _audit(run_copy, tmp_path / "report")
    found = {f["path"]: f["message"] for f in report["findings"] if f["id"] == "checkpoints.recorded-inconsistent"}
    assert set(found) == {TRACKER, f"iter_0000009/{FILE}"}, found
    assert "16" in found[TRACKER] and DIRS[-1] in found[TRACKER]
    assert "records iteration 8" in found[f"iter_0000009/{FILE}"]
    recorded = sorted(f["message"] for f in report["findings"] if f["id"] == "config.recorded-mismatch")
    assert len(recorded) == 2, recorded  # peak_lr: args and scheduler agree (one finding); warmup: the scheduler
    assert "says lr_schedule.peak_lr 0.001" in recorded[0] and "(and 2 other checkpoint file(s))" in recorded[0]
    assert recorded[1].startswith(f"{DIRS[2]}/{FILE} (opt_param_scheduler) says lr_schedule.warmup_steps 5"), recorded


class Payload:
    """Unpickling this creates ``path``: proof that a pickle was loaded."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


def test_hostile_args_are_refused_and_never_run(run_copy, tmp_path):
    from megatron.core.datasets.utils import Split

    marker = tmp_path / "payload-ran"
    target = run_copy / DIRS[1] / FILE
    obj = _load(target)
    obj["args"].tokenizer_model = Payload(marker)  # a Namespace attribute whose unpickling runs os.system
    obj["args"].split = Split.train  # a megatron-core enum that is not on the inert list
    _save(obj, target, tmp_path)
    m = _init(run_copy)
    assert [c["step"] for c in m["checkpoints"]] == ITERS  # the step still read from the opcodes, nothing run
    _, report = _audit(run_copy, tmp_path / "report")
    rel = f"{DIRS[1]}/{FILE}"
    found = {(f["id"], f["severity"]) for f in report["findings"] if f.get("path") == rel}
    assert ("checkpoints.pickle-unsafe", "error") in found and ("checkpoints.pickle-weights", "error") in found, found
    unsafe = " ".join(f["message"] for f in report["findings"] if f["id"] == "checkpoints.pickle-unsafe")
    assert "system" in unsafe and "megatron.core.datasets.utils.Split" in unsafe, unsafe
    assert not marker.exists(), "a payload ran"


#: Loads a model_optim_rng.pt as the auditor does, in a process that never imports megatron-core (which, once
#: imported, registers its real classes with torch under the same names), and prints its args' values.
_LOAD_ELSEWHERE = """
import json, sys
from pathlib import Path
from audit.frameworks.megatron import read_header
from audit.readers.pickle_scan import scan_pickle_file
from audit.readers.torch_pickle import load_scanned
path = Path(sys.argv[1])
args = load_scanned(path, path.name, numpy_arrays=True, namespaces=True)["args"]
print(json.dumps({"unsafe": scan_pickle_file(path, path.name).unsafe, "header": read_header(path, path.name)["args"],
                  "loaded": {k: [type(v).__name__, str(v)] for k, v in vars(args).items()},
                  "imported": sorted(m for m in sys.modules if m.split(".")[0] == "megatron")}))
"""


def _load_elsewhere(path: Path) -> dict:
    r = subprocess.run([sys.executable, "-c", _LOAD_ELSEWHERE, str(path)], capture_output=True, text=True, timeout=300,
                       env={**os.environ, "PYTHONWARNINGS": "ignore"})  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout)
    assert out["imported"] == [] and out["unsafe"] == [], out  # nothing of megatron imported; nothing refused
    return out


def test_recent_args_enums_and_dtypes_are_read_as_inert_data(megatron_run):
    """args holds megatron-core's enums and torch dtypes as Megatron-LM sets them: the scan allows exactly
    them, the loader builds records (class, value) without importing megatron-core, the opcodes agree."""
    from megatron.core.enums import ModelType
    from megatron.core.transformer.enums import AttnBackend, CudaGraphScope

    out = _load_elsewhere(megatron_run / DIRS[0] / FILE)
    loaded, head = out["loaded"], out["header"]
    assert loaded["attention_backend"] == ["InertEnum", f"AttnBackend({AttnBackend.auto.value})"]
    assert loaded["model_type"] == ["InertEnum", f"ModelType({ModelType.encoder_or_decoder.value})"]
    assert loaded["params_dtype"] == ["dtype", "torch.float32"] and loaded["cuda_graph_scope"][0] == "list"
    assert head["attention_backend"] == {"enum": "megatron.core.transformer.enums.AttnBackend",
                                         "value": AttnBackend.auto.value}  # fmt: skip
    assert [s["value"] for s in head["cuda_graph_scope"]] == [CudaGraphScope.attn.value, CudaGraphScope.mlp.value]
    assert head["model_type"] == {"enum": "megatron.core.enums.ModelType", "value": ModelType.encoder_or_decoder.value}
    assert (head["params_dtype"], head["exp_avg_dtype"], head["lr"]) == ("torch.float32", "torch.float32", 1e-3)


def test_the_inert_list_covers_megatron_cores_own_safe_globals():
    """megatron-core registers with torch what its checkpoints need (megatron/core/safe_globals.py): each of its
    enums, SimpleNamespace and PosixPath is on the inert list; only what is no argument value (its
    OptimizerConfig dataclass, io.BytesIO) and what the loader allows otherwise (Namespace, numpy) are not."""
    import enum

    from megatron.core.safe_globals import SAFE_GLOBALS

    from audit.readers.pickle_inert import INERT

    names = {(g.__module__, g.__qualname__): g for g in SAFE_GLOBALS}
    missing = {n for n, g in names.items() if n not in INERT and isinstance(g, type) and issubclass(g, enum.Enum)}
    assert not missing, missing
    assert INERT[("types", "SimpleNamespace")] == "namespace" and INERT[("pathlib", "PosixPath")] == "path"
    left = {n for n in names if n not in INERT} - {("argparse", "Namespace")}
    assert {n[1] for n in left} <= {"OptimizerConfig", "BytesIO", "_reconstruct", "ndarray", "dtype", "UInt32DType"}, left


def test_yaml_style_args_a_simple_namespace_with_paths_are_read(megatron_run, tmp_path):
    """With --yaml-cfg Megatron-LM's args is a types.SimpleNamespace with nested ones (yaml_arguments.py); NeMo
    passes pathlib paths; --exit-signal is a signal.Signals. The same checkpoint re-saved so: read, loaded,
    its training derived."""
    import pathlib
    import signal
    import types

    import torch

    from audit.frameworks.megatron import Megatron

    obj = _load(megatron_run / DIRS[0] / FILE)
    flat = {k: _real(v) for k, v in vars(obj["args"]).items()}
    flat["model_parallel"] = types.SimpleNamespace(params_dtype=torch.float32, tensor_model_parallel_size=1)
    flat["data_cache_path"] = pathlib.PosixPath("/data/cache")
    flat["exit_signal"] = signal.SIGTERM
    obj["args"] = types.SimpleNamespace(**flat)
    target = tmp_path / "iter_0000004" / "mp_rank_00" / "model_optim_rng.pt"
    target.parent.mkdir(parents=True)
    torch.save(obj, target)
    out = _load_elsewhere(target)
    head, loaded = out["header"], out["loaded"]
    assert head["model_parallel"] == {"params_dtype": "torch.float32", "tensor_model_parallel_size": 1}
    assert head["data_cache_path"] == "/data/cache" and head["seq_length"] == 16
    assert head["exit_signal"] == {"enum": "signal.Signals", "value": int(signal.SIGTERM)}
    assert loaded["data_cache_path"] == ["str", "/data/cache"] and loaded["model_parallel"][0] == "SimpleNamespace"
    hp = Megatron().hyperparameters(target.parent.parent, tmp_path, None)
    assert hp.training is not None and hp.training["lr_schedule"]["name"] == "megatron-cosine", hp


def test_a_tampered_learning_rate_in_the_tensorboard_log_is_found(run_copy, tmp_path):
    """The event file re-written with one learning-rate changed (every other event as Megatron wrote it):
    checked against the megatron-cosine schedule, the rate logged at iteration 7 (that of update 8) is off."""
    from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    (original,) = (run_copy / "tensorboard").glob("events.out.tfevents.*")
    events = [Event.FromString(raw) for raw in RawEventFileLoader(str(original)).Load()]
    changed = 0
    for ev in events:
        for v in ev.summary.value:
            if v.tag == "learning-rate" and ev.step == 7:
                assert v.WhichOneof("value") == "simple_value"  # as torch's SummaryWriter.add_scalar writes it
                v.simple_value *= 1.01
                changed += 1
    assert changed == 1
    original.unlink()
    writer = EventFileWriter(str(run_copy / "tensorboard"))
    for ev in events:
        writer.add_event(ev)
    writer.close()
    m = _init(run_copy)
    assert m["metrics"]["training_log"]["format"] == "megatron-tensorboard"
    _, report = _audit(run_copy, tmp_path / "report")
    found = [f["message"] for f in report["findings"] if f["id"] == "metrics.lr-schedule-mismatch"]
    assert len(found) == 1 and "at step 7 " in found[0] and "rate of update 8" in found[0], found
    assert "(1 step(s) off)" in found[0]
    assert _criterion(report, "metrics")["evidence"]["steps_logged"] == ITERS[-1]


def test_a_truncated_model_optim_rng_is_a_finding_naming_it(run_copy, tmp_path):
    _init(run_copy)
    target = run_copy / DIRS[0] / FILE
    target.write_bytes(target.read_bytes()[: target.stat().st_size // 2])
    _, report = _audit(run_copy, tmp_path / "report")
    rel = f"{DIRS[0]}/{FILE}"
    found = {f["id"] for f in report["findings"] if f.get("path") == rel and f["severity"] == "error"}
    assert "checkpoints.pickle-weights" in found, found  # not readable as a torch.save file


def test_legacy_nested_model_and_fp16_optimizer_state_are_found():
    """The legacy (non-mcore) model saves nested dicts, the fp16/bf16 optimizer wraps torch's state_dict:
    both as megatron/legacy and megatron/core/optimizer save them (built here, not trained)."""
    import torch

    from audit.frameworks.torch_state import model_state, optimizer_state

    emb = torch.zeros(8, 4)
    inner = {"state": {0: {"exp_avg": emb, "exp_avg_sq": emb}}, "param_groups": [{"params": [0]}]}
    obj = {"iteration": 3, "checkpoint_version": 3.0,
           "model": {"language_model": {"embedding": {"word_embeddings": {"weight": emb}},
                                        "encoder": {"layers.0.mlp.dense_h_to_4h._extra_state": None,
                                                    "final_layernorm.weight": torch.ones(4)}}},
           "optimizer": {"optimizer": inner, "grad_scaler": {"scale": 1.0}, "fp32_from_fp16_params": [[emb]]}}  # fmt: skip
    assert set(model_state(obj)) == {"language_model.embedding.word_embeddings.weight",
                                     "language_model.encoder.final_layernorm.weight"}  # fmt: skip
    assert optimizer_state(obj) is inner
    lit = {"model": {"w": emb}, "optimizer": inner, "iter_num": 3}  # LitGPT's lit_model.pth: unchanged
    assert set(model_state(lit)) == {"w"} and optimizer_state(lit) is inner


def test_every_rank_directory_belongs_to_its_iteration(run_copy, tmp_path):
    """Two model-parallel rank files per checkpoint (a copy of rank 0 as rank 1: the layout, not a real
    tensor-parallel split) make one checkpoint each, every file's moments checked against its own weights."""
    for d in DIRS:
        shutil.copytree(run_copy / d / "mp_rank_00", run_copy / d / "mp_rank_01")
    m = _init(run_copy)
    assert [[f["path"] for f in c["files"]] for c in m["checkpoints"]] == \
        [[f"{d}/mp_rank_00/model_optim_rng.pt", f"{d}/mp_rank_01/model_optim_rng.pt"] for d in DIRS]  # fmt: skip
    _, report = _audit(run_copy, tmp_path / "report")
    opt = _criterion(report, "optimizer_checkpoints")
    assert opt["evidence"]["moment_tensors_checked"] == 2 * 2 * TENSORS * len(ITERS), opt
    assert not [f for f in report["findings"] if f["id"].startswith(("optimizer.", "checkpoints.")) and
                f["severity"] == "error"], report["findings"]  # fmt: skip


def test_a_replay_compares_model_optim_rng_by_value(megatron_run, tmp_path):
    """What a replay command leaves is compared with the released file tensor by tensor (args and all)."""
    from audit.replay.compare import compare_states

    same = compare_states(megatron_run / DIRS[1], megatron_run / DIRS[1], [FILE])
    assert same.compared > 3 * TENSORS and not same.diffs and not same.fields and not same.missing
    later = compare_states(megatron_run / DIRS[1], megatron_run / DIRS[2], [FILE])
    assert {d.name.split(":")[1] for d in later.diffs} >= {"model.embedding.word_embeddings.weight"}
    assert "mp_rank_00/model_optim_rng.pt:iteration" in later.fields
