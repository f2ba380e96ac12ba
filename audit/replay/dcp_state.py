"""A replayed PyTorch Distributed Checkpoint against the released one, by value: every item of both
``.metadata`` files (read through the allow-list of :mod:`audit.readers.dcp`) loaded from its byte range
with ``torch.load(weights_only=True)``; tensors compared as :func:`audit.replay.compare.diff_tensor` does
(bitwise, ULPs), other values (train_state, lr_scheduler, param groups, data loader state) exactly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from audit.readers import dcp
from audit.replay.compare import CompareError, StateComparison, diff_tensor


def load_dcp_state(directory: Path, rel: str) -> dict[str, Any]:
    """Every item of a DCP checkpoint directory: name → tensor or value; raises :class:`dcp.DcpError`."""
    meta = dcp.read_metadata(directory / dcp.METADATA, f"{rel}/{dcp.METADATA}")
    return {name: dcp.load_item(directory, meta, name, rel) for name in sorted(meta.items)}


def compare_dcp(released: Path, replayed: Path) -> StateComparison:
    """Every item of the released checkpoint against the replayed one (missing on either side listed)."""
    import torch

    try:
        ref = load_dcp_state(released, "released")
    except dcp.DcpError as exc:
        raise CompareError(f"released checkpoint cannot be read: {exc}") from None
    try:
        got = load_dcp_state(replayed, "replayed") if (replayed / dcp.METADATA).is_file() else {}
    except dcp.DcpError:
        got = {}
    result = StateComparison()
    result.missing = sorted(set(ref) ^ set(got))
    for key in sorted(set(ref) & set(got)):
        a, b = ref[key], got[key]
        if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
            diff, rel = diff_tensor(key, a, b)
            result.compared += 1
            result.max_rel = max(result.max_rel, rel)
            if diff.differing:
                result.diffs.append(diff)
        elif type(a) is not type(b) or a != b:
            result.fields.append(key)
    result.diffs.sort(key=lambda d: (-d.max_abs_diff, d.name))
    return result
