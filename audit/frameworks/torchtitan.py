"""torchtitan output (0.3.x, ``torchtitan.train``): ``<dump_folder>/checkpoint/step-N/`` directories, each a
PyTorch Distributed Checkpoint (``.metadata`` + ``__0_0.distcp``) of one flat state dict — the model's tensors
at top level (unfused ``wq``/``wk``/``wv``), ``optimizer.state.<fqn>.{step,exp_avg,exp_avg_sq}`` keyed by the
parameters the optimizer sees (a *fused* ``wqkv``), ``optimizer.param_groups.<fqn>.*``,
``lr_scheduler.last_epoch``, ``dataloader.dp_rank_N`` (the loader's state, pickled bytes) and
``train_state.{step,ntokens_seen}``; the job config as ``--debug.save_config_file`` wrote it
(``Trainer.Config.to_dict()`` as JSON, in the dump folder); TensorBoard scalars in ``tb/<time>/``.

``.metadata`` is read through an allow-list (:mod:`audit.readers.dcp`), items from their byte ranges with
``torch.load(weights_only=True)``. The learning rate is the ``torchtitan-wsd-<decay_type>`` schedule.

What it cannot know: how the job was launched. The saved config holds the configs' fields, not the classes that
own them nor the ``--module``/``--config`` registry function that built it (nothing else in the dump folder
names them), and torchtitan 0.3.0 builds a job only from that function; so a replay needs the release's
declared ``code.replay_command`` (:meth:`Torchtitan.replay_blocker` says what to declare).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from audit.frameworks.interface import CheckpointFacts, Framework, Hyperparameters, ReadJson, RecordedTraining
from audit.readers import dcp
from audit.readers.tensorboard_log import read_event_file

SCHEDULE_PREFIX = "torchtitan-wsd-"
DECAY_TYPES = ("linear", "cosine", "sqrt")
PRECISIONS = {"float32": "fp32", "bfloat16": "bf16"}
MOMENTS = ("exp_avg", "exp_avg_sq")
OPTIMIZER_STATE = "optimizer.state."
#: code.replay_command for a job launched as ``python -m torchtitan.train --module llama3 --config llama3_debugmodel``.
REPLAY_COMMAND_EXAMPLE = ("{python} -m audit.frameworks.torchtitan_driver --checkpoint {checkpoint} --start-step "
                          "{start_step} --steps {steps} --total-steps {total_steps} --out {out} -- {python} -m "
                          "torchtitan.train --module llama3 --config llama3_debugmodel")  # fmt: skip


#: The checkpoint's DCP metadata and one item of it (:mod:`audit.readers.dcp`; both raise :class:`dcp.DcpError`).
metadata, item = dcp.checkpoint_metadata, dcp.checkpoint_item


def weights(meta: dcp.DcpMetadata) -> dict[str, dcp.Item]:
    """The model's tensors: the top-level items that no stateful component of the trainer owns."""
    owned = ("optimizer.", "lr_scheduler.", "dataloader.", "train_state.")
    return {k: v for k, v in meta.tensors.items() if not k.startswith(owned)}


def moments(meta: dcp.DcpMetadata) -> dict[str, dict[str, dcp.Item]]:
    """parameter fqn → {"exp_avg", "exp_avg_sq", "step"} items of the optimizer state (the fqns the
    optimizer sees: a fused ``wqkv`` where the weights are saved as ``wq``/``wk``/``wv``)."""
    out: dict[str, dict[str, dcp.Item]] = {}
    for name, it in meta.items.items():
        if name.startswith(OPTIMIZER_STATE):
            fqn, _, kind = name[len(OPTIMIZER_STATE):].rpartition(".")
            out.setdefault(fqn, {})[kind] = it
    return out


