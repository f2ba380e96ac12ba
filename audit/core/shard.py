"""Splitting one audit across N machines (``--shard I/N``) and the evidence a shard hands to ``merge``.

The expensive work — hashing files, recounting data chunks, replaying segments — is split
deterministically: checkpoint k, chunk k and the k-th selected replay segment belong to shard
``k mod N + 1``; the release-level files (training log, evaluations, data order) belong to shard 1.
Everything cheap (manifest, headers, configs, the log's contents, the code repository) runs in
every shard. A shard's report carries its evidence (digests, chunk counts, replayed segments), and
``merge`` re-runs every check over the union of that evidence, so aggregate findings are recomputed
exactly as a single run computes them, never concatenated.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from audit.formats.interface import ChunkScan, FormatProblem
from audit.spec.manifest import Manifest


class ShardError(ValueError):
    """A malformed --shard value or an inconsistent set of shard reports (one line)."""


@dataclass(frozen=True)
class Shard:
    index: int  # 1-based
    count: int

    @classmethod
    def parse(cls, text: str) -> "Shard":
        m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
        if not m:
            raise ShardError(f"--shard {text}: use I/N, e.g. 1/3")
        index, count = int(m[1]), int(m[2])
        if not 1 <= index <= count:
            raise ShardError(f"--shard {text}: I must be between 1 and {count} (N)")
        return cls(index, count)

    def owns(self, position: int) -> bool:
        """Whether the item at ``position`` (0-based) of its list is this shard's."""
        return position % self.count == self.index - 1

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def file_positions(manifest: Manifest) -> dict[str, int]:
    """Declared file → the position that decides its shard (files of no checkpoint or chunk: 0)."""
    pos: dict[str, int] = {}
    for k, ck in enumerate(manifest.checkpoints):
        for f in ck.files:
            pos.setdefault(f.path, k)
    for k, chunk in enumerate(manifest.data.chunks if manifest.data else []):
        pos.setdefault(chunk.path, k)
        if chunk.index is not None:
            pos.setdefault(chunk.index.path, k)
    return pos


def scan_to_json(scan: ChunkScan) -> dict[str, Any]:
    return {"sequences": scan.sequences, "tokens": scan.tokens, "sources": dict(scan.sources),
            "lengths": {str(n): c for n, c in scan.lengths.items()}, "max_token_id": scan.max_token_id,
            "out_of_vocab": scan.out_of_vocab, "malformed": scan.malformed, "problems": list(scan.problems),
            "malformed_line": scan.malformed_line, "vocab_line": scan.vocab_line,
            "errors": [[e.message, e.index] for e in scan.errors], "read": scan.read}  # fmt: skip


def scan_from_json(data: dict[str, Any]) -> ChunkScan:
    return ChunkScan(sequences=data["sequences"], tokens=data["tokens"], sources=Counter(data["sources"]),
                     lengths=Counter({int(n): c for n, c in data["lengths"].items()}),
                     max_token_id=data["max_token_id"], out_of_vocab=data["out_of_vocab"],
                     malformed=data["malformed"], problems=list(data["problems"]),
                     malformed_line=data.get("malformed_line"), vocab_line=data.get("vocab_line"),
                     errors=[FormatProblem(m, i) for m, i in data["errors"]], read=data["read"])  # fmt: skip
