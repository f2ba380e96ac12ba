"""init: data chunks in every format, the data order, the training log and evaluations."""

from __future__ import annotations

from pathlib import Path

from audit.formats.registry import scan_chunk
from audit.formats import discover
from audit.readers.tensorboard_log import is_event_file
from audit.frameworks.hf_trainer import TRAINER_STATE, is_trainer_state
from audit.frameworks.registry import for_files
from audit.init.common import _first_record, _records
from audit.spec.manifest import DataFormat


class DataPart:
    """Methods of init's refresher (audit.init._Refresher): self.root, self.doc, self.files, self.note,
    self.drop, self.because."""

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
        fmt = self._flat_arrays(data, fmt, chunk_files)
        fmt = self._litdata_blocks(data, fmt)
        existing = {c.get("path"): c for c in data.get("chunks") or [] if isinstance(c, dict)}
        batch = ((self.doc.get("config") or {}).get("training") or {}).get("batch_size")
        chunks, next_step, lengths = [], 1, set()
        for p in chunk_files:
            scan = scan_chunk(p, fmt, vocab if type(vocab) is int else None)
            entry = existing.pop(p.relative_to(self.root).as_posix(), None) or {}
            idx = {"megatron-indexed": p.with_suffix(".idx"), "litdata-tokens": p.parent / "index.json"}.get(kind)
            index = {"index": self.digests.entry(self.root, idx)} if idx is not None else {}
            fresh = self.digests.entry(self.root, p, **index, sequences=scan.sequences, tokens=scan.tokens,
                                sources=dict(sorted(scan.sources.items())))  # fmt: skip
            for problem in scan.errors:
                self.note(f"{fresh['path']}: not a valid {kind} chunk: {problem.message}")
            entry = self.digests.merge(entry, fresh) | {k: entry[k] for k in ("first_step", "last_step") if k in entry}
            spans = kind == "litdata-tokens" and bool(batch) and scan.sequences % batch != 0  # one stream: batches span chunks
            if spans:
                self.note(f"{fresh['path']}: {scan.sequences} sequences are not whole batches of {batch}: "
                          "its steps are not declared")  # fmt: skip
            if "first_step" not in entry and batch and scan.sequences >= batch and global_order is None and not spans:
                entry["first_step"], entry["last_step"] = next_step, next_step + scan.sequences // batch - 1
            next_step = entry.get("last_step", next_step - 1) + 1
            lengths |= set(scan.lengths)
            chunks.append(entry)
        data["chunks"] = chunks
        if len(lengths) == 1:
            data.setdefault("format", {}).setdefault("tokens_per_sequence", length := lengths.pop())
            self._sequence_length(length)
        if "mixture" not in data and chunks:
            mix: dict[str, int] = {}
            for c in chunks:
                for s, n in c["sources"].items():
                    mix[s] = mix.get(s, 0) + n
            data["mixture"] = mix
            self.note("data.mixture filled with the tokens counted per source; check it is what you intended")
        if global_order is not None:
            self._global_order(data, global_order)
        if "order" not in data and (found := self._framework_order()) is not None:
            data["order"], why = found
            self.note(f"data.order.within_chunk {data['order']['within_chunk']}: {why}")
        if "order" not in data:
            data["order"] = {"within_chunk": "unknown"}
            self.note("data.order.within_chunk set to unknown; declare sequential or shuffled (with its seed)")
        self.doc["data"] = {k: data[k] for k in ("format", "chunks", "mixture", "mixture_tolerance", "order") if k in data}

    def _sequence_length(self, tokens: int) -> None:
        """config.training.sequence_length, where the framework does not record it (the HF Trainer), from
        the data: every sequence holds ``tokens`` ids, the inputs of a step and their shifted targets. Only
        in a config init derives now: a declared one is kept as written."""
        training = (self.doc.get("config") or {}).get("training")
        if "config" in self.before or not isinstance(training, dict) or training.get("sequence_length") is not None \
                or tokens < 2:
            return
        training["sequence_length"] = tokens - 1
        self.note(f"config.training.sequence_length set to {tokens - 1}: every data sequence holds {tokens} token ids "
                  "(inputs and their shifted targets); check it")  # fmt: skip

    def _chunk_files(self, fmt: DataFormat, explicit: bool) -> tuple[str, list[Path]]:
        """The data format (as declared, else the one found) and its chunk files."""
        found = {"jsonl-token-ids": [p for p in self.files if p.suffix == ".jsonl"
                                     and isinstance(r := _first_record(p), dict) and fmt.tokens_field in r]}  # fmt: skip
        found |= discover.find_chunks(self.files, fmt, self.note)
        kinds = [k for k, files in found.items() if files]
        if explicit or not kinds:
            return fmt.kind, found[fmt.kind]
        for other in kinds[1:]:
            for p in found[other]:
                self.drop(p.relative_to(self.root).as_posix(), f"a {other} chunk: one data format per release, "
                          f"{kinds[0]} used (declare data.format.kind to choose)")  # fmt: skip
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

    def _litdata_blocks(self, data: dict, fmt: DataFormat) -> DataFormat:
        """litdata token chunks are cut into blocks of the sequence length + 1 (LitGPT's TokensLoader block_size)."""
        length = ((self.doc.get("config") or {}).get("training") or {}).get("sequence_length")
        if fmt.kind != "litdata-tokens" or fmt.tokens_per_sequence is not None or type(length) is not int or length < 1:
            return fmt
        data.setdefault("format", {})["tokens_per_sequence"] = length + 1
        self.note(f"data.format.tokens_per_sequence set to {length + 1}: TokensLoader's block of sequence_length + 1")
        return fmt.model_copy(update={"tokens_per_sequence": length + 1})

    def _framework_order(self) -> tuple[dict, str] | None:
        """The data order the last checkpoint's saved data-loader state gives (audit.frameworks)."""
        from audit.frameworks.registry import FRAMEWORKS

        cks = [c for c in self.doc.get("checkpoints") or [] if isinstance(c, dict) and c.get("path")]
        last = self.root / cks[-1]["path"] if cks else None
        return next((o for fw in FRAMEWORKS if last and (o := fw.data_order(last, self.root))), None)

    def _global_order(self, data: dict, path: Path) -> None:
        """Declare an OLMo-style global_indices.npy as the data order (hash refreshed on every run)."""
        order = data.setdefault("order", {"within_chunk": "global-indices"})
        if order.get("within_chunk") == "unknown":
            order["within_chunk"] = "global-indices"
        fresh = self.digests.entry(self.root, path)
        if (order.get("global_indices") or {}).get("path") != fresh["path"]:
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
            entry = self.digests.merge(entry or {}, self.digests.entry(self.root, p))
            if key == "evaluations" and "tasks" not in entry:
                entry["tasks"] = sorted({rec.get("task") for rec in _records(p) if isinstance(rec, dict)} - {None})
            metrics[key] = entry
        self._trainer_log(metrics)
        self._litgpt_log(metrics)
        self._tensorboard_log(metrics)
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
        fresh = self.digests.entry(self.root, path, format="hf-trainer-state")
        self.because("", "metrics.training_log", "log_history of the last checkpoint")
        metrics["training_log"] = self.digests.merge(entry or {}, fresh)

    def _litgpt_log(self, metrics: dict) -> None:
        """LitGPT's CSV logger: ``logs/csv/version_N/metrics.csv`` (the latest version when resumed runs added more)."""
        if metrics.get("training_log") is not None and metrics["training_log"].get("format") != "litgpt-csv":
            return
        found = sorted((p for p in self.files if p.name == "metrics.csv" and _csv_header(p) >= LITGPT_COLUMNS),
                       key=lambda p: (len(p.parts), p.parent.name.removeprefix("version_").zfill(9)))  # fmt: skip
        if not found:
            return
        entry = metrics.get("training_log")
        fresh = self.digests.entry(self.root, found[-1], format="litgpt-csv")
        if entry is None or entry.get("path") != fresh["path"]:
            self.note(f"metrics.training_log: {fresh['path']} (LitGPT's CSV logger, keyed on iter)")
        metrics["training_log"] = self.digests.merge(entry or {}, fresh)

    def _tensorboard_log(self, metrics: dict) -> None:
        """TensorBoard event files (torchtitan's ``tb/<time>/events.out.tfevents.*``, Megatron-LM's in its
        ``--tensorboard-dir``), where no other log is declared: the latest run's (the last by directory and
        name), in the format of the framework that wrote the checkpoints (its tags and conventions)."""
        if metrics.get("training_log") is not None and metrics["training_log"].get("format") not in TENSORBOARD:
            return
        found = sorted((p for p in self.files if is_event_file(p.name)), key=lambda p: p.relative_to(self.root).parts)
        if not found:
            return
        entry = metrics.get("training_log")
        fmt = self._tensorboard_format()
        fresh = self.digests.entry(self.root, found[-1], format=fmt)
        if entry is None or entry.get("path") != fresh["path"] or entry.get("format") != fmt:
            more = f"; {len(found) - 1} other event file(s) not declared" if len(found) > 1 else ""
            self.note(f"metrics.training_log: {fresh['path']} ({fmt}: loss, lr, grad norm){more}")
        metrics["training_log"] = self.digests.merge(entry or {}, fresh)


    def _tensorboard_format(self) -> str:
        """The TensorBoard log format of the framework whose files the checkpoints hold (Megatron-LM's:
        megatron-tensorboard), else ``tensorboard``."""
        names = {str(f.get("path", "")).rsplit("/", 1)[-1] for c in self.doc.get("checkpoints") or []
                 for f in c.get("files") or [] if isinstance(f, dict)}  # fmt: skip
        framework = for_files(names)
        return next((k for k in (framework.log_formats if framework else {}) if k in TENSORBOARD), "tensorboard")


#: The TensorBoard training-log formats (metrics.training_log.format).
TENSORBOARD = ("tensorboard", "megatron-tensorboard")

#: The columns of LitGPT's pretrain metrics.csv that make it a training log.
LITGPT_COLUMNS = {"iter", "loss", "learning_rate"}


def _csv_header(path: Path) -> set[str]:
    try:
        with open(path, "rb") as f:
            return set(f.readline(1 << 16).decode("utf-8", errors="replace").strip().split(","))
    except OSError:
        return set()
