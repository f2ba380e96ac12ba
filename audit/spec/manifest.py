"""The release manifest (``llm360.yaml``): pydantic models mirroring schemas/manifest.schema.json.

The JSON Schema is generated from these models (``python -m audit.spec.schemas --write``) and a test
fails when the committed schema and the models drift apart.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from audit import SPEC_VERSION
from audit.spec.names import MANIFEST_NAME  # noqa: F401 (re-exported)
from audit.spec.schedule import SCHEDULES

# Lengths as well as patterns: Python's `$` (used by jsonschema) also matches before a final newline.
Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$", min_length=64, max_length=64)]
GitSha = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{40}$", min_length=40, max_length=40)]
RelPath = Annotated[str, StringConstraints(min_length=1), Field(description="Path relative to the release root.")]


def _json_integer(value: object) -> object:
    """JSON Schema's "integer" includes integral floats (8.0) but not strings or booleans."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    return value


#: Integers with JSON Schema's meaning, under the strict models (no "8", no true).
Int = Annotated[int, BeforeValidator(_json_integer)]
NonNegInt = Annotated[int, Field(ge=0), BeforeValidator(_json_integer)]
PosInt = Annotated[int, Field(ge=1), BeforeValidator(_json_integer)]

StateComponent = Literal["weights", "optimizer", "scheduler", "rng", "data_cursor"]
FileRole = Literal["weights", "weights-index", "optimizer", "scheduler", "rng", "training-state", "config", "other"]
#: The roles whose files are the optimizer_checkpoints criterion's evidence (what an exact resume needs
#: besides the weights); every other role is model_checkpoints' evidence.
RESUME_ROLES = ("optimizer", "scheduler", "rng", "training-state")


def role_criterion(role: str) -> str:
    """The criterion a checkpoint file of this role is evidence for (a missing file counts against it)."""
    return "optimizer_checkpoints" if role in RESUME_ROLES else "model_checkpoints"


class Strict(BaseModel):
    # strict: no coercion ("8" is not 8, true is not 1), so the model accepts what the schema accepts.
    model_config = ConfigDict(extra="forbid", strict=True)


class FileEntry(Strict):
    """One file and the evidence that identifies it."""

    path: RelPath
    sha256: Sha256 | None = Field(None, description="Lower-case hex SHA-256 of the file contents.")
    size: NonNegInt | None = Field(None, description="Size in bytes.")


class CheckpointFile(FileEntry):
    role: FileRole = Field(description="What the file holds.")


class License(Strict):
    id: str = Field(description="SPDX identifier, e.g. Apache-2.0.")
    file: RelPath | None = None


class Code(Strict):
    """Training code as a git repository pinned at a commit."""

    model_config = ConfigDict(extra="forbid", strict=True)

    repo: str = Field(
        description="A git bundle file or repository directory inside the release, or a remote URL."
    )
    commit: GitSha | None = Field(None, description="The pinned commit (40 hex digits); required to pass.")
    entrypoint: str = Field(description="Training entrypoint, path at the commit.")
    training_config: str | None = Field(
        None, description="Training hyperparameters file at the commit (YAML or JSON, same keys as config.training)."
    )
    model_config_path: str | None = Field(
        None, alias="model_config", description="Model config (HF config.json form) at the commit."
    )
    config_files: list[str] = Field(default_factory=list, description="Other files that must exist at the commit.")
    data_processing: str | None = Field(None, description="Data-processing code, path at the commit.")
    eval_code: str | None = Field(None, description="Evaluation code, path at the commit.")
    replay_command: str | None = Field(
        None,
        description="Command that resumes training, run from the code at the commit with --allow-exec. "
        "Placeholders: {python} {checkpoint} {start_step} {steps} {total_steps} {data} {release_data} {out} "
        "{device}. {total_steps} is config.training.lr_schedule.total_steps (empty if undeclared); {data} is "
        "the segment's sequences as JSONL; {release_data} the directory of the release's own data files (read "
        "only). It must write the checkpoint after the steps into {out} (same file names as the released "
        "checkpoints) and may write its per-step log to {out}/train_log.jsonl.",
    )


class Optimizer(Strict):
    name: str = Field(description="e.g. adamw.")
    betas: Annotated[list[float], Field(min_length=2, max_length=2)] | None = None
    eps: float | None = None
    weight_decay: float | None = None
    implementation: Literal["for-loop", "foreach", "fused"] | None = None


class LrSchedule(Strict):
    name: Literal[SCHEDULES]  # type: ignore[valid-type]
    peak_lr: float = Field(gt=0)
    final_lr: float = Field(0.0, ge=0)
    warmup_steps: NonNegInt = 0
    total_steps: PosInt
    decay_steps: NonNegInt | None = Field(
        None, description="torchtitan-wsd-* only: steps of the decay phase (torchtitan's round(total_steps × "
                          "decay_ratio)); unset: every step after the warmup.")  # fmt: skip


class TrainingHyperparameters(Strict):
    optimizer: Optimizer
    lr_schedule: LrSchedule
    batch_size: PosInt = Field(description="Sequences per optimizer step (global batch).")
    sequence_length: PosInt | None = Field(
        None, description="Tokens per sequence fed to the model; needed for the checkpoints' token counts and the replay."
    )
    precision: Literal["fp32", "bf16-mixed", "fp16-mixed", "bf16", "fp16"]
    grad_clip: float | None = Field(None, gt=0)
    seed: Int | None = None


class Config(Strict):
    model: RelPath = Field(description="Model config in Hugging Face config.json form.")
    training: TrainingHyperparameters


