"""model_checkpoints: every checkpoint present and intact, its tensors those the model config implies,
steps strictly increasing and consistent with the tokens seen."""

from __future__ import annotations

import json
import math
import posixpath

from audit.spec.architectures import TORCH_DTYPE_TO_SAFETENSORS, UnsupportedArchitecture, expected_tensors
from audit.checks.base import Check, Outcome
from audit.checks.helpers.files import verify_file
from audit.checks.helpers import content, dcp_state, pickled_state, recorded
from audit.checks.helpers.content import PICKLE_SUFFIXES
from audit.readers.torch_pickle import looks_pickled
from audit.core.release import Release
from audit.readers.safetensors_header import HeaderError
from audit.spec.manifest import role_criterion
from audit.spec.rules.model_checkpoints import FILE, NONE, MISSING, NO_WEIGHTS, STEP_ORDER, TOKENS, HEADER, TENSOR_MISSING, TENSOR_UNEXPECTED, TENSOR_SHAPE, TENSOR_DTYPE, INDEX, REVISION, NOT_LOCAL, REMOTE, PICKLE, PICKLE_WEIGHTS, PICKLE_READ, DCP_INVALID, DCP_READ, ARCH, INCONSISTENT, SHARED, RECORDED_STEP, RECORDED_TOKENS, RECORDED_CONFLICT, NOT_COMPARED, CONTENT, CHECK as MODEL_CHECKPOINTS_CHECK


