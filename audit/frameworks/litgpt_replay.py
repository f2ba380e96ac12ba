"""The built-in LitGPT driver: ``litgpt pretrain``'s training loop (litgpt 0.5.x, ``pretrain.fit``) run
from a released ``lit_model.pth`` with LitGPT's own code — ``litgpt.GPT`` built from the declared
``model_config.yaml``, the optimizer made by ``litgpt.utils.instantiate_torch_optimizer`` and set up by a
Lightning ``Fabric`` of the declared precision, ``get_lr(it=iter_num)`` before each update, the loss by
``chunked_cross_entropy``, ``fabric.backward``, ``fabric.clip_gradients(max_norm)``, ``optimizer.step``,
then ``zero_grad`` — on the sequences the release's step → data mapping names. The state after the
steps is saved as LitGPT saves it (``model``, ``optimizer``, ``train_dataloader``, ``iter_num``,
``step_count``) in ``work/out/lit_model.pth``, so the comparison is by value.

What differs from ``litgpt pretrain --resume``: no ``torch.compile`` (TorchDynamo is left out: the same
kernels on CPU), no data loader (the data comes from the declared mapping, which may not silently follow
another order), the released file is opened only after the static pickle scan with the weights-only
loader, and the data loader's saved position is carried forward by the sequences the steps consumed
(litdata's counters) instead of being re-read from a path the checkpoint recorded elsewhere.
Gradient accumulation, several processes and optimizers other than AdamW are refused (a one-line reason).
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from audit.frameworks.interface import EngineError, EngineRun

if TYPE_CHECKING:
    from audit.core.release import Release
    from audit.spec.manifest import Checkpoint

#: The manifest's precision → LitGPT's --precision (the precisions this driver runs).
FABRIC_PRECISION = {"fp32": "32-true", "bf16-mixed": "bf16-mixed", "bf16": "bf16-true"}
#: litdata's StreamingDataLoader state counters the steps advance (sequences yielded).
LOADER_COUNTERS = (("num_samples_yielded",), ("dataset", "num_samples_yielded"), ("dataset", "sample_in_epoch"))


def blocker(release: Release, hp_file: dict[str, Any] | None) -> str | None:
    """Why the driver cannot replay this release's LitGPT run, or None."""
    from importlib.util import find_spec

    lacking = [name for name in ("litgpt", "lightning", "torchmetrics") if find_spec(name) is None]
    if lacking:
        return (f"the built-in LitGPT driver runs LitGPT's own code: install {', '.join(lacking)} (README: Bring your "
                "own release, LitGPT)")  # fmt: skip
    hp = release.manifest.config.training if release.manifest.config else None
    if hp is None:
        return None  # the plan names the missing config itself
    if hp.optimizer.name.lower() != "adamw":
        return f"the built-in LitGPT driver replays AdamW, not {hp.optimizer.name}"
    if hp.precision not in FABRIC_PRECISION:
        return f"the built-in LitGPT driver replays {', '.join(FABRIC_PRECISION)}, not {hp.precision}"
    if hp.lr_schedule.name != "litgpt-warmup-cosine":
        return f"the built-in LitGPT driver replays LitGPT's get_lr (litgpt-warmup-cosine), not {hp.lr_schedule.name}"
    train = (hp_file or {}).get("train") if isinstance((hp_file or {}).get("train"), dict) else {}
    micro = train.get("micro_batch_size")
    processes = _count(hp_file, "devices") * _count(hp_file, "num_nodes")
    if processes != 1:
        return f"the run trained on {processes} processes; the built-in LitGPT driver replays one"
    if type(micro) is int and micro != hp.batch_size:
        return (f"gradient accumulation (micro batch {micro}, global batch {hp.batch_size}) is not replayed by the "
                "built-in LitGPT driver")  # fmt: skip
    return None


def _count(hp_file: dict | None, key: str) -> int:
    v = (hp_file or {}).get(key)
    return v if type(v) is int and v > 0 else 1


