"""Rules of the optimizer_checkpoints criterion: ids, severities, remediations; the check that reports them is audit.checks.optimizer_checkpoints."""

from __future__ import annotations

from audit.spec.rules.registry import CheckInfo, Rule, content_rules, file_rules

FILE = file_rules("optimizer")
CONTENT = content_rules("optimizer")

NOT_RELEASED = Rule("optimizer.not-released", "error",
                    "Publish the optimizer state (AdamW moments and step) with every intermediate checkpoint.")
MOMENTS = Rule("optimizer.moments-missing", "error",
               "The optimizer state must hold exp_avg and exp_avg_sq for every parameter (in safetensors: "
               "exp_avg.<param> and exp_avg_sq.<param>).")
SHAPE = Rule("optimizer.moment-shape", "error", "Optimizer moments must have the shape of their parameter.")
HEADER = Rule("optimizer.header-invalid", "error", "Re-export the optimizer state with the safetensors library.")
STATE_INVALID = Rule("optimizer.training-state-invalid", "error",
                     "The training-state JSON (training_state.json of the reference trainer, trainer_state.json "
                     "of the Hugging Face Trainer) must be a JSON object.")
STEP = Rule("optimizer.step-mismatch", "error",
            "The step counters saved with a checkpoint (optimizer, scheduler, trainer state) must equal its step.")
NOT_RESUMABLE = Rule("optimizer.not-resumable", "warning",
                     "Save the scheduler position, every RNG state (python, numpy, torch, CUDA) and the data "
                     "cursor with each checkpoint so training can be resumed exactly.")
UNDECLARED = Rule("optimizer.state-not-found", "error",
                  "The manifest declares state the checkpoint files do not hold: fix `state:` or publish it.")
FINAL = Rule("optimizer.final-missing", "info",
             "The final checkpoint has no optimizer state: training cannot be continued from it.")
PICKLE = Rule("optimizer.pickle", "warning",
              "Pickles can run code when unpickled: this one was opened only with torch.load(weights_only=True) "
              "(torch >= 2.6), which loads tensors and plain containers and nothing else; publish safetensors.")
REFUSED = Rule("optimizer.pickle-refused", "error",
               "The pickle needs more than tensors and plain containers to load (a hostile or foreign object), so "
               "it was not loaded: re-save the state with torch.save(state_dict()) or as safetensors.")
UNREADABLE = Rule("optimizer.pickle-unreadable", "error",
                  "The file is not a readable torch.save archive (truncated or corrupt): restore the published file.")
UNVERIFIABLE = Rule("optimizer.pickle-unverifiable", "error",
                    "Pickled state is opened only by torch >= 2.6's weights-only loader: install it, or publish "
                    "the state as safetensors.")
STATE_FILE = Rule("optimizer.state-file-invalid", "error",
                  "The scheduler file must hold a scheduler state_dict (last_epoch) and the RNG file the python, "
                  "numpy and torch CPU generator states, as the Hugging Face Trainer saves them.")
UNMATCHED = Rule("optimizer.moments-unmatched", "warning",
                 "The moments are Megatron's distributed-optimizer buckets (parameters end to end, padded), which "
                 "do not say which element is which parameter's: save the optimizer in a model-space sharding "
                 "(megatron-core's fully_reshardable or fully_sharded_model_space) so each moment can be checked "
                 "against its parameter.")
RULES = (PICKLE, REFUSED, UNREADABLE, UNVERIFIABLE, STATE_FILE, UNMATCHED)

CHECK = CheckInfo(
    criterion="optimizer_checkpoints",
    title="Intermediate optimizer states",
    rationale="Without optimizer, scheduler, RNG and data-cursor state, training cannot be resumed or replayed.",
    rules=(NOT_RELEASED, MOMENTS, SHAPE, HEADER, STATE_INVALID, STEP, NOT_RESUMABLE, UNDECLARED, FINAL,
             *RULES, *FILE.values(), CONTENT["pickle"]),
)
