"""Rules of the code criterion: ids, severities, remediations; the check that reports them is audit.checks.code."""

from __future__ import annotations

from audit.spec.rules.registry import CheckInfo, Rule, content_rules

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

CONTENT = content_rules("code")

CHECK = CheckInfo(
    criterion="code",
    title="Training code at a pinned commit",
    rationale="Weights without the code that produced them cannot be reproduced or studied.",
    rules=(NOT_RELEASED, UNPINNED, REMOTE, UNREADABLE, COMMIT, FILE, DIRTY, HEAD, NO_DATA_CODE, *CONTENT.values()),
)
