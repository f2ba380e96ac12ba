"""YAML reading and writing for manifests: safe, bounded, and with YAML 1.2 floats.

PyYAML follows YAML 1.1, where ``1e-8`` (no dot) is a *string*; hyperparameters are written
that way all the time, so the loader resolves them as floats.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from audit.readers.bounded import MAX_YAML_BYTES as MAX_MANIFEST_BYTES  # documents larger are refused
#: A document that expands to more nodes than this through aliases is refused (billion laughs).
MAX_EXPANDED_NODES = 2_000_000


class YamlError(ValueError):
    """A YAML document could not be read; the message is one line and says where (``line``: 1-based, if known)."""

    line: int | None = None


# The C parser (libyaml) when PyYAML was built with it: about 4x faster on large manifests.
_Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):
    pass


_FLOAT = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)
_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:float"]
    for k, v in _Base.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789."))


def _expanded_size(node: yaml.Node, memo: dict[int, int]) -> int:
    """Nodes the document has once every alias is expanded (what a consumer walking it visits)."""
    key = id(node)
    if key not in memo:
        memo[key] = 0  # a cycle counts as nothing more
        if isinstance(node, yaml.SequenceNode):
            children = node.value
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        else:
            children = []
        total = 1
        for child in children:
            total += _expanded_size(child, memo)
            if total > MAX_EXPANDED_NODES:
                raise YamlError(f"document expands to more than {MAX_EXPANDED_NODES} nodes through aliases")
        memo[key] = total
    return memo[key]


def loads(text: str | bytes) -> Any:
    """Parse one YAML document safely; raise :class:`YamlError` with a one-line message."""
    if len(text) > MAX_MANIFEST_BYTES:
        raise YamlError(f"file is larger than {MAX_MANIFEST_BYTES} bytes")
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            if b"&" in (text if isinstance(text, bytes) else text.encode()):  # aliases need anchors: none, no walk
                _expanded_size(node, {})
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except YamlError:
        raise
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        err = YamlError(f"invalid YAML{where}: {_one_line(problem)}")
        err.line = mark.line + 1 if mark else None
        raise err from None
    except RecursionError:
        raise YamlError("document is nested too deeply") from None
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError) as exc:
        # PyYAML's constructors raise these for scalars they cannot convert (`2020-13-45`, `!!int x`).
        raise YamlError(f"invalid YAML: a value cannot be read ({type(exc).__name__}: {_one_line(str(exc))})") from None


def line_of(text: str | bytes, path) -> int | None:
    """The 1-based line of the value at ``path`` (mapping keys and sequence indices) in a YAML document that
    :func:`loads` read, or None (for findings that point into the manifest; the tree is composed, never
    constructed, and aliases are not followed)."""
    if len(text) > MAX_MANIFEST_BYTES:
        return None
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
    except (yaml.YAMLError, RecursionError, ValueError):
        return None
    for part in path:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == str(part)), None)
        elif isinstance(node, yaml.SequenceNode) and type(part) is int and 0 <= part < len(node.value):
            node = node.value[part]
        else:
            node = None
        if node is None:
            return None
    return node.start_mark.line + 1 if node is not None else None


def _one_line(text: str) -> str:
    return " ".join(str(text).split())[:200]


class _Dumper(yaml.SafeDumper):
    """Quotes every string that :func:`loads` would read back as something else (e.g. ``1e5``)."""


_Dumper.yaml_implicit_resolvers = {k: list(v) for k, v in _Loader.yaml_implicit_resolvers.items()}


def dumps(data: Any) -> str:
    """Serialize for humans: keys in the given order, block style; non-ASCII escaped, so that every
    string reads back unchanged (a raw U+0085 would be folded into a line break)."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=False, default_flow_style=False, width=100)
