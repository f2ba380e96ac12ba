"""Ctrl-C and SIGTERM, made deterministic.

Python raises KeyboardInterrupt wherever the main thread happens to be — in the middle of a lazy
``import torch``, say — and code that catches ``Exception`` around such a spot can see the damage as
an ordinary error (``ImportError: cannot import name '_inductor'``). So the handler also *records*
the request: the auditor turns any error seen after it into the interrupt it really is, hashing
threads stop at their next block, the replay before its next segment, and the CLI writes no report
once one was asked for.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import NoReturn

SIGNALS = (signal.SIGINT, signal.SIGTERM)
_requested = threading.Event()
_said = threading.Event()


def _handler(signum, frame) -> None:
    _requested.set()
    raise KeyboardInterrupt


def _unraisable(unraisable) -> None:
    """An interrupt raised inside a finalizer or a weakref callback (``__del__``, importlib's module-lock
    callback) cannot propagate: Python would print "Exception ignored … KeyboardInterrupt". Stay quiet —
    the request is recorded, and the next :func:`check` raises it where it can propagate."""
    if isinstance(unraisable.exc_value, KeyboardInterrupt) and _requested.is_set():
        return
    _default_unraisable(unraisable)


_default_unraisable = sys.unraisablehook


def install() -> None:
    """Handle SIGINT and SIGTERM alike (call once, in the main thread)."""
    for s in SIGNALS:
        signal.signal(s, _handler)
    sys.unraisablehook = _unraisable


def requested() -> bool:
    """Whether an interrupt was asked for (also while signals are held and one is pending)."""
    return _requested.is_set() or bool(set(signal.sigpending()) & set(SIGNALS))


def say(message: str) -> None:
    """Tell the user what the interrupt did, once: the first message (the most specific) wins."""
    if not _said.is_set():
        _said.set()
        try:
            sys.stderr.write(message + "\n")
        except (OSError, ValueError):
            pass


def exit_interrupted(code: int = 130) -> NoReturn:
    """End the process with ``code`` now. A plain ``sys.exit`` is not enough: once a KeyboardInterrupt has
    passed through some of CPython's C paths, the interpreter re-kills itself with SIGINT at exit
    (status -2 instead of 130). Nothing is left to finalize on this path: no report is written."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def check() -> None:
    """Raise KeyboardInterrupt if an interrupt was asked for."""
    if requested():
        raise KeyboardInterrupt
