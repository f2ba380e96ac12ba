"""config: the model config is readable and is the one at the pinned commit and in every checkpoint;
the training hyperparameters in the manifest equal those in the training config at that commit."""

from __future__ import annotations

import json
from typing import Any

from audit.readers import yamlio
from audit.checks.base import Check, Outcome
from audit.storage.coderepo import CodeRepoError
from audit.storage.remote import is_remote
from audit.core.release import Release
from audit.spec.rules.config import NOT_RELEASED, MODEL_INVALID, NO_FILE, UNREADABLE, MISMATCH, UNDOCUMENTED, MODEL_MISMATCH, CKPT_MISMATCH, ARGS_MISMATCH, ARGS_UNREADABLE, CHECK as CONFIG_CHECK

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
            out.evidence["architecture"] = (model_cfg.get("architectures") or ["?"])[0]
            self._checkpoint_configs(release, model_cfg, out)
        from_trainer = self._trainer_args(release, out)
        if m.code is None or m.code.commit is None or (is_remote(m.code.repo) and release.locate.remote(m.code.repo) is None):
            if not from_trainer:
                out.add(NO_FILE, "hyperparameters cannot be compared: no local code repository")
            return
        try:
            repo = release.code_repo()
        except CodeRepoError:
            return  # the code check reports it
        if m.code.model_config_path and model_cfg is not None:
            raw = repo.read_at(m.code.commit, m.code.model_config_path)
            if raw is not None:
                self._compare_model(m, model_cfg, raw, out)
        if not m.code.training_config:
            out.add(NO_FILE, "code.training_config is not declared; hyperparameters are unverified")
            return
        raw = repo.read_at(m.code.commit, m.code.training_config)
        if raw is None:
            return  # the code check reports the missing file
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
    def _trainer_args(release: Release, out: Outcome) -> int:
        """Compare config.training with each checkpoint's training_args.bin (HF Trainer), read without
        unpickling; returns how many files were compared."""
        from audit.frameworks.hf_trainer import (TRAINER_STATE, TRAINING_ARGS, hyperparameters_from_args, read_trainer_state,
                                      training_args)

        declared = flatten(release.manifest.config.training.model_dump(mode="json"))
        compared = 0
        for ck in release.manifest.checkpoints:
            names = {f.path.rsplit("/", 1)[-1]: f.path for f in ck.files}
            rel = names.get(TRAINING_ARGS)
            if rel is None or not release.has_file(rel):
                continue
            try:
                args = training_args(release.path(rel), rel)
                state = read_trainer_state(release.path(names[TRAINER_STATE]), names[TRAINER_STATE]) \
                    if TRAINER_STATE in names and release.has_file(names[TRAINER_STATE]) else {}
            except ValueError as exc:
                out.add(ARGS_UNREADABLE, str(exc), rel)
                continue
            compared += 1
            expected = flatten(hyperparameters_from_args(args, state.get("train_batch_size"))[0])
            for key, want in expected.items():
                got = declared.get(key)
                if want is None or got is None or (key == "batch_size" and type(got) is int and got % want == 0):
                    continue  # unknown to one side; a global batch is per process × accumulation × processes
                if got != want and not (isinstance(got, float) and isinstance(want, (int, float)) and got == float(want)):
                    out.add(ARGS_MISMATCH, f"{rel} says {key} {want!r}; config.training.{key} is {got!r}", rel)
        if compared:
            out.evidence["training_args_compared"] = compared
            out.summary = f"config.training matches the training_args.bin of {compared} checkpoint(s)"
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
        for ck in release.manifest.checkpoints:
            for f in ck.files:
                if f.role != "config":
                    continue
                try:
                    data = json.loads(release.path(f.path).read_bytes())
                except (OSError, ValueError, RecursionError):
                    continue  # missing/unsafe files are reported by the checkpoints check
                compared += 1
                diff = differing_keys(model_cfg, data if isinstance(data, dict) else {})
                if diff:
                    out.add(CKPT_MISMATCH, f"{f.path} differs from {release.manifest.config.model} in: "
                                           f"{', '.join(diff[:5])}", f.path)  # fmt: skip
        out.evidence["checkpoint_configs_compared"] = compared
