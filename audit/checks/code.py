"""code: the training code is a git repository in which the pinned commit exists, the entrypoint,
config and data-processing files exist at that commit, and the working tree (if any) is clean."""

from __future__ import annotations

from audit.checks.base import Check, Outcome
from audit.checks.helpers import content
from audit.storage.coderepo import CodeRepoError
from audit.storage.remote import is_remote
from audit.core.release import Release
from audit.spec.rules.code import NOT_RELEASED, REMOTE, UNREADABLE, UNPINNED, COMMIT, FILE, DIRTY, HEAD, NO_DATA_CODE, CONTENT, CHECK as CODE_CHECK


class CodeCheck(Check):
    info = CODE_CHECK

    def run(self, release: Release, out: Outcome) -> None:
        code = release.manifest.code
        content.report(release, "code", CONTENT, out)
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
