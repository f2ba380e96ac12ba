"""Megatron-LM / NeMo checkpoints in the legacy ``torch`` format (``--ckpt-format torch``).

Layout (megatron/training/checkpointing.py): the save directory holds ``iter_NNNNNNN/`` per checkpoint
and ``latest_checkpointed_iteration.txt`` (the iteration a resume loads, or ``release``); each
checkpoint holds one ``model_optim_rng.pt`` per model-parallel rank, in ``mp_rank_TT/`` (tensor rank)
or ``mp_rank_TT_PPP/`` (and pipeline rank). The file is a ``torch.save`` dict: ``args`` (the run's
``argparse.Namespace``), ``checkpoint_version``, ``iteration``, ``model`` (a state dict: flat
``decoder.layers.N…`` for megatron-core's GPTModel, nested ``language_model``/``embedding``/
``encoder`` dicts for the legacy model; ``_extra_state`` entries are not tensors), ``optimizer``
(``FP32Optimizer``: the torch optimizer's state_dict; ``Float16OptimizerWithFloat16Params``: that
under ``["optimizer"]`` beside ``fp32_from_fp16_params``), ``opt_param_scheduler``
(``OptimizerParamScheduler.state_dict()``, counted in samples), ``rng_state`` (one dict per data-
parallel rank: random, numpy, torch, CUDA and tracker states) and ``num_floating_point_operations_so_far``.

Everything but the tensors is read from the pickle's opcodes (:mod:`audit.readers.pickle_opcodes`),
nothing imported or called; the tensors only with ``torch.load(weights_only=True)`` after the static
scan, with ``argparse.Namespace`` (an attribute bag: made by ``__new__``, its ``__dict__`` set), numpy
arrays (the RNG state) and the inert classes recent ``args`` hold (megatron-core enums, ``SimpleNamespace``
— all of ``args`` with ``--yaml-cfg`` —, ``pathlib`` paths: :mod:`audit.readers.pickle_inert`, megatron
never imported) allowed besides tensors. The training loop's TensorBoard scalars (``--tensorboard-dir``)
are the ``megatron-tensorboard`` log (:func:`audit.readers.tensorboard_log.read_megatron_event_file`).
The ``torch_dist`` format (``iter_NNNNNNN/`` = a PyTorch Distributed Checkpoint + ``common.pt``, which holds
all of the above but the model, the optimizer's moments and the RNG state) is read by the same adapter: its
``common.pt`` as a model_optim_rng.pt, its items as :mod:`audit.frameworks.megatron_dist` says.
Not read yet: the distributed optimizer's ``distrib_optim.pt`` shards, the stdout log.

The learning rate of update ``s`` is ``OptimizerParamScheduler.get_lr`` at ``num_steps = (s - 1) ×
global_batch_size`` (the scheduler is stepped by the global batch after each update): the
``megatron-*`` schedules, written in iterations.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar

from audit.frameworks import megatron_dist
from audit.frameworks.interface import CheckpointFacts, Framework, Hyperparameters, ReadJson, RecordedTraining
from audit.readers import dcp
from audit.readers.bounded import read_bytes
from audit.readers.file_cache import while_unchanged
from audit.readers.tensorboard_log import read_megatron_event_file

CHECKPOINT = "model_optim_rng.pt"
TRACKER = "latest_checkpointed_iteration.txt"
RANK_DIR = re.compile(r"mp_rank_\d{2}(?:_\d{3}){0,2}")
ITER_DIR = re.compile(r"iter_(\d+)")
#: --lr-decay-style → the manifest's schedule of the same arithmetic (WSD, inverse-square-root: none yet).
SCHEDULES = {"cosine": "megatron-cosine", "linear": "megatron-linear", "constant": "megatron-constant"}
RNG_KEYS = ("random_rng_state", "np_rng_state", "torch_rng_state")
#: What ``args`` is: argparse's Namespace, or with ``--yaml-cfg`` a SimpleNamespace (training/yaml_arguments.py).
ARGS_CLASSES = ("argparse.Namespace", "types.SimpleNamespace")


def rank_files(directory: Path) -> list[Path]:
    """The model_optim_rng.pt of every model-parallel rank of a checkpoint directory, rank 0 first."""
    try:
        ranks = sorted(d for d in directory.iterdir() if RANK_DIR.fullmatch(d.name) and d.is_dir())
    except OSError:
        return []
    return [d / CHECKPOINT for d in ranks if (d / CHECKPOINT).is_file()]


def header_files(directory: Path) -> list[Path]:
    """The files of a checkpoint directory holding its args and iteration: every rank's model_optim_rng.pt
    (legacy), or the common.pt of a torch_dist checkpoint."""
    common = megatron_dist.common_file(directory)
    return rank_files(directory) or ([common] if common is not None else [])


def nested_in(directory: Path) -> Path | None:
    """The checkpoint directory a rank directory (``iter_N/mp_rank_00``) belongs to, or None."""
    return directory.parent if RANK_DIR.fullmatch(directory.name) else None


@while_unchanged(maxsize=32)
def read_header(path: Path, rel: str) -> dict[str, Any]:
    """Everything of a model_optim_rng.pt but its tensors, from the pickle's opcodes (tensors, the model's
    OrderedDict and any other object become inert records); ``args`` as a dict of its plain values
    (:func:`audit.readers.pickle_inert.plain`: enums as ``{"enum": class, "value": v}``, dtypes by name,
    nested namespaces as dicts, paths as strings).
    Raises ValueError (one line naming ``rel``) when the file is not such a pickle."""
    from audit.readers.pickle_inert import attributes
    from audit.readers.pickle_opcodes import Opaque, PickleLiteralError, pickle_bytes, read_literals

    try:
        top = read_literals(pickle_bytes(path))
    except (PickleLiteralError, OSError, RecursionError) as exc:
        raise ValueError(f"{rel}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    if not isinstance(top, dict) or "iteration" not in top and "args" not in top:
        raise ValueError(f"{rel}: not a Megatron checkpoint (no args or iteration in it)")
    args = top.get("args")
    plain: dict[str, Any] = {}
    if isinstance(args, Opaque) and args.name in ARGS_CLASSES and isinstance(args.state, dict):
        plain = attributes(args.state)
    return {**top, "args": plain}


def read_tracker(save_dir: Path) -> str | None:
    """What latest_checkpointed_iteration.txt says (an iteration or ``release``), or None when absent."""
    try:
        return read_bytes(save_dir / TRACKER, 64).decode("utf-8", errors="replace").strip()
    except (OSError, ValueError):
        return None


def _int(v: object) -> int | None:
    return v if type(v) is int else None


def training_from_args(args: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """config.training from a run's Megatron arguments, and notes on what they do not say."""
    notes = []
    style = args.get("lr_decay_style")
    schedule = SCHEDULES.get(str(style))
    if schedule is None:
        notes.append(f"lr_decay_style {style!r} has no equivalent schedule yet")
    total = _int(args.get("lr_decay_iters")) or _int(args.get("train_iters"))
    if total is None:
        notes.append("training by samples (no train_iters / lr_decay_iters): lr_schedule.total_steps is unknown")
    warmup = _int(args.get("lr_warmup_iters")) or 0
    if args.get("lr_warmup_fraction") and total is not None:
        warmup = None
        notes.append("lr_warmup_fraction gives a warmup of a fraction of the samples: warmup_steps not derived")
    if args.get("lr_warmup_init"):
        schedule = None
        notes.append(f"lr_warmup_init {args['lr_warmup_init']!r}: the megatron-* schedules warm up from 0")
    if args.get("optimizer", "adam") != "adam":
        notes.append(f"optimizer {args.get('optimizer')!r} is not adam")
    precision = "bf16-mixed" if args.get("bf16") else "fp16-mixed" if args.get("fp16") else "fp32"
    training: dict[str, Any] = {
        "optimizer": {"name": "adamw", "betas": [args.get("adam_beta1"), args.get("adam_beta2")],
                      "eps": args.get("adam_eps"), "weight_decay": args.get("weight_decay")},
        "lr_schedule": {"name": schedule, "peak_lr": args.get("lr"), "final_lr": args.get("min_lr", 0.0),
                        "warmup_steps": warmup, "total_steps": total},
        "batch_size": _int(args.get("global_batch_size")),
        "sequence_length": _int(args.get("seq_length")),
        "precision": precision,
    }  # fmt: skip
    if isinstance(args.get("clip_grad"), (int, float)) and args["clip_grad"] > 0:
        training["grad_clip"] = float(args["clip_grad"])
    if type(args.get("seed")) is int:
        training["seed"] = args["seed"]
    return training, notes


