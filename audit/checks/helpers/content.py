"""What the release holds besides what the manifest declares, found by walking it once (like ``git
status``), and every pickle in it scanned statically — its opcodes read, nothing imported or called.

Each file belongs to a criterion: a declared checkpoint file to the criterion of its role, anything else
to the deepest declared directory it lies under (checkpoint directories → model_checkpoints, the
directories of the data chunks → data_availability, of the logs → metrics, the code repository → code),
and what lies elsewhere (the release root) to model_checkpoints, since a model is what a user loads from
there. Each criterion's check reports its own part with :func:`report`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath

from audit import interrupts
from audit.checks.base import Outcome
from audit.readers.dcp import DCP_GLOBALS, METADATA
from audit.readers.pickle_scan import PickleScan, scan_pickle_file
from audit.readers.torch_pickle import looks_pickled
from audit.spec.manifest import role_criterion
from audit.spec.rules import Rule
from audit.storage.remote import is_remote

#: Names of files that are usually pickles (torch.save, torch DCP's .metadata, joblib, pickle itself).
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".metadata", ".joblib")
#: Names scanned whatever their first bytes: protocols 0 and 1 have no magic number (torch.save and
#: joblib write protocol 2+ or a zip, which the first bytes show; a Megatron .bin is never read whole).
PLAIN_PICKLE_SUFFIXES = (".pkl", ".pickle")
#: Undeclared files reported one by one per criterion; the rest are counted in one more finding.
SHOWN = 20


@dataclass
class Inventory:
    undeclared: dict[str, list[str]] = field(default_factory=dict)  # criterion → paths, sorted
    leaving: set[str] = field(default_factory=set)  # undeclared links that point outside the release
    unsafe: dict[str, list[tuple[str, PickleScan]]] = field(default_factory=dict)  # criterion → hostile pickles
    pickles_scanned: int = 0


def _declared(m) -> tuple[set[str], dict[str, str]]:
    """Every path the manifest names, and the criterion of each declared checkpoint file."""
    paths: set[str] = set()
    roles: dict[str, str] = {}
    for ck in m.checkpoints:
        for f in ck.files:
            paths.add(f.path)
            roles[f.path] = role_criterion(f.role)
    if m.data:
        paths |= {e.path for c in m.data.chunks for e in (c, c.index) if e is not None}
        if m.data.order.global_indices is not None:
            paths.add(m.data.order.global_indices.path)
    if m.metrics:
        paths |= {e.path for e in (m.metrics.training_log, m.metrics.evaluations) if e is not None}
    if m.license and m.license.file:
        paths.add(m.license.file)
    if m.config is not None:
        paths.add(m.config.model)
    if m.code is not None and not is_remote(m.code.repo):
        paths.add(m.code.repo)
    return paths, roles


def _regions(m, root: Path) -> tuple[dict[str, str], set[str]]:
    """Declared directory → the criterion whose evidence lies in it (the release root is none), and the
    directories whose undeclared files are not listed (a code repository: the code check reports its
    untracked files, as `git status` does)."""
    regions: dict[str, str] = {}
    unlisted: set[str] = set()

    def parent(p: str) -> str:
        return str(PurePosixPath(p).parent)

    if m.metrics:
        for e in (m.metrics.training_log, m.metrics.evaluations):
            if e is not None:
                regions[parent(e.path)] = "metrics"
    if m.data:
        for c in m.data.chunks:
            regions[parent(c.path)] = "data_availability"
    for ck in m.checkpoints:
        if ck.path is not None:
            regions[ck.path.rstrip("/")] = "model_checkpoints"
    if m.code is not None and not is_remote(m.code.repo):
        repo = m.code.repo.rstrip("/")
        if (root / repo).is_dir():
            regions[repo] = "code"
            unlisted.add(repo)
        else:  # a bundle file: the directory it lies in holds the code
            regions[parent(repo)] = "code"
    regions.pop(".", None)
    return regions, unlisted


def _owner(rel: str, regions: dict[str, str], unlisted: set[str]) -> tuple[str, bool]:
    """The criterion a file belongs to, and whether it is listed when undeclared."""
    parts = rel.split("/")
    for cut in range(len(parts) - 1, 0, -1):
        region = "/".join(parts[:cut])
        owner = regions.get(region)
        if owner is not None:
            return owner, region not in unlisted
    return "model_checkpoints", False


def _walk(directory: str, prefix: str = ""):
    """(release-relative path, os.DirEntry) of every file under ``directory`` as os.walk lists them (no
    ``.git``, links to directories not followed; a directory's files sorted, before its subdirectories)."""
    try:
        with os.scandir(directory) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError:
        return
    subdirs = []
    for e in entries:
        try:
            is_dir = e.is_dir()
        except OSError:
            is_dir = False
        if not is_dir:
            yield prefix + e.name, e
        elif e.name != ".git" and not e.is_symlink():
            subdirs.append(e)
    for e in subdirs:
        yield from _walk(e.path, prefix + e.name + "/")


def inventory(release) -> Inventory:
    """The release walked once (memoized on the release)."""
    return release.memo("content", lambda: _inventory(release))


def _inventory(release) -> Inventory:
    m = release.manifest
    declared, roles = _declared(m)
    regions, unlisted = _regions(m, release.root)
    inv = Inventory()
    root = release.root
    for rel, entry in _walk(str(root)):
        interrupts.check()
        owner, listed = _owner(rel, regions, unlisted)
        owner = roles.get(rel, owner)
        inside = not entry.is_symlink() or Path(entry.path).resolve().is_relative_to(root)
        if rel not in declared and listed:
            inv.undeclared.setdefault(owner, []).append(rel)
            if not inside:
                inv.leaving.add(rel)
        if inside and entry.is_file() and (rel.endswith(PLAIN_PICKLE_SUFFIXES) or looks_pickled(entry.path)):
            try:
                scan = scan_pickle_file(Path(entry.path), rel)
            except ValueError:
                continue  # unreadable: the check of a declared file says so; an undeclared one is listed
            inv.pickles_scanned += 1
            if entry.name == METADATA:  # torch DCP metadata: its classes are read through an allow-list of stand-ins
                scan = replace(scan, unsafe=tuple(u for u in scan.unsafe if u not in DCP_GLOBALS))
            if scan.unsafe:
                inv.unsafe.setdefault(owner, []).append((rel, scan))
    return inv


def unsafe_pickle(release, rel: str) -> PickleScan | None:
    """The static scan of ``rel`` when it imports something outside the allow-list, else None."""
    for hostile in inventory(release).unsafe.values():
        for path, scan in hostile:
            if path == rel:
                return scan
    return None


def report(release, criterion: str, rules: dict[str, Rule], out: Outcome) -> None:
    """The undeclared files and the hostile pickles that belong to ``criterion``. ``rules``: content_rules."""
    inv = inventory(release)
    for rel, scan in inv.unsafe.get(criterion, []):
        shown = ", ".join(scan.unsafe[:3]) + (f" … ({len(scan.unsafe)} in all)" if len(scan.unsafe) > 3 else "")
        out.add(rules["pickle"], f"{rel} is a pickle that would import {shown} when loaded (its opcodes were read; "
                                 "nothing was imported or called)", rel)  # fmt: skip
    if "undeclared" not in rules:
        return
    files = inv.undeclared.get(criterion, [])
    for rel in files[:SHOWN]:
        what = "a link that leaves the release" if rel in inv.leaving else "a file"
        out.add(rules["undeclared"], f"{rel} is {what} the manifest does not declare", rel)
    if len(files) > SHOWN:
        out.add(rules["undeclared"], f"… and {len(files) - SHOWN} more undeclared file(s) under the "
                                     f"{criterion} directories, e.g. {files[SHOWN]}", files[SHOWN])  # fmt: skip
    if criterion == "model_checkpoints":
        out.evidence["pickles_scanned"] = inv.pickles_scanned
