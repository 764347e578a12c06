"""The evidence for one candidate: passage, self-edit, scores, each question's answers, the rule."""

from __future__ import annotations

from rich.console import Group
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from ..format import answer_runs, clock_time, num, printable, runs_note, signed
from ..review_data import ReviewSnapshot
from . import arc_evidence


def _section(title: str) -> Text:
    return Text(f"\n{title}", style="bold underline")


def _mark(ok: bool) -> Text:
    return Text("✓" if ok else "✗", style="bold green" if ok else "bold red")


def _question(i: int, a: dict) -> Text:
    out = Text()
    out.append(f"{i:>2}. ", style="dim")
    out.append(printable(a.get("question")), style="bold")
    out.append("\n    gold    ", style="dim")
    out.append(printable(a.get("gold")))
    for label, key in (("before", "before"), ("after ", "after")):
        ok = bool(a.get(f"correct_{key}"))
        out.append(f"\n    {label}  ", style="dim")
        out.append_text(_mark(ok))
        answer = printable(a.get(f"answer_{key}"))
        out.append(" " + (answer or "(empty)"), style="" if answer else "dim")
    return out


def render_evidence(snapshot: ReviewSnapshot, cand: dict, *, color: bool = True) -> Group:
    """``color``: ARC grids as coloured cells (else digits)."""
    cid = cand["id"]
    ctx = snapshot.contexts.get(cand["context_idx"]) or {}
    decision = snapshot.decisions.get(cid)
    fewshot = arc_evidence.is_fewshot(ctx, snapshot.answers.get(cid) or [], cand.get("summary") or "",
                                      cand.get("invalid"))
    head = Text()
    head.append(f"Candidate #{cid} · round {cand['round']} · context {cand['context_idx']} · "
                f"self-edit {cand['cand_idx']}", style="bold")
    title = cand.get("title") or ctx.get("title")
    if title:
        head.append(f"  “{printable(title)}”", style="italic")

    scores = Text()
    scores.append("reward ", style="dim")
    scores.append(num(cand.get("reward")), style="bold")
    runs = answer_runs(snapshot.answers.get(cid) or [])
    # inner.reward_repeats: the reward is the mean of the runs' accuracies
    scores.append(runs_note([sum(1 for a in answers if a.get("correct_after")) / len(answers) for _, answers in runs]),
                  style="dim")
    scores.append("  baseline ", style="dim")
    scores.append(num(cand.get("baseline")))
    gain = cand.get("gain") or 0
    scores.append("  gain ", style="dim")
    scores.append(signed(cand.get("gain")), style="green" if gain > 0 else "red" if gain < 0 else "")

    rule = Text()
    rule.append("kept by the filter" if cand.get("kept") else "dropped by the filter",
                style="bold green" if cand.get("kept") else "bold yellow")
    if cand.get("keep_reason"):
        rule.append(f": {cand['keep_reason']}", style="")

    verdict = Text()
    state = snapshot.state_of(cid)
    verdict.append("decision: ", style="dim")
    verdict.append(state, style={"approved": "bold green", "rejected": "bold red",
                                 "edited": "bold cyan"}.get(state, "bold magenta"))
    if decision:
        verdict.append(f" by {decision['who']} at {clock_time(decision['at'])}", style="dim")

    parts: list = [head, scores, rule, verdict]
    if fewshot:
        parts += [_section("Plan"), arc_evidence.plan_text(cand.get("summary") or "", cand.get("facets") or [],
                                                           cand.get("invalid"))]
        parts += arc_evidence.demonstrations(ctx, color=color)
        parts += arc_evidence.answer_sections(snapshot.answers.get(cid) or [], color=color,
                                              invalid=cand.get("invalid"))
    elif ctx.get("context"):
        parts += [_section("Passage"), Text(printable(ctx["context"]))]
    if decision and decision["decision"] == "edit":
        parts += [_section("Self-edit, as edited (the M-step trains on this)"),
                  Text(printable(decision["edited_text"]), style="cyan"),
                  _section("Self-edit, as the model wrote it"), Text(printable(cand.get("self_edit")), style="dim")]
    else:
        parts += [_section("Self-edit"), Text(printable(cand.get("self_edit")) or "(empty)")]
    if not fewshot:   # (a few-shot candidate's test outputs are drawn above, as grids)
        for which, answers in runs:
            before = sum(1 for a in answers if a.get("correct_before"))
            after = sum(1 for a in answers if a.get("correct_after"))
            parts.append(_section(f"Questions{which} ({before}/{len(answers)} right before adaptation → "
                                  f"{after}/{len(answers)} after)"))
            parts += [_question(i, a) for i, a in enumerate(answers, 1)]
    return Group(*parts)


class ReviewEvidence(VerticalScroll):
    """The current candidate in full, scrollable."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.shown: tuple | None = None

    def compose(self):
        yield Static(Text("Nothing to review.", style="dim"), id="review-evidence-body")

    def show(self, snapshot: ReviewSnapshot, cand: dict | None, empty: str = "Nothing to review.") -> None:
        decision = snapshot.decisions.get(cand["id"]) if cand else None
        key = (cand and cand["id"], decision and decision["id"], cand and bool(snapshot.answers.get(cand["id"])),
               None if cand else empty)
        if key == self.shown:
            return
        if cand is None or self.shown is None or self.shown[0] != cand["id"]:
            self.scroll_home(animate=False)
        self.shown = key
        body = self.query_one("#review-evidence-body", Static)
        body.update(render_evidence(snapshot, cand, color=not self.app.no_color) if cand
                    else Text(empty, style="dim"))
