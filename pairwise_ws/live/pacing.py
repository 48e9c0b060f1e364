"""When a room's next flush may run: plain logic, from what the last one cost.

A flush hands every member's queued frames to the kernel, one write each.
When those writes are costly (thousands of members) the next flush waits
`FLUSH_SPACING` times as long as the last one took, at most
`MAX_FLUSH_DELAY_S`: frames queued meanwhile share its writes, so the writes
never take more than a quarter of the room's time. A quiet or small room
flushes at once.
"""

from __future__ import annotations

import math

import attrs

FLUSH_SPACING = 3.0  # a flush that took t puts the next off by 3t (see the docstring)
MAX_FLUSH_DELAY_S = 0.05  # and never by more than this


@attrs.define
class FlushPacer:
    """When a room's next flush may run, from what its last one cost (plain logic)."""

    spacing: float = FLUSH_SPACING
    max_delay: float = MAX_FLUSH_DELAY_S
    not_before: float = -math.inf

    def due(self, now: float) -> bool:
        return now >= self.not_before

    def flushed(self, now: float, took: float) -> None:
        """A flush that took `took` seconds ended at `now`."""
        self.not_before = now + min(self.spacing * took, self.max_delay)
