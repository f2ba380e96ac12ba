"""data_availability: every chunk present and hashed; sequences, tokens and tokens per source recounted;
sequence lengths as declared; every token id below the vocabulary size."""

from __future__ import annotations

import random

from audit.checks.base import Check, Outcome
from audit.checks.helpers import content
from audit.checks.helpers.data_formats import format_problems, index_present
from audit.checks.helpers.files import verify_file
from audit.core.release import Release
from audit.formats.interface import ReaderMissing
from audit.spec.rules.data_availability import CHECK as DATA_AVAILABILITY_CHECK
from audit.spec.rules.data_availability import (CONTENT, FILE, LENGTH, MALFORMED, NOT_RELEASED, READER, REMOTE, SEQUENCES,
                                                SOURCES, TOKENS, VOCAB)  # fmt: skip


class DataAvailabilityCheck(Check):
    info = DATA_AVAILABILITY_CHECK

    def __init__(self, sample: float = 1.0, seed: int = 0):
        """``sample`` < 1: recount only that fraction of the chunks (seeded); all are still hashed."""
        self.sample, self.seed = sample, seed

    def _sampled(self, n: int) -> set[int]:
        if self.sample >= 1.0:
            return set(range(n))
        return set(random.Random(self.seed).sample(range(n), max(1, round(self.sample * n))))

    def run(self, release: Release, out: Outcome) -> None:
        data = release.manifest.data
        content.report(release, "data_availability", CONTENT, out)
        if data is None or not data.chunks:
            out.add(NOT_RELEASED, "the manifest lists no data chunks")
            return
        if data.source is not None and release.locate.data_root() is None:
            out.add(REMOTE, f"the {len(data.chunks)} chunks are published at {data.source.repo} and were not fetched "
                            "(--resolve-local PATH maps it to a local clone)")  # fmt: skip
            return
        vocab = release.vocab_size()
        want_len = data.format.tokens_per_sequence
        total_tokens = total_seqs = 0
        by_source: dict[str, int] = {}
        scanned = self._sampled(len(data.chunks))
        for i, chunk in enumerate(data.chunks):
            present = verify_file(release, chunk, FILE, out, hash_it=release.hash_files) is not None
            if not (present and index_present(release, chunk, data.format.kind, FILE, out)) or i not in scanned:
                continue
            try:
                scan = release.chunk_scan(chunk)
            except ReaderMissing as exc:
                out.add(READER, f"{chunk.path}: {exc}", chunk.path)
                continue
            if scan is None:  # another shard recounts it
                continue
            if not format_problems(scan, chunk, out):
                continue
            total_tokens += scan.tokens
            total_seqs += scan.sequences
            for source, n in scan.sources.items():
                by_source[source] = by_source.get(source, 0) + n
            p = chunk.path
            if scan.malformed:
                out.add(MALFORMED, f"{p}: {scan.malformed} malformed line(s), first: {scan.problems[0]}", p, scan.malformed_line)
            if chunk.sequences is not None and chunk.sequences != scan.sequences:
                out.add(SEQUENCES, f"{p} holds {scan.sequences} sequences, manifest says {chunk.sequences}", p)
            if chunk.tokens is not None and chunk.tokens != scan.tokens:
                out.add(TOKENS, f"{p} holds {scan.tokens} tokens, manifest says {chunk.tokens}", p)
            if want_len is not None:
                off = {n: c for n, c in scan.lengths.items() if n != want_len}
                if off:
                    n, c = max(off.items(), key=lambda kv: kv[1])
                    out.add(LENGTH, f"{p}: {sum(off.values())} sequence(s) not {want_len} tokens long "
                                    f"(e.g. {c} of length {n})", p)  # fmt: skip
            if scan.out_of_vocab:
                out.add(VOCAB, f"{p}: {scan.out_of_vocab} token id(s) outside the vocabulary of {vocab}", p,
                        scan.vocab_line)  # fmt: skip
            if chunk.sources and dict(chunk.sources) != dict(scan.sources):
                diff = sorted(set(chunk.sources) | set(scan.sources))
                detail = ", ".join(f"{s}: declared {chunk.sources.get(s, 0)}, counted {scan.sources.get(s, 0)}"
                                   for s in diff if chunk.sources.get(s, 0) != scan.sources.get(s, 0))  # fmt: skip
                out.add(SOURCES, f"{p}: {detail}", p)
        out.summary = f"{len(data.chunks)} chunks, {total_seqs} sequences and {total_tokens} tokens recounted"
        if self.sample < 1.0:
            out.summary += f" in a sample of {len(scanned)} chunks (fraction {self.sample:g}, seed {self.seed})"
            out.evidence["sample"] = {"fraction": self.sample, "seed": self.seed, "chunks_recounted": len(scanned)}
        out.evidence |= {"chunks": len(data.chunks), "sequences_counted": total_seqs, "tokens_counted": total_tokens,
                         "vocab_size": vocab, "tokens_per_source": dict(sorted(by_source.items()))}  # fmt: skip
