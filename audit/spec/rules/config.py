"""Rules of the config criterion: ids, severities, remediations; the check that reports them is audit.checks.config."""

from __future__ import annotations

from audit.spec.rules.registry import CheckInfo, Rule

NOT_RELEASED = Rule("config.not-released", "error",
                    "Declare the model config (config.model) and the training hyperparameters (config.training).")
MODEL_INVALID = Rule("config.model-config-invalid", "error", "config.model must be a Hugging Face config.json object.")
NO_FILE = Rule("config.no-training-config", "warning",
               "Name the training config file at the commit (code.training_config) so the hyperparameters can be verified.")
UNREADABLE = Rule("config.training-config-invalid", "error", "The training config at the commit must be a YAML or JSON mapping.")
MISMATCH = Rule("config.hyperparameter-mismatch", "error",
                "The manifest and the training config at the pinned commit must agree; fix whichever is wrong.")
UNDOCUMENTED = Rule("config.hyperparameter-undocumented", "warning",
                    "Every hyperparameter in the manifest should appear in the training config at the commit.")
MODEL_MISMATCH = Rule("config.model-config-mismatch", "error",
                      "The model config in the release must equal code.model_config at the pinned commit.")
CKPT_MISMATCH = Rule("config.checkpoint-config-mismatch", "error",
                     "Every checkpoint's config.json must equal the release's model config.")
RECORDED_MISMATCH = Rule("config.recorded-mismatch", "error",
                         "config.training must say what the checkpoints were trained with, as their own files record "
                         "it (the Trainer's training_args.bin, the reference trainer's training_state.json): fix the "
                         "manifest, or find out why the checkpoints were trained with other hyperparameters.")
RECORDED_UNREADABLE = Rule("config.recorded-unreadable", "warning",
                           "A checkpoint file that records the hyperparameters (training_args.bin: the "
                           "TrainingArguments transformers' Trainer saves) should be readable.")
NOT_COMPARED = Rule("config.not-compared", "warning",
                    "A comparison could not run, so the hyperparameters rest on less evidence than they should: make "
                    "the missing input available (the message says which).")

CHECK = CheckInfo(
    criterion="config",
    title="Configuration and hyperparameters",
    rationale="Hyperparameters are only evidence if they are the ones in the code that trained the model.",
    rules=(NOT_RELEASED, MODEL_INVALID, NO_FILE, UNREADABLE, MISMATCH, UNDOCUMENTED, MODEL_MISMATCH, CKPT_MISMATCH,
             RECORDED_MISMATCH, RECORDED_UNREADABLE, NOT_COMPARED),
)
