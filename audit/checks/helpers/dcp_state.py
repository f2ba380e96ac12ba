"""PyTorch Distributed Checkpoint directories for the checks: the tensors named by ``.metadata`` (read through
its allow-list), their byte ranges inside the ``.distcp`` files, and the AdamW moments and step counters of the
optimizer state saved beside the weights, in torchtitan's layout (:mod:`audit.frameworks.torchtitan`) or
Megatron-LM's ``torch_dist`` (:mod:`audit.frameworks.megatron_dist`: stacked decoder layers, one step shared
by all parameters in ``common.pt``)."""

from __future__ import annotations

import math

from audit.checks.base import Outcome
from audit.core.release import Release
from audit.checks.helpers import pickled_state
from audit.frameworks import megatron_dist, torchtitan
from audit.readers import dcp
from audit.spec.rules import Rule


def is_dcp(f) -> bool:
    return f.path.endswith(".distcp") or f.path.rsplit("/", 1)[-1] == dcp.METADATA


def _megatron(release: Release, ck):
    """The checkpoint's common.pt entry when it is Megatron-LM's torch_dist, else None (torchtitan)."""
    return next((f for f in ck.files if f.path == f"{ck.path}/{megatron_dist.COMMON}"), None)


def _meta(release: Release, ck, rule: Rule, out: Outcome) -> dcp.DcpMetadata | None:
    try:
        return torchtitan.metadata(release.path(ck.path), ck.path)
    except (dcp.DcpError, ValueError) as exc:
        out.add(rule, str(exc), f"{ck.path}/{dcp.METADATA}")
        return None


def weights(release: Release, ck, rules: dict[str, Rule], out: Outcome) -> dict[str, tuple[tuple[int, ...], str]] | None:
    """name → (shape, safetensors dtype) of the model tensors of a DCP checkpoint, or None with the finding
    saying why; every item's byte range is held against the size of its ``.distcp`` (a truncated file is
    named). ``rules``: invalid, read."""
    if ck.path is None:
        return None
    meta = _meta(release, ck, rules["invalid"], out)
    if meta is None:
        return None
    directory, ok = release.path(ck.path), True
    for file in sorted(meta.files):
        rel = f"{ck.path}/{file}"
        try:
            size = (directory / file).stat().st_size
        except OSError:
            out.add(rules["invalid"], f"{meta.source} names {file}, which is not in {ck.path}", rel)
            ok = False
            continue
        ends = [(s.offset + s.length, it.name) for it in meta.items.values() for s in it.storage if s.file == file]
        end, name = max(ends)
        if end > size:
            beyond = sum(1 for e, _ in ends if e > size)
            out.add(rules["invalid"], f"{rel}: truncated: {beyond} item(s) lie past its end (e.g. {name} ends at "
                                      f"byte {end}, the file has {size})", rel)  # fmt: skip
            ok = False
    megatron = _megatron(release, ck) is not None
    tensors = (megatron_dist if megatron else torchtitan).weights(meta)
    if not ok or not tensors:
        if ok:
            out.add(rules["invalid"], f"{meta.source}: no model tensors in the checkpoint", meta.source)
        return None
    out.add(rules["read"], f"{meta.source} is a pickle: read through the DCP allow-list ({len(tensors)} model tensors "
                           f"of {len(meta.items)} items); items load with torch.load(weights_only=True)", meta.source)  # fmt: skip
    if megatron:
        return megatron_dist.weight_shapes(meta)
    return {name: (it.shape or (), it.dtype or "?") for name, it in tensors.items()}


def carries_optimizer(release: Release, ck) -> bool:
    if ck.path is None:
        return False
    try:
        meta = torchtitan.metadata(release.path(ck.path), ck.path)
    except (dcp.DcpError, ValueError):
        return False
    if _megatron(release, ck) is not None:
        return megatron_dist.carries_optimizer(meta)
    return bool(torchtitan.moments(meta))