def unfused(fqn: str) -> tuple[str, ...]:
    """The saved weights an optimizer parameter stands for: ``…qkv_linear.wqkv.weight`` → wq, wk, wv."""
    if ".wqkv." in fqn:
        return tuple(fqn.replace(".wqkv.", f".{p}.") for p in ("wq", "wk", "wv"))
    return (fqn,)


def _config_file(directory: Path, root: Path, read_json: ReadJson) -> tuple[Path, dict] | None:
    """The saved job config: the JSON in the dump folder (the checkpoint folder's parent's parent, or any
    directory between the checkpoint and the release root) that is torchtitan's ``Trainer.Config``."""
    from audit.spec.architectures import is_torchtitan_config

    d = directory
    while d != root.parent and (d == root or root in d.parents):
        for path in sorted(d.glob("*.json")):
            cfg = read_json(path)
            if isinstance(cfg, dict) and is_torchtitan_config(cfg):
                return path, cfg
        if d == root:
            break
        d = d.parent
    return None


def training_from_config(cfg: dict) -> tuple[dict[str, Any], list[str]]:
    """config.training from torchtitan's job config, and notes on what it does not say."""
    notes: list[str] = []
    opt = cfg.get("optimizer") or {}
    groups = opt.get("param_groups") or [{}]
    group = groups[0] if isinstance(groups[0], dict) else {}
    kwargs = group.get("optimizer_kwargs") or {}
    if len(groups) > 1:
        notes.append(f"{len(groups)} optimizer param groups: the first ({group.get('pattern')!r}) is declared")
    if group.get("optimizer_name") != "AdamW":
        notes.append(f"optimizer {group.get('optimizer_name')!r} is not AdamW")
    sch, tr = cfg.get("lr_scheduler") or {}, cfg.get("training") or {}
    total = sch.get("total_steps") if type(sch.get("total_steps")) is int else tr.get("steps")
    warmup = int(sch.get("warmup_steps") or 0)
    decay = None
    if type(total) is int and total > 0:
        warmup = min(warmup, total)
        ratio = sch.get("decay_ratio")
        decay = round(total * ratio) if isinstance(ratio, (int, float)) else total - warmup
        decay = min(decay, total - warmup)  # LRSchedulersContainer.Config.build
    peak = kwargs.get("lr")
    factor = sch.get("min_lr_factor", 0.0)
    if sch.get("decay_type") not in DECAY_TYPES:
        notes.append(f"decay_type {sch.get('decay_type')!r} is not one torchtitan 0.3.0 knows")
    local, global_ = tr.get("local_batch_size"), tr.get("global_batch_size")
    batch = global_ if type(global_) is int and global_ > 0 else local
    if not (type(global_) is int and global_ > 0):
        notes.append("training.global_batch_size is unset: the batch is local_batch_size × the data-parallel "
                     "processes, which the config does not record (one assumed)")  # fmt: skip
    betas = kwargs.get("betas")
    training: dict[str, Any] = {
        "optimizer": {"name": "adamw", "betas": list(betas) if isinstance(betas, (list, tuple)) else None,
                      "eps": kwargs.get("eps"), "weight_decay": kwargs.get("weight_decay")},
        "lr_schedule": {"name": f"{SCHEDULE_PREFIX}{sch.get('decay_type')}", "peak_lr": peak,
                        "final_lr": peak * factor if isinstance(peak, (int, float)) and isinstance(factor, (int, float))
                        else None, "warmup_steps": warmup, "total_steps": total, "decay_steps": decay},
        "batch_size": batch if type(batch) is int else None,
        "sequence_length": tr.get("seq_len") if type(tr.get("seq_len")) is int else None,
        "precision": PRECISIONS.get(str(tr.get("dtype"))),
    }  # fmt: skip
    if opt.get("implementation") in ("for-loop", "foreach", "fused"):
        training["optimizer"]["implementation"] = opt["implementation"]
    if isinstance(tr.get("max_norm"), (int, float)) and tr["max_norm"] > 0:
        training["grad_clip"] = float(tr["max_norm"])
    seed = (cfg.get("debug") or {}).get("seed")
    if type(seed) is int:
        training["seed"] = seed
    return training, notes