def scheduler_schedule(sched: dict[str, Any], batch: int) -> dict[str, Any]:
    """lr_schedule as an ``OptimizerParamScheduler.state_dict()`` records it (its counts in samples ÷ the global
    batch; a count that is not a whole number of iterations is left unknown)."""

    def iters(v: object) -> int | None:
        return v // batch if type(v) is int and v % batch == 0 else None

    return {"name": SCHEDULES.get(str(sched.get("lr_decay_style"))), "peak_lr": sched.get("max_lr"),
            "final_lr": sched.get("min_lr"), "warmup_steps": iters(sched.get("lr_warmup_steps")),
            "total_steps": iters(sched.get("lr_decay_steps"))}  # fmt: skip


class Megatron(Framework):
    """``iter_NNNNNNN/mp_rank_*/model_optim_rng.pt`` of Megatron-LM (and NeMo 1.x, which saves the same)."""

    name = "Megatron-LM"
    schedules = tuple(SCHEDULES.values())
    #: What the weights-only loader must allow in a model_optim_rng.pt besides tensors.
    pickle_allows = frozenset({"namespaces", "numpy_arrays"})
    #: Its training loop's TensorBoard scalars (``--tensorboard-dir``).
    log_formats: ClassVar = {"megatron-tensorboard": read_megatron_event_file}

    def owns(self, file_names: set[str]) -> bool:
        return CHECKPOINT in file_names or megatron_dist.COMMON in file_names

    def nested_in(self, directory: Path) -> Path | None:
        return nested_in(directory)

    def model_config(self, path: Path, rel: str) -> dict[str, Any] | None:
        """The run's arguments, read from a model_optim_rng.pt or a torch_dist common.pt (Megatron saves no
        separate model config)."""
        if path.name not in (CHECKPOINT, megatron_dist.COMMON):
            return None
        args = read_header(path, rel)["args"]
        if not args:
            raise ValueError(f"{rel}: no argparse.Namespace of arguments in it")
        return args

    def checkpoint_facts(self, directory: Path, read_json: ReadJson) -> CheckpointFacts | None:
        files = header_files(directory)
        if not files:
            return None
        source = files[0].relative_to(directory).as_posix()
        try:
            head = read_header(files[0], f"{directory.name}/{source}")
        except ValueError:
            return None
        step = _int(head.get("iteration"))
        if step is None:
            return None
        args = head["args"]
        problems = []
        named = ITER_DIR.fullmatch(directory.name)
        if named is not None and int(named.group(1)) != step:
            problems.append((source, f"{directory.name}/{source} records iteration {step}; its directory is "
                                     f"{directory.name}"))  # fmt: skip
        problems += self._tracker(directory, step)
        holds = set()
        if files[0].name == megatron_dist.COMMON:
            holds |= self._sharded_holds(directory)
        elif isinstance(head.get("optimizer"), dict) and head["optimizer"]:
            holds.add("optimizer")
        sched = head.get("opt_param_scheduler")
        if isinstance(sched, dict) and type(sched.get("num_steps")) is int:
            holds.add("scheduler")
            batch = _int(args.get("global_batch_size"))
            counted = batch and args.get("train_iters") and not args.get("rampup_batch_size")
            if counted and sched["num_steps"] != step * batch:
                problems.append((source, f"{directory.name}/{source}: opt_param_scheduler.num_steps is "
                                         f"{sched['num_steps']}, iteration {step} × global_batch_size {batch} is "
                                         f"{step * batch}"))  # fmt: skip
        rng = head.get("rng_state")
        if isinstance(rng, list) and rng and all(isinstance(r, dict) and all(k in r for k in RNG_KEYS) for r in rng):
            holds.add("rng")
        consumed, length = _int(args.get("consumed_train_samples")), _int(args.get("seq_length"))
        if consumed is not None:
            holds.add("data_cursor")  # Megatron's samplers resume from args.consumed_train_samples
        tokens = consumed * length if consumed and length else None
        return CheckpointFacts(step=step, source=source, tokens_seen=tokens, holds=frozenset(holds),
                               problems=tuple(problems))  # fmt: skip

    @staticmethod
    def _sharded_holds(directory: Path) -> set[str]:
        """What a torch_dist checkpoint's DCP items hold: the optimizer's moments, the RNG state."""
        try:
            meta = dcp.checkpoint_metadata(directory, directory.name)
        except dcp.DcpError:
            return set()  # the checks report the unreadable .metadata
        holds = {"optimizer"} if megatron_dist.carries_optimizer(meta) else set()
        return holds | ({"rng"} if megatron_dist.holds_rng(meta) else set())

    @staticmethod
    def _tracker(directory: Path, step: int) -> list[tuple[str, str]]:
        """latest_checkpointed_iteration.txt against this checkpoint, when it is the save directory's latest."""
        said = read_tracker(directory.parent)
        if said is None or said == "release":
            return []
        siblings = [int(m.group(1)) for d in directory.parent.iterdir()
                    if (m := ITER_DIR.fullmatch(d.name)) and header_files(d)]  # fmt: skip
        named = ITER_DIR.fullmatch(directory.name)
        if named is None or int(named.group(1)) != max(siblings, default=-1):
            return []
        where = f"../{TRACKER}"
        if not said.isdigit():
            return [(where, f"{TRACKER} says {said[:40]!r}: neither an iteration nor 'release'")]
        if int(said) != step:
            return [(where, f"{TRACKER} says the latest iteration is {int(said)}; the latest checkpoint, "
                            f"{directory.name}, is iteration {step}")]  # fmt: skip
        return []

    def _args(self, directory: Path, root: Path) -> tuple[str, dict[str, Any]] | None:
        files = header_files(directory)
        if not files:
            return None
        rel = files[0].relative_to(root).as_posix()
        return rel, read_header(files[0], rel)["args"]

    def recorded_training(self, directory: Path, root: Path, read_json: ReadJson) -> list[RecordedTraining]:
        try:
            found = self._args(directory, root)
        except ValueError as exc:
            rel = header_files(directory)[0].relative_to(root).as_posix()
            return [RecordedTraining(rel, "args", {}, problem=str(exc))]
        if found is None or not found[1]:
            return []
        rel, args = found
        training, _ = training_from_args(args)
        records = [RecordedTraining(rel, "args", training)]
        sched = read_header(header_files(directory)[0], rel).get("opt_param_scheduler")
        batch = _int(args.get("global_batch_size"))
        if isinstance(sched, dict) and batch and args.get("train_iters") and not args.get("rampup_batch_size"):
            schedule = scheduler_schedule(sched, batch)
            records.append(RecordedTraining(rel, "opt_param_scheduler", {"lr_schedule": schedule}))
        return records

    def hyperparameters(self, directory: Path, root: Path, read_json: ReadJson) -> Hyperparameters | None:
        try:
            found = self._args(directory, root)
        except ValueError as exc:
            return Hyperparameters(None, f"{exc}; declare config: by hand")
        if found is None:
            return None
        rel, args = found
        if not args:
            return Hyperparameters(None, f"{rel}: no argparse.Namespace of arguments in it; declare config: by hand")
        training, notes = training_from_args(args)
        lacking = [k for k, v in {**training, **training["lr_schedule"]}.items() if v is None]
        if lacking:
            why = "; ".join([f"its args do not give {', '.join(lacking)}"] + notes)
            return Hyperparameters(None, f"{rel}: {why}; declare config: by hand")
        model = header_files(directory)[0].relative_to(directory).as_posix()
        return Hyperparameters(training, f"hyperparameters from the args in {rel} (read from its opcodes, never "
                                         f"unpickled; schedule {training['lr_schedule']['name']}: Megatron's "
                                         "OptimizerParamScheduler.get_lr)" + "".join(f"; {n}" for n in notes),
                               model=model)  # fmt: skip