def replay(release: Release, start: Checkpoint, batches: list, device: str, work: Path,
           checkpoint: dict[str, Any], hp_file: dict[str, Any] | None, model_config: dict[str, Any]) -> EngineRun:
    """Run ``batches`` (one list of token-id sequences per step) from the loaded ``checkpoint``."""
    import lightning as L
    import litgpt
    import torch
    from litgpt.model import GPT, Config
    from litgpt.pretrain import get_lr
    from litgpt.utils import chunked_cross_entropy, instantiate_torch_optimizer
    from torchmetrics.aggregation import RunningMean

    hp = release.manifest.config.training
    s = hp.lr_schedule
    train = (hp_file or {}).get("train") if isinstance((hp_file or {}).get("train"), dict) else {}
    for key in ("iter_num", "step_count"):
        if type(checkpoint.get(key)) is not int:
            raise EngineError(f"{start.path}/lit_model.pth holds no {key}")
    if checkpoint["step_count"] != start.step:
        raise EngineError(f"{start.path}/lit_model.pth holds step {checkpoint['step_count']}, the manifest says {start.step}")
    try:
        config = Config(**model_config)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise EngineError(f"{release.manifest.config.model}: not a litgpt Config ({str(exc).splitlines()[0]})") from None
    fabric = L.Fabric(accelerator="cuda" if device.startswith("cuda") else "cpu", devices=1,
                      precision=FABRIC_PRECISION[hp.precision], loggers=[])  # fmt: skip
    with fabric.init_module(empty_init=True):
        model = GPT(config)
    if train.get("tie_embeddings") is True:
        model.transformer.wte.weight = model.lm_head.weight
    model.max_seq_length = hp.sequence_length
    try:
        model.load_state_dict(checkpoint["model"])
    except (RuntimeError, TypeError, KeyError) as exc:
        raise EngineError(f"{start.path}/lit_model.pth: its weights do not fit the model config "
                          f"({str(exc).splitlines()[0][:200]})") from None  # fmt: skip
    model = fabric.setup(model)
    opt = hp.optimizer
    init_args = {"lr": s.peak_lr, "weight_decay": opt.weight_decay if opt.weight_decay is not None else 0.01,
                 "betas": tuple(opt.betas or (0.9, 0.999)), "eps": opt.eps if opt.eps is not None else 1e-8}  # fmt: skip
    optimizer = instantiate_torch_optimizer({"class_path": "torch.optim.AdamW", "init_args": init_args},
                                            model.parameters(), fused=fabric.device.type == "cuda")  # fmt: skip
    optimizer = fabric.setup_optimizers(optimizer)
    try:
        optimizer.load_state_dict(copy.deepcopy(checkpoint["optimizer"]))  # the steps update moments in place
    except (ValueError, KeyError, TypeError, RuntimeError) as exc:
        raise EngineError(f"{start.path}/lit_model.pth: its optimizer state does not fit the model "
                          f"({str(exc).splitlines()[0][:200]})") from None  # fmt: skip
    iter_num, step_count = checkpoint["iter_num"], checkpoint["step_count"]
    max_norm = hp.grad_clip if hp.grad_clip is not None else train.get("max_norm")
    accumulation = 1  # refused otherwise (blocker)
    running_loss = RunningMean(window=accumulation, sync_on_compute=False).to(fabric.device)
    logs = []
    for batch in batches:
        train_data = torch.tensor(batch, dtype=torch.long, device=fabric.device)
        lr = get_lr(optimizer.defaults["lr"], iter_num, s.warmup_steps, s.total_steps, s.final_lr)
        for group in optimizer.param_groups:
            group["lr"] = lr
        iter_num += 1
        input_ids = train_data[:, 0 : model.max_seq_length].contiguous().long()
        targets = train_data[:, 1 : (model.max_seq_length + 1)].contiguous().long()
        logits = model(input_ids)
        loss = chunked_cross_entropy(logits, targets)
        fabric.backward(loss / accumulation)
        running_loss.update(loss.detach())
        if max_norm:
            fabric.clip_gradients(model, optimizer, max_norm=max_norm)
        optimizer.step()
        optimizer.zero_grad()
        step_count += 1
        logs.append({"step": iter_num, "loss": running_loss.compute().item(), "learning_rate": lr})
    out = work / "out"
    out.mkdir(parents=True, exist_ok=True)
    state = {"model": model, "optimizer": optimizer, "iter_num": iter_num, "step_count": step_count}
    if isinstance(checkpoint.get("train_dataloader"), dict):
        yielded = sum(len(b) for b in batches)
        if batches and iter_num >= s.total_steps and _saved_after_the_loop(release, step_count):
            yielded += len(batches[-1])  # pretrain.fit fetches one more batch, sees max_iters and saves final/
        state["train_dataloader"] = advanced_loader_state(checkpoint["train_dataloader"], yielded)
    fabric.save(out / "lit_model.pth", state)
    environment = {"framework": "litgpt", "litgpt_version": getattr(litgpt, "__version__", None) or _version("litgpt"),
                   "torch_version": torch.__version__, "device": str(fabric.device), "num_threads": torch.get_num_threads(),
                   "precision": hp.precision, "omp_num_threads": os.environ.get("OMP_NUM_THREADS")}  # fmt: skip
    return EngineRun(out=out, logs=logs, environment=environment)


def _saved_after_the_loop(release: Release, step: int) -> bool:
    """Whether the release's checkpoint at ``step`` is ``final/`` (saved after pretrain.fit's loop ended),
    not a ``step-N/`` saved inside it (on the save interval, before the loop fetched its last batch)."""
    end = next((c for c in release.manifest.checkpoints if c.step == step and c.path), None)
    return end is not None and end.path.rstrip("/").rsplit("/", 1)[-1] == "final"


def advanced_loader_state(state: dict[str, Any], sequences: int) -> dict[str, Any]:
    """The saved litdata loader state after ``sequences`` more were yielded (its counters, nothing else)."""
    state = copy.deepcopy(state)
    for path in LOADER_COUNTERS:
        d = state
        for key in path[:-1]:
            d = d.get(key) if isinstance(d, dict) else None
        if isinstance(d, dict) and type(d.get(path[-1])) is int:
            d[path[-1]] += sequences
    return state


def _version(dist: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None
