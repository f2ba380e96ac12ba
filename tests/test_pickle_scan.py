"""The static pickle scanner: every hostile file of the corpus is unsafe and names its callable, every
benign one is clean, nothing is imported or run, no bytes make it raise; and the peers' verdicts on
the same corpus, recorded (a peer's miss is information, not a failure)."""

from __future__ import annotations

import io
import pickle
import sys
import zipfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pickle_corpus as pc
from audit.readers import pickle_opcodes, pickle_scan
from audit.readers.pickle_scan import ALLOWED, INSTANCES_ONLY, looks_like_pickle, scan_pickle_bytes, scan_pickle_file

#: Modules the corpus payloads name (the corpus is written without importing them).
PAYLOAD_MODULES = {"webbrowser", "pty", "runpy", "code", "numpy.testing", "torch.hub", "nt", "commands", "socket"}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    d = tmp_path_factory.mktemp("pickles")
    return d, pc.build(d)


def _scan(case: pc.Case):
    return scan_pickle_file(case.path, case.path.name)


def test_the_corpus_is_large_enough(corpus):
    _, cases = corpus
    assert sum(c.unsafe for c in cases) >= 22 and sum(not c.unsafe for c in cases) >= 22
    assert len({c.path for c in cases}) == len(cases)


def test_every_file_is_classified_and_the_callable_named(corpus):
    d, cases = corpus
    before = set(sys.modules)
    scans = {c.path.name: _scan(c) for c in cases}
    new = set(sys.modules) - before
    wrong = [(n, s.unsafe) for c in cases if bool((s := scans[n := c.path.name]).unsafe) != c.unsafe]
    assert wrong == []
    unnamed = [(n, pc.NAMES[n], scans[n].unsafe) for n in pc.NAMES if pc.NAMES[n] not in scans[n].unsafe]
    assert unnamed == []
    assert not (d / pc.MARKER).exists() and (d / "victim").is_dir()
    assert PAYLOAD_MODULES.isdisjoint(new)
    assert {m for m in new if not m.startswith("encodings.")} == set(), "scanning imported a module"


def test_benign_files_are_read_whole(corpus):
    _, cases = corpus
    for case in cases:
        scan = _scan(case)
        if not case.unsafe:
            assert scan.problem is None and scan.members >= 1, case.path.name
            assert set(scan.globals) <= ALLOWED | INSTANCES_ONLY
    legacy_files = ("pytorch_model.bin", "dtypes_legacy.pt", "torch_legacy_payload.bin")
    legacy = [_scan(c) for c in cases if c.path.name in legacy_files]
    assert [s.members for s in legacy] == [5, 5, 5]  # magic, protocol, sys info, object, storage keys; then raw bytes


def test_hf_training_args_are_allowed_as_saved_but_not_called(corpus):
    d, _ = corpus
    scan = scan_pickle_file(d / "training_args.bin", "training_args.bin")
    assert "transformers.training_args.TrainingArguments" in scan.globals and scan.unsafe == ()
    called = pc.dumps(pc.Call(pc.Ref("transformers.training_args", "TrainingArguments"), "/etc"), 2)
    assert scan_pickle_bytes(called, "x").unsafe == ("transformers.training_args.TrainingArguments (called)",)
    enum = pc.dumps(pc.Call(pc.Ref("transformers.trainer_utils", "SchedulerType"), "linear"), 2)
    assert scan_pickle_bytes(enum, "x").unsafe == ()  # an enum looked up by value


DANGEROUS = [
    "os.system", "posix.system", "nt.system", "subprocess.Popen", "subprocess.run", "subprocess.getoutput",
    "builtins.exec", "builtins.eval", "builtins.compile", "builtins.open", "builtins.getattr", "builtins.__import__",
    "builtins.breakpoint", "builtins.type", "runpy.run_path", "runpy._run_code", "importlib.import_module",
    "pickle.loads", "_pickle.loads", "marshal.loads", "types.CodeType", "types.FunctionType", "socket.socket",
    "webbrowser.open", "shutil.rmtree", "shutil.copyfile", "pty.spawn", "code.InteractiveInterpreter",
    "operator.attrgetter", "operator.methodcaller", "operator.itemgetter", "functools.partial", "sys.exit",
    "torch.load", "torch.hub.load", "torch.jit.load", "numpy.load", "copyreg._reconstructor", "asyncio.run",
    "ctypes.CDLL", "pdb.set_trace", "bdb.Bdb", "requests.get", "urllib.request.urlopen", "collections.namedtuple",
]  # fmt: skip


