"""``llm360-audit --help`` and ``--version`` without importing the CLI framework: the top-level help as typer
renders it at 80 columns, kept here so that start-up costs what Python's own does (typer alone imports in
~0.14 s). ``python -m audit.help_text --write`` regenerates it; tests/test_cli.py fails on drift."""

from __future__ import annotations

import sys
from pathlib import Path

TEXT = """\
Usage: llm360-audit [OPTIONS] COMMAND [ARGS]...

  Audit an LLM release against the LLM360 fully-open spec.

  Usage: llm360-audit RELEASE [--out DIR] [--replay all|none|N] (the `audit`
  command is the default).

Options:
  --version  Print the version and exit.
  --help     Show this message and exit.

Commands:
  audit    Audit a release (the default command).
  init     Write or refresh RELEASE/llm360.yaml.
  merge    Combine the reports of --shard 1/N … N/N.
  rules    List the rules, or explain one.
  verify   Verify a signed audit (release.sig, report.sig) against the
           release.
  example  Build the example release.
"""


def render() -> str:
    """The top-level help as typer prints it (80 columns)."""
    import contextlib
    import io
    import os

    os.environ["COLUMNS"] = "80"
    from audit.cli import main

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        main(["--help"])
    return buf.getvalue()


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python -m audit.help_text --write")
    path = Path(__file__)
    source = path.read_text()
    head, _, rest = source.partition('TEXT = """\\\n')
    _, _, tail = rest.partition('"""\n')
    text = render()
    assert '"""' not in text and "\\" not in text
    path.write_text(f'{head}TEXT = """\\\n{text}"""\n{tail}')
    print(f"wrote {path}")
