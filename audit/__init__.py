"""llm360-audit: check an LLM release against the LLM360 fully-open spec."""

__version__ = "0.1.0"

#: Version of the manifest and report specification (schemas/*.schema.json).
SPEC_VERSION = "1.0"
