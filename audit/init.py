"""``llm360-audit init``: write or refresh the manifest from the files in a release.

Facts the files establish (hashes, sizes, token and sequence counts, tensor-bearing files, steps)
are recomputed on every run; what only a human can say (name, license, hyperparameters, the
mixture once declared, step ranges, order) is kept as written.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import git

from audit import SPEC_VERSION, schemas, yamlio
from audit.data_scan import scan_chunk
from audit.formats import discover
from audit.fileio import write_atomic
from audit.hashing import sha256_stream as sha256_file
from audit.hf_trainer import TRAINER_STATE, is_trainer_state
from audit.init_git import branch_checkpoints, is_git_checkpoint
from audit.manifest import MANIFEST_NAME, DataFormat

STATE_COMPONENTS = ("weights", "optimizer", "scheduler", "rng", "data_cursor")
KEY_ORDER = ("spec_version", "name", "description", "license", "code", "config", "checkpoints", "checkpoints_source",
             "data", "metrics")
ENTRYPOINTS = ("train.py", "pretrain.py", "main.py")
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
#: Hidden files that are release content: torch.distributed.checkpoint's (pickled) metadata.
LISTED_DOTFILES = {".metadata"}
#: Directories that *number* checkpoints rather than naming their step: Amber's ``ckpt_000`` …
#: ``ckpt_359`` (each published as a git branch of that name), where ``ckpt_N`` is the N-th checkpoint,
#: saved after data chunk N. ``step_NNNNNN`` and HF Trainer's ``checkpoint-N`` hold a step.
INDEX_DIR = re.compile(r"ckpt_(\d+)")
#: Key order of a checkpoint entry written by init (that of examples/amber-manifest.yaml).
CHECKPOINT_KEYS = ("step", "tokens", "path", "revision", "state", "files")


class InitError(ValueError):
    """The manifest cannot be refreshed; the message is one line."""


@dataclass
class InitResult:
    path: Path
    text: str
    changes: list[str] = field(default_factory=list)


def _first_record(path: Path) -> Any:
    try:
        with open(path, "rb") as f:
            return json.loads(f.readline(1 << 24))
    except (OSError, ValueError, RecursionError):
        return None


def _walk(root: Path) -> list[Path]:
    """Regular files under root (not following symlinks, skipping hidden directories)."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            p = Path(dirpath) / name
            visible = not name.startswith(".") or name in LISTED_DOTFILES
            if visible and p.is_file() and not p.is_symlink() and name != MANIFEST_NAME:
                found.append(p)
    return found


def _role(name: str) -> str | None:
    if name.endswith(".index.json"):
        return "weights-index"
    if name in ("config.json", "training_args.bin"):  # training_args.bin: HF's pickled TrainingArguments
        return "config"
    if name.startswith("optimizer"):
        return "optimizer"
    if name.startswith("scheduler") and name.endswith((".pt", ".pth", ".bin")):
        return "scheduler"
    if name.startswith("rng_state"):
        return "rng"
    if name in ("training_state.json", TRAINER_STATE):
        return "training-state"
    if name.endswith(WEIGHT_SUFFIXES) and name != "training_args.bin":
        return "weights"
    return None


def _file_entry(root: Path, p: Path, **extra) -> dict:
    return {"path": p.relative_to(root).as_posix(), "sha256": sha256_file(p), "size": p.stat().st_size, **extra}


