"""Rules of the model_checkpoints criterion: ids, severities, remediations; the check that reports them is audit.checks.model_checkpoints."""

from __future__ import annotations

from audit.spec.rules.registry import CheckInfo, Rule, content_rules, file_rules

FILE = file_rules("checkpoints")
CONTENT = content_rules("checkpoints")
NONE = Rule("checkpoints.none", "error", "Publish intermediate checkpoints and list them under `checkpoints:`.")
MISSING = Rule("checkpoints.missing", "error",
               "Every declared checkpoint must be published; restore it or remove it from the manifest.")
NO_WEIGHTS = Rule("checkpoints.no-weights", "error", "Each checkpoint needs its model weights (role: weights).")
STEP_ORDER = Rule("checkpoints.step-order", "error", "List checkpoints once each, in strictly increasing step order.")
TOKENS = Rule("checkpoints.tokens-inconsistent", "error",
              "tokens must equal step × batch_size × sequence_length of config.training.")
HEADER = Rule("checkpoints.header-invalid", "error",
              "The file is not a well-formed safetensors file: re-export it with the safetensors library.")
TENSOR_MISSING = Rule("checkpoints.tensor-missing", "error", "The checkpoint lacks tensors the model config implies.")
TENSOR_UNEXPECTED = Rule("checkpoints.tensor-unexpected", "error",
                         "The checkpoint holds tensors the model config does not imply (wrong config?).")
TENSOR_SHAPE = Rule("checkpoints.tensor-shape", "error", "Tensor shapes must match the model config.")
TENSOR_DTYPE = Rule("checkpoints.tensor-dtype", "warning", "Tensor dtypes should match torch_dtype of config.json.")
INDEX = Rule("checkpoints.index-invalid", "error",
             "model.safetensors.index.json must map every tensor to the shard that holds it.")
REVISION = Rule("checkpoints.revision-missing", "error",
                "A checkpoint published as a git revision must be a branch of the release's repository: "
                "clone the model repository with all its branches (`git clone` fetches them as origin/…).")
NOT_LOCAL = Rule("checkpoints.contents-not-local", "warning",
                 "Only the git-LFS pointers were checked: fetch the contents (`git lfs pull --include='*' "
                 "--exclude=''` on each branch, or `git lfs fetch --all`) to verify hashes and tensors.")
REMOTE = Rule("checkpoints.remote-not-fetched", "warning",
              "The checkpoint revisions are published in another repository: audit with `--resolve-local PATH` "
              "pointing at a clone of it (`git clone` fetches every branch).")
PICKLE = Rule("checkpoints.pickle", "warning",
              "Pickle files can run code when loaded and were never unpickled (a Trainer's training_args.bin is "
              "read from its opcodes only); publish configs as JSON or YAML and tensors as safetensors.")
PICKLE_WEIGHTS = Rule("checkpoints.pickle-weights", "error",
                      "Weights only in pickle form cannot be verified (they are never unpickled); publish safetensors.")
PICKLE_READ = Rule("checkpoints.pickle-weights-read", "warning",
                   "Weights in pickle form were read only with torch.load(weights_only=True), after a static scan "
                   "of what the pickle imports; safetensors need no unpickling at all: publish them too.")
DCP_INVALID = Rule("checkpoints.dcp-invalid", "error",
                   "A PyTorch Distributed Checkpoint must have a .metadata that names only DCP metadata classes and "
                   "items that lie inside its .distcp files: restore the files torch.distributed.checkpoint wrote.")
DCP_READ = Rule("checkpoints.dcp-read", "warning",
                "A DCP .metadata is a pickle: it was read through an allow-list of DCP metadata classes (nothing "
                "else imported or called) and its items with torch.load(weights_only=True); safetensors need no "
                "unpickling at all: publish the weights as safetensors too.")
ARCH = Rule("checkpoints.architecture-unknown", "info",
            "Tensor names and shapes were compared across checkpoints only, not against the config.")
SHARED = Rule("checkpoints.file-shared", "error",
               "Each checkpoint declares its own files: a file listed under two checkpoints is the state of at "
               "most one of them (restore the missing file, or fix the manifest with `llm360-audit init`).")
RECORDED_STEP = Rule("checkpoints.recorded-step-mismatch", "error",
                     "The step a checkpoint's own files record must be the step the manifest declares: fix the "
                     "manifest, or find out which checkpoint this really is.")
RECORDED_TOKENS = Rule("checkpoints.recorded-tokens-mismatch", "error",
                       "The tokens seen a checkpoint's own files record must equal its declared tokens.")
RECORDED_CONFLICT = Rule("checkpoints.recorded-inconsistent", "error",
                         "A training framework's own files must agree on where the run stands (Megatron-LM: the "
                         "iteration in model_optim_rng.pt, its iter_N directory, latest_checkpointed_iteration.txt): "
                         "a resume loads what they say, so find out which is wrong and fix it.")
NOT_COMPARED = Rule("checkpoints.not-compared", "warning",
                    "A comparison could not run, so the criterion rests on less evidence than it should: make the "
                    "missing input available (the message says which).")
INCONSISTENT = Rule("checkpoints.inconsistent", "error", "All checkpoints of a run must hold the same tensors.")

CHECK = CheckInfo(
    criterion="model_checkpoints",
    title="Intermediate model checkpoints",
    rationale="LLM360 releases every intermediate checkpoint, so anyone can study or resume training.",
    rules=(NONE, MISSING, NO_WEIGHTS, STEP_ORDER, TOKENS, HEADER, TENSOR_MISSING, TENSOR_UNEXPECTED,
             TENSOR_SHAPE, TENSOR_DTYPE, INDEX, REVISION, NOT_LOCAL, REMOTE, PICKLE, PICKLE_WEIGHTS, PICKLE_READ, DCP_INVALID, DCP_READ, ARCH,
           INCONSISTENT, SHARED, RECORDED_STEP, RECORDED_TOKENS, RECORDED_CONFLICT, NOT_COMPARED, *FILE.values(), *CONTENT.values()),
)
