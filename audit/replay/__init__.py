"""Replay training steps from a released checkpoint and compare with the next one, bit for bit.

torch is imported only when a segment is actually replayed.
"""

from audit.replay.options import DEFAULT_SAMPLE, ReplayOptions

__all__ = ["DEFAULT_SAMPLE", "ReplayOptions"]
