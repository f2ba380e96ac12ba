"""optimizer_checkpoints: AdamW moments shaped like the parameters for every intermediate checkpoint,
plus what an exact resume needs besides them: scheduler position, every RNG, the data cursor."""

from __future__ import annotations

from audit.checks.helpers import content, dcp_state, pickled_state, recorded
from audit.checks.base import Check, Outcome
from audit.checks.helpers.files import verify_file
from audit.spec.manifest import role_criterion
from audit.frameworks.hf_trainer import TRAINER_STATE
from audit.core.release import Release
from audit.readers.safetensors_header import HeaderError
from audit.frameworks.registry import for_files
from audit.spec.rules.optimizer_checkpoints import UNMATCHED, NOT_RELEASED, MOMENTS, SHAPE, HEADER, STATE_INVALID, STEP, NOT_RESUMABLE, UNDECLARED, FINAL, FILE, CONTENT, CHECK as OPTIMIZER_CHECKPOINTS_CHECK

RESUME_PARTS = {"scheduler": "the LR scheduler position is", "rng": "the RNG states are", "data_cursor": "the data cursor is"}
PART_NAMES = {"scheduler": "scheduler", "rng": "RNG", "data_cursor": "data cursor"}
RNG_KINDS = ("python", "numpy", "torch_cpu")


def _steps(steps: list[int]) -> str:
    shown = ", ".join(map(str, steps[:5]))
    return shown + (f" … ({len(steps)} checkpoints)" if len(steps) > 5 else "")


