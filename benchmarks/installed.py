"""What every benchmark runs first: the tool as a user has it installed, and the command that starts it.

``pip install`` byte-compiles a package; an editable install does not, and where PYTHONDONTWRITEBYTECODE is
set (as on the project's build machines) every CLI start then compiles all ~125 of the tool's modules from
source again — about 0.7 s of CPU that no installed copy pays, and that a benchmark would wrongly count.
"""

from __future__ import annotations

import compileall
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "audit"


def as_installed() -> None:
    """Byte-compile the tool's package once (what ``pip install`` does), so each timed start loads bytecode."""
    if not compileall.compile_dir(str(PACKAGE), quiet=1, workers=1):
        raise SystemExit(f"byte-compiling {PACKAGE} failed")


def tool_command(*args: str) -> list[str]:
    """The console script next to this interpreter (python -m audit where there is none), with ``args``."""
    exe = Path(sys.executable).with_name("llm360-audit")
    return ([str(exe)] if exe.exists() else [sys.executable, "-m", "audit"]) + list(args)
