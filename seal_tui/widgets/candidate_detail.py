"""One candidate in full: passage, self-edit, training sequences, each question's answers."""

from __future__ import annotations

from rich.console import Group
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from ..format import answer_runs, num, runs_note, signed
from ..imported import is_imported, not_in_file
from ..state import Candidate, RunState
from . import arc_evidence


def _section(title: str) -> Text:
    return Text(f"\n{title}", style="bold underline")


def _mark(ok: bool) -> Text:
    return Text("✓" if ok else "✗", style="bold green" if ok else "bold red")


def _answer(i: int, a: dict) -> Text:
    """One question: the question, the gold answer, the answer before and after adaptation."""
    cb, ca = bool(a.get("correct_before")), bool(a.get("correct_after"))
    out = Text()
    out.append(f"{i:>2}. ", style="dim")
    out.append(str(a.get("question", "")), style="bold")
    out.append("\n    gold    ", style="dim")
    out.append(str(a.get("gold", "")))
    out.append("\n    before  ", style="dim")
    out.append_text(_mark(cb))
    out.append(" " + (str(a.get("answer_before", "")) or "(empty)"), style="" if a.get("answer_before") else "dim")
    out.append("\n    after   ", style="dim")
    out.append_text(_mark(ca))
    out.append(" " + (str(a.get("answer_after", "")) or "(empty)"), style="" if a.get("answer_after") else "dim")
    if ca and not cb:
        out.append("  learned", style="green")
    elif cb and not ca:
        out.append("  forgotten", style="red")
    if a.get("reason"):
        out.append(f"  ({a['reason']})", style="dim")
    return out


def _questions(cand: Candidate, context: dict | None) -> list:
    """Each question's answers before and after adaptation (before scoring: the questions)."""
    parts: list = []
    if cand.answers:
        for which, answers in answer_runs(cand.answers):
            right = sum(1 for a in answers if a.get("correct_after"))
            before = sum(1 for a in answers if a.get("correct_before"))
            parts.append(_section(f"Questions{which} ({before}/{len(answers)} before → {right}/{len(answers)} after)"))
            for i, a in enumerate(answers, 1):
                parts.append(_answer(i, a))
    elif cand.reward is not None:   # scored, but its answers were not kept (an imported rank_iter1)
        parts.append(Text("\nNo per-question answers recorded for this self-edit: its reward only.", style="dim"))
    elif context is not None and context.get("questions"):
        parts.append(_section(f"Questions ({len(context['questions'])}, answers after scoring)"))
        qs = Text()
        for i, q in enumerate(context["questions"], 1):
            qs.append(f"{i:>2}. {q.get('question', '')}  ", style="")
            qs.append(f"gold: {q.get('answer', '')}\n", style="dim")
        qs.rstrip()
        parts.append(qs)
    return parts


def render_candidate(cand: Candidate, context: dict | None, *, color: bool = True, unscored: str | None = None) -> Group:
    """``color``: ARC grids as coloured cells (else digits); ``unscored``: what to say of a candidate
    with no reward in a run that will record nothing more (None: a live run's words)."""
    fewshot = arc_evidence.is_fewshot(context, cand.answers, cand.summary, cand.invalid)
    head = Text()
    head.append(f"Round {cand.round} · context {cand.context_idx} · candidate {cand.cand_idx}", style="bold")
    title = cand.title or (context or {}).get("title") or ""
    if title:
        head.append(f"  “{title}”", style="italic")
    scores = Text()
    if cand.reward is None:
        scores.append(unscored or "not scored yet (inner loop pending)", style="dim")
    else:
        scores.append("reward ", style="dim")
        scores.append(num(cand.reward), style="bold")
        scores.append(runs_note(cand.rewards), style="dim")
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

    if fewshot:
        parts += [_section("Plan"), arc_evidence.plan_text(cand.summary, cand.facets, cand.invalid)]
        parts += arc_evidence.demonstrations(context, color=color)
        parts += (arc_evidence.answer_sections(cand.answers, color=color, invalid=cand.invalid) if cand.answers
                  else arc_evidence.task_tests(context, color=color))
    elif context is not None:
        parts += [_section("Passage"), Text(context.get("context") or "")]
    parts += [_section("Self-edit"), Text(cand.self_edit or "(empty)")]
    if cand.trained_text is not None:
        parts += [_section("The M-step trained on this edit"), Text(cand.trained_text, style="magenta")]
    elif cand.trained:
        parts.append(Text("The M-step trained on this self-edit as written.", style="green"))
    if cand.train_sequences:
        parts.append(_section("Test-time training data (its size, the first examples)" if fewshot
                              else f"Training sequences ({len(cand.train_sequences)})"))
        seqs = Text()
        for i, seq in enumerate(cand.train_sequences, 1):
            seqs.append(f"{i:>2}. ", style="dim")
            seqs.append(seq.strip() + "\n")
        seqs.rstrip()
        parts.append(seqs)
    if cand.dropped:
        parts.append(Text(f"{cand.dropped} training example{'s' * (cand.dropped != 1)} left out whole: longer "
                          "than model.max_seq_len", style="yellow"))
    if not fewshot:
        parts += _questions(cand, context)
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
            render_candidate(cand, state.context(cand.context_idx, "train"), color=not self.app.no_color,
                             unscored=f"no reward: {not_in_file(state.config)}" if is_imported(state) else None))
