"""``parquet-tokens``: a Parquet file with a list<integer> token column (data.format.tokens_field) and
an optional string source column (data.format.source_field), read batch by batch. Needs pyarrow
(the ``parquet`` extra); without it the audit says so instead of failing."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from audit.formats.interface import ChunkScan, ReaderMissing, chunk_source
from audit.formats.arrays import pick, tally
from audit.spec.manifest import DataFormat

#: Rows decoded at a time (a few MB of token ids at LLM sequence lengths).
BATCH_ROWS = 2048
MISSING = "reading Parquet needs pyarrow, which is not installed: pip install 'llm360-audit[parquet]'"


def pyarrow():
    """The pyarrow module (raises :class:`ReaderMissing` when it cannot be imported)."""
    try:
        import pyarrow
        import pyarrow.compute  # noqa: F401
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise ReaderMissing(MISSING) from None
    return pyarrow


def token_column_problem(pa, schema, field: str) -> str | None:
    """Why ``schema`` has no list<integer> column ``field``, or None."""
    if field not in schema.names:
        return f"no column {field!r} (columns: {', '.join(schema.names[:8])})"
    t = schema.field(field).type
    is_list = pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)
    if not is_list or not pa.types.is_integer(t.value_type):
        return f"column {field!r} is {t}, not a list of integers"
    return None


def scan(path: Path, fmt: DataFormat, vocab_size: int | None, scan: ChunkScan) -> ChunkScan:
    pa = pyarrow()
    try:
        pf = pa.parquet.ParquetFile(path)
    except (pa.ArrowException, OSError, ValueError) as exc:
        return scan.error(f"not a readable Parquet file ({str(exc).splitlines()[0][:80]})", fatal=True)
    schema = pf.schema_arrow
    if problem := token_column_problem(pa, schema, fmt.tokens_field):
        return scan.error(problem, fatal=True)
    src_type = schema.field(fmt.source_field).type if fmt.source_field in schema.names else None
    has_source = src_type is not None and (pa.types.is_string(src_type) or pa.types.is_large_string(src_type))
    columns = [fmt.tokens_field] + ([fmt.source_field] if has_source else [])
    null_rows = null_ids = 0
    try:
        for batch in pf.iter_batches(batch_size=BATCH_ROWS, columns=columns):
            ids = batch.column(0)
            if ids.null_count:
                null_rows += ids.null_count
                batch = batch.filter(ids.is_valid())
                ids = batch.column(0)
            flat = ids.flatten()
            null_ids += flat.null_count
            lengths = pa.compute.list_value_length(ids).to_numpy(zero_copy_only=False).astype(np.int64)
            tally(scan, flat.fill_null(0).to_numpy(zero_copy_only=False), lengths, vocab_size)
            _count_sources(pa, scan, batch.column(1) if has_source else None, lengths, chunk_source(path, fmt))
    except (pa.ArrowException, OSError, ValueError) as exc:
        return scan.error(f"unreadable after {scan.sequences} rows ({str(exc).splitlines()[0][:80]})", fatal=True)
    if null_rows:
        scan.error(f"{null_rows} row(s) have no token list (null {fmt.tokens_field!r})")
    if null_ids:
        scan.error(f"{null_ids} null token id(s) in {fmt.tokens_field!r}")
    return scan


def _count_sources(pa, scan: ChunkScan, sources, lengths: np.ndarray, default: str) -> None:
    if sources is None:
        if lengths.size and (n := int(lengths.sum())):
            scan.sources[default] += n
        return
    table = pa.table({"s": sources.fill_null("<unlabelled>"), "n": lengths})
    for row in table.group_by("s").aggregate([("n", "sum")]).to_pylist():
        scan.sources[row["s"]] += row["n_sum"]


def sequences(path: Path, fmt: DataFormat, indices: list[int]) -> dict[int, list[int]]:
    pa = pyarrow()
    try:
        pf = pa.parquet.ParquetFile(path)
        if problem := token_column_problem(pa, pf.schema_arrow, fmt.tokens_field):
            raise ValueError(problem)
        pick(pf.metadata.num_rows, indices, "file")
        column = pf.read(columns=[fmt.tokens_field]).column(0)
        rows = column.take(pa.array(indices, type=pa.int64())).to_pylist()
    except (pa.ArrowException, OSError) as exc:
        raise ValueError(f"not a readable Parquet file ({str(exc).splitlines()[0][:80]})") from None
    if any(r is None or None in r for r in rows):
        raise ValueError("a null token list or token id")
    return dict(zip(indices, rows))
