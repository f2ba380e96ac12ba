"""``python -m audit`` and the ``llm360-audit`` command: the signal handlers first, then the CLI (so an
interrupt during the CLI's own imports is handled like any other)."""

import sys

from audit import interrupts

EXIT_INTERRUPTED = 130


def run() -> None:
    if sys.argv[1:] in (["--version"], ["--help"], ["-h"]):  # answered without importing the CLI framework
        from audit import __version__
        from audit.help_text import TEXT

        sys.stdout.write(f"llm360-audit {__version__}\n" if sys.argv[1] == "--version" else TEXT)
        sys.stdout.flush()
        return
    interrupts.install()
    try:
        from audit.cli import main
    except KeyboardInterrupt:
        interrupts.say("llm360-audit: interrupted")
        interrupts.exit_interrupted(EXIT_INTERRUPTED)
    main()


if __name__ == "__main__":
    run()
