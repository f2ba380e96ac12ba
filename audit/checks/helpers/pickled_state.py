"""optimizer_checkpoints, for training state saved with torch.save (Hugging Face Trainer's optimizer.pt,
scheduler.pt, rng_state.pth): flagged as pickles, opened only with torch.load(weights_only=True), and
checked for what a resume needs."""

from __future__ import annotations

from collections import Counter

from audit.checks.base import Outcome
from audit.checks.helpers import content
from audit.spec.rules import Rule
from audit.frameworks.hf_trainer import moment_shapes, optimizer_problem, optimizer_steps, rng_missing, scheduler_step
from audit.frameworks.registry import pickle_allows
from audit.frameworks.torch_state import model_state, optimizer_state
from audit.readers.torch_pickle import PickleProblem, load_weights_only
from audit.core.release import Release
from audit.spec.manifest import RESUME_ROLES
from audit.spec.rules.optimizer_checkpoints import PICKLE, REFUSED, UNREADABLE, UNVERIFIABLE, STATE_FILE

#: File roles the optimizer check owns (pickled ones opened only through the weights-only loader).
STATE_ROLES = RESUME_ROLES

PROBLEM_RULES = {"refused": REFUSED, "unreadable": UNREADABLE, "unverifiable": UNVERIFIABLE}


def is_pickled_state(f) -> bool:
    return f.role in STATE_ROLES and not f.path.endswith((".safetensors", ".json"))


def flag(release: Release, ck, out: Outcome) -> None:
    """One warning per pickled state file present (whatever else the check concludes)."""
    for f in ck.files:
        if is_pickled_state(f) and release.has_file(f.path):
            out.add(PICKLE, f"{f.path} is a pickle (unpickling can run code): opened only with "
                            "torch.load(weights_only=True); safetensors preferred", f.path)  # fmt: skip


def load(release: Release, f, out: Outcome, *, numpy_arrays: bool = False, rules: dict[str, Rule] = PROBLEM_RULES):
    """The file through the weights-only loader, or None (with the finding saying why; ``rules``: one per
    :class:`PickleProblem` kind). A pickle whose opcodes import anything outside the allow-list is never
    handed to torch.load (content reports it)."""
    if content.unsafe_pickle(release, f.path) is not None:
        return None
    try:
        obj = _load(release, f, numpy_arrays=numpy_arrays)
    except PickleProblem as exc:
        out.add(rules[exc.kind], str(exc), f.path)
        return None
    out.evidence["pickles_loaded_weights_only"] = out.evidence.get("pickles_loaded_weights_only", 0) + 1
    return obj


def moments(release: Release, ck, f, params: dict, rules: dict[str, Rule], out: Outcome) -> bool:
    """A torch ``optimizer.state_dict()``: moments for every parameter, as many as the weights hold
    tensors and of their shapes, step counters equal to the checkpoint's. ``rules``: moments, shape, step."""
    state = optimizer_state(load(release, f, out))  # a LitGPT lit_model.pth holds it under "optimizer"
    if state is None:
        return False
    why = optimizer_problem(state)
    if why is not None:
        out.add(rules["moments"], f"{f.path}: {why}", f.path)
        return False
    shapes = moment_shapes(state)
    out.evidence["moment_tensors_checked"] = out.evidence.get("moment_tensors_checked", 0) + 2 * len(shapes)
    steps = optimizer_steps(state)
    if steps and steps != {float(ck.step)}:
        shown = ", ".join(f"{s:g}" for s in sorted(steps)[:3])
        out.add(rules["step"], f"{f.path}: optimizer step is {shown}, checkpoint step is {ck.step}", f.path)
    if not params:
        return True  # no safetensors weights to compare with (the checkpoints check says why)
    if len(shapes) != len(params):
        out.add(rules["moments"], f"{f.path}: moments for {len(shapes)} parameters, the weights hold "
                                  f"{len(params)} tensors", f.path)  # fmt: skip
        return False
    extra = Counter(shapes) - Counter(params.values())
    if extra:
        out.add(rules["shape"], f"{f.path}: moments of shape {list(next(iter(extra)))} match no parameter", f.path)
        return False
    return True