def moments(release: Release, ck, rules: dict[str, Rule], out: Outcome) -> bool:
    """AdamW moments for every model tensor, shaped like it (a fused ``wqkv`` moment like its unfused
    ``wq``/``wk``/``wv`` stacked), step counters equal to the checkpoint's (Megatron's: the one ``common_step``
    of its common.pt). ``rules``: moments, shape, step."""
    meta = _meta(release, ck, rules["moments"], out)
    if meta is None:
        return False
    common = _megatron(release, ck)
    layout = megatron_dist if common is not None else torchtitan
    params = {k: it.shape for k, it in layout.weights(meta).items()}
    where = meta.source
    covered: set[str] = set()
    ok, steps, checked = True, set(), 0
    if common is not None:
        ok, steps = _common_step(release, common, rules, out, steps)
        if not layout.moments(meta) and (unmatched := _unmatched(meta, params, rules, out)) is not None:
            return ok and unmatched
    for fqn, parts in sorted(layout.moments(meta).items()):
        lacking = [k for k in ("exp_avg", "exp_avg_sq") + (("step",) if common is None else ()) if k not in parts]
        if lacking:
            out.add(rules["moments"], f"{where}: optimizer state of {fqn} lacks {', '.join(lacking)}", where)
            ok = False
            continue
        names = torchtitan.unfused(fqn) if common is None else (fqn,)
        if not all(n in params for n in names):
            out.add(rules["shape"], f"{where}: optimizer state for {fqn}, which is no saved weight", where)
            ok = False
            continue
        covered |= set(names)
        checked += 2
        shapes = [params[n] for n in names]
        want = shapes[0] if len(shapes) == 1 else (sum(s[0] for s in shapes), *shapes[0][1:])
        for kind in ("exp_avg", "exp_avg_sq"):
            if parts[kind].shape != want:
                out.add(rules["shape"], f"{where}: {kind} of {fqn} has shape {list(parts[kind].shape or ())}, the "
                                        f"parameter {list(want)}", where)  # fmt: skip
                ok = False
        if common is not None:
            continue
        try:
            value = torchtitan.item(release.path(ck.path), ck.path, parts["step"].name)
            steps.add(float(value))
        except (dcp.DcpError, TypeError, ValueError, RuntimeError) as exc:
            out.add(rules["moments"], str(exc), where)
            ok = False
    out.evidence["moment_tensors_checked"] = out.evidence.get("moment_tensors_checked", 0) + checked
    missing = sorted(set(params) - covered)
    if missing:
        out.add(rules["moments"], f"{where}: no optimizer moments for {len(missing)} weight(s), e.g. {missing[0]}", where)
        ok = False
    if steps and steps != {float(ck.step)}:
        shown = ", ".join(f"{s:g}" for s in sorted(steps)[:3])
        out.add(rules["step"], f"{where}: optimizer step is {shown}, checkpoint step is {ck.step}", where)
    return ok


def _unmatched(meta: dcp.DcpMetadata, params: dict, rules: dict[str, Rule], out: Outcome) -> bool | None:
    """Megatron's distributed optimizer, whose moments are not keyed by parameter: its flattened buckets are
    counted (as many exp_avg as exp_avg_sq elements, at least as many as the weights have: buckets are padded),
    a gathered state only found; both named as unmatched. None: neither is there."""
    where = meta.source
    flat = megatron_dist.flattened(meta)
    if "exp_avg" in flat and "exp_avg_sq" in flat:
        (buckets, avg), (_, sq) = flat["exp_avg"], flat["exp_avg_sq"]
        weights = sum(math.prod(shape or ()) for shape in params.values())
        if avg != sq or avg < weights:
            out.add(rules["moments"], f"{where}: the distributed optimizer's buckets hold {avg} exp_avg and {sq} "
                                      f"exp_avg_sq elements for {weights} weight elements", where)  # fmt: skip
            return False
        out.add(rules["unmatched"], f"{where}: the optimizer's moments are the distributed optimizer's {buckets} "
                                    f"flattened bucket(s), {avg} elements each of exp_avg and exp_avg_sq for {weights} "
                                    "weight elements: present, not matched to parameters", where)  # fmt: skip
        out.evidence["moment_elements_in_buckets"] = out.evidence.get("moment_elements_in_buckets", 0) + 2 * avg
        return True
    if megatron_dist.gathered(meta):
        out.add(rules["unmatched"], f"{where}: the optimizer's state is gathered into one object (the distributed "
                                    "optimizer's dp_zero_gather_scatter sharding): present, not read", where)  # fmt: skip
        return True
    return None


def _common_step(release: Release, f, rules: dict[str, Rule], out: Outcome, steps: set) -> tuple[bool, set]:
    """The optimizer step megatron-core saves once for all parameters (``optimizer.state.common_step`` of
    common.pt, loaded weights-only after the scan; a hostile file is reported by the content scan)."""
    obj = pickled_state.load(release, f, out)
    if obj is None:
        return False, steps
    opt = obj.get("optimizer") if isinstance(obj, dict) else None
    state = opt.get("state") if isinstance(opt, dict) else None
    step = state.get("common_step") if isinstance(state, dict) else None
    try:
        return True, steps | {float(step)}
    except (TypeError, ValueError, RuntimeError):
        out.add(rules["moments"], f"{f.path}: no optimizer.state.common_step (the step megatron-core saves for "
                                  "every parameter)", f.path)  # fmt: skip
        return False, steps


def scheduler_position(release: Release, ck) -> int | None:
    """``lr_scheduler.last_epoch`` of the checkpoint (torchtitan), or None where it holds none or it cannot be
    read. Megatron's torch_dist keeps its scheduler in common.pt: its adapter checks ``num_steps``."""
    if _megatron(release, ck) is not None:
        return ck.step
    try:
        value = torchtitan.item(release.path(ck.path), ck.path, "lr_scheduler.last_epoch")
    except (dcp.DcpError, ValueError):
        return None
    return value if type(value) is int else None
