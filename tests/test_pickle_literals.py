"""Reading the plain values out of a pickle without unpickling: literals come back equal, imports and
calls come back as inert records, and no input makes the reader do anything else or crash."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.readers.pickle_opcodes import Opaque, PickleLiteralError, object_state, read_literals

def _literals(leaves):
    return st.recursive(leaves, lambda inner: st.lists(inner, max_size=5) | st.tuples(inner, inner)
                        | st.dictionaries(st.text(max_size=8) | st.integers(), inner, max_size=5), max_leaves=30)


plain = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
literals = _literals(plain | st.binary())


@settings(max_examples=300, deadline=None)
@given(value=literals, protocol=st.integers(3, pickle.HIGHEST_PROTOCOL))
def test_literals_round_trip(value, protocol):
    assert read_literals(pickle.dumps(value, protocol=protocol)) == value


@settings(max_examples=200, deadline=None)
@given(value=_literals(plain), protocol=st.integers(0, 2))
def test_literals_round_trip_in_old_protocols(value, protocol):
    """Protocols 0-2 (torch.save uses 2) write bytes as a call of a builtin: the other literals are plain."""
    assert read_literals(pickle.dumps(value, protocol=protocol)) == value


@settings(max_examples=500, deadline=None)
@given(blob=st.binary(max_size=200))
def test_arbitrary_bytes_give_a_value_or_a_one_line_error(blob):
    try:
        read_literals(blob)
    except PickleLiteralError as exc:
        assert "\n" not in str(exc)


@settings(max_examples=300, deadline=None)
@given(value=literals, data=st.data())
def test_damaged_pickles_never_escape(value, data):
    raw = bytearray(pickle.dumps(value, protocol=data.draw(st.integers(0, 5))))
    for _ in range(data.draw(st.integers(1, 4))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    try:
        read_literals(bytes(raw))
    except PickleLiteralError:
        pass


class Payload:
    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_a_payload_is_recorded_not_run(tmp_path, protocol):
    marker = tmp_path / "pwned"
    value = read_literals(pickle.dumps({"args": Payload(marker), "lr": 0.5}, protocol=protocol))
    assert not marker.exists()
    assert value["lr"] == 0.5 and isinstance(value["args"], Opaque)
    assert value["args"].name.endswith("system") and value["args"].args == (f"touch {marker}",)


class Config:
    def __init__(self):
        self.learning_rate, self.mode, self.nested = 1e-3, Payload(Path("/nonexistent")), {"a": 1}


def test_object_state_keeps_plain_values_only(tmp_path):
    path = tmp_path / "cfg.bin"
    path.write_bytes(pickle.dumps(Config()))
    assert object_state(path, "Config") == {"learning_rate": 1e-3}  # the call's argument is not a value
    assert object_state(path, "Config", enum_module="posix.") == {"learning_rate": 1e-3, "mode": "touch /nonexistent"}
    with pytest.raises(PickleLiteralError, match="not a TrainingArguments"):
        object_state(path, "TrainingArguments")
    path.write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(PickleLiteralError):
        object_state(path, "Config")


def test_deep_nesting_needs_no_recursion():
    """3000 nested lists (deeper than the interpreter's recursion limit), written opcode by opcode."""
    raw = b"\x80\x02" + b"]" * 3000 + b"a" * 2999 + b"."
    value, depth = read_literals(raw), 0
    while value:
        value, depth = value[0], depth + 1
    assert depth == 2999 and value == []


def test_a_key_that_doubles_at_each_level_is_not_hashed_in_depth():
    """``t = (t, t)`` 64 times over (DUP, TUPLE2): 130 opcodes, 2**64 leaves to hash or print. Found
    writing the pickle scanner: the key was hashed whole, which never ends."""
    raw = b"\x80\x02}" + b"\x8c\x01a" + b"2\x86" * 64 + b"Ns."
    assert read_literals(raw) == {"<tuple>": None}
