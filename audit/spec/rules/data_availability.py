"""Rules of the data_availability criterion: ids, severities, remediations; the check that reports them is audit.checks.data_availability."""

from __future__ import annotations

from audit.spec.rules.registry import CheckInfo, Rule, content_rules, file_rules

FILE = file_rules("data")
CONTENT = content_rules("data")
NOT_RELEASED = Rule("data.not-released", "error", "Publish the training data (or rebuild scripts) and list its chunks.")
REMOTE = Rule("data.remote-not-fetched", "warning",
              "The data is published in another repository: audit with `--resolve-local PATH` pointing at a clone "
              "of it to recount the chunks.")
MALFORMED = Rule("data.malformed-line", "error", "Every line must be a JSON object with a list of integer token ids.")
SEQUENCES = Rule("data.sequence-count-mismatch", "error", "Run `llm360-audit init` or restore the published chunk.")
TOKENS = Rule("data.token-count-mismatch", "error", "Declared token counts must equal the tokens in the chunk.")
LENGTH = Rule("data.sequence-length", "error", "Every sequence must hold data.format.tokens_per_sequence token ids.")
VOCAB = Rule("data.token-out-of-vocab", "error", "Every token id must be below the model's vocab_size.")
SOURCES = Rule("data.sources-mismatch", "error", "Declared tokens per source must equal those counted in the chunk.")
MALFORMED_FILE = Rule("data.malformed-file", "error",
                      "Publish each chunk as a valid file of data.format.kind: npy-tokens an integer .npy array "
                      "(2-D, or 1-D in whole tokens_per_sequence), megatron-indexed a .bin with its consistent .idx, "
                      "parquet-tokens a list<integer> token column, litdata-tokens a chunk as its index.json describes it.")  # fmt: skip
INDEX = Rule("data.index-undeclared", "error",
             "Declare a megatron-indexed chunk's .idx (the .bin path ending in .idx), a litdata-tokens chunk's "
             "index.json, as chunk.index; `llm360-audit init` does.")  # fmt: skip
READER = Rule("data.reader-missing", "error",
              "Install the reader of data.format.kind: pip install 'llm360-audit[parquet]' for parquet-tokens.")

CHECK = CheckInfo(
    criterion="data_availability",
    title="The training data itself",
    rationale="Data claims are checkable only against the data: every chunk is opened and recounted.",
    rules=(NOT_RELEASED, REMOTE, MALFORMED, SEQUENCES, TOKENS, LENGTH, VOCAB, SOURCES, *FILE.values(), *CONTENT.values(),
             MALFORMED_FILE, INDEX, READER),
)
