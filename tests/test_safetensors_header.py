"""Defensive safetensors header parsing against real files and hand-made hostile ones."""

from __future__ import annotations

import json
import struct

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.torch import save_file

from audit.readers.safetensors_header import HeaderError, parse_header_bytes, read_header


def _file(tmp_path, header: dict | bytes, data: bytes = b"", length: int | None = None):
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    path = tmp_path / "x.safetensors"
    path.write_bytes(struct.pack("<Q", len(raw) if length is None else length) + raw + data)
    return path


def test_real_file_matches_the_library(tmp_path):
    tensors = {"a": torch.zeros(3, 4), "b": torch.ones(5, dtype=torch.bfloat16), "c": torch.arange(7)}
    save_file(tensors, tmp_path / "real.safetensors", metadata={"format": "pt"})
    h = read_header(tmp_path / "real.safetensors")
    assert {k: (v.dtype, v.shape) for k, v in h.tensors.items()} == {
        "a": ("F32", (3, 4)), "b": ("BF16", (5,)), "c": ("I64", (7,))}
    assert h.metadata == {"format": "pt"} and h.parameters == 12 + 5 + 7


T = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}


@pytest.mark.parametrize(
    "header, data, length, message",
    [
        (b"", b"", 2**62, "exceeds"),
        (b"{}", b"", 10_000, "runs past the end"),
        (b"[1, 2]", b"", None, "not an object"),
        (b"{not json", b"", None, "not valid JSON"),
        (b'{"a": ' + json.dumps(T).encode() + b', "a": ' + json.dumps(T).encode() + b"}", b"\0" * 8, None, "duplicate"),
        ({"a": T, "b": {**T, "data_offsets": [4, 12]}}, b"\0" * 12, None, "overlaps"),
        ({"a": {**T, "data_offsets": [8, 16]}}, b"\0" * 16, None, "gap"),
        ({"a": T}, b"\0" * 4, None, "file has 4"),
        ({"a": T}, b"\0" * 12, None, "trailing"),
        ({"a": {**T, "shape": [3]}}, b"\0" * 8, None, "expected 12"),
        ({"a": {**T, "dtype": "F31"}}, b"\0" * 8, None, "unknown dtype"),
        ({"a": {**T, "shape": [-2]}}, b"\0" * 8, None, "non-negative"),
        ({"a": {**T, "data_offsets": [8, 0]}}, b"\0" * 8, None, "ascending"),
        ({"__metadata__": {"k": 1}, "a": T}, b"\0" * 8, None, "__metadata__"),
    ],
)
def test_hostile_headers_are_refused(tmp_path, header, data, length, message):
    with pytest.raises(HeaderError, match=message):
        read_header(_file(tmp_path, header, data, length))


def test_truncated_file(tmp_path):
    (tmp_path / "t").write_bytes(b"\x10\x00")
    with pytest.raises(HeaderError, match="too short"):
        read_header(tmp_path / "t")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.integers(min_value=0, max_value=10_000))
def test_arbitrary_bytes_never_escape_as_other_errors(blob, extra):
    try:
        parse_header_bytes(blob, len(blob) + extra)
    except HeaderError:
        pass


@pytest.mark.parametrize("text", [
    '{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}',
    '{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "a" : {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}',
    '{"a": {"dtype": "F32", "dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}',
    '{"__metadata__": {"k": "v", "k": "w"}, "a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}',
    '{"__metadata__": {"k": "x\\":y"}, "a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}',
])  # fmt: skip
def test_duplicate_keys_are_refused_on_every_path(text):
    """The orjson fast path must never accept what the exact, duplicate-rejecting parser refuses."""
    raw = text.encode()
    with pytest.raises(HeaderError, match="duplicate key"):
        parse_header_bytes(struct.pack("<Q", len(raw)) + raw, 8 + len(raw) + 4)


def test_fast_and_exact_paths_agree_on_a_real_header(tmp_path):
    path = tmp_path / "m.safetensors"
    save_file({"w": torch.zeros(3, 2), "b": torch.ones(5, dtype=torch.bfloat16)}, str(path), metadata={"format": "pt"})
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    from audit.readers.safetensors_header import _fast_json, _validate

    assert _fast_json(data[8 : 8 + n]) is not None  # the common case takes the fast path
    assert parse_header_bytes(data, len(data)) == _validate(None, data, len(data))
