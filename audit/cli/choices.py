"""The CLI's closed sets of values as enums (typer lists them in --help and rejects anything else)."""

from __future__ import annotations

from enum import Enum

from audit.spec.names import FAIL_ON, LEVEL_NAMES


def _choices(name: str, values: tuple[str, ...]) -> type[Enum]:
    return Enum(name, {v.replace("-", "_"): v for v in values}, type=str)  # type: ignore[return-value]


OutputFormat = _choices("OutputFormat", ("text", "json", "sarif", "github"))
FailOn = _choices("FailOn", FAIL_ON)
Level = _choices("Level", LEVEL_NAMES)


def value(choice: Enum | None) -> str | None:
    """The plain string of an enum choice (None stays None)."""
    return None if choice is None else str(choice.value)