def resume_parts(release: Release, ck, step_rule: Rule, out: Outcome) -> set[str]:
    """Which of scheduler and rng the checkpoint's pickled scheduler and RNG files hold."""
    held = set()
    for f in ck.files:
        if f.role not in ("scheduler", "rng") or not is_pickled_state(f):
            continue
        state = load(release, f, out, numpy_arrays=f.role == "rng")
        if state is None:
            continue
        if f.role == "rng":
            missing = rng_missing(state)
            if missing:
                out.add(STATE_FILE, f"{f.path}: no {', '.join(missing)} RNG state", f.path)
            else:
                held.add("rng")
            continue
        position = scheduler_step(state)
        if position is None:
            out.add(STATE_FILE, f"{f.path}: not a scheduler state_dict (no integer last_epoch)", f.path)
        elif position != ck.step:
            out.add(step_rule, f"{f.path}: scheduler position is {position}, checkpoint step is {ck.step}", f.path)
        else:
            held.add("scheduler")
    return held


def weights(release: Release, f, rules: dict[str, Rule], out: Outcome) -> dict[str, tuple[tuple[int, ...], str]] | None:
    """name → (shape, safetensors dtype) of a pickled weights file (a state dict of tensors, or LitGPT's
    ``["model"]``) read through the weights-only loader, or None with the finding saying why. ``rules``:
    refused (also for what the static scan refuses), read (the warning that it is a pickle)."""
    if (scan := content.unsafe_pickle(release, f.path)) is not None:
        out.add(rules["refused"], f"{f.path} is a pickle that would import {', '.join(scan.unsafe[:3])}: not loaded; "
                                  "safetensors expected", f.path)  # fmt: skip
        return None
    obj = load(release, f, out, rules=dict.fromkeys(PROBLEM_RULES, rules["refused"]))
    if obj is None:
        return None
    state = model_state(obj)
    if state is None:
        out.add(rules["refused"], f"{f.path}: no state dict of tensors in it (not weights)", f.path)
        return None
    out.add(rules["read"], f"{f.path} is a pickle: its imports were scanned, then it was read with "
                           f"torch.load(weights_only=True) ({len(state)} tensors); safetensors preferred", f.path)  # fmt: skip
    return {name: (tuple(t.shape), _DTYPES.get(str(t.dtype), str(t.dtype))) for name, t in state.items()}


#: torch dtypes → safetensors dtype names, to compare pickled tensors as safetensors headers are.
_DTYPES = {"torch.float32": "F32", "torch.bfloat16": "BF16", "torch.float16": "F16", "torch.float64": "F64",
           "torch.int64": "I64", "torch.int32": "I32", "torch.int8": "I8", "torch.uint8": "U8", "torch.bool": "BOOL"}  # fmt: skip


def carries_optimizer(release: Release, f) -> bool:
    """Whether a pickled weights file also holds an optimizer state_dict (LitGPT's lit_model.pth)."""
    if not f.path.endswith(content.PICKLE_SUFFIXES) or not release.has_file(f.path) or content.unsafe_pickle(release, f.path):
        return False
    try:
        obj = _load(release, f)
    except PickleProblem:
        return False
    return isinstance(obj, dict) and isinstance(obj.get("optimizer"), dict)


def weight_shapes(release: Release, f) -> dict[str, tuple[int, ...]]:
    """name → shape of the tensors of a pickled weights file (none when it cannot be read: the
    model_checkpoints check says why)."""
    if content.unsafe_pickle(release, f.path) is not None:
        return {}
    try:
        state = model_state(_load(release, f))
    except PickleProblem:
        return {}
    return {name: tuple(t.shape) for name, t in (state or {}).items()}


def _load(release: Release, f, *, numpy_arrays: bool = False):
    """The weights-only load, with what the file's framework saves besides tensors allowed (Megatron's args)."""
    allows = pickle_allows(f.path.rsplit("/", 1)[-1])
    allows["numpy_arrays"] = allows.get("numpy_arrays", False) or numpy_arrays
    return load_weights_only(release.path(f.path), f.path, **allows)