class CheckpointsCheck(Check):
    info = MODEL_CHECKPOINTS_CHECK

    def run(self, release: Release, out: Outcome) -> None:
        m = release.manifest
        content.report(release, "model_checkpoints", CONTENT, out)
        if not m.checkpoints:
            out.add(NONE, "the manifest lists no checkpoints")
            return
        self._steps(release, out)
        expected, dtype = self._expectation(release, out)
        reference: dict | None = None  # tensors of the first readable checkpoint, for consistency
        params = 0
        local: dict[str, bool] = {}  # revision → contents in the clone, for checkpoints published as branches
        unfetched = m.checkpoints_source is not None and release.locate.checkpoint_root() is None
        if unfetched:
            n = sum(1 for ck in m.checkpoints if ck.path is None and ck.revision is not None)
            out.add(REMOTE, f"{n} checkpoint revision(s) are published at {m.checkpoints_source.repo} and were not "
                            "fetched (--resolve-local PATH maps it to a local clone)")  # fmt: skip
        owners: dict[str, int] = {}  # declared path → the first checkpoint (step) that declares it
        # The checkpoints of one run repeat one layout: identical headers (parsed once, shared) give the same
        # tensors, and what was found clean for one checkpoint needs no second look for the next.
        self._clean: set = set()  # keys hold id(tensors): every dict whose id is used stays alive in _params
        self._layouts: dict[tuple, tuple[dict, int]] = {}
        self._params: dict[int, tuple[dict, int]] = {}
        for ck in m.checkpoints:
            where = ck.path or ck.revision or f"step {ck.step}"
            self._shared(ck, owners, out)
            if not self._available(release, ck, unfetched, local, out):
                continue
            weights = [f for f in ck.files if f.role == "weights"]
            if "weights" not in ck.state or not weights:
                out.add(NO_WEIGHTS, f"checkpoint at step {ck.step} has no weights file", where)
            self._recorded(release, ck, out)
            for f in ck.files:
                if role_criterion(f.role) != "model_checkpoints":
                    continue  # optimizer, scheduler, RNG and training state: the optimizer check's evidence
                verify_file(release, f, FILE, out, hash_it=release.hash_files)
                if (f.role == "weights" and f.path.endswith(PICKLE_SUFFIXES)) or dcp_state.is_dcp(f):
                    continue  # read through the weights-only loader (DCP: the metadata allow-list) in _tensors
                if f.path.endswith(PICKLE_SUFFIXES) or (f.path.endswith(".safetensors") and _is_pickle(release, f.path)):
                    rule = PICKLE_WEIGHTS if f.role == "weights" else PICKLE
                    wanted = "safetensors expected" if f.role == "weights" else "JSON, YAML or safetensors expected"
                    out.add(rule, f"{f.path} is a pickle file (not loaded: unpickling can run code); {wanted}", f.path)
            tensors = self._tensors(release, ck, weights, out)
            if tensors is None:
                continue
            params = self._parameters(tensors)
            if expected is not None:
                if ("compare", id(tensors)) not in self._clean:
                    before = len(out.findings)
                    self._compare(ck.step, where, tensors, expected, dtype, out)
                    if len(out.findings) == before:
                        self._clean.add(("compare", id(tensors)))
            elif reference is None:
                reference = tensors
            elif tensors is not reference and {k: s for k, (s, _) in tensors.items()} != {k: s for k, (s, _) in reference.items()}:
                out.add(INCONSISTENT, f"checkpoint at step {ck.step} holds different tensors than the first", where)
            out.evidence["tensors_checked"] = out.evidence.get("tensors_checked", 0) + len(tensors)
        if local:
            self._locality(local, out)
        out.summary = (f"{len(m.checkpoints)} checkpoints (steps {m.checkpoints[0].step}–{m.checkpoints[-1].step}), "
                       f"{out.evidence.get('files_hashed', 0)} files hashed, {out.evidence.get('tensors_checked', 0)} tensors checked")
        out.evidence |= {"checkpoints": len(m.checkpoints), "first_step": m.checkpoints[0].step,
                         "last_step": m.checkpoints[-1].step, "parameters": params}  # fmt: skip

    @staticmethod
    def _shared(ck, owners: dict[str, int], out: Outcome) -> None:
        for f in ck.files:
            first = owners.setdefault(f.path, ck.step)
            if first != ck.step:
                out.add(SHARED, f"checkpoint at step {ck.step} declares {f.path}, which the checkpoint at step "
                                f"{first} declares too", f.path)  # fmt: skip

    @staticmethod
    def _recorded(release: Release, ck, out: Outcome) -> None:
        """The step and tokens the checkpoint's own files record, against the manifest's."""
        facts = recorded.facts(release, ck)
        if facts is None:
            return
        source = f"{ck.path}/{facts.source}"
        if facts.step != ck.step:
            out.add(RECORDED_STEP, f"{source} records step {facts.step}; the manifest declares step {ck.step}", source)
        if facts.tokens_seen is not None and ck.tokens is not None and facts.tokens_seen != ck.tokens:
            out.add(RECORDED_TOKENS, f"{source} records {facts.tokens_seen} tokens seen; the manifest declares "
                                     f"{ck.tokens} for step {ck.step}", source)  # fmt: skip
        for rel, problem in facts.problems:
            out.add(RECORDED_CONFLICT, problem, posixpath.normpath(f"{ck.path}/{rel}"))

    @staticmethod
    def _available(release: Release, ck, unfetched: bool, local: dict[str, bool], out: Outcome) -> bool:
        """Whether the checkpoint's files can be looked at: its directory exists, or its branch does (a
        remote repository not fetched was reported once); records whether a branch's contents are local."""
        if ck.path is None and ck.revision is not None:
            if unfetched:
                return False
            try:
                known = ck.revision in release.locate.git_store().branches()
                problem = None if known else f"revision {ck.revision} is not a branch of the release's repository"
            except ValueError as exc:
                problem = str(exc)
            if problem:
                out.add(REVISION, f"checkpoint at step {ck.step}: {problem}", ck.revision)
                return False
            local[ck.revision] = not any(release.locate.unfetched(f.path) for f in ck.files)
        elif ck.path is not None:
            try:
                present = release.path(ck.path).is_dir()
            except ValueError:
                present = True  # the per-file check reports the unsafe path
            if not present:
                out.add(MISSING, f"checkpoint at step {ck.step}: directory {ck.path} does not exist", ck.path)
                return False
        return True

    @staticmethod
    def _locality(local: dict[str, bool], out: Outcome) -> None:
        absent = [rev for rev, here in local.items() if not here]
        out.evidence["revisions_contents_local"] = [r for r, here in local.items() if here]
        out.evidence["revisions_pointers_only"] = absent
        if absent:
            shown = ", ".join(absent[:3]) + (" …" if len(absent) > 3 else "")
            out.add(NOT_LOCAL, f"the contents of {len(absent)} of {len(local)} checkpoint revisions are not in the "
                               f"clone ({shown}): checked against their git-LFS pointers only", absent[0])  # fmt: skip

    def _steps(self, release: Release, out: Outcome) -> None:
        m = release.manifest
        steps = [c.step for c in m.checkpoints]
        for a, b in zip(steps, steps[1:]):
            if b <= a:
                out.add(STEP_ORDER, f"checkpoint step {b} follows step {a}")
        if m.config is None or m.config.training.sequence_length is None:
            return
        t = m.config.training
        for c in m.checkpoints:
            want = c.step * t.batch_size * t.sequence_length
            if c.tokens is not None and c.tokens != want:
                out.add(TOKENS, f"checkpoint at step {c.step} declares {c.tokens} tokens; "
                                f"{c.step} × {t.batch_size} × {t.sequence_length} = {want}", c.path)  # fmt: skip

    def _expectation(self, release: Release, out: Outcome):
        try:
            cfg = release.model_config()
        except ValueError as exc:  # the config check reports the config itself
            if release.manifest.config is not None:  # none declared: config.not-released is the finding
                out.add(NOT_COMPARED, f"not compared: the tensors against the model config — {exc}",
                        release.manifest.config.model)  # fmt: skip
            return None, None
        try:
            dtype = cfg.get("torch_dtype") or cfg.get("dtype")  # transformers 5 writes "dtype"
            return expected_tensors(cfg), TORCH_DTYPE_TO_SAFETENSORS.get(dtype if isinstance(dtype, str) else None)
        except UnsupportedArchitecture as exc:
            out.add(ARCH, str(exc), release.manifest.config.model)
        except ValueError as exc:
            out.add(ARCH, f"cannot derive tensor shapes: {exc}", release.manifest.config.model)
        return None, None

    def _parameters(self, tensors: dict) -> int:
        hit = self._params.get(id(tensors))
        if hit is None:
            self._params[id(tensors)] = hit = (tensors, sum(math.prod(s) for s, _ in tensors.values()))
        return hit[1]

    def _tensors(self, release, ck, weights, out) -> dict | None:
        """name → (shape, dtype) over every weights shard, or None if a header is unreadable (one shared dict
        for checkpoints whose shards have the same headers)."""
        key = self._layout_key(release, ck, weights)
        if key is not None and key in self._layouts:
            tensors = self._layouts[key][0]
            for f in ck.files:
                if f.role == "weights-index":
                    self._index(release, f, weights, tensors, out)
            return tensors
        before = len(out.findings)
        tensors = self._read_tensors(release, ck, weights, out)
        if key is not None and tensors is not None and len(out.findings) == before:
            self._layouts[key] = (tensors, 0)
        return tensors

    @staticmethod
    def _layout_key(release, ck, weights) -> tuple | None:
        """The shards' parsed headers (by identity, in order), when every weights file is a readable local
        safetensors file; else None (no sharing)."""
        if not weights or any(not f.path.endswith(".safetensors") for f in weights):
            return None
        if any(release.locate.unfetched(f.path) for f in ck.files):
            return None
        try:
            return ("tensors",) + tuple(id(release.header(f.path)) for f in weights)
        except (HeaderError, ValueError):
            return None

    def _read_tensors(self, release, ck, weights, out) -> dict | None:
        tensors: dict[str, tuple[tuple[int, ...], str]] = {}
        ok = True
        safetensors = any(f.path.endswith(".safetensors") for f in weights)
        if any(dcp_state.is_dcp(f) for f in weights) and not any(release.locate.unfetched(f.path) for f in ck.files):
            got = dcp_state.weights(release, ck, {"invalid": DCP_INVALID, "read": DCP_READ}, out)
            if not safetensors:
                ok = ok and got is not None
                tensors |= got or {}
        for f in weights:
            if f.path.endswith(PICKLE_SUFFIXES) and release.has_file(f.path) and not release.locate.unfetched(f.path):
                got = pickled_state.weights(release, f, {"refused": PICKLE_WEIGHTS, "read": PICKLE_READ}, out)
                if not safetensors:  # beside safetensors: checked, neither counted twice nor blocking them
                    ok = ok and got is not None
                    tensors |= got or {}
                continue
            if not f.path.endswith(".safetensors") or release.locate.unfetched(f.path):
                continue  # other files: flagged in run(); LFS contents not fetched: only the pointer is known
            try:
                header = release.header(f.path)
            except (HeaderError, ValueError) as exc:
                out.add(HEADER, f"{f.path}: {exc}", f.path)
                ok = False
                continue
            for name, info in header.tensors.items():
                if name in tensors:
                    out.add(INDEX, f"tensor {name} appears in more than one shard", f.path)
                tensors[name] = (info.shape, info.dtype)
        if any(release.locate.unfetched(f.path) for f in ck.files):
            return None  # LFS contents not fetched: tensors and index cannot be compared
        for f in ck.files:
            if f.role == "weights-index" and not dcp_state.is_dcp(f):
                self._index(release, f, weights, tensors, out)
        return tensors if ok and tensors else None

    def _index(self, release, f, weights, tensors, out) -> None:
        cut = max(f.path.rfind("/"), f.path.rfind(":"))  # the directory, or the REVISION: of a git checkpoint
        base = f.path[: cut + 1]
        try:
            raw = release.path(f.path).read_bytes()
        except (OSError, ValueError):
            raw = None
        self._parameters(tensors)  # keeps the dict alive, so that its id names it for the whole run
        key = ("index", raw, id(tensors), tuple(sorted(w.path.removeprefix(base) for w in weights)))
        if raw is not None and key in self._clean:
            return  # the same index over the same shard names and tensors: found clean before
        before = len(out.findings)
        self._check_index(release, f, raw, base, weights, tensors, out)
        if raw is not None and len(out.findings) == before:
            self._clean.add(key)

    @staticmethod
    def _check_index(release, f, raw, base, weights, tensors, out) -> None:
        try:
            assert raw is not None
            weight_map = json.loads(raw)["weight_map"]
            assert isinstance(weight_map, dict)
        except (OSError, ValueError, KeyError, TypeError, AssertionError):
            out.add(INDEX, f"{f.path} is not an index with a weight_map", f.path)
            return
        shards = {w.path for w in weights}
        for name, shard in weight_map.items():
            if base + str(shard) not in shards:
                out.add(INDEX, f"{f.path}: {name} maps to {shard}, which is not a declared weights file", f.path)
                return
        if set(weight_map) != set(tensors):
            gap = sorted(set(weight_map) ^ set(tensors))[:3]
            out.add(INDEX, f"{f.path} and the shards disagree on tensors, e.g. {', '.join(gap)}", f.path)

    def _compare(self, step, where, tensors, expected, dtype, out) -> None:
        missing = sorted(set(expected) - set(tensors))
        extra = sorted(set(tensors) - set(expected))
        if missing:
            out.add(TENSOR_MISSING, f"checkpoint at step {step} lacks {len(missing)} tensor(s): "
                                    f"{', '.join(missing[:3])}{' …' if len(missing) > 3 else ''}", where)  # fmt: skip
        if extra:
            out.add(TENSOR_UNEXPECTED, f"checkpoint at step {step} has {len(extra)} unexpected tensor(s): "
                                       f"{', '.join(extra[:3])}{' …' if len(extra) > 3 else ''}", where)  # fmt: skip
        for name in sorted(set(expected) & set(tensors)):
            shape, got_dtype = tensors[name]
            if shape != expected[name]:
                out.add(TENSOR_SHAPE, f"{name} at step {step} has shape {list(shape)}, "
                                      f"config implies {list(expected[name])}", where)  # fmt: skip
            if dtype is not None and got_dtype != dtype:
                out.add(TENSOR_DTYPE, f"{name} at step {step} is {got_dtype}, config says {dtype}", where)


def _is_pickle(release: Release, rel: str) -> bool:
    """A .safetensors file that is really a pickle (a header length of 640 starts like one: parse first)."""
    try:
        release.header(rel)
        return False
    except (HeaderError, ValueError):
        pass
    try:
        return looks_pickled(release.path(rel))
    except ValueError:  # an unsafe path: reported by verify_file
        return False
