"""Rewards per ReSTEM round: a histogram, a box and the mean, so improvement shows."""

from __future__ import annotations

from statistics import fmean

from rich.text import Text
from textual.widgets import Static

from ..format import signed, sparkline
from ..state import RunState

BINS = 10


def histogram(values: list[float], bins: int = BINS) -> list[int]:
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, max(0, int(v * bins)))] += 1
    return counts


def quantile(sorted_vals: list[float], q: float) -> float:
    if not sorted_vals:
        return 0.0
    pos = q * (len(sorted_vals) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(sorted_vals) - 1)
    return sorted_vals[lo] + (sorted_vals[hi] - sorted_vals[lo]) * (pos - lo)


def box_line(values: list[float], width: int, mean: float) -> Text:
    """min ├──[══│══]──┤ max on a 0..1 axis; the mean's column is highlighted."""
    width = max(10, width)
    vals = sorted(values)
    pos = lambda v: min(width - 1, max(0, round(v * (width - 1))))
    lo, q1, med, q3, hi = (pos(quantile(vals, q)) for q in (0, 0.25, 0.5, 0.75, 1))
    chars = [" "] * width
    for i in range(lo, hi + 1):
        chars[i] = "─"
    for i in range(q1, q3 + 1):
        chars[i] = "═"
    chars[lo], chars[hi] = "├", "┤"
    if q3 > q1:
        chars[q1], chars[q3] = "[", "]"
    chars[med] = "│"
    line = Text("".join(chars), style="cyan")
    line.stylize("bold yellow", pos(mean), pos(mean) + 1)
    return line


class RewardsPane(Static):
    """One block per round: n, mean (vs baseline), kept, histogram and box of rewards."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._state: RunState | None = None
        self._lines = 0

    def show(self, state: RunState) -> None:
        self._state = state
        lines = 2 + 3 * len(state.rewards)
        self.refresh(layout=lines != self._lines)   # a new round adds lines; a new score does not
        self._lines = lines

    def render(self) -> Text:
        s = self._state
        if s is None or not s.rewards:
            return Text("No scored candidates yet: rewards appear as the inner loop scores self-edits.",
                        style="dim")
        width = max(20, self.size.width or 40)
        out = Text()
        means = {r: fmean(v) for r, v in sorted(s.rewards.items()) if v}
        trend = " → ".join(f"{m:.2f}" for m in means.values())
        out.append("mean ", style="bold")
        out.append(trend)
        rounds = list(means)
        if len(rounds) >= 2:
            delta = round(means[rounds[-1]] - means[rounds[0]], 2)   # coloured as shown
            out.append(f"  ({signed(delta)})", style="green" if delta > 0 else "red" if delta < 0 else "dim")
        out.append("\n")
        for rnd in sorted(s.rewards, reverse=True):
            vals = s.rewards[rnd]
            if not vals:
                continue
            mean = fmean(vals)
            base = s.baselines.get(rnd)
            out.append(f"\nR{rnd}", style="bold")
            out.append(f" n={len(vals)} mean ")
            out.append(f"{mean:.2f}", style="bold yellow")
            if base:
                out.append(f" base {fmean(base):.2f}", style="dim")
            if rnd in s.kept_count:
                out.append(f" kept {s.kept_count[rnd]}", style="green")
            out.append("\n")
            out.append(" ")
            out.append(sparkline(histogram(vals), BINS, lo=0), style="magenta")
            out.append("  0 ", style="dim")
            out.append_text(box_line(vals, width - BINS - 7, mean))
            out.append(" 1", style="dim")
        out.no_wrap = True
        out.overflow = "ellipsis"
        return out
