"""init: the model config and hyperparameters, the code bundle, the license."""

from __future__ import annotations

from pathlib import Path

import git

from audit.frameworks.interface import Hyperparameters
from audit.frameworks.registry import FRAMEWORKS
from audit.init.changes import Sources, diff, show
from audit.init.common import ENTRYPOINTS
from audit.storage.coderepo import CodeRepo, CodeRepoError, blob_at


class ConfigPart:
    """Methods of init's refresher (audit.init._Refresher): self.root, self.doc, self.files, self.note,
    self.drop, self.because."""

    def config(self) -> None:
        cks = self.doc.get("checkpoints") or []
        last_dir = self.root / cks[-1]["path"] if cks and isinstance(cks[-1], dict) and cks[-1].get("path") else None
        found = next((h for fw in FRAMEWORKS if last_dir and (h := fw.hyperparameters(last_dir, self.root, self._json))),
                     None)  # fmt: skip
        if "config" in self.doc:
            self._kept(found, last_dir)
            return
        model = "config.json" if (self.root / "config.json").is_file() else None
        if model is None and last_dir and (last_dir / "config.json").is_file():
            model = f"{cks[-1]['path']}/config.json"
        if model is None and found is not None and found.model is not None:
            model = f"{cks[-1]['path']}/{found.model}"
        if model is None or found is None:
            self.note("config: could not derive the model config and hyperparameters; declare config: by hand")
            return
        if found.training is None:
            self.note(f"config: {found.note}")
            return
        self.doc["config"] = {"model": model, "training": found.training}
        self.note(f"config: model config {model}, {found.note}")

    def _kept(self, found: Hyperparameters | None, last_dir: Path | None) -> None:
        """Hyperparameters are a human's to declare: kept as written, saying where the files disagree."""
        declared = (self.doc.get("config") or {}).get("training")
        if found is None or found.training is None or last_dir is None or not isinstance(declared, dict):
            return
        where = last_dir.relative_to(self.root).as_posix()
        for c in diff({"config": {"training": declared}}, {"config": {"training": found.training}}, Sources(),
                      lambda kind, name: ""):  # fmt: skip
            if c.old is not None and c.new is not None:
                self.note(f"{c.field}: {show(c.old)} kept as written; the files of {where} give {show(c.new)}")

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
        entrypoint, how = self._entrypoint(rel, commit)
        self.doc["code"] = {"repo": rel, "commit": commit, "entrypoint": entrypoint}
        self.note(f"code: {rel} at {commit[:12]} (entrypoint {entrypoint}: {how}; check it)")

    def _entrypoint(self, rel: str, commit: str) -> tuple[str, str]:
        """The first of ENTRYPOINTS at the commit, else its only top-level Python file, else a guess that says so."""
        try:
            repo = CodeRepo.open(self.root, rel)
        except CodeRepoError:
            return ENTRYPOINTS[0], "guessed"
        try:
            at = repo.commit(commit)
            if at is None:
                return ENTRYPOINTS[0], "guessed"
            present = [name for name in ENTRYPOINTS if blob_at(at, name) is not None]
            if present:
                return present[0], "found at the commit"
            scripts = [b.path for b in at.tree.blobs if b.path.endswith(".py")]
            if len(scripts) == 1:
                return scripts[0], "the only Python file at the commit's top level"
            return ENTRYPOINTS[0], f"guessed: none of {', '.join(ENTRYPOINTS)} at the commit, declare code.entrypoint"
        finally:
            repo.close()

    def license(self) -> None:
        if "license" in self.doc:
            return
        lic = self.root / "LICENSE"
        if lic.is_file():
            head = lic.read_text(errors="replace")[:400]
            spdx = "Apache-2.0" if "Apache License" in head else "MIT" if "MIT License" in head else "NOASSERTION"
            self.doc["license"] = {"id": spdx, "file": "LICENSE"}
            self.note(f"license: {spdx} (from LICENSE)")