class _Refresher:
    def __init__(self, root: Path, doc: dict, checkpoint_every: int | None = None):
        self.root, self.doc, self.changes = root, doc, []
        self.files = _walk(root)
        self.indexed: dict[str, int] = {}  # _key(checkpoint) → index, for ckpt_N directories and branches
        self.every = checkpoint_every  # steps between index-numbered checkpoints, when the user knows it

    def note(self, msg: str) -> None:
        self.changes.append(msg)

    # -- checkpoints ---------------------------------------------------------------------------
    def checkpoint_dirs(self) -> dict[Path, list[Path]]:
        dirs: dict[Path, list[Path]] = {}
        for p in self.files:
            dirs.setdefault(p.parent, []).append(p)
        def weights(f: Path) -> bool:
            return _role(f.name) == "weights" and not discover.is_megatron_bin(f)

        return {d: fs for d, fs in dirs.items() if d != self.root and any(weights(f) for f in fs)}

    def checkpoints(self) -> None:
        existing = {c.get("path"): c for c in self.doc.get("checkpoints") or []
                    if isinstance(c, dict) and not is_git_checkpoint(c)}  # fmt: skip
        result = [c for c in self.doc.get("checkpoints") or [] if is_git_checkpoint(c)]  # see git_checkpoints
        for d, files in self.checkpoint_dirs().items():
            rel = d.relative_to(self.root).as_posix()
            state = self._json(d / "training_state.json") or {}
            hf = self._json(d / TRAINER_STATE) or {}
            if "step" not in state and type(hf.get("global_step")) is int:
                state = {"step": hf["global_step"], "source": TRAINER_STATE, "data_cursor": True}
                if type(hf.get("num_input_tokens_seen")) is int and hf["num_input_tokens_seen"] > 0:
                    state["tokens_seen"] = hf["num_input_tokens_seen"]
            step = state.get("step")
            index_match = INDEX_DIR.fullmatch(d.name) if type(step) is not int else None
            if index_match is not None:
                # ckpt_N numbers the checkpoint; its step comes from the data chunks (index_steps).
                step = None
                self.indexed[rel] = int(index_match.group(1))
            elif type(step) is not int:
                m = re.search(r"(\d+)$", d.name)
                if m is None:
                    self.note(f"skipped {rel}: no step in training_state.json or the directory name")
                    continue
                step = int(m.group(1))
            entry = existing.pop(rel, None) or ({"path": rel} if step is None else {"step": step, "path": rel})
            if step is not None and entry.get("step") != step and "step" in state:
                self.note(f"{rel}: step {entry.get('step')} → {step} (from {state.get('source', 'training_state.json')})")
                entry["step"] = step
            if rel in self.indexed and "revision" not in entry:
                entry["revision"] = d.name  # Amber publishes each checkpoint as a git branch of that name
            if "tokens" not in entry and type(state.get("tokens_seen")) is int:
                entry["tokens"] = state["tokens_seen"]
            new_files = [_file_entry(self.root, f, role=_role(f.name) or "other") for f in files]
            old = {f.get("path"): f for f in entry.get("files") or [] if isinstance(f, dict)}
            for f in new_files:
                before = old.get(f["path"])
                if before is None and old:
                    self.note(f"added {f['path']}")
                elif before is not None and ( before.get("sha256"), before.get("size")) != (f["sha256"], f["size"]):
                    self.note(f"updated hash of {f['path']}")
                if before and before.get("role"):
                    f["role"] = before["role"]
            for gone in set(old) - {f["path"] for f in new_files}:
                self.note(f"removed {gone} (file no longer exists)")
            entry["files"] = new_files
            if "state" not in entry:
                entry["state"] = self._state(new_files, state)
            if not old:
                what = f"step {step}" if step is not None else f"checkpoint index {self.indexed[rel]}"
                self.note(f"added checkpoint {rel} ({what})")
            result.append(entry)
        for rel in existing:
            self.note(f"removed checkpoint {rel} (directory no longer exists)")
        result.sort(key=self._order)
        if result or "checkpoints" in self.doc:
            self.doc["checkpoints"] = result

    def git_checkpoints(self) -> None:
        """Checkpoints published as branches of the repository at the release root (read from git objects)."""
        cks = self.doc.get("checkpoints") or []
        existing = {c["revision"]: c for c in cks if is_git_checkpoint(c)}
        entries, indexed = branch_checkpoints(self.root, dict(existing), _role, self.note)
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
        batch, length = hp.get("batch_size"), hp.get("sequence_length")
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
            if type(have) is int:
                self.note(f"{self._key(c)}: step {have} → {want} (checkpoint index {i}, not a step)")
                if type(batch) is int and type(length) is int and c.get("tokens") == have * batch * length:
                    c.pop("tokens")
            c["step"] = want
            if "tokens" not in c and type(batch) is int and type(length) is int:
                c["tokens"] = want * batch * length
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
        """tokens = step × batch_size × sequence_length where the files did not say."""
        hp = (self.doc.get("config") or {}).get("training") or {}
        if not (type(hp.get("batch_size")) is int and type(hp.get("sequence_length")) is int):
            return
        for c in self.doc.get("checkpoints") or []:
            if "tokens" not in c and type(c.get("step")) is int:
                c["tokens"] = c["step"] * hp["batch_size"] * hp["sequence_length"]

    @staticmethod
    def _state(files: list[dict], state: dict) -> list[str]:
        """State components held: by file role, and those the training-state file records (HF's
        trainer_state.json records the global step, from which the Trainer resumes the data order)."""
        roles = {f["role"] for f in files}
        return [c for c in STATE_COMPONENTS if c in roles or (c in ("scheduler", "rng", "data_cursor") and state.get(c))]

    @staticmethod
    def _json(path: Path) -> dict | None:
        try:
            data = json.loads(path.read_bytes())
        except (OSError, ValueError, RecursionError):
            return None
        return data if isinstance(data, dict) else None

    # -- config and code -----------------------------------------------------------------------
    def config(self) -> None:
        if "config" in self.doc:
            return
        cks = self.doc.get("checkpoints") or []
        model = "config.json" if (self.root / "config.json").is_file() else None
        last_dir = self.root / cks[-1]["path"] if cks and cks[-1].get("path") else None
        if model is None and last_dir and (last_dir / "config.json").is_file():
            model = f"{cks[-1]['path']}/config.json"
        train = (self._json(last_dir / "training_state.json") or {}).get("train_config") if last_dir else None
        if model is not None and not isinstance(train, dict) and last_dir and (last_dir / TRAINER_STATE).is_file():
            self._trainer_config(model, last_dir)
            return
        if model is None or not isinstance(train, dict):
            self.note("config: could not derive the model config and hyperparameters; declare config: by hand")
            return
        self.doc["config"] = {"model": model, "training": hyperparameters_from_trainer(train)}
        self.note(f"config: model config {model}, hyperparameters from the final checkpoint's training state")

    def _trainer_config(self, model: str, last_dir: Path) -> None:
        """HF Trainer output: hyperparameters from training_args.bin, read without unpickling it."""
        from audit.hf_trainer import TRAINING_ARGS, hyperparameters_from_args, training_args

        rel = (last_dir / TRAINING_ARGS).relative_to(self.root).as_posix()
        try:
            args = training_args(last_dir / TRAINING_ARGS, rel)
        except ValueError as exc:
            self.note(f"config: {exc}; declare config: by hand (lr_schedule hf-linear, hf-cosine … for HF schedules)")
            return
        state = self._json(last_dir / TRAINER_STATE) or {}
        training, notes = hyperparameters_from_args(args, state.get("train_batch_size"))
        lacking = [k for k, v in {**training, **training["lr_schedule"]}.items() if v is None]
        if lacking:
            self.note(f"config: {rel} does not give {', '.join(lacking)}; declare config: by hand ({'; '.join(notes)})")
            return
        self.doc["config"] = {"model": model, "training": training}
        self.note(f"config: model config {model}, hyperparameters from {rel} (its pickle's opcodes read, never "
                  f"unpickled); {'; '.join(notes)}")

    def code(self) -> None:
        if "code" in self.doc:
            return
        bundles = [p for p in self.files if p.suffix == ".bundle"]
        if not bundles:
            self.note("code: no git bundle found; declare code: by hand")
            return
        rel = bundles[0].relative_to(self.root).as_posix()
        try:
            heads = git.Git().execute(["git", "bundle", "list-heads", str(bundles[0])])
        except git.GitCommandError:
            self.note(f"code: {rel} is not a readable git bundle")
            return
        commit = heads.split()[0] if heads.strip() else None
        if commit is None:
            self.note(f"code: {rel} has no heads")
            return
        self.doc["code"] = {"repo": rel, "commit": commit, "entrypoint": ENTRYPOINTS[0]}
        self.note(f"code: {rel} at {commit[:12]} (entrypoint guessed as {ENTRYPOINTS[0]}; check it)")

    # -- data and metrics ----------------------------------------------------------------------
    def data(self) -> None:
        data = self.doc.get("data") or {}
        fmt = DataFormat.model_validate(data.get("format") or {})
        vocab = None
        model_path = (self.doc.get("config") or {}).get("model")
        if model_path:
            vocab = (self._json(self.root / model_path) or {}).get("vocab_size")
        kind, chunk_files = self._chunk_files(fmt, explicit="kind" in (data.get("format") or {}))
        global_order = next((p for p in self.files if p.name == discover.GLOBAL_INDICES), None)
        if not chunk_files and not data:
            return
        if kind != fmt.kind:
            data.setdefault("format", {})["kind"] = kind
            fmt = fmt.model_copy(update={"kind": kind})
            self.note(f"data.format.kind: {kind}")
        fmt = self._flat_arrays(data, fmt, chunk_files)
        existing = {c.get("path"): c for c in data.get("chunks") or [] if isinstance(c, dict)}
        batch = ((self.doc.get("config") or {}).get("training") or {}).get("batch_size")
        chunks, next_step, lengths = [], 1, set()
        for p in chunk_files:
            scan = scan_chunk(p, fmt, vocab if type(vocab) is int else None)
            entry = existing.pop(p.relative_to(self.root).as_posix(), None)
            index = {"index": _file_entry(self.root, p.with_suffix(".idx"))} if kind == "megatron-indexed" else {}
            fresh = _file_entry(self.root, p, **index, sequences=scan.sequences, tokens=scan.tokens,
                                sources=dict(sorted(scan.sources.items())))  # fmt: skip
            for problem in scan.errors:
                self.note(f"{fresh['path']}: not a valid {kind} chunk: {problem.message}")
            if entry is None:
                self.note(f"added chunk {fresh['path']} ({scan.sequences} sequences, {scan.tokens} tokens)")
                entry = {}
            elif any(entry.get(k) != fresh.get(k) for k in ("sha256", "size", "index", "sequences", "tokens", "sources")):
                self.note(f"updated chunk {fresh['path']}")
            entry = {**entry, **fresh, **{k: entry[k] for k in ("first_step", "last_step") if k in entry}}
            if "first_step" not in entry and batch and scan.sequences >= batch and global_order is None:
                entry["first_step"], entry["last_step"] = next_step, next_step + scan.sequences // batch - 1
            next_step = entry.get("last_step", next_step - 1) + 1
            lengths |= set(scan.lengths)
            chunks.append(entry)
        for gone in existing:
            self.note(f"removed chunk {gone} (file no longer exists)")
        data["chunks"] = chunks
        if len(lengths) == 1:
            data.setdefault("format", {}).setdefault("tokens_per_sequence", lengths.pop())
        if "mixture" not in data and chunks:
            mix: dict[str, int] = {}
            for c in chunks:
                for s, n in c["sources"].items():
                    mix[s] = mix.get(s, 0) + n
            data["mixture"] = mix
            self.note("data.mixture filled with the tokens counted per source; check it is what you intended")
        if global_order is not None:
            self._global_order(data, global_order)
        if "order" not in data:
            data["order"] = {"within_chunk": "unknown"}
            self.note("data.order.within_chunk set to unknown; declare sequential or shuffled (with its seed)")
        self.doc["data"] = {k: data[k] for k in ("format", "chunks", "mixture", "mixture_tolerance", "order") if k in data}

    def _chunk_files(self, fmt: DataFormat, explicit: bool) -> tuple[str, list[Path]]:
        """The data format (as declared, else the one found) and its chunk files."""
        found = {"jsonl-token-ids": [p for p in self.files if p.suffix == ".jsonl"
                                     and isinstance(r := _first_record(p), dict) and fmt.tokens_field in r]}  # fmt: skip
        found |= discover.find_chunks(self.files, fmt, self.note)
        kinds = [k for k, files in found.items() if files]
        if explicit or not kinds:
            return fmt.kind, found[fmt.kind]
        if len(kinds) > 1:
            self.note(f"data: chunks of {', '.join(kinds)} found; one format per release, {kinds[0]} used "
                      "(declare data.format.kind to choose)")  # fmt: skip
        return kinds[0], found[kinds[0]]

    def _flat_arrays(self, data: dict, fmt: DataFormat, files: list[Path]) -> DataFormat:
        """1-D npy token arrays need tokens_per_sequence: guessed from the sequence length when undeclared."""
        if fmt.kind != "npy-tokens" or fmt.tokens_per_sequence is not None:
            return fmt
        flat = [shape[0] for p in files if len(shape := discover.npy_shape(p) or ()) == 1]
        if not flat:
            return fmt
        length = ((self.doc.get("config") or {}).get("training") or {}).get("sequence_length")
        n = discover.guess_tokens_per_sequence(flat, length)
        if n is None:
            self.note("still to complete by hand: data.format.tokens_per_sequence (1-D token arrays are cut into "
                      "sequences of that many token ids)")  # fmt: skip
            return fmt
        data.setdefault("format", {})["tokens_per_sequence"] = n
        self.note(f"data.format.tokens_per_sequence set to {n}: it cuts every 1-D token array into whole sequences; "
                  "check it")  # fmt: skip
        return fmt.model_copy(update={"tokens_per_sequence": n})

    def _global_order(self, data: dict, path: Path) -> None:
        """Declare an OLMo-style global_indices.npy as the data order (hash refreshed on every run)."""
        order = data.setdefault("order", {"within_chunk": "global-indices"})
        if order.get("within_chunk") == "unknown":
            order["within_chunk"] = "global-indices"
        fresh = _file_entry(self.root, path)
        if order.get("global_indices") != fresh:
            self.note(f"data.order.global_indices: {fresh['path']} (step s takes positions (s-1)×batch … s×batch-1)")
        order["global_indices"] = fresh

    def metrics(self) -> None:
        metrics = self.doc.get("metrics") or {}
        for p in self.files:
            if p.suffix != ".jsonl" or not isinstance(r := _first_record(p), dict):
                continue
            key = "training_log" if "loss" in r and "step" in r else "evaluations" if "task" in r and "value" in r else None
            if key is None:
                continue
            rel = p.relative_to(self.root).as_posix()
            entry = metrics.get(key)
            if entry is not None and entry.get("path") != rel:
                continue
            fresh = _file_entry(self.root, p)
            if entry is None:
                self.note(f"metrics.{key}: {rel}")
                entry = {}
            elif (entry.get("sha256"), entry.get("size")) != (fresh["sha256"], fresh["size"]):
                self.note(f"updated hash of {rel}")
            entry |= fresh
            if key == "evaluations" and "tasks" not in entry:
                entry["tasks"] = sorted({rec.get("task") for rec in _records(p) if isinstance(rec, dict)} - {None})
            metrics[key] = entry
        self._trainer_log(metrics)
        if metrics:
            self.doc["metrics"] = metrics

    def _trainer_log(self, metrics: dict) -> None:
        """HF Trainer output: the training log is the log_history of the last checkpoint's trainer_state.json."""
        entry = metrics.get("training_log")
        if entry is not None and entry.get("format") != "hf-trainer-state":
            return
        cks = [c for c in self.doc.get("checkpoints") or [] if c.get("path")]
        path = self.root / cks[-1]["path"] / TRAINER_STATE if cks else None
        if path is None or not path.is_file() or (entry is None and not is_trainer_state(self._json(path) or {})):
            return  # once declared, the file is kept (and rehashed) even if it no longer parses: the audit says why
        fresh = _file_entry(self.root, path, format="hf-trainer-state")
        if entry is None:
            self.note(f"metrics.training_log: {fresh['path']} (log_history of the last checkpoint)")
        elif entry.get("path") != fresh["path"]:
            self.note(f"metrics.training_log: {entry.get('path')} → {fresh['path']} (the last checkpoint's)")
        metrics["training_log"] = (entry or {}) | fresh

    def license(self) -> None:
        if "license" in self.doc:
            return
        lic = self.root / "LICENSE"
        if lic.is_file():
            head = lic.read_text(errors="replace")[:400]
            spdx = "Apache-2.0" if "Apache License" in head else "MIT" if "MIT License" in head else "NOASSERTION"
            self.doc["license"] = {"id": spdx, "file": "LICENSE"}
            self.note(f"license: {spdx} (from LICENSE)")


