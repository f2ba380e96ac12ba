"""init: checkpoints (directories and git branches), their steps and tokens."""

from __future__ import annotations

import re
from pathlib import Path

from audit.formats import discover
from audit.frameworks.registry import FRAMEWORKS, checkpoint_directory
from audit.init.common import CHECKPOINT_KEYS, INDEX_DIR, STATE_COMPONENTS, _role, _span, keep_roles
from audit.init.git import branch_checkpoints, is_git_checkpoint


class CheckpointsPart:
    """Methods of init's refresher (audit.init._Refresher): self.root, self.doc, self.before, self.files,
    self.note, self.drop, self.because."""

    def checkpoint_dirs(self) -> dict[Path, list[Path]]:
        """Directories holding weights; the release root only where the manifest declares ``path: .``."""
        at_root = any(isinstance(c, dict) and c.get("path") == "." for c in self.doc.get("checkpoints") or [])
        dirs: dict[Path, list[Path]] = {}
        for p in self.files:
            dirs.setdefault(checkpoint_directory(p.parent), []).append(p)
        def weights(f: Path) -> bool:
            return _role(f.name) == "weights" and not discover.is_megatron_bin(f) and not discover.is_litdata_chunk(f)

        return {d: fs for d, fs in dirs.items() if (d != self.root or at_root) and any(weights(f) for f in fs)}

    def checkpoints(self) -> None:
        existing = {c.get("path"): c for c in self.doc.get("checkpoints") or []
                    if isinstance(c, dict) and not is_git_checkpoint(c)}  # fmt: skip
        result = [c for c in self.doc.get("checkpoints") or [] if is_git_checkpoint(c)]  # see git_checkpoints
        for d, files in self.checkpoint_dirs().items():
            rel = d.relative_to(self.root).as_posix()
            facts = next((f for fw in FRAMEWORKS if (f := fw.checkpoint_facts(d, self._json)) is not None), None)
            step = facts.step if facts is not None else None
            index_match = INDEX_DIR.fullmatch(d.name) if type(step) is not int else None
            if index_match is not None:
                # ckpt_N numbers the checkpoint; its step comes from the data chunks (index_steps).
                step = None
                self.indexed[rel] = int(index_match.group(1))
            elif type(step) is not int:
                m = re.search(r"(\d+)$", d.name)
                declared = (existing.get(rel) or {}).get("step")  # a step a human declared is kept
                if m is None and type(declared) is not int:
                    self.drop(rel, "no step in training_state.json or the directory name")
                    continue
                step = int(m.group(1)) if m is not None else declared
            entry = existing.pop(rel, None) or ({"path": rel} if step is None else {"step": step, "path": rel})
            if facts is not None:
                self.recorded[rel] = (facts.tokens_seen, facts.source)
            if step is not None and entry.get("step") != step and facts is not None:
                self.because(rel, "step", facts.source)
                entry["step"] = step
            if rel in self.indexed and "revision" not in entry:
                entry["revision"] = d.name  # Amber publishes each checkpoint as a git branch of that name
            if "tokens" not in entry and facts is not None and facts.tokens_seen is not None:
                entry["tokens"] = facts.tokens_seen
            new_files = [self.digests.entry(self.root, f, role=_role(f.name) or "other") for f in files]
            entry["files"] = keep_roles(entry.get("files"), new_files)
            if "state" not in entry:
                entry["state"] = self._state(new_files, facts.holds if facts is not None else frozenset())
            result.append(entry)
        result = self._one_per_step(result)
        result.sort(key=self._order)
        if result or "checkpoints" in self.doc:
            self.doc["checkpoints"] = result

    def _one_per_step(self, entries: list[dict]) -> list[dict]:
        """LitGPT saves its last step twice when it falls on the save interval (``step-N/`` and ``final/``):
        the named directory is kept, ``final`` skipped."""
        named = {c.get("step") for c in entries if c.get("path") and c["path"].rsplit("/", 1)[-1] != "final"}
        kept = []
        for c in entries:
            if c.get("path") and c["path"].rsplit("/", 1)[-1] == "final" and type(c.get("step")) is int \
                    and c["step"] in named:  # fmt: skip
                self.drop(c["path"], f"step {c['step']}, which another checkpoint directory holds")
                continue
            kept.append(c)
        return kept

    def git_checkpoints(self) -> None:
        """Checkpoints published as branches of the repository at the release root (read from git objects)."""
        cks = self.doc.get("checkpoints") or []
        existing = {c["revision"]: c for c in cks if is_git_checkpoint(c)}
        entries, indexed = branch_checkpoints(self.root, dict(existing), _role, self.drop, self.because)
        if not entries and not existing:
            return
        self.indexed |= {f"@{rev}": i for rev, i in indexed.items()}
        result = [c for c in cks if not is_git_checkpoint(c)] + entries
        result.sort(key=self._order)
        self.doc["checkpoints"] = result

    @staticmethod
    def _key(c: dict) -> str:
        """A checkpoint's identity: its directory, or @REVISION for one published as a git branch."""
        return c.get("path") if c.get("path") is not None else f"@{c.get('revision')}"

    def _order(self, c: dict) -> tuple[int, int]:
        """Index-numbered checkpoints in index order (after any step-named ones), the others by step."""
        index = self.indexed.get(self._key(c))
        return (1, index) if index is not None else (0, c["step"] if type(c.get("step")) is int else 0)

    def index_steps(self) -> None:
        """Steps of index-numbered checkpoints (``ckpt_N``): chunk N feeds checkpoint N, so the step of
        checkpoint N is the last step of the N-th data chunk and its tokens step × batch × length.
        Where that pairing is impossible, nothing is guessed: the output says what to complete."""
        entries = [c for c in self.doc.get("checkpoints") or [] if self._key(c) in self.indexed]
        if not entries:
            return
        chunks = [c for c in (self.doc.get("data") or {}).get("chunks") or [] if isinstance(c, dict)]
        hp = (self.doc.get("config") or {}).get("training") or {}
        batch = hp.get("batch_size")
        indices = sorted(self.indexed[self._key(c)] for c in entries)
        reason = None
        if not chunks:
            reason = "no data chunks were found to pair them with"
        elif len(chunks) != len(entries):
            reason = (f"{len(entries)} checkpoint directories cannot be paired with {len(chunks)} data chunks "
                      "(chunk N feeds checkpoint N needs one chunk per checkpoint)")  # fmt: skip
        elif indices != list(range(len(chunks))):
            reason = f"their indices are not 0 … {len(chunks) - 1}, one per data chunk"
        elif unranged := [c.get("path") for c in chunks if type(c.get("last_step")) is not int]:
            reason = (f"{len(unranged)} data chunk(s) have no step range, e.g. {unranged[0]} "
                      + ("(config.training.batch_size is not declared)" if type(batch) is not int
                         else "(fewer sequences than one batch; declare first_step/last_step)"))  # fmt: skip
        if reason is not None and self.every is not None:
            for c in entries:
                if type(c.get("step")) is not int:
                    c["step"] = (self.indexed[self._key(c)] + 1) * self.every
                    self.because(self._key(c), "step", f"--checkpoint-every {self.every}: (N + 1) × {self.every}")
                    self._reorder(c)
            self.note(f"steps of index-numbered checkpoints: (N + 1) × {self.every} (--checkpoint-every)")
            return
        if reason is not None:
            lacking = [self._key(c) for c in entries if type(c.get("step")) is not int]
            if lacking:
                self.note(f"still to complete by hand: checkpoints[].step of {_span(lacking)} (or pass "
                          f"--checkpoint-every STEPS): the names number checkpoints, not steps, and {reason}")  # fmt: skip
            return
        # Steps equal to the directory numbers throughout are what earlier versions of init wrote (the
        # index taken for a step): those are replaced. Any other step was written by a human: kept.
        legacy = all(c["step"] == self.indexed[self._key(c)] for c in entries if type(c.get("step")) is int)
        assigned = []
        for c in entries:
            i = self.indexed[self._key(c)]
            want, have = chunks[i]["last_step"], c.get("step")
            if have == want:
                continue
            if type(have) is int and not legacy:
                self.note(f"{self._key(c)}: step {have} kept as written; "
                          f"chunk {chunks[i].get('path')} ends at step {want}")
                continue
            self.because(self._key(c), "step", f"last step of data chunk {chunks[i].get('path')}"
                         + (f"; {have} was checkpoint index {i}, not a step" if type(have) is int else ""))  # fmt: skip
            c["step"] = want
            self._recount(c)
            self._reorder(c)
            assigned.append(c)
        if assigned:
            self.note(f"checkpoints {_span([self._key(c) for c in assigned])}: step of checkpoint N = last step of "
                      f"data chunk N (steps {assigned[0]['step']} … {assigned[-1]['step']})")  # fmt: skip

    @staticmethod
    def _reorder(c: dict) -> None:
        ordered = {k: c[k] for k in CHECKPOINT_KEYS if k in c} | c
        c.clear()
        c.update(ordered)

    def fill_tokens(self) -> None:
        disagree: dict[str, str] = {}
        for c in self.doc.get("checkpoints") or []:
            if isinstance(c, dict):
                self._recount(c, disagree)
        if disagree:
            name, what = next(iter(disagree.items()))
            self.note(f"tokens recorded by the framework differ from step × batch_size × sequence_length at "
                      f"{len(disagree)} checkpoint(s), e.g. {name}: {what}; the recorded count is written "
                      "(the audit reports the difference)")  # fmt: skip

    def _recount(self, c: dict, disagree: dict[str, str] | None = None) -> None:
        """A checkpoint's tokens: as its framework's files record them, else step × batch_size ×
        sequence_length. Where neither is known they are kept while the step stands, and removed
        (saying why) when the step changed: a count is never left stale."""
        step, name = c.get("step"), self._key(c)
        if type(step) is not int:
            return
        hp = (self.doc.get("config") or {}).get("training") or {}
        batch, length = hp.get("batch_size"), hp.get("sequence_length")
        derived = step * batch * length if type(batch) is int and type(length) is int else None
        recorded, file = self.recorded.get(name, (None, ""))
        if recorded is not None:
            value, why = recorded, f"recorded in {file}"
            if derived is not None and recorded != derived and disagree is not None:
                disagree[name] = f"{file} records {recorded} at step {step}, {step} × {batch} × {length} = {derived}"
        elif derived is not None:
            value, why = derived, f"{step} × {batch} × {length}"
        else:
            old = {self._key(b): b.get("step") for b in self.before.get("checkpoints") or [] if isinstance(b, dict)}
            if "tokens" in c and old.get(name, step) != step:
                del c["tokens"]
                self.because(name, "tokens", f"cannot be recomputed for step {step}: no count recorded in its files "
                                             "and config.training.batch_size or sequence_length not declared")  # fmt: skip
            return
        if c.get("tokens") != value:
            c["tokens"] = value
            self.because(name, "tokens", why)

    @staticmethod
    def _state(files: list[dict], holds: frozenset[str]) -> list[str]:
        """State components held: by file role, and those the framework's files record (HF's
        trainer_state.json records the global step, from which the Trainer resumes the data order)."""
        roles = {f["role"] for f in files}
        return [c for c in STATE_COMPONENTS if c in roles or c in holds]
