"""Held-out evaluations per round: single passage, multi-passage, and forgetting as a heatmap.

Single passage: each held-out passage alone, answered with no adaptation, after training
on the passage itself, and after training on the policy's self-edit. Multi-passage: one
LoRA on the self-edits of N passages together, then all their questions. Forgetting: the
self-edits of k passages applied in turn (each merged); row i is the model after i edits,
column j the j-th passage edited in; the row mean is what the model still knows.
"""

from __future__ import annotations

from rich.color import Color
from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Static

from ..imported import is_imported, not_in_file
from ..state import ForgettingEval, RoundEval, RunState

CONDITIONS = ("none", "passage", "self_edit")   # named by the run's task labels (RunState.labels)
TEACHER_LABEL = "teacher self-edits"            # a run's labels may name the teacher ("GPT-4.1 self-edits")


def _conditions(labels: dict[str, str], multi: bool = False, teacher: bool = False) -> tuple[tuple[str, str], ...]:
    """Each column's (key, label); the teacher's column only where a round measured it."""
    out = tuple((k, labels.get("multi" if multi and k == "passage" else k, k)) for k in CONDITIONS)
    return out + ((("teacher", labels.get("teacher", TEACHER_LABEL)),) if teacher else ())
# the heatmap's scale, 0 -> 1: dark red, amber, green
HEAT_STOPS = ((0.0, (128, 24, 24)), (0.5, (196, 150, 32)), (1.0, (38, 150, 70)))
DIM = Style(dim=True)
BOLD = Style(bold=True)


def pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def heat_color(value: float) -> tuple[int, int, int]:
    value = min(1.0, max(0.0, value))
    for (x0, c0), (x1, c1) in zip(HEAT_STOPS, HEAT_STOPS[1:]):
        if value <= x1:
            t = (value - x0) / (x1 - x0)
            return tuple(round(a + (b - a) * t) for a, b in zip(c0, c1))
    return HEAT_STOPS[-1][1]


def heat_style(value: float) -> Style:
    r, g, b = heat_color(value)
    light = 0.299 * r + 0.587 * g + 0.114 * b > 140
    return Style(bgcolor=Color.from_rgb(r, g, b), color="black" if light else "white")


# ---------------------------------------------------------------------- the two tables
def _table(rows: list[tuple[str, tuple[float | None, ...]]], conditions, first: str = "round") -> Text:
    """One row per (label, values): a round ("R1") or a re-scored policy."""
    widths = [max(15, len(label) + 2) for _, label in conditions]   # a long label keeps a gap before it
    label_w = max(7, *(len(label) + 2 for label, _ in rows)) if rows else 7
    out = Text()
    out.append(f"{first:<{label_w}}", DIM)
    for (_, label), w in zip(conditions, widths):
        out.append(f"{label:>{w}}", DIM)
    for label, values in rows:
        out.append(f"\n{label:<{label_w}}", BOLD)
        for value, w in zip(values, widths):
            out.append(f"{pct(value):>{w}}")
    return out


def single_passage_text(evals: dict[int, RoundEval], labels: dict[str, str], task: str = "knowledge",
                        absent: str | None = None) -> Text:
    """``absent``: what to say where a run that will record nothing more has no evaluation (None: a
    live run's words)."""
    conditions = _conditions(labels, teacher=any(ev.teacher is not None for ev in evals.values()))
    fewshot = task == "fewshot"
    out = Text(f"Held-out {labels.get('context', 'task')}s" if fewshot else "Single passage", style="bold")
    rows = [(r, tuple(getattr(ev, k) for k, _ in conditions)) for r, ev in sorted(evals.items())]
    rows = [(r, values) for r, values in rows if any(v is not None for v in values)]
    if not rows and absent:
        out.append(f"  {absent}", DIM)
        return out
    if not evals:
        out.append("  no held-out evaluation yet: the engine evaluates after round 0 and after each round",
                   DIM)
        return out
    if not rows:
        out.append("  not recorded in this run", DIM)
        return out
    last = evals[rows[-1][0]]
    if fewshot:   # a task counts once (solved when every test output is); the plans' rate is over tasks x plans
        out.append(f"  {last.n_contexts} {labels.get('context', 'task')}s · success rate, each task alone", DIM)
    else:
        out.append(f"  {last.n_contexts} passages · {last.n_questions} questions · each passage alone", DIM)
    out.append("\n")
    out.append_text(_table([(f"R{r}", values) for r, values in rows], conditions))
    return out


