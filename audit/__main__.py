"""``python -m audit`` and the ``llm360-audit`` command: the signal handlers first, then the CLI (so an
interrupt during the CLI's own imports is handled like any other)."""

from audit import interrupts

EXIT_INTERRUPTED = 130


def run() -> None:
    interrupts.install()
    try:
        from audit.cli import main
    except KeyboardInterrupt:
        interrupts.say("llm360-audit: interrupted")
        interrupts.exit_interrupted(EXIT_INTERRUPTED)
    main()


if __name__ == "__main__":
    run()