class Torchtitan(Framework):
    """``torchtitan.train`` output: ``checkpoint/step-N/`` DCP directories, the saved job config, TensorBoard."""

    name = "torchtitan"
    log_formats: ClassVar = {"tensorboard": read_event_file}
    schedules = tuple(SCHEDULE_PREFIX + d for d in DECAY_TYPES)
    resumes_own_data = True

    def owns(self, file_names: set[str]) -> bool:
        return dcp.is_dcp_dir(file_names)

    def checkpoint_facts(self, directory: Path, read_json: ReadJson) -> CheckpointFacts | None:
        """The step and tokens from ``train_state``; what else the state dict holds."""
        if not (directory / dcp.METADATA).is_file():
            return None
        rel = directory.name
        try:
            meta = metadata(directory, rel)
            step, tokens = (item(directory, rel, f"train_state.{k}") if f"train_state.{k}" in meta.items else None
                            for k in ("step", "ntokens_seen"))  # fmt: skip
        except dcp.DcpError:
            return None
        if type(step) is not int:
            return None
        holds = set()
        if any(k.startswith(OPTIMIZER_STATE) and k.endswith(".exp_avg") for k in meta.items):
            holds.add("optimizer")
        if "lr_scheduler.last_epoch" in meta.items:
            holds.add("scheduler")
        if any(k.startswith("dataloader.dp_rank_") for k in meta.items):
            holds.add("data_cursor")  # the StatefulDataLoader's state_dict (the dataset's position within it)
        source = meta.items["train_state.step"].storage[0].file
        return CheckpointFacts(step=step, source=source, tokens_seen=tokens if type(tokens) is int else None,
                               holds=frozenset(holds))  # fmt: skip

    def _config(self, directory: Path, root: Path, read_json: ReadJson):
        if not dcp.is_dcp_dir({p.name for p in directory.iterdir()} if directory.is_dir() else set()):
            return None
        return _config_file(directory, root, read_json)

    def recorded_training(self, directory: Path, root: Path, read_json: ReadJson) -> list[RecordedTraining]:
        found = self._config(directory, root, read_json)
        if found is None:
            return []
        training, _ = training_from_config(found[1])
        return [RecordedTraining(found[0].relative_to(root).as_posix(), None, training)]

    def hyperparameters(self, directory: Path, root: Path, read_json: ReadJson) -> Hyperparameters | None:
        found = self._config(directory, root, read_json)
        if found is None:
            return None
        rel = found[0].relative_to(root).as_posix()
        training, notes = training_from_config(found[1])
        lacking = [k for k, v in {**training, **training["lr_schedule"]}.items() if v is None]
        if lacking or any("AdamW" in n or "decay_type" in n for n in notes):
            why = "; ".join(([f"it does not give {', '.join(lacking)}"] if lacking else []) + notes)
            return Hyperparameters(None, f"{rel}: {why}; declare config: by hand")
        return Hyperparameters(training, f"hyperparameters from {rel} (torchtitan's job config; schedule "
                                         f"{training['lr_schedule']['name']}: its LRSchedulersContainer)"
                                         + "".join(f"; {n}" for n in notes), model=None)  # fmt: skip

    def replay_blocker(self, release, start) -> str | None:
        return ("torchtitan records no launch command (its saved job config holds the configs' fields, not the "
                "--module/--config that built them, and torchtitan 0.3.0 builds a job only from such a "
                "config_registry function): declare code (the job's code at its commit) with code.replay_command = "
                f"the job's launch after the torchtitan driver, e.g. \"{REPLAY_COMMAND_EXAMPLE}\" (your --module, "
                "--config and other launch flags; the driver adds the dump folder, checkpoint, step and TensorBoard "
                "flags), and audit with --allow-exec")  # fmt: skip
