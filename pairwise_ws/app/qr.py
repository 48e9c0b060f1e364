"""QR codes for the join link, with segno (a well-kept encoder, not our own)."""

from __future__ import annotations

import functools
import io

import segno


@functools.lru_cache(maxsize=64)
def svg(url: str) -> bytes:
    """A QR code for `url` as SVG, dark on white so it scans in dark mode too.

    Cached: every dashboard and projector load asks for the same few codes.
    """
    out = io.BytesIO()
    segno.make(url, error="m").save(
        out,
        kind="svg",
        scale=8,
        border=2,
        dark="#111111",
        light="#ffffff",
        xmldecl=False,
        title="Scan to join",
    )
    return out.getvalue()


def terminal(url: str) -> str:
    """A QR code for `url` in Unicode half blocks, for a terminal."""
    out = io.StringIO()
    segno.make(url, error="m").terminal(out=out, compact=True, border=2)
    return out.getvalue().rstrip("\n")
