"""PyTorch Distributed Checkpoint directories (torchtitan) for the checks: the tensors named by ``.metadata``
(read through its allow-list), their byte ranges inside the ``.distcp`` files, and the AdamW moments and step
counters of the optimizer state saved beside the weights (:mod:`audit.frameworks.torchtitan`)."""

from __future__ import annotations

from audit.checks.base import Outcome
from audit.core.release import Release
from audit.frameworks import torchtitan
from audit.readers import dcp
from audit.spec.rules import Rule


def is_dcp(f) -> bool:
    return f.path.endswith(".distcp") or f.path.rsplit("/", 1)[-1] == dcp.METADATA


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
    tensors = torchtitan.weights(meta)
    if not ok or not tensors:
        if ok:
            out.add(rules["invalid"], f"{meta.source}: no model tensors in the checkpoint", meta.source)
        return None
    out.add(rules["read"], f"{meta.source} is a pickle: read through the DCP allow-list ({len(tensors)} model tensors "
                           f"of {len(meta.items)} items); items load with torch.load(weights_only=True)", meta.source)  # fmt: skip
    return {name: (it.shape or (), it.dtype or "?") for name, it in tensors.items()}


def carries_optimizer(release: Release, ck) -> bool:
    if ck.path is None:
        return False
    try:
        meta = torchtitan.metadata(release.path(ck.path), ck.path)
    except (dcp.DcpError, ValueError):
        return False
    return bool(torchtitan.moments(meta))


def moments(release: Release, ck, rules: dict[str, Rule], out: Outcome) -> bool:
    """AdamW moments for every model tensor, shaped like it (a fused ``wqkv`` moment like its unfused
    ``wq``/``wk``/``wv`` stacked), step counters equal to the checkpoint's. ``rules``: moments, shape, step."""
    meta = _meta(release, ck, rules["moments"], out)
    if meta is None:
        return False
    params = {k: it.shape for k, it in torchtitan.weights(meta).items()}
    where = meta.source
    covered: set[str] = set()
    ok, steps, checked = True, set(), 0
    for fqn, parts in sorted(torchtitan.moments(meta).items()):
        lacking = [k for k in ("exp_avg", "exp_avg_sq", "step") if k not in parts]
        if lacking:
            out.add(rules["moments"], f"{where}: optimizer state of {fqn} lacks {', '.join(lacking)}", where)
            ok = False
            continue
        names = torchtitan.unfused(fqn)
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


def scheduler_position(release: Release, ck) -> int | None:
    """``lr_scheduler.last_epoch`` of the checkpoint, or None where it holds none or it cannot be read."""
    try:
        value = torchtitan.item(release.path(ck.path), ck.path, "lr_scheduler.last_epoch")
    except (dcp.DcpError, ValueError):
        return None
    return value if type(value) is int else None
