"""config: the model config is readable and is the one at the pinned commit and in every checkpoint;
the training hyperparameters in the manifest equal those in the training config at that commit."""

from __future__ import annotations

import json
from typing import Any

from audit.readers import yamlio
from audit.spec.architectures import is_litgpt_config, is_megatron_args, is_torchtitan_config, torchtitan_architecture
from audit.checks.base import Check, Outcome
from audit.checks.helpers import recorded
from audit.storage.coderepo import CodeRepoError
from audit.storage.remote import is_remote
from audit.core.release import Release
from audit.spec.rules.config import NOT_RELEASED, MODEL_INVALID, NO_FILE, UNREADABLE, MISMATCH, UNDOCUMENTED, MODEL_MISMATCH, CKPT_MISMATCH, RECORDED_MISMATCH, RECORDED_UNREADABLE, NOT_COMPARED, CHECK as CONFIG_CHECK

#: Keys that legitimately differ between copies of one model config.
VOLATILE_KEYS = {"transformers_version", "_name_or_path"}


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} → {"a.b": 1}; lists and scalars are leaves."""
    if isinstance(data, dict) and data:
        out: dict[str, Any] = {}
        for k, v in data.items():
            out |= flatten(v, f"{prefix}{k}.")
        return out
    return {prefix.rstrip("."): data}


def differing_keys(a: dict, b: dict) -> list[str]:
    fa, fb = flatten(a), flatten(b)
    keys = (set(fa) | set(fb)) - {k for k in set(fa) | set(fb) if k.split(".")[0] in VOLATILE_KEYS}
    return sorted(k for k in keys if fa.get(k, _ABSENT) != fb.get(k, _ABSENT))


_ABSENT = object()


def _same(a: Any, b: Any) -> bool:
    """Equal, an int and a float of the same value included (JSON and pickles disagree on 0 vs 0.0)."""
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool) and not isinstance(b, bool):
        return float(a) == float(b)
    return a == b


def _parse(name: str, raw: bytes) -> Any:
    return json.loads(raw) if name.endswith(".json") else yamlio.loads(raw)


class ConfigCheck(Check):
    info = CONFIG_CHECK

    def run(self, release: Release, out: Outcome) -> None:
        m = release.manifest
        if m.config is None:
            out.add(NOT_RELEASED, "the manifest declares no config")
            return
        try:
            model_cfg = release.model_config()
        except ValueError as exc:
            out.add(MODEL_INVALID, str(exc), m.config.model)
            model_cfg = None
        if model_cfg is not None:
            other = f"LitGPT GPT ({model_cfg.get('mlp_class_name')})" if is_litgpt_config(model_cfg) else \
                "Megatron-LM GPTModel" if is_megatron_args(model_cfg) else \
                torchtitan_architecture(model_cfg) if is_torchtitan_config(model_cfg) else "?"  # fmt: skip
            out.evidence["architecture"] = (model_cfg.get("architectures") or [other])[0]
            self._checkpoint_configs(release, model_cfg, out)
        from_trainer = self._recorded(release, out)
        if m.code is None or m.code.commit is None or (is_remote(m.code.repo) and release.locate.remote(m.code.repo) is None):
            if not from_trainer:
                out.add(NO_FILE, "hyperparameters cannot be compared: no local code repository")
            return
        named = [p for p in (m.code.model_config_path, m.code.training_config) if p]
        try:
            repo = release.code_repo()
        except CodeRepoError as exc:
            for p in named:  # the code check reports the repository itself
                out.add(NOT_COMPARED, f"not compared: {p} at the commit — the code repository is unreadable ({exc})",
                        m.code.repo)  # fmt: skip
            return
        missing_commit = repo.commit(m.code.commit) is None
        if m.code.model_config_path and model_cfg is not None:
            raw = self._at_commit(repo, m.code, m.code.model_config_path, missing_commit, out)
            if raw is not None:
                self._compare_model(m, model_cfg, raw, out)
        if not m.code.training_config:
            out.add(NO_FILE, "code.training_config is not declared; " + (
                f"the hyperparameters were compared with the checkpoints' own records only ({from_trainer}), not with "
                "a training config at the commit" if from_trainer else "hyperparameters are unverified"))
            return
        raw = self._at_commit(repo, m.code, m.code.training_config, missing_commit, out)
        if raw is None:
            return
        where = f"{m.code.training_config} at {m.code.commit[:12]}"
        try:
            declared_in_code = _parse(m.code.training_config, raw)
        except (ValueError, RecursionError) as exc:
            out.add(UNREADABLE, f"{where}: {str(exc).splitlines()[0]}", m.code.repo)
            return
        if not isinstance(declared_in_code, dict):
            out.add(UNREADABLE, f"{where} is not a mapping", m.code.repo)
            return
        manifest_hp = flatten(m.config.training.model_dump(mode="json", exclude_none=True, exclude_unset=True))
        code_hp = flatten(declared_in_code)
        for key, value in manifest_hp.items():
            if key not in code_hp:
                out.add(UNDOCUMENTED, f"config.training.{key} = {value!r} does not appear in {where}", m.code.repo)
            elif code_hp[key] != value:
                out.add(MISMATCH, f"config.training.{key}: manifest says {value!r}, {where} says {code_hp[key]!r}",
                        m.code.repo)  # fmt: skip
        out.evidence["hyperparameters_compared"] = len(manifest_hp)
        out.summary = f"{len(manifest_hp)} hyperparameters equal to {where}"

    @staticmethod
    def _at_commit(repo, code, path: str, missing_commit: bool, out: Outcome) -> bytes | None:
        """The file at the pinned commit, or None with a finding saying the comparison did not run."""
        raw = None if missing_commit else repo.read_at(code.commit, path)
        if raw is None:
            why = "commit missing" if missing_commit else "no such file at the commit"
            out.add(NOT_COMPARED, f"not compared: {path} at {code.commit[:12]} — {why}", code.repo)
        return raw

    @staticmethod
    def _recorded(release: Release, out: Outcome) -> int:
        """Hold config.training against what every checkpoint's own files record of it (the Trainer's
        training_args.bin read without unpickling, training_state.json's train config, scheduler and
        optimizer); returns how many records were compared."""
        declared = flatten(release.manifest.config.training.model_dump(mode="json"))
        compared = 0
        differing: dict[tuple[str, str], tuple[str, Any, list[str]]] = {}  # (key, value) → where, value, files
        for ck in release.manifest.checkpoints:
            for rec in recorded.training(release, ck):
                if rec.problem is not None:
                    out.add(RECORDED_UNREADABLE, rec.problem, rec.source)
                    continue
                compared += 1
                for key, want in flatten(rec.training).items():
                    got = declared.get(key)
                    if want is None or got is None or _same(got, want) or \
                            (rec.per_process_batch and key == "batch_size" and type(got) is int and got % want == 0):
                        continue  # unknown to one side; a global batch is per process × accumulation × processes
                    where = rec.source + (f" ({rec.part})" if rec.part else "")
                    entry = differing.setdefault((key, repr(want)), (where, want, []))
                    if rec.source not in entry[2]:
                        entry[2].append(rec.source)
        for (key, _), (where, want, files) in differing.items():
            more = f" (and {len(files) - 1} other checkpoint file(s))" if len(files) > 1 else ""
            out.add(RECORDED_MISMATCH, f"{where}{more} says {key} {want!r}; config.training.{key} is "
                                       f"{declared.get(key)!r}", files[0])  # fmt: skip
        if compared:
            out.evidence["recorded_hyperparameters_compared"] = compared
            out.summary = f"config.training matches what {compared} checkpoint record(s) say"
        return compared

    def _compare_model(self, m, model_cfg: dict, raw: bytes, out: Outcome) -> None:
        where = f"{m.code.model_config_path} at {m.code.commit[:12]}"
        try:
            in_code = json.loads(raw)
        except ValueError as exc:
            out.add(UNREADABLE, f"{where}: {str(exc).splitlines()[0]}", m.code.repo)
            return
        diff = differing_keys(model_cfg, in_code if isinstance(in_code, dict) else {})
        if diff:
            out.add(MODEL_MISMATCH, f"{m.config.model} differs from {where} in: {', '.join(diff[:5])}", m.config.model)

    def _checkpoint_configs(self, release: Release, model_cfg: dict, out: Outcome) -> None:
        compared = 0
        same: set[tuple[bool, bytes]] = set()  # copies already found identical to the model config
        for ck in release.manifest.checkpoints:
            for f in ck.files:
                if f.role != "config":
                    continue
                try:
                    raw = release.path(f.path).read_bytes()
                    yaml_file = f.path.endswith((".yaml", ".yml"))
                    if (yaml_file, raw) in same:  # byte-identical to a copy that matched: it matches too
                        compared += 1
                        continue
                    data = yamlio.loads(raw) if yaml_file else json.loads(raw)
                except (OSError, ValueError, RecursionError):
                    continue  # missing/unsafe files are reported by the checkpoints check
                compared += 1
                diff = differing_keys(model_cfg, data if isinstance(data, dict) else {})
                if not diff:
                    same.add((yaml_file, raw))
                if diff:
                    out.add(CKPT_MISMATCH, f"{f.path} differs from {release.manifest.config.model} in: "
                                           f"{', '.join(diff[:5])}", f.path)  # fmt: skip
        out.evidence["checkpoint_configs_compared"] = compared