class OptimizerCheck(Check):
    info = OPTIMIZER_CHECKPOINTS_CHECK

    def run(self, release: Release, out: Outcome) -> None:
        cks = release.manifest.checkpoints
        content.report(release, "optimizer_checkpoints", {"pickle": CONTENT["pickle"]}, out)
        if not cks:
            out.skip("no checkpoints declared")
            return
        not_released: list[int] = []
        not_resumable: dict[str, list[int]] = {}
        complete = with_optimizer = 0
        needed: set[str] = set()  # the resume parts some checkpoint's framework needs (LitGPT: no RNG)
        unfetched = release.manifest.checkpoints_source is not None and release.locate.checkpoint_root() is None
        for i, ck in enumerate(cks):
            final = i == len(cks) - 1
            if not (unfetched and ck.path is None):  # a remote not fetched: the checkpoints check says so once
                self._verify(release, ck, out)
            pickled_state.flag(release, ck, out)
            opt_files = [f for f in ck.files if f.role == "optimizer"]
            if not opt_files and "optimizer" in ck.state:  # LitGPT: lit_model.pth holds weights and optimizer
                opt_files = [f for f in ck.files if f.role == "weights" and pickled_state.carries_optimizer(release, f)]
            if not opt_files and "optimizer" in ck.state and any(dcp_state.is_dcp(f) for f in ck.files) \
                    and dcp_state.carries_optimizer(release, ck):  # DCP (torchtitan): one state dict for all  # fmt: skip
                opt_files = [f for f in ck.files if f.path.endswith(".distcp")]
            if "optimizer" not in ck.state or not opt_files:
                if final:
                    out.add(FINAL, f"checkpoint at step {ck.step} (final) has no optimizer state", ck.path)
                else:
                    not_released.append(ck.step)
                continue
            if not all(release.has_file(f.path) for f in ck.files):
                continue  # the model_checkpoints criterion reports missing, unsafe or unfetched files
            with_optimizer += 1
            moments_ok = self._moments(release, ck, opt_files, out)
            held = self._training_state(release, ck, out)
            # A framework whose own resume draws no random numbers (LitGPT pretraining) needs no RNG state.
            framework = for_files({f.path.rsplit("/", 1)[-1] for f in ck.files})
            unneeded = {"rng"} - set(framework.resume_needs) if framework is not None else set()
            needed |= set(RESUME_PARTS) - unneeded
            missing = [part for part in RESUME_PARTS if part not in held and part not in unneeded]
            for part in RESUME_PARTS:
                if part in ck.state and part not in held:
                    out.add(UNDECLARED, f"checkpoint at step {ck.step} declares {part} but its files do not hold it",
                            ck.path)  # fmt: skip
            for part in missing:
                not_resumable.setdefault(part, []).append(ck.step)
            complete += moments_ok and not missing
        if not_released:
            out.add(NOT_RELEASED, f"optimizer state not released for step(s) {_steps(not_released)}")
        for part, steps in not_resumable.items():
            out.add(NOT_RESUMABLE, f"not exactly resumable, because {RESUME_PARTS[part]} not released "
                                   f"(step(s) {_steps(steps)})")  # fmt: skip
        out.evidence |= {"checkpoints_with_optimizer": with_optimizer, "exactly_resumable": complete}
        parts = [PART_NAMES[p] for p in RESUME_PARTS if p in needed or not with_optimizer]
        unneeded_said = "" if "RNG" in parts else "; no RNG state needed: the framework's resume draws no random numbers"
        out.summary = (f"{complete} of {len(cks)} checkpoints exactly resumable "
                       f"(moments, {', '.join(parts)}{unneeded_said})")

    @staticmethod
    def _verify(release: Release, ck, out: Outcome) -> None:
        """Every declared file of this criterion's roles present and as declared (a missing optimizer file
        counts here, not against the weights)."""
        files = [f for f in ck.files if role_criterion(f.role) == "optimizer_checkpoints"]
        if not files:
            return
        if ck.path is not None:
            try:
                absent = not release.path(ck.path).is_dir()
            except ValueError:
                absent = False  # verify_file reports the unsafe path
            if absent:
                out.add(FILE["missing"], f"checkpoint at step {ck.step}: directory {ck.path} does not exist, so its "
                                         f"{len(files)} resume file(s) ({', '.join(sorted({f.role for f in files}))}) "
                                         "are absent", ck.path)  # fmt: skip
                return
        for f in files:
            verify_file(release, f, FILE, out, hash_it=release.hash_files)

    def _moments(self, release, ck, opt_files, out) -> bool:
        if dcp_state.is_dcp(opt_files[0]):
            return dcp_state.moments(release, ck, {"moments": MOMENTS, "shape": SHAPE, "step": STEP,
                                                   "unmatched": UNMATCHED}, out)
        params: dict[str, tuple[int, ...]] = {}
        for f in ck.files:
            if f.role == "weights" and f.path.endswith(".safetensors"):
                try:
                    params |= {n: t.shape for n, t in release.header(f.path).tensors.items()}
                except (HeaderError, ValueError):
                    return False  # reported by the checkpoints check
            elif f.role == "weights" and f in opt_files:  # the weights of the file that holds the optimizer
                params |= pickled_state.weight_shapes(release, f)
        if len(opt_files) > 1 and all(f.role == "weights" for f in opt_files):
            # One file per model-parallel rank, each with its own weights and optimizer (Megatron's mp_rank_*).
            rules = {"moments": MOMENTS, "shape": SHAPE, "step": STEP}
            results = [pickled_state.moments(release, ck, f, pickled_state.weight_shapes(release, f), rules, out)
                       for f in opt_files]  # fmt: skip
            return all(results)
        if pickled_state.is_pickled_state(opt_files[0]) or opt_files[0].role == "weights":
            if len(opt_files) > 1:
                out.add(MOMENTS, f"step {ck.step}: {len(opt_files)} pickled optimizer files; one state_dict expected",
                        opt_files[0].path)  # fmt: skip
                return False
            rules = {"moments": MOMENTS, "shape": SHAPE, "step": STEP}
            return pickled_state.moments(release, ck, opt_files[0], params, rules, out)
        moments: dict[str, tuple[int, ...]] = {}
        for f in opt_files:
            try:
                moments |= {n: t.shape for n, t in release.header(f.path).tensors.items()}
            except (HeaderError, ValueError) as exc:
                out.add(HEADER, f"{f.path}: {exc}", f.path)
                return False
        ok = True
        lacking = [f"{kind}.{p}" for p in params for kind in ("exp_avg", "exp_avg_sq") if f"{kind}.{p}" not in moments]
        if lacking:
            out.add(MOMENTS, f"step {ck.step}: {len(lacking)} moment tensor(s) missing, e.g. {lacking[0]}", opt_files[0].path)
            ok = False
        for p, shape in params.items():
            for kind in ("exp_avg", "exp_avg_sq"):
                got = moments.get(f"{kind}.{p}")
                if got is not None and got != shape:
                    out.add(SHAPE, f"step {ck.step}: {kind}.{p} has shape {list(got)}, parameter has {list(shape)}",
                            opt_files[0].path)  # fmt: skip
                    ok = False
        out.evidence["moment_tensors_checked"] = out.evidence.get("moment_tensors_checked", 0) + len(moments)
        return ok

    def _training_state(self, release, ck, out) -> set[str]:
        """Which resume parts the checkpoint's training-state files hold."""
        held = pickled_state.resume_parts(release, ck, STEP, out)
        files = [f for f in ck.files if f.role == "training-state" and f.path.endswith(".json")]
        if not files:  # the framework's own files (LitGPT's lit_model.pth holds the loader's state_dict)
            facts = recorded.facts(release, ck)
            held |= facts.holds & set(RESUME_PARTS) if facts is not None else set()
            if "scheduler" in held and any(dcp_state.is_dcp(f) for f in ck.files):
                position = dcp_state.scheduler_position(release, ck)
                if position != ck.step:
                    out.add(STEP, f"{ck.path}: lr_scheduler.last_epoch is {position}, checkpoint step is {ck.step}",
                            ck.path)  # fmt: skip
            return held
        f = files[0]
        try:
            state = release.training_state(ck)
        except ValueError as exc:
            out.add(STATE_INVALID, str(exc), f.path)
            return held
        if f.path.rsplit("/", 1)[-1] == TRAINER_STATE:
            # The HF Trainer resumes the data order from global_step (it skips that many batches).
            step = state.get("global_step")  # a global_step other than the checkpoint's: model_checkpoints says so
            return held | ({"data_cursor"} if step == ck.step else set())
        held |= {p for p in ("scheduler", "data_cursor") if isinstance(state.get(p), dict) and state[p]}
        rng = state.get("rng")
        if isinstance(rng, dict) and all(rng.get(k) for k in RNG_KINDS):
            held.add("rng")
        opt = state.get("optimizer")
        if isinstance(opt, dict) and "step" in opt and opt["step"] != ck.step:
            out.add(STEP, f"{f.path}: optimizer step is {opt['step']}, checkpoint step is {ck.step}", f.path)
        return held
