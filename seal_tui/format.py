"""Small text helpers shared by the widgets: durations, percentages, sparklines."""

from __future__ import annotations

import time
from collections.abc import Sequence

STATUS_STYLE = {
    "created": "dim", "starting": "dim", "running": "bold green", "paused": "bold yellow",
    "awaiting_review": "bold magenta", "finished": "bold blue", "failed": "bold red",
    "stopped": "yellow", "stale": "bold dark_orange",
}
STATUS_ICON = {
    "created": "○", "starting": "○", "running": "●", "paused": "⏸", "awaiting_review": "✎",
    "finished": "✔", "failed": "✖", "stopped": "■", "stale": "?",
}
SPARK = "▁▂▃▄▅▆▇█"

# Model output can hold any byte; a terminal must never receive raw control codes.
_UNPRINTABLE = dict.fromkeys((*range(32), 127, *range(128, 160)), "�")
_UNPRINTABLE[0x0a] = "\n"
_UNPRINTABLE[0x09] = " "


def printable(text) -> str:
    """``text`` with control characters (but newlines) shown as U+FFFD."""
    return str(text if text is not None else "").translate(_UNPRINTABLE)


def status_label(status: str) -> str:
    return status.replace("_", " ")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    seconds = int(max(0, seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    if h:
        return f"{h}h{m:02d}m"
    if m:
        return f"{m}m{s:02d}s"
    return f"{s}s"


def pct(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value * 100:.{digits}f}%"


def signed(value: float | None, digits: int = 2) -> str:
    """+0.12 / -0.12; a value that rounds to zero reads +0.00, never -0.00."""
    return "" if value is None else f"{round(value, digits) + 0.0:+.{digits}f}"


def num(value: float | None, digits: int = 2) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def clock_time(ts: float | None) -> str:
    return "–" if ts is None else time.strftime("%H:%M:%S", time.localtime(ts))


def date_time(ts: float | None) -> str:
    return "–" if ts is None else time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


def mib(value_mb: float | None) -> str:
    if value_mb is None:
        return "–"
    return f"{value_mb / 1024:.1f} GB" if value_mb >= 1024 else f"{value_mb:.0f} MB"


def sparkline(values: Sequence[float], width: int, lo: float | None = None,
              hi: float | None = None) -> str:
    """The last ``width`` values as block characters, scaled to [lo, hi]."""
    if width <= 0 or not values:
        return ""
    vals = list(values)[-width:]
    lo = min(vals) if lo is None else lo
    hi = max(vals) if hi is None else hi
    span = (hi - lo) or 1.0
    top = len(SPARK) - 1
    return "".join(SPARK[max(0, min(top, round((v - lo) / span * top)))] for v in vals)


def first_line(text: str, width: int = 80) -> str:
    for line in (text or "").splitlines():
        if line.strip():
            line = line.strip()
            return line if len(line) <= width else line[: width - 1] + "…"
    return ""


def runs_note(rewards: list[float]) -> str:
    """' (mean of N inner-loop runs: a, b)' after a reward that averages several runs
    (inner.reward_repeats), else ""."""
    if len(rewards) < 2:
        return ""
    return f" (mean of {len(rewards)} inner-loop runs: " + ", ".join(num(r) for r in rewards) + ")"


def answer_runs(answers: list[dict]) -> list[tuple[str, list[dict]]]:
    """A candidate's answers split by inner-loop run (``rep``): [(label, answers)], the label
    ", inner-loop run n of N" where there were several runs, else ""."""
    runs: dict[int, list[dict]] = {}
    for a in answers:
        runs.setdefault(int(a.get("rep") or 0), []).append(a)
    return [(f", inner-loop run {n} of {len(runs)}" if len(runs) > 1 else "", group)
            for n, (_, group) in enumerate(sorted(runs.items()), 1)]