def rescored_text(rows: list[RoundEval], labels: dict[str, str]) -> Text:
    """Policies scored on this run's held-out set after it (``seal-engine eval``), one row each."""
    out = Text("Re-scored policies", style="bold")
    out.append("  seal-engine eval: the run's held-out set, every condition; not the run's rounds", DIM)
    conditions = _conditions(labels, teacher=any(r.teacher is not None for r in rows))
    out.append("\n")
    out.append_text(_table([(r.label, tuple(getattr(r, k) for k, _ in conditions)) for r in rows], conditions,
                           first="policy"))
    return out


def multi_passage_text(evals: dict[int, RoundEval], labels: dict[str, str], absent: str | None = None) -> Text:
    out = Text("Multi-passage", style="bold")
    runs = {r: ev.multi_passage for r, ev in sorted(evals.items()) if ev.multi_passage is not None}
    if not runs:
        out.append(f"  {absent or 'not run: set eval.multi_passage = N to enable'}", DIM)
        return out
    conditions = _conditions(labels, multi=True, teacher=any(mp.teacher is not None for mp in runs.values()))
    last = runs[max(runs)]
    out.append(f"  {last.n_passages} passages · {last.n_questions} questions · one LoRA on all of them", DIM)
    out.append("\n")
    out.append_text(_table([(f"R{r}", tuple(getattr(mp, k) for k, _ in conditions)) for r, mp in runs.items()],
                           conditions))
    if last.per_title_covers is not None:   # the file keyed its per-title numbers by title
        out.append(f"\nper title: {len(last.per_title)} titles cover {last.per_title_covers} of {last.n_questions} "
                   "questions: passages sharing a title overwrote each other in the file", DIM)
        out.append("\nevery question's answer is kept: seal-tui export RUN --what answers", DIM)
    return out


# ---------------------------------------------------------------------- the heatmap
def _cell(mean: float | None, std: float | None, width: int, with_std: bool) -> Text:
    if mean is None:
        return Text("·".center(width), DIM)
    text = f"{mean * 100:.0f}"
    if with_std and std is not None:
        text += f"±{std * 100:.0f}"
    return Text(text.center(width), heat_style(mean))


def forgetting_text(fg: ForgettingEval | None, rnd: int | None, width: int,
                    rounds: list[int] | None = None, absent: str | None = None) -> Text:
    """The matrix of round ``rnd`` as coloured cells (percent of the passage's questions right,
    ± the std over sequences when it fits), each row with its mean, then a colour key."""
    out = Text("Forgetting", style="bold")
    if fg is None:
        out.append(f"  {absent or 'not run: set eval.forgetting_k = k to enable'}", DIM)
        return out
    k = fg.k
    if fg.std_note and fg.std is not None:   # an imported file says what its std is over
        seqs = f" · mean over {fg.sequences} sequences ± {fg.std_note}" if fg.sequences else f" · ± {fg.std_note}"
    else:
        seqs = f" · mean ± std over {fg.sequences} sequences" if fg.sequences else ""
    out.append(f"  R{rnd} · {k} self-edits merged in turn{seqs}", DIM)
    label_w, mean_w = 13, 9
    with_std = fg.std is not None and (fg.sequences or 0) > 1
    cell_w = 8 if with_std else 6          # "100±50" and a space each side
    if label_w + k * cell_w + mean_w > width and with_std:
        with_std, cell_w = False, 6
    if label_w + k * cell_w + mean_w > width:
        cell_w = 4                          # "100" and a space; headers "p1".."p99"
    header = "passage {}"
    if label_w + k * max(cell_w, len(header.format(k)) + 2) + mean_w <= width:
        cell_w = max(cell_w, len(header.format(k)) + 2)
    else:
        header = "p{}"
    out.append("\n" + " " * label_w, DIM)
    for j in range(k):
        out.append(header.format(j + 1).center(cell_w), DIM)
    out.append("row mean".rjust(mean_w), DIM)
    for i, row in enumerate(fg.mean):
        label = "before edits" if i == 0 else f"after edit {i}"
        out.append(f"\n{label:<{label_w}}", BOLD if i in (0, k) else Style())
        for j, mean in enumerate(row):
            std = fg.std[i][j] if fg.std is not None else None
            out.append_text(_cell(mean, std, cell_w, with_std))
        row_mean = fg.row_mean[i]
        out.append(" ")
        out.append_text(_cell(row_mean, None, mean_w - 1, False))
    first_edited, first_last = fg.mean[1][0] if k >= 1 else None, fg.mean[k][0]
    if first_edited is not None and first_last is not None and k > 1:
        change = (first_last - first_edited) * 100
        out.append(f"\npassage 1: {first_edited * 100:.0f}% right after its edit, {first_last * 100:.0f}% "
                   f"after all {k} ({change:+.0f} pts)", DIM)
    out.append("\n0% ", DIM)
    for step in range(11):
        out.append(" ", heat_style(step / 10))
    out.append(" 100%", DIM)
    out.append("  · not edited in yet", DIM)
    if rounds and len(rounds) > 1:
        out.append("  ← → rounds " + " ".join(f"R{r}" for r in rounds), DIM)
    return out


