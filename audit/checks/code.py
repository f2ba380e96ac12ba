"""code: the training code is a git repository in which the pinned commit exists, the entrypoint,
config and data-processing files exist at that commit, and the working tree (if any) is clean."""

from __future__ import annotations

from audit.checks.base import Check, Outcome, Rule
from audit.storage.coderepo import CodeRepoError, is_remote
from audit.core.release import Release

NOT_RELEASED = Rule("code.not-released", "error", "Publish the training code as a git repository pinned at a commit.")
REMOTE = Rule("code.remote-unverified", "warning",
              "The code is referenced by URL and was not fetched: audit with `--resolve-local PATH` pointing at a "
              "clone, or ship a git bundle in the release.")
UNREADABLE = Rule("code.repo-unreadable", "error",
                  "code.repo must be a git bundle (`git bundle create`) or a repository directory inside the release.")
UNPINNED = Rule("code.commit-unpinned", "error", "Pin the training code to a commit (code.commit, 40 hex digits).")
COMMIT = Rule("code.commit-missing", "error", "Pin code.commit to a commit that the repository contains.")
FILE = Rule("code.file-missing-at-commit", "error",
            "Every file the manifest names under code: must exist at the pinned commit.")
DIRTY = Rule("code.dirty-tree", "error",
             "Commit or discard local changes: the released code must be exactly the pinned commit.")
HEAD = Rule("code.head-differs", "warning", "Check out the pinned commit so the working tree is what was released.")
NO_DATA_CODE = Rule("code.no-data-processing", "warning",
                    "Name the data-processing code (code.data_processing) so the data can be rebuilt.")


class CodeCheck(Check):
    id = "code"
    criterion = "code"
    title = "Training code at a pinned commit"
    rationale = "Weights without the code that produced them cannot be reproduced or studied."
    rules = (NOT_RELEASED, UNPINNED, REMOTE, UNREADABLE, COMMIT, FILE, DIRTY, HEAD, NO_DATA_CODE)

    def run(self, release: Release, out: Outcome) -> None:
        code = release.manifest.code
        if code is None:
            out.add(NOT_RELEASED, "the manifest declares no training code")
            return
        out.evidence["commit"] = code.commit
        if code.commit is None:
            out.add(UNPINNED, f"the code at {code.repo} is not pinned to a commit", code.repo)
            return
        if is_remote(code.repo) and release.locate.remote(code.repo) is None:
            out.add(REMOTE, f"code repository {code.repo} is remote and was not fetched "
                            "(--resolve-local PATH maps it to a local clone)", code.repo)  # fmt: skip
            return
        try:
            repo = release.code_repo()
        except CodeRepoError as exc:
            out.add(UNREADABLE, str(exc), code.repo)
            return
        out.evidence["repository"] = repo.kind
        if repo.commit(code.commit) is None:
            out.add(COMMIT, f"commit {code.commit} is not in {code.repo}", code.repo)
            return
        named = [code.entrypoint, code.training_config, code.model_config_path, code.data_processing,
                 code.eval_code, *code.config_files]  # fmt: skip
        named = [p for p in named if p]
        for p in named:
            if repo.read_at(code.commit, p) is None:
                out.add(FILE, f"{p} does not exist at commit {code.commit[:12]}", code.repo)
        out.evidence["files_at_commit"] = len(named)
        if code.data_processing is None:
            out.add(NO_DATA_CODE, "no data-processing code declared")
        dirty = repo.dirty_files()
        if dirty:
            shown = ", ".join(dirty[:5]) + (" …" if len(dirty) > 5 else "")
            out.add(DIRTY, f"{code.repo} has {len(dirty)} uncommitted change(s): {shown}", code.repo)
        if repo.kind == "directory" and repo.head_sha() != code.commit:
            out.add(HEAD, f"{code.repo} has {repo.head_sha()} checked out, not the pinned {code.commit}", code.repo)
        out.summary = f"{repo.kind} at {code.commit[:12]}, {len(named)} named files present"
        out.evidence["working_tree"] = "none (bundle)" if dirty is None else ("dirty" if dirty else "clean")
