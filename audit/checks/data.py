"""The three data criteria: availability (chunks present and recounted), mix (declared per-source
tokens add up and match what the chunks hold) and order (a complete step → data mapping)."""

from __future__ import annotations

import random

from audit.checks.base import Check, Outcome, Rule
from audit.checks.helpers.files import file_rules, verify_file
from audit.checks.helpers.data_formats import (GLOBAL_INVALID, INDEX, MALFORMED_FILE, ORDER_FILE, READER, format_problems,
                                       global_order, index_present)
from audit.formats.interface import ReaderMissing
from audit.core.release import Release

FILE = file_rules("data")
NOT_RELEASED = Rule("data.not-released", "error", "Publish the training data (or rebuild scripts) and list its chunks.")
REMOTE = Rule("data.remote-not-fetched", "warning",
              "The data is published in another repository: audit with `--resolve-local PATH` pointing at a clone "
              "of it to recount the chunks.")
MALFORMED = Rule("data.malformed-line", "error", "Every line must be a JSON object with a list of integer token ids.")
SEQUENCES = Rule("data.sequence-count-mismatch", "error", "Run `llm360-audit init` or restore the published chunk.")
TOKENS = Rule("data.token-count-mismatch", "error", "Declared token counts must equal the tokens in the chunk.")
LENGTH = Rule("data.sequence-length", "error", "Every sequence must hold data.format.tokens_per_sequence token ids.")
VOCAB = Rule("data.token-out-of-vocab", "error", "Every token id must be below the model's vocab_size.")
SOURCES = Rule("data.sources-mismatch", "error", "Declared tokens per source must equal those counted in the chunk.")

NO_MIXTURE = Rule("data_mix.not-declared", "error", "Declare the data mixture (data.mixture: tokens per source).")
MIX_SUM = Rule("data_mix.mixture-mismatch", "error",
               "data.mixture must equal the sum of the chunks' per-source tokens (within data.mixture_tolerance).")
MIX_UNKNOWN = Rule("data_mix.sources-undeclared", "warning",
                   "Declare per-source token counts for each chunk so the mixture can be checked.")

NO_ORDER = Rule("data_order.steps-undeclared", "error",
                "Give every chunk its first_step and last_step (or declare data.order.global_indices) "
                "so each training step maps to its data.")
GAP = Rule("data_order.incomplete", "error", "The step → chunk mapping must cover every step exactly once.")
SHORT = Rule("data_order.chunk-too-short", "error",
             "A chunk must hold at least (last_step − first_step + 1) × batch_size sequences.")
UNKNOWN_ORDER = Rule("data_order.within-chunk-unknown", "warning",
                     "Publish the order of sequences inside each chunk (or the shuffle seed): "
                     "without it no step can be replayed exactly.")


Ranges = list[tuple[int, int]]


def _coverage(intervals: Ranges, last: int) -> tuple[Ranges, Ranges, int]:
    """From sorted (first, last) step ranges: steps 1..last not covered, steps covered more than once,
    and the number of distinct steps covered — in interval arithmetic (Amber has 274,320 steps)."""
    uncovered, twice, mapped, reach = [], [], 0, 0
    for a, b in intervals:
        if a > reach + 1 and reach + 1 <= last:
            uncovered.append((reach + 1, min(a - 1, last)))
        if a <= reach:
            twice.append((a, min(b, reach)))
        if b > reach:
            mapped += b - max(a, reach + 1) + 1
            reach = b
    if reach < last:
        uncovered.append((reach + 1, last))
    return uncovered, twice, mapped


def _count(ranges: Ranges) -> int:
    return sum(b - a + 1 for a, b in ranges)


def _fmt_ranges(ranges: Ranges) -> str:
    shown = []
    for a, b in ranges:
        shown += range(a, min(b, a + 5 - len(shown) - 1) + 1)
        if len(shown) >= 5:
            break
    total = _count(ranges)
    return ", ".join(map(str, shown[:5])) + (f" … ({total} in all)" if total > 5 else "")


class DataAvailabilityCheck(Check):
    id = "data-availability"
    criterion = "data_availability"
    title = "The training data itself"
    rationale = "Data claims are checkable only against the data: every chunk is opened and recounted."
    rules = (NOT_RELEASED, REMOTE, MALFORMED, SEQUENCES, TOKENS, LENGTH, VOCAB, SOURCES, *FILE.values(),
             MALFORMED_FILE, INDEX, READER)

    def __init__(self, sample: float = 1.0, seed: int = 0):
        """``sample`` < 1: recount only that fraction of the chunks (seeded); all are still hashed."""
        self.sample, self.seed = sample, seed

    def _sampled(self, n: int) -> set[int]:
        if self.sample >= 1.0:
            return set(range(n))
        return set(random.Random(self.seed).sample(range(n), max(1, round(self.sample * n))))

    def run(self, release: Release, out: Outcome) -> None:
        data = release.manifest.data
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
                out.add(MALFORMED, f"{p}: {scan.malformed} malformed line(s), first: {scan.problems[0]}", p)
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
                out.add(VOCAB, f"{p}: {scan.out_of_vocab} token id(s) outside the vocabulary of {vocab}", p)
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


