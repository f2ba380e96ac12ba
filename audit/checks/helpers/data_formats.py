"""Rules of the data formats besides JSONL: each chunk a valid file of data.format.kind, a Megatron
chunk's declared .idx, the reader installed, and the OLMo-style global order (data.order.global_indices)."""

from __future__ import annotations

from pathlib import PurePath, PurePosixPath

from audit.checks.base import Outcome
from audit.spec.rules import Rule
from audit.checks.helpers.files import verify_file
from audit.formats.interface import ChunkScan
from audit.spec.manifest import Chunk
from audit.spec.rules.data_availability import MALFORMED_FILE, INDEX
from audit.spec.rules.data_order import ORDER_FILE, GLOBAL_INVALID


#: Formats whose chunks are read with an index file beside them: (reader, what the index is called there).
INDEXED = {"megatron-indexed": ("Megatron", ".idx"), "litdata-tokens": ("litdata", "index.json")}


def _index_beside(kind: str, chunk: PurePath) -> PurePath | None:
    if kind == "megatron-indexed":
        return chunk.with_suffix(".idx") if chunk.suffix == ".bin" else None
    return chunk.with_name("index.json")


def index_present(release, chunk: Chunk, kind: str, rules: dict[str, Rule], out: Outcome) -> bool:
    """A megatron-indexed chunk's .idx (a litdata chunk's index.json) is declared where its reader looks for
    it, present and as declared."""
    if kind in INDEXED:
        want = _index_beside(kind, PurePosixPath(chunk.path))
        if chunk.index is None or chunk.index.path != (want and want.as_posix()):
            what = "declares no index (chunk.index)" if chunk.index is None else f"declares index {chunk.index.path}"
            reads = want or ("NAME.idx beside NAME.bin" if kind == "megatron-indexed" else "index.json beside the chunk")
            out.add(INDEX, f"{chunk.path} {what}; {INDEXED[kind][0]} reads {reads}", chunk.path)
            return False
    if chunk.index is None:
        return True
    idx = verify_file(release, chunk.index, rules, out, hash_it=release.hash_files)
    if idx is not None and kind in INDEXED and idx != _index_beside(kind, release.path(chunk.path)):
        out.add(INDEX, f"{chunk.index.path} is a link to another file than the {INDEXED[kind][1]} beside {chunk.path}",
                chunk.path)  # fmt: skip
        return False
    return idx is not None


def format_problems(scan: ChunkScan, chunk: Chunk, out: Outcome) -> bool:
    """Report why the chunk is not a valid file of its format; True when its counts can be compared."""
    for problem in scan.errors:
        path = chunk.index.path if problem.index and chunk.index else chunk.path
        out.add(MALFORMED_FILE, f"{path}: {problem.message}", path)
    return scan.read


def global_order(release, out: Outcome, gap: Rule, undeclared: Rule) -> None:
    """Steps → positions of the global indices: file as declared, 1-D integer, indices in range, every step."""
    m = release.manifest
    gi = m.data.order.global_indices
    if gi is None:
        out.add(undeclared, "data.order.within_chunk is global-indices but data.order.global_indices is not declared")
        return
    path = verify_file(release, gi, ORDER_FILE, out, hash_it=release.hash_files)
    if path is None:
        return
    from audit.formats.arrays import NpyError, npy_array, out_of_range

    try:
        order = npy_array(path)
    except (NpyError, OSError) as exc:
        out.add(GLOBAL_INVALID, f"{gi.path}: {exc}", gi.path)
        return
    if order.ndim != 1:
        out.add(GLOBAL_INVALID, f"{gi.path}: a {order.ndim}-D array; global indices are 1-D", gi.path)
        return
    uncounted = [c.path for c in m.data.chunks if c.sequences is None]
    total = sum(c.sequences or 0 for c in m.data.chunks)
    if uncounted:
        out.add(GLOBAL_INVALID, f"{gi.path}: chunk {uncounted[0]} declares no sequence count, so its indices "
                                "cannot be checked", gi.path)  # fmt: skip
    elif bad := out_of_range(order, total):
        count, pos, value = bad
        out.add(GLOBAL_INVALID, f"{gi.path}: {count} index(es) outside [0, {total}) (the chunks' sequences), "
                                f"first at position {pos}: {value}", gi.path)  # fmt: skip
    if m.config is None:
        out.add(undeclared, f"no batch size declared (config.training.batch_size): no step maps to {gi.path}")
        return
    batch = m.config.training.batch_size
    steps = order.size // batch
    last = m.checkpoints[-1].step if m.checkpoints else steps
    if steps < last:
        lacking = f"step {last} has" if steps + 1 == last else f"steps {steps + 1}–{last} have"
        out.add(gap, f"{gi.path} holds {order.size} positions, whole batches of {batch} for {steps} steps: "
                     f"{lacking} no data", gi.path)  # fmt: skip
    mapped = min(steps, last)
    out.evidence |= {"steps_mapped": mapped, "last_step": last, "global_indices_positions": int(order.size),
                     "within_chunk": m.data.order.within_chunk}  # fmt: skip
    out.summary = f"steps 1–{mapped} map to positions of {gi.path} ({order.size} positions, batch {batch})"
