"""One stable colour per run, the same on the runs screen and in Compare.

A run's colour comes from its id (so it keeps it from one compare to the next);
when two runs of a selection would share one, the later id takes the next free.
"""

from __future__ import annotations

import zlib

# distinct on dark and light themes; hex for Rich, RGB for plotext
PALETTE = ("#4e9fe6", "#f28e2b", "#59c26a", "#e15759", "#b07aa1", "#edc948", "#76b7b2", "#ff9da7")


def run_colors(run_ids) -> dict[str, str]:
    """run id -> hex colour, all different for up to len(PALETTE) runs."""
    taken: set[int] = set()
    out: dict[str, str] = {}
    for run_id in sorted(set(run_ids)):
        i = zlib.crc32(run_id.encode()) % len(PALETTE)
        for step in range(len(PALETTE)):
            if (i + step) % len(PALETTE) not in taken:
                i = (i + step) % len(PALETTE)
                break
        taken.add(i)
        out[run_id] = PALETTE[i]
    return out


def rgb(color: str) -> tuple[int, int, int]:
    """'#rrggbb' -> (r, g, b), as plotext takes colours."""
    color = color.lstrip("#")
    return int(color[0:2], 16), int(color[2:4], 16), int(color[4:6], 16)
