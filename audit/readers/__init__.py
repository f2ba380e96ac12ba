"""Parsers of untrusted bytes (safetensors headers, pickle opcodes, weights-only torch loads, JSONL, YAML, training logs), each bounded; they import nothing of the checks."""
