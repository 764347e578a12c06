"""Rewards per ReSTEM round: a histogram, a box and the mean, so improvement shows. A few-shot
run's reward is 1 or 0 (its task solved or not): its rounds show the success rate instead, and
which augmentation switches (the self-edits' facets) the kept configs used, against all sampled."""

from __future__ import annotations

from statistics import fmean

from rich.text import Text
from textual.widgets import Static

from ..format import signed, sparkline
from ..imported import is_imported, no_self_edits
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


def success_rate(values: list[float]) -> float:
    """The share of candidates with reward 1 (their task solved)."""
    return sum(1 for v in values if v >= 1.0) / len(values) if values else 0.0


def facet_order(*counts: dict[str, int]) -> list[str]:
    """The facets of the counts: the choices (augmentation families) by name, then the tokens
    trained on ("output tokens", "all tokens")."""
    names = {f for c in counts for f in c}
    return sorted(names, key=lambda f: (f.endswith("tokens"), f))


def facet_lines(kept: dict[str, int], sampled: dict[str, int], order: list[str], width: int) -> Text:
    """Each facet: how many kept configs chose it / how many sampled ones did, wrapped to
    ``width`` under its label (the pane does not wrap: its other lines are drawn to width)."""
    out = Text()
    out.append("  kept/sampled:", style="dim")
    used = 15
    for i, facet in enumerate(order):
        item = Text()
        item.append(f"{facet} ")
        item.append(f"{kept.get(facet, 0)}", style="bold green" if kept.get(facet) else "dim")
        item.append(f"/{sampled.get(facet, 0)}", style="dim")
        sep = " · " if i else " "
        if i and used + len(sep) + item.cell_len > width:
            out.append("\n    ")
            used, sep = 4, ""
        out.append(sep, style="dim")
        out.append_text(item)
        used += len(sep) + item.cell_len
    return out


def bar(share: float, width: int) -> str:
    filled = round(share * width)
    return "█" * filled + "░" * (width - filled)


def fewshot_text(s: RunState, width: int) -> Text:
    """Per round: the success rate, the kept configs' switches and the sampled ones'."""
    out = Text()
    rates = {r: success_rate(v) for r, v in sorted(s.rewards.items()) if v}
    out.append("solved ", style="bold")
    out.append(" → ".join(f"{rate:.0%}" for rate in rates.values()))
    rounds = list(rates)
    if len(rounds) >= 2:
        delta = round((rates[rounds[-1]] - rates[rounds[0]]) * 100)
        out.append(f"  ({delta:+d} pts)", style="green" if delta > 0 else "red" if delta < 0 else "dim")
    out.append("\n")
    order = facet_order(*s.facets_sampled.values())   # every round lists the same switches, 0 where unused
    for rnd in sorted(rates, reverse=True):
        vals = s.rewards[rnd]
        solved = sum(1 for v in vals if v >= 1.0)
        out.append(f"\nR{rnd}", style="bold")
        out.append(f" solved {solved}/{len(vals)} ")
        out.append(f"{rates[rnd]:.0%} ", style="bold yellow")
        out.append(bar(rates[rnd], max(5, min(20, width - 32))), style="green")
        if rnd in s.kept_count:
            out.append(f" kept {s.kept_count[rnd]}", style="green")
        kept, sampled = s.facets_kept.get(rnd, {}), s.facets_sampled.get(rnd, {})
        if order:
            out.append("\n")
            out.append_text(facet_lines(kept, sampled, order, width))
    out.no_wrap = True
    out.overflow = "ellipsis"
    return out


class RewardsPane(Static):
    """One block per round: n, mean (vs baseline), kept, histogram and box of rewards."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._state: RunState | None = None
        self._lines = 0

    def show(self, state: RunState) -> None:
        self._state = state
        lines = 2 + 3 * len(state.rewards)
        # a new round adds lines; a new score does not (a few-shot round's switches wrap to the width)
        self.refresh(layout=lines != self._lines or state.is_fewshot)
        self._lines = lines

    def on_resize(self) -> None:
        if self._state is not None and self._state.is_fewshot:
            self.refresh(layout=True)

    def render(self) -> Text:
        s = self._state
        if s is not None and not s.rewards and is_imported(s):
            return Text(no_self_edits(s.config) + ".", style="dim")
        if s is None or not s.rewards:
            return Text("No scored candidates yet: rewards appear as the inner loop scores self-edits.",
                        style="dim")
        width = max(20, self.size.width or 40)
        if s.is_fewshot:
            return fewshot_text(s, width)
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
