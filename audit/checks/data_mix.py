"""data_mix: the declared mixture equals the chunks' per-source tokens."""

from __future__ import annotations

from audit.checks.base import Check, Outcome
from audit.core.release import Release
from audit.spec.rules.data_mix import CHECK as DATA_MIX_CHECK
from audit.spec.rules.data_mix import MIX_SUM, MIX_UNKNOWN, NO_MIXTURE


class DataMixCheck(Check):
    info = DATA_MIX_CHECK

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