class Remote(Strict):
    """A component published outside the release; checked where --resolve-local maps it to a clone."""

    repo: str = Field(min_length=1, description="Hugging Face repo id (org/name or hf://org/name) or a git URL.")
    revision: str | None = Field(None, description="Branch, tag or commit the manifest describes.")


class Checkpoint(Strict):
    step: NonNegInt = Field(description="Optimizer updates applied before this checkpoint.")
    tokens: NonNegInt | None = Field(None, description="Training tokens seen at this checkpoint.")
    path: RelPath | None = Field(None, description="Checkpoint directory.")
    revision: str | None = Field(
        None,
        description="Where published, e.g. a git branch such as ckpt_000. With no path, the checkpoint is read from "
        "that branch of the repository (the release's own, or checkpoints_source) and its files are named "
        "REVISION:PATH.",
    )
    state: list[StateComponent] = Field(description="Training state the checkpoint holds.")
    files: list[CheckpointFile] = Field(default_factory=list)


class Chunk(FileEntry):
    index: FileEntry | None = Field(
        None, description="megatron-indexed: the chunk's .idx file (the .bin path with .idx); litdata-tokens: the "
        "dataset's index.json beside the chunk; verified like the chunk."
    )
    sequences: NonNegInt | None = None
    tokens: NonNegInt | None = None
    sources: dict[str, Int] = Field(default_factory=dict, description="Tokens per source.")
    first_step: PosInt | None = Field(None, description="First optimizer step fed from this chunk.")
    last_step: PosInt | None = Field(None, description="Last optimizer step fed from this chunk.")


DataKind = Literal["jsonl-token-ids", "npy-tokens", "megatron-indexed", "parquet-tokens", "litdata-tokens"]


class DataFormat(Strict):
    kind: DataKind = Field(
        "jsonl-token-ids",
        description="jsonl-token-ids: one JSON object per line; npy-tokens: a .npy integer array, 2-D (sequences, "
        "length) or 1-D cut into tokens_per_sequence; megatron-indexed: a Megatron-LM .bin with its .idx; "
        "parquet-tokens: a Parquet file with a list<integer> column tokens_field; litdata-tokens: a chunk-*.bin of a "
        "litdata optimized dataset (TokensLoader), cut into tokens_per_sequence blocks as LitGPT reads it.",
    )
    tokens_field: str = Field("token_ids", description="The token-id field (JSONL) or column (Parquet).")
    source_field: str = Field("source", description="The source field (JSONL) or optional column (Parquet).")
    source: str | None = Field(
        None, description="Source of all tokens in a chunk without per-sequence sources (npy-tokens, "
        "megatron-indexed, Parquet without the source column); default: the chunk's file stem.",
    )
    tokens_per_sequence: PosInt | None = Field(
        None, description="Token ids per sequence (Amber: 2049 = 2048 + the shifted label); required to cut 1-D npy arrays."
    )


class DataOrder(Strict):
    within_chunk: Literal["sequential", "shuffled", "unknown", "global-indices"] = Field(
        description="sequential: step s of a chunk takes the next batch_size lines in file order; "
        "global-indices: the order across all chunks is given by global_indices."
    )
    global_indices: FileEntry | None = Field(
        None, description="OLMo-style order: a 1-D integer .npy array; position i in training order holds the index "
        "of the sequence in all chunks concatenated (manifest order); step s takes positions (s-1)*batch_size up to "
        "s*batch_size. When declared it is the order, and chunks need no first_step/last_step.",
    )
    seed: Int | None = None
    description: str | None = None


class Data(Strict):
    source: Remote | None = Field(
        None, description="Repository that holds the chunks (paths are relative to its root); default: the release."
    )
    format: DataFormat = Field(default_factory=DataFormat)
    chunks: list[Chunk] = Field(default_factory=list)
    mixture: dict[str, float] | None = Field(None, description="Declared training tokens per source.")
    mixture_tolerance: float = Field(0.0, ge=0, description="Relative tolerance for mixture totals.")
    order: DataOrder


class TrainingLog(FileEntry):
    format: Literal["jsonl", "hf-trainer-state", "litgpt-csv", "tensorboard", "megatron-tensorboard"] = Field(
        "jsonl",
        description="jsonl: one object per step (step, loss, learning_rate, grad_norm). hf-trainer-state: the "
        "log_history of a Hugging Face Trainer trainer_state.json (that of the last checkpoint). litgpt-csv: "
        "LitGPT's CSVLogger metrics.csv (one row per iteration, keyed on its iter column). tensorboard: a "
        "TensorBoard event file (events.out.tfevents.*; torchtitan's loss_metrics/global_avg_loss, lr/*, grad_norm). "
        "megatron-tensorboard: one Megatron-LM wrote (lm loss, learning-rate, grad-norm by iteration; the rate "
        "logged at iteration s is the one update s + 1 uses: Megatron logs it after the scheduler's step).",
    )


class Evaluations(FileEntry):
    format: Literal["jsonl"] = "jsonl"
    tasks: list[str] = Field(default_factory=list, description="Tasks every checkpoint must have results for.")


class Metrics(Strict):
    training_log: TrainingLog | None = None
    evaluations: Evaluations | None = None


class Manifest(Strict):
    """An LLM release described against the LLM360 spec."""

    spec_version: Literal[SPEC_VERSION]  # type: ignore[valid-type]
    name: str
    description: str | None = None
    license: License | None = None
    code: Code | None = None
    config: Config | None = None
    checkpoints: list[Checkpoint] = Field(default_factory=list)
    checkpoints_source: Remote | None = Field(
        None, description="Repository whose branches hold the checkpoints that have a revision and no path "
        "(default: the release's own git repository)."
    )
    data: Data | None = None
    metrics: Metrics | None = None