def _span(paths: list[str]) -> str:
    return paths[0] if len(paths) == 1 else f"{paths[0]} … {paths[-1]} ({len(paths)})"


def _records(path: Path):
    with open(path, "rb") as f:
        for line in f:
            try:
                yield json.loads(line)
            except ValueError:
                continue


def hyperparameters_from_trainer(train: dict) -> dict:
    """Map the reference trainer's train_config to config.training of the manifest."""
    return {
        "optimizer": {"name": "adamw", "betas": list(train["betas"]), "eps": train["eps"],
                      "weight_decay": train["weight_decay"], "implementation": "for-loop"},
        "lr_schedule": {"name": train["schedule"], "peak_lr": train["peak_lr"], "final_lr": train["final_lr"],
                        "warmup_steps": train["warmup_steps"], "total_steps": train["total_steps"]},
        "batch_size": train["batch_size"],
        "sequence_length": train["sequence_length"],
        "precision": train["precision"],
        "grad_clip": train["grad_clip"],
        "seed": train["seed"],
    }  # fmt: skip


def init_release(root: Path, *, write: bool = True, checkpoint_every: int | None = None) -> InitResult:
    path = root / MANIFEST_NAME
    doc: dict = {}
    if path.is_file():
        try:
            loaded = yamlio.loads(path.read_bytes())
        except yamlio.YamlError as exc:
            raise InitError(f"cannot refresh {path}: {exc}; fix or remove it") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise InitError(f"cannot refresh {path}: it is not a mapping; fix or remove it")
        doc = loaded or {}
    doc.setdefault("spec_version", SPEC_VERSION)
    doc.setdefault("name", root.name)
    r = _Refresher(root, doc, checkpoint_every)
    r.license()
    r.code()
    r.checkpoints()
    r.git_checkpoints()
    r.config()
    r.data()
    r.index_steps()
    r.fill_tokens()
    r.metrics()
    ordered = {k: doc[k] for k in KEY_ORDER if k in doc} | {k: v for k, v in doc.items() if k not in KEY_ORDER}
    text = yamlio.dumps(ordered)
    problems = list(schemas.validator("manifest").iter_errors(ordered))
    for e in problems[:5]:
        r.note(f"still to complete by hand: {'.'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}")
    if write:
        write_atomic(path, text)
    return InitResult(path=path, text=text, changes=list(dict.fromkeys(r.changes)))
