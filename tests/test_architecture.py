"""The layers of audit/ (README "Development"), checked on the import graph: no cycle anywhere, the
vocabulary and the parsers at the bottom, renderers that read only the spec, no module over 400 lines.

Every import counts — module level or inside a function — except those under ``if TYPE_CHECKING:``,
which never run."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "audit"
MAX_LINES = 400

#: What each layer may import from audit/ besides itself (and the top-level ``audit`` constants).
ALLOWED = {
    "audit.readers": (),
    "audit.spec": ("audit.readers",),
    "audit.render": ("audit.spec",),
    "audit.formats": ("audit.spec", "audit.readers"),
    "audit.storage": ("audit.spec", "audit.readers"),
    # Signing: what it signs comes as data (the report, the audit's digests); the CLI wires it to the core.
    "audit.attest": ("audit.spec", "audit.readers", "audit.storage", "audit.render"),
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The audit modules ``name`` imports (a name imported from a package that is a module counts as it)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _type_checking_lines(tree)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.split(".")[0] == "audit")
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            if base.split(".")[0] != "audit":
                continue
            subs = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in known]
            out.update(subs)
            if len(subs) < len(node.names):
                out.add(base)
    return {m for m in out if m in known and m != name}


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, set(modules)) for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_graph_sees_every_kind_of_import(graph):
    # Guards the test itself: a lazy import inside a function and a package-relative name both count.
    assert "audit.frameworks.registry" in graph["audit.checks.metrics"]
    assert "audit.formats.npy_tokens" in graph["audit.formats.registry"]  # imported inside a function
    assert "audit.cli.audit_cmd" in graph["audit.cli"]  # `from audit.cli import audit_cmd`


def test_no_import_cycle(graph):
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_layer_imports_only_what_lies_below_it(graph, layer):
    allowed = (layer, *ALLOWED[layer])
    bad = {
        f"{m} imports {dep}"
        for m, deps in graph.items()
        if m == layer or m.startswith(layer + ".")
        for dep in deps
        if dep not in ("audit", "audit.interrupts") and not any(dep == a or dep.startswith(a + ".") for a in allowed)
    }
    assert sorted(bad) == []


def test_no_reader_imports_a_check(graph):
    assert not [m for m, deps in graph.items() if m.startswith("audit.readers") and any(d.startswith("audit.checks") for d in deps)]


def test_no_check_knows_about_shards_or_merge(graph):
    shard_modules = {"audit.core.shard", "audit.core.merge", "audit.core.evidence"}
    assert not [m for m, deps in graph.items() if m.startswith("audit.checks") and deps & shard_modules]


def test_no_module_over_the_line_limit():
    long = {name: n for name, path in _modules().items() if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert long == {}