class DataMixCheck(Check):
    id = "data-mix"
    criterion = "data_mix"
    title = "Data mixture"
    rationale = "The mixture is the most consequential data decision; its totals must add up to the chunks."
    rules = (NO_MIXTURE, MIX_SUM, MIX_UNKNOWN)

    def run(self, release: Release, out: Outcome) -> None:
        data = release.manifest.data
        if data is None or not data.mixture:
            out.add(NO_MIXTURE, "the manifest declares no data mixture")
            return
        out.evidence["declared"] = dict(data.mixture)
        out.evidence["declared_total"] = sum(data.mixture.values())
        undeclared = [c.path for c in data.chunks if not c.sources]
        if undeclared or not data.chunks:
            out.add(MIX_UNKNOWN, f"{len(undeclared)} chunk(s) declare no per-source tokens, e.g. "
                                 f"{undeclared[0] if undeclared else '(no chunks)'}")  # fmt: skip
            return
        summed: dict[str, int] = {}
        for c in data.chunks:
            for s, n in c.sources.items():
                summed[s] = summed.get(s, 0) + n
        out.evidence["chunks_total"] = summed
        out.summary = f"{len(summed)} sources, {sum(summed.values())} tokens add up"
        for source in sorted(set(summed) | set(data.mixture)):
            want, got = data.mixture.get(source, 0), summed.get(source, 0)
            if abs(want - got) > data.mixture_tolerance * max(abs(want), abs(got)):
                out.add(MIX_SUM, f"source {source!r}: mixture declares {want:g} tokens, chunks declare {got}")


class DataOrderCheck(Check):
    id = "data-order"
    criterion = "data_order"
    title = "Data order"
    rationale = "Only a complete step → data mapping lets anyone replay a step or trace a behaviour to its data."
    rules = (NO_ORDER, GAP, SHORT, UNKNOWN_ORDER, GLOBAL_INVALID, *ORDER_FILE.values())

    def run(self, release: Release, out: Outcome) -> None:
        m = release.manifest
        if m.data is None or not m.data.chunks:
            out.add(GAP, "no data chunks declared, so no step has its data")
            return
        if m.data.order.global_indices is not None or m.data.order.within_chunk == "global-indices":
            global_order(release, out, GAP, NO_ORDER)
            return
        missing = [c.path for c in m.data.chunks if c.first_step is None or c.last_step is None]
        if missing:
            out.add(NO_ORDER, f"{len(missing)} chunk(s) have no step range, e.g. {missing[0]}", missing[0])
            return
        last = m.checkpoints[-1].step if m.checkpoints else max(c.last_step for c in m.data.chunks)
        intervals = []
        for c in m.data.chunks:
            if c.last_step < c.first_step:
                out.add(GAP, f"{c.path}: last_step {c.last_step} is before first_step {c.first_step}", c.path)
                continue
            intervals.append((c.first_step, c.last_step))
            if m.config is not None and c.sequences is not None:
                need = (c.last_step - c.first_step + 1) * m.config.training.batch_size
                if c.sequences < need:
                    out.add(SHORT, f"{c.path} feeds steps {c.first_step}–{c.last_step} ({need} sequences) "
                                   f"but holds {c.sequences}", c.path)  # fmt: skip
        uncovered, twice, mapped = _coverage(sorted(intervals), last)
        if uncovered:
            out.add(GAP, f"{_count(uncovered)} step(s) have no data: {_fmt_ranges(uncovered)}")
        if twice:
            out.add(GAP, f"{_count(twice)} step(s) are fed by more than one chunk: {_fmt_ranges(twice)}")
        order = m.data.order
        if order.within_chunk == "unknown" or (order.within_chunk == "shuffled" and order.seed is None):
            out.add(UNKNOWN_ORDER, f"order of sequences within chunks is {order.within_chunk}"
                                   + (" and no seed is published" if order.within_chunk == "shuffled" else ""))
        out.evidence |= {"steps_mapped": mapped, "last_step": last, "within_chunk": order.within_chunk}
        out.summary = f"steps 1–{last} each map to one chunk, {order.within_chunk} within chunks"
