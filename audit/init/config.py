"""init: the model config and hyperparameters, the code bundle, the license."""

from __future__ import annotations

from pathlib import Path

import git

from audit.frameworks.hf_trainer import TRAINER_STATE
from audit.init.common import ENTRYPOINTS


class ConfigPart:
    """Methods of init's refresher (audit.init._Refresher): self.root, self.doc, self.files, self.note."""

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
        from audit.frameworks.hf_trainer import TRAINING_ARGS, hyperparameters_from_args, training_args

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

    def license(self) -> None:
        if "license" in self.doc:
            return
        lic = self.root / "LICENSE"
        if lic.is_file():
            head = lic.read_text(errors="replace")[:400]
            spdx = "Apache-2.0" if "Apache License" in head else "MIT" if "MIT License" in head else "NOASSERTION"
            self.doc["license"] = {"id": spdx, "file": "LICENSE"}
            self.note(f"license: {spdx} (from LICENSE)")


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
