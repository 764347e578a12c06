"""One candidate in full: passage, self-edit, training sequences, each question's answers."""

from __future__ import annotations

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from ..format import num, signed
from ..state import Candidate, RunState


def _section(title: str) -> Text:
    return Text(f"\n{title}", style="bold underline")


def render_candidate(cand: Candidate, context: dict | None) -> Group:
    head = Text()
    head.append(f"Round {cand.round} · context {cand.context_idx} · candidate {cand.cand_idx}", style="bold")
    title = cand.title or (context or {}).get("title") or ""
    if title:
        head.append(f"  “{title}”", style="italic")
    scores = Text()
    if cand.reward is None:
        scores.append("not scored yet (inner loop pending)", style="dim")
    else:
        scores.append("reward ", style="dim")
        scores.append(num(cand.reward), style="bold")
        scores.append("  baseline ", style="dim")
        scores.append(num(cand.baseline))
        scores.append("  gain ", style="dim")
        scores.append(signed(cand.gain), style="green" if (cand.gain or 0) > 0 else "red" if (cand.gain or 0) < 0 else "")
    if cand.kept is not None:
        scores.append("  kept" if cand.kept else "  dropped", style="bold green" if cand.kept else "dim")
        if cand.keep_reason:
            scores.append(f" ({cand.keep_reason})", style="dim")
    if cand.review:
        scores.append(f"  review: {cand.review}", style="magenta")
    parts: list = [head, scores]

    if context is not None:
        parts += [_section("Passage"), Text(context.get("context") or "")]
    parts += [_section("Self-edit"), Text(cand.self_edit or "(empty)")]
    if cand.train_sequences:
        parts.append(_section(f"Training sequences ({len(cand.train_sequences)})"))
        seqs = Text()
        for i, seq in enumerate(cand.train_sequences, 1):
            seqs.append(f"{i:>2}. ", style="dim")
            seqs.append(seq.strip() + "\n")
        seqs.rstrip()
        parts.append(seqs)
    if cand.answers:
        right = sum(1 for a in cand.answers if a.get("correct_after"))
        before = sum(1 for a in cand.answers if a.get("correct_before"))
        parts.append(_section(f"Questions ({before}/{len(cand.answers)} before → {right}/{len(cand.answers)} after)"))
        table = Table(box=box.SIMPLE_HEAD, expand=True, show_edge=False, pad_edge=False)
        table.add_column("#", justify="right", style="dim", no_wrap=True)
        table.add_column("Question", ratio=3)
        table.add_column("Gold", ratio=2)
        table.add_column("Before", ratio=2)
        table.add_column("After", ratio=2)
        table.add_column("", no_wrap=True)
        for i, a in enumerate(cand.answers, 1):
            cb, ca = bool(a.get("correct_before")), bool(a.get("correct_after"))
            verdict = Text("✓" if ca else "✗", style="bold green" if ca else "bold red")
            if ca and not cb:
                verdict.append(" +", style="green")
            elif cb and not ca:
                verdict.append(" −", style="red")
            table.add_row(str(i), a.get("question", ""), a.get("gold", ""),
                          Text(str(a.get("answer_before", "")), style="green" if cb else ""),
                          Text(str(a.get("answer_after", "")), style="green" if ca else ""),
                          verdict)
        parts.append(table)
    elif context is not None and context.get("questions"):
        parts.append(_section(f"Questions ({len(context['questions'])}, answers after scoring)"))
        qs = Text()
        for i, q in enumerate(context["questions"], 1):
            qs.append(f"{i:>2}. {q.get('question', '')}  ", style="")
            qs.append(f"gold: {q.get('answer', '')}\n", style="dim")
        qs.rstrip()
        parts.append(qs)
    return Group(*parts)


class CandidateDetail(VerticalScroll):
    """The selected candidate, scrollable."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.candidate_id: int | None = None
        self._shown_rev = -1

    def compose(self):
        yield Static(Text("Select a candidate in the table (↑/↓, Enter).", style="dim"), id="detail-body")

    def show(self, state: RunState, candidate_id: int | None) -> None:
        cand = state.candidates.get(candidate_id) if candidate_id is not None else None
        if cand is None:
            return
        if candidate_id == self.candidate_id and cand.rev == self._shown_rev:
            return
        if candidate_id != self.candidate_id:
            self.scroll_home(animate=False)
        self.candidate_id, self._shown_rev = candidate_id, cand.rev
        self.query_one("#detail-body", Static).update(
            render_candidate(cand, state.context(cand.context_idx, "train")))
