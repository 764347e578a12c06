"""A few-shot (ARC) candidate as people check it: its plan, the task's demonstrations and,
for each test output, the test input, the adapted model's answer and the gold grid drawn as
cells, with the per-view answers and the vote's attempts in a line each.

Shared by the dashboard's detail pane and the review screen's evidence; the data are the
context's raw task (``arc``) and the answer records' ``detail_before`` / ``detail_after``
(``engine.events.GridDetail``).
"""

from __future__ import annotations

from rich.text import Text

from ..format import answer_runs, printable
from .arc_grid import GridGallery, GridPanel, as_grid, compare_note, demonstration_panels

# one mark per view's answer: the gold grid, another grid, no grid read
VIEW_MARKS = {"gold": ("✓", "green"), "other": ("✗", "red"), "none": ("–", "dim")}


def is_fewshot(context: dict | None, answers: list[dict], summary: str = "", invalid: str | None = None) -> bool:
    """Whether a candidate is a few-shot one (its task's raw grids, or its answers' grid detail)."""
    if context is not None and isinstance(context.get("arc"), dict):
        return True
    return bool(summary) or any("detail_after" in a or "detail_before" in a for a in answers)


def section(title: str) -> Text:
    return Text(f"\n{title}", style="bold underline")


def plan_text(summary: str, facets: list[str], invalid: str | None) -> Text:
    """The plan in a line, its switches as tags, and why the task could not use it."""
    out = Text()
    out.append(summary or "(no plan could be read from the self-edit)", style="bold" if summary else "dim")
    if facets:
        out.append("\nchosen: ", style="dim")
        for i, facet in enumerate(facets):
            if i:
                out.append(" ")
            out.append(f" {facet} ", style="reverse cyan")
    if invalid:
        out.append("\ninvalid: ", style="bold red")
        out.append(printable(invalid), style="red")
        out.append("  (reward 0, no test-time training)", style="dim")
    return out


def demonstrations(context: dict | None, *, color: bool) -> list:
    arc = (context or {}).get("arc")
    panels = demonstration_panels(arc) if isinstance(arc, dict) else []
    if not panels:
        return []
    return [section(f"Demonstrations ({len(panels) // 2})"), GridGallery(panels, color=color, gap=2, together=2)]


def _view_marks(views: list, gold) -> tuple[Text, int, int]:
    """Each view's answers as marks, grouped by view: (line, grids read, gold grids)."""
    groups: dict[str, list[str]] = {}
    read = right = 0
    for v in views:
        if not isinstance(v, dict):
            continue
        grid = as_grid(v.get("grid"))
        kind = "none" if grid is None else "gold" if grid == gold else "other"
        read += grid is not None
        right += kind == "gold"
        groups.setdefault(printable(v.get("view") or "?"), []).append(kind)
    line = Text()
    for i, (name, kinds) in enumerate(groups.items()):
        if i:
            line.append(" · ", style="dim")
        line.append(f"{name} ")
        for kind in kinds:
            mark, style = VIEW_MARKS[kind]
            line.append(mark, style=style)
    return line, read, right


def _attempts(attempts: list, gold) -> Text:
    out = Text()
    grids = [as_grid(a) for a in attempts if as_grid(a) is not None]
    if not grids:
        return Text("attempts: none (no view's answer read as a grid)", style="dim")
    out.append("attempts: ", style="dim")
    for i, grid in enumerate(grids, 1):
        note, ok = compare_note(grid, gold)
        if i > 1:
            out.append(" · ", style="dim")
        out.append(f"{i} ")
        out.append(("✓ " if ok else "✗ ") + note, style="green" if ok else "red")
    return out


def _verdict(detail: dict | None, correct: bool) -> tuple[str, str]:
    if detail is None:
        return "not answered", "dim"
    note, ok = compare_note(as_grid(detail.get("answer")), as_grid(detail.get("gold")))
    ok = ok or correct
    return ("✓ " if ok else "✗ ") + note, "green" if ok else "red"


def answer_section(i: int, n: int, a: dict, *, color: bool, adapted: bool = True) -> list:
    """One test output: the input, the answer after test-time training (``adapted``: there
    was one; else the answer in context), the gold grid, then the views and attempts."""
    before = a.get("detail_before") if isinstance(a.get("detail_before"), dict) else None
    after = a.get("detail_after") if isinstance(a.get("detail_after"), dict) else None
    shown = after if adapted and after is not None else before
    base = shown or before or {}
    gold = as_grid(base.get("gold"))
    answer = as_grid(shown.get("answer")) if shown else None
    head = Text()
    head.append(f"Test output {i} of {n}" if n > 1 else "Test output", style="bold")
    if after is not None and adapted:
        text, style = _verdict(after, bool(a.get("correct_after")))
        head.append("  after TTT ", style="dim")
        head.append(text, style=style)
    text, style = _verdict(before, bool(a.get("correct_before")))
    head.append("  in context ", style="dim")
    head.append(text, style=style)
    label = "answer after TTT" if after is not None and adapted else "answer in context"
    note, ok = compare_note(answer, gold)
    panels = [GridPanel("test input", as_grid(base.get("input"))),
              GridPanel(label, answer, reference=gold, note=note if answer is not None else "",
                        good=ok if answer is not None else None),
              GridPanel("gold", gold)]
    parts: list = [head, GridGallery(panels, color=color)]
    if shown is not None:
        views = shown.get("views") if isinstance(shown.get("views"), list) else []
        if views:
            marks, read, right = _view_marks(views, gold)
            summary = Text()
            summary.append(f"views: {read} of {len(views)} read a grid, {right} the gold one  ", style="dim")
            parts += [summary + marks]
        parts.append(_attempts(shown.get("attempts") if isinstance(shown.get("attempts"), list) else [], gold))
    return parts


def answer_sections(answers: list[dict], *, color: bool, invalid: str | None = None) -> list:
    """Every test output of every inner-loop run, under a heading that counts the solved ones."""
    parts: list = []
    for which, group in answer_runs(answers):
        before = sum(1 for a in group if a.get("correct_before"))
        after = sum(1 for a in group if a.get("correct_after"))
        n = len(group)
        title = f"Test outputs{which} ({before}/{n} in context → {after}/{n} after TTT)"
        if invalid:
            title = f"Test outputs{which} ({before}/{n} in context; not adapted: the self-edit is invalid)"
        parts.append(section(title))
        parts.append(Text("✓ view answered the gold grid  ✗ another grid  – no grid   × cell differs from gold",
                          style="dim"))
        for i, a in enumerate(group, 1):
            parts += answer_section(i, n, a, color=color, adapted=not invalid)
    return parts


def task_tests(context: dict | None, *, color: bool) -> list:
    """Before scoring: the test inputs (and gold outputs) from the task itself."""
    arc = (context or {}).get("arc")
    tests = arc.get("test") if isinstance(arc, dict) and isinstance(arc.get("test"), list) else []
    panels = []
    for i, t in enumerate(tests, 1):
        if isinstance(t, dict):
            suffix = f" {i}" if len(tests) > 1 else ""
            panels += [GridPanel(f"test input{suffix}", as_grid(t.get("input"))),
                       GridPanel(f"gold{suffix}", as_grid(t.get("output")))]
    if not panels:
        return []
    return [section("Test (answers after scoring)"), GridGallery(panels, color=color)]