@pytest.mark.parametrize("protocol", [0, 2, 3, 4])
def test_dangerous_callables_are_unsafe_by_not_being_allowed(protocol):
    for dotted in DANGEROUS:
        module, _, name = dotted.rpartition(".")
        scan = scan_pickle_bytes(pc.dumps(pc.Call(pc.Ref(module, name), "x"), protocol), "x")
        assert scan.globals == scan.unsafe and len(scan.unsafe) == 1 and scan.problem is None, (dotted, scan)
        if protocol >= 3:  # below, names go through pickle's Python 2 renaming and back (_pickle → cPickle → pickle)
            assert scan.unsafe == (dotted,)
        assert dotted not in ALLOWED | INSTANCES_ONLY


def test_python2_names_are_read_as_the_unpickler_reads_them():
    assert scan_pickle_bytes(b"c__builtin__\nset\n)R.", "x").globals == ("builtins.set",)  # protocol 0: renamed
    assert scan_pickle_bytes(b"ccommands\ngetoutput\n(S'id'\ntR.", "x").unsafe == ("subprocess.getoutput",)
    p4 = b"\x80\x04\x8c\x0b__builtin__\x8c\x03set\x93)R."  # protocol 4: not renamed (and not importable)
    assert scan_pickle_bytes(p4, "x").unsafe == ("__builtin__.set",)


def test_uses_of_allowed_names_that_poison_them_are_unsafe():
    build_on_global = b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\nN}\x86b."  # setattr on the function itself
    assert scan_pickle_bytes(build_on_global, "x").unsafe == ("torch._utils._rebuild_tensor_v2 (attributes set)",)
    ext = b"\x80\x02\x82\x01)R."  # EXT1: a global by its copyreg code
    assert scan_pickle_bytes(ext, "x").unsafe == ("?.extension_code_1",)
    not_strings = b"\x80\x04C\x05posixC\x06system\x93."  # STACK_GLOBAL of two bytes constants
    assert scan_pickle_bytes(not_strings, "x").unsafe == ("?.?",)