def forgetting_rounds(state: RunState) -> list[int]:
    return [r for r, ev in sorted(state.round_evals.items()) if ev.forgetting is not None]


def eval_text(state: RunState, forgetting_round: int | None, width: int) -> Text:
    """Everything the pane shows; ``forgetting_round`` None: the latest round that has a matrix."""
    evals = state.round_evals
    absent = not_in_file(state.config) if is_imported(state) else None   # a file will hold no more
    labels = state.labels
    teacher = (state.config.get("eval") or {}).get("teacher")
    if teacher and "teacher" not in labels:   # an engine run's teacher (eval.teacher) by its model's name
        labels = {**labels, "teacher": f"{teacher} self-edits"}
    out = Text(no_wrap=True, overflow="ellipsis")
    out.append_text(single_passage_text(evals, labels, state.task, absent))
    if state.policy_evals:
        out.append("\n\n")
        out.append_text(rescored_text(state.policy_evals, labels))
    if state.task == "fewshot":   # multi-passage and forgetting are knowledge incorporation's evaluations
        return out
    out.append("\n\n")
    out.append_text(multi_passage_text(evals, state.labels, absent))
    out.append("\n\n")
    rounds = forgetting_rounds(state)
    rnd = forgetting_round if forgetting_round in rounds else (rounds[-1] if rounds else None)
    out.append_text(forgetting_text(evals[rnd].forgetting if rnd is not None else None, rnd, width, rounds, absent))
    return out


class EvalView(VerticalScroll):
    """The pane's body; ← → pick the round whose forgetting matrix is shown."""

    BINDINGS = [
        Binding("left", "forgetting_round(-1)", "Earlier round", show=False, id="evals.round_back",
                tooltip="Show the forgetting matrix of the round before"),
        Binding("right", "forgetting_round(1)", "Later round", show=False, id="evals.round_next",
                tooltip="Show the forgetting matrix of the round after"),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.state: RunState | None = None
        self.forgetting_round: int | None = None      # None: follow the latest

    def compose(self) -> ComposeResult:
        yield Static(id="evals")

    def on_resize(self) -> None:
        self._draw()

    def show(self, state: RunState) -> None:
        self.state = state
        self._draw()

    def action_forgetting_round(self, step: int) -> None:
        rounds = forgetting_rounds(self.state) if self.state is not None else []
        if not rounds:
            return
        current = self.forgetting_round if self.forgetting_round in rounds else rounds[-1]
        index = max(0, min(len(rounds) - 1, rounds.index(current) + step))
        self.forgetting_round = None if index == len(rounds) - 1 else rounds[index]
        self._draw()

    def _draw(self) -> None:
        if self.state is None:
            return
        width = self.scrollable_content_region.width or self.size.width or 80
        self.query_one("#evals", Static).update(eval_text(self.state, self.forgetting_round, width - 1))
