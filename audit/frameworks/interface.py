"""The training-framework plug point: how one framework's run is read and replayed.

An adapter (one module per framework) says
* whether a checkpoint directory is its own, and what its files say about the checkpoint (step,
  tokens seen, whether the data cursor is saved) — for ``init``;
* the training-log formats it writes (``metrics.training_log.format`` → a reader);
* the names of its learning-rate arithmetic (``config.training.lr_schedule.name``, audit.spec.schedule);
* why a segment cannot be replayed with it, and how to replay one (``replay``), leaving the state
  after the steps in ``work/out`` under the released checkpoint's file names.

Register a new adapter in :data:`audit.frameworks.registry.FRAMEWORKS`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from audit.readers.training_log import TrainingLog

if TYPE_CHECKING:
    from audit.core.release import Release
    from audit.spec.manifest import Checkpoint

#: Reads a JSON file of a checkpoint directory: the parsed object, or None when absent or unreadable.
ReadJson = Callable[[Path], "dict[str, Any] | None"]


class EngineError(RuntimeError):
    """The replay could not run; the message is one line."""


@dataclass
class EngineRun:
    """What a replay produced: the state after the steps, the per-step log and its environment."""

    out: Path
    logs: list[dict[str, Any]]  # per step: step, loss, learning_rate, grad_norm
    environment: dict[str, Any] | None


@dataclass(frozen=True)
class DataCursor:
    """Where a checkpoint's saved data position says the next step starts."""

    chunk: str  # release-relative path of the chunk
    sequence: int  # index of the next sequence within that chunk
    consumed: int  # sequences consumed since the start of training


@dataclass(frozen=True)
class CheckpointFacts:
    """What a framework's files in a checkpoint directory say about it."""

    step: int
    source: str  # the file the step was read from
    tokens_seen: int | None = None
    #: Resume state the files record besides the file roles: "scheduler", "rng", "data_cursor".
    holds: frozenset[str] = frozenset()
    cursor: DataCursor | None = None
    #: Where the framework's own files contradict each other: (file relative to the checkpoint directory,
    #: ``../`` for the save directory's, one line saying what disagrees).
    problems: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class RecordedTraining:
    """What one file of a checkpoint records of ``config.training`` (only the keys it records)."""

    source: str  # release-relative path of the file
    part: str | None  # which record inside it, e.g. "scheduler", when the file holds several
    training: dict[str, Any]  # a partial config.training; None values: not recorded
    per_process_batch: bool = False  # batch_size is per process × accumulation: the declared one is a multiple
    problem: str | None = None  # why the file could not be read (then ``training`` is empty)


@dataclass(frozen=True)
class Hyperparameters:
    """``config.training`` as a framework's files give it, or None with the note saying why not."""

    training: dict[str, Any] | None
    note: str  # for init's list of changes: where they came from, or what is missing
    model: str | None = None  # the model config's file name in the directory, where it is not config.json


class Framework(ABC):
    name: ClassVar[str]  # shown in reports, e.g. "Hugging Face Trainer"
    log_formats: ClassVar[Mapping[str, Callable[[Path], TrainingLog]]] = {}
    schedules: ClassVar[tuple[str, ...]] = ()
    #: Whether :meth:`replay` is built; where not, :meth:`replay_blocker` is the reason a segment is skipped
    #: before any other (no use naming the RNG state a replay that cannot run would need).
    replays: ClassVar[bool] = False
    #: What the weights-only loader allows in this framework's pickled checkpoint files besides tensors
    #: (:func:`audit.readers.torch_pickle.load_weights_only` keywords: "numpy_arrays", "namespaces").
    pickle_allows: ClassVar[frozenset[str]] = frozenset()
    #: The parts of a checkpoint's state (``Checkpoint.state``) the built-in replay resumes from: a segment
    #: whose start lacks one is skipped, naming it. A framework that saves no RNG state and needs none
    #: (no dropout in pretraining) leaves "rng" out.
    resume_needs: ClassVar[frozenset[str]] = frozenset({"optimizer", "rng"})
    #: Whether the framework's own resume restores its data loader from the checkpoint (torchtitan's
    #: StatefulDataLoader): a replay with its own code then needs neither the release's data as the auditor
    #: reads it nor a saved RNG state (state that mattered shows as a mismatch).
    resumes_own_data: ClassVar[bool] = False

    @abstractmethod
    def owns(self, file_names: set[str]) -> bool:
        """Whether a checkpoint holding these file names was written by this framework."""

    def nested_in(self, directory: Path) -> Path | None:
        """The checkpoint directory that ``directory`` is a part of, where this framework nests a checkpoint's
        files one level down (Megatron's ``iter_N/mp_rank_00/``); None where it is its own."""
        return None

    def model_config(self, path: Path, rel: str) -> dict[str, Any] | None:
        """The model config held inside one of this framework's checkpoint files (``config.model`` naming
        it), or None when ``path`` is not such a file; raises ValueError (one line naming ``rel``)."""
        return None

    def checkpoint_facts(self, directory: Path, read_json: ReadJson) -> CheckpointFacts | None:
        """The step (and what else its files say) of a checkpoint directory of this framework, or None."""
        return None

    def hyperparameters(self, directory: Path, root: Path, read_json: ReadJson) -> Hyperparameters | None:
        """``config.training`` from a checkpoint directory of this framework; None when its files are absent."""
        return None

    def recorded_training(self, directory: Path, root: Path, read_json: ReadJson) -> list[RecordedTraining]:
        """What the checkpoint's files record of ``config.training``, for the audit to hold against the
        manifest (partial records welcome; none when this framework's files are absent)."""
        return []

    def data_order(self, directory: Path, root: Path) -> tuple[dict[str, Any], str] | None:
        """``data.order`` as the data loader state saved in a checkpoint directory of this framework gives
        it, and a note saying where from; None when its files say nothing about the order."""
        return None

    def replay_blocker(self, release: Release, start: Checkpoint) -> str | None:
        """Why the built-in engine cannot replay from ``start`` with this framework, or None."""
        return (f"the built-in engine does not replay {self.name} checkpoints yet; declare code.replay_command "
                "to replay with the release's own code")  # fmt: skip

    def replay(self, release: Release, start: Checkpoint, batches: list, device: str, work: Path) -> EngineRun:
        """Run the steps of ``batches`` from ``start``; the state after them goes into ``work/out``."""
        raise EngineError(self.replay_blocker(release, start) or f"{self.name}: replay not implemented")