def test_what_was_seen_before_an_error_is_kept():
    raw = pickle.dumps(pc.OsSystem("touch x"), protocol=2)
    for cut in (len(raw) - 1, len(raw) // 2 + 6):
        scan = scan_pickle_bytes(raw[:cut], "f.pkl")
        assert scan.unsafe == ("posix.system",) and scan.members == 0
        assert scan.problem.startswith("f.pkl: not a readable pickle") and "\n" not in scan.problem
    stacked = scan_pickle_bytes(pickle.dumps(1) + pickle.dumps(pc.OsSystem("x")) + b"junk", "f.pkl")
    assert stacked.unsafe == ("posix.system",) and stacked.members == 2 and "after pickle 2" in stacked.problem


@pytest.mark.parametrize("data, problem", [
    (b"", "f: empty, not a pickle"),
    (b"\xff\xfe", "f: not a readable pickle"),
    (b"PK\x03\x04 not a zip", "f: not a readable zip archive"),
])  # fmt: skip
def test_not_pickles(data, problem):
    scan = scan_pickle_bytes(data, "f")
    assert scan.globals == () and scan.problem.startswith(problem)


def test_zip_archives(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("a/data.pkl", pickle.dumps({"x": 1}))
        z.writestr("a/extra.pkl", pickle.dumps(pc.OsSystem("x"), protocol=4))
        z.writestr("a/data/0", b"\x80\x02" + b"not scanned: tensor bytes")
    scan = scan_pickle_bytes(buf.getvalue(), "m.pt")
    assert scan.unsafe == ("posix.system",) and scan.members == 2 and scan.problem is None
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("a/version", b"3")
    assert "no .pkl member" in scan_pickle_bytes(buf.getvalue(), "m.pt").problem


def test_reads_are_bounded(tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(pickle_scan, "MAX_PICKLE_BYTES", 4096)
    monkeypatch.setattr(pickle_opcodes, "MAX_PICKLE_BYTES", 4096)
    legacy = tmp_path / "big.bin"
    torch.save({"w": torch.zeros(10_000)}, legacy, _use_new_zipfile_serialization=False)  # 40 kB of storage
    scan = scan_pickle_file(legacy, "big.bin")
    assert scan.members == 5 and scan.problem is None and scan.unsafe == ()
    big = tmp_path / "big.pkl"
    big.write_bytes(pickle.dumps([b"x" * 8000, pc.OsSystem("x")], protocol=4))
    assert scan_pickle_file(big, "big.pkl").problem == (
        "big.pkl: larger than 4096 bytes; only the first 4096 were scanned (a pickle runs past them)")
    archive = tmp_path / "big.pt"
    torch.save({"blob": b"x" * 8000}, archive)
    assert "data.pkl is larger than 4096 bytes; not read" in scan_pickle_file(archive, "big.pt").problem
    monkeypatch.setattr(pickle_scan, "MAX_STACKED", 3)
    scan = scan_pickle_bytes(pickle.dumps(1) * 3 + pickle.dumps(pc.OsSystem("x")), "many.pkl")
    assert scan.members == 3 and scan.problem == "many.pkl: more than 3 pickles stacked; the rest was not scanned"


def test_an_unreadable_file_raises_one_line(tmp_path):
    with pytest.raises(ValueError, match=r"^nope.pkl: cannot be read \("):
        scan_pickle_file(tmp_path / "nope.pkl", "nope.pkl")


def test_looks_like_pickle():
    for p in range(6):
        assert looks_like_pickle(pickle.dumps({"a": [1]}, protocol=p)[:8])
    assert looks_like_pickle(b"cposix\nsys")  # a protocol 0 global, cut short
    for head in (b"", b"hello", b"{\"a\": 1}", b"\x80\x09", b"PK\x03\x04", b"(zzz"):
        assert not looks_like_pickle(head)


@settings(max_examples=300, deadline=None)
@given(blob=st.binary(max_size=300), prefix=st.sampled_from([b"", b"\x80\x02", b"\x80\x04", b"PK\x03\x04", b"("]))
def test_arbitrary_bytes_never_raise(blob, prefix):
    scan = scan_pickle_bytes(prefix + blob, "f")
    assert scan.problem is None or "\n" not in scan.problem
    assert {u.split(" (")[0] for u in scan.unsafe} <= set(scan.globals)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_truncated_and_damaged_corpus_files_never_raise(corpus, data):
    _, cases = corpus
    case = data.draw(st.sampled_from(cases))
    raw = case.path.read_bytes()
    full = scan_pickle_bytes(raw, "f")
    cut = data.draw(st.integers(0, len(raw)))
    scan = scan_pickle_bytes(raw[:cut], "f")
    if raw[:4] != b"PK\x03\x04" and cut < len(raw):
        assert full.globals[: len(scan.globals)] == scan.globals  # what a truncation sees is a prefix
    damaged = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 4))):
        damaged[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    scan = scan_pickle_bytes(bytes(damaged), "f")
    assert scan.problem is None or "\n" not in scan.problem


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # pickletools, as fickling calls it, on '\J' in a path
@pytest.mark.parametrize("column", list(pc.VERDICTS))
def test_peers_on_the_same_corpus(corpus, column, record_property):
    """Each peer's verdicts, computed for real and recorded; ours must match every label."""
    package = pc.VERDICTS[column][0]
    if pc.peer_version(package) is None:
        pytest.skip(f"{package} is not installed (pip install -e '.[test]' installs it)")
    d, cases = corpus
    expected = [c.unsafe for c in cases]
    assert [bool(_scan(c).unsafe) for c in cases] == expected
    verdicts = pc.peer_verdicts(column, cases)
    flagged = [v for v, _ in verdicts]
    totals = pc.totals(expected, flagged)
    agreement = sum(bool(f) == e for f, e in zip(flagged, expected))
    record_property(f"{column} agreement", f"{agreement}/{len(cases)} {totals}")
    print(f"{column} {pc.peer_version(package)}: agrees on {agreement}/{len(cases)} files, {totals}")
    assert totals["TP"] + totals["FN"] == sum(expected)
    assert not (d / pc.MARKER).exists()  # the peers are static too
