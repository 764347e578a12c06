"""One command to the paper's table: `seal-tui import` of the reference's results/ folder prints the
single-passage conditions in the paper's order (no adaptation, passage only, base-model self-edits,
round 1, round 2, the teacher's), each figure the one its file holds, and names what is missing."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from tests.console.test_reference_reading import paper_results
from tests.support.common import REPO, RESULTS


def seal_import(runs_dir, *paths) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "seal_tui", "--runs-dir", str(runs_dir), "import", *map(str, paths)],
                          cwd=REPO, capture_output=True, text=True, timeout=120)


def table_of(stdout: str) -> list[str]:
    lines = stdout.splitlines()
    start = lines.index("the paper's table (single passage, held-out accuracy, from the imported files):")
    return lines[start + 1:]


def test_a_folder_import_prints_the_papers_table_in_its_order(tmp_path):
    root = paper_results(tmp_path / "results")
    proc = seal_import(tmp_path / "runs", root)
    assert proc.returncode == 0, proc.stderr
    overall = {n: json.loads((root / "query_server" / "eval" / f"{n}.json").read_text())["overall"]
               for n in ("base", "iter1", "iter2", "gpt4_1", "naive")}
    pct = lambda v: f"{v * 100:.1f}%"
    rows = [line.split() for line in table_of(proc.stdout)]
    assert [(" ".join(r[:-2]), r[-2], r[-1]) for r in rows[:6] if r[-1].endswith(".json")] == [
        ("passage only", pct(overall["naive"]["adapter_mean_accuracy"]), "naive.json"),
        ("base-model self-edits", pct(overall["base"]["adapter_mean_accuracy"]), "base.json"),
        ("round 1", pct(overall["iter1"]["adapter_mean_accuracy"]), "iter1.json"),
        ("round 2 (SEAL)", pct(overall["iter2"]["adapter_mean_accuracy"]), "iter2.json"),
        ("GPT-4.1 self-edits (teacher)", pct(overall["gpt4_1"]["adapter_mean_accuracy"]), "gpt4_1.json")]
    # the first row: the unadapted model, from the base model's evaluation; the alternate prompt is not a row
    assert table_of(proc.stdout)[0].split()[:3] == ["no", "adaptation", pct(overall["base"]["baseline_mean_accuracy"])]
    assert "base.json (its unadapted model)" in table_of(proc.stdout)[0]
    assert "not imported" not in proc.stdout and "long" not in "\n".join(table_of(proc.stdout))


@pytest.mark.skipif(not RESULTS.is_dir(), reason="../shared/data/seal/results is absent")
def test_the_shared_reference_files_give_round_2_and_name_what_is_missing(tmp_path):
    folder = tmp_path / "results"
    shutil.copytree(RESULTS, folder)
    proc = seal_import(tmp_path / "runs", folder)
    assert proc.returncode == 0, proc.stderr
    data = json.loads((RESULTS / "eval_iter2.json").read_text())["overall"]
    table = table_of(proc.stdout)
    assert table[1].split() == ["round", "2", "(SEAL)", f"{data['adapter_mean_accuracy'] * 100:.1f}%", "eval_iter2.json"]
    assert table[2] == "  not imported: naive.json, base.json, gpt4_1.json (the reference's results/query_server/eval/)"
    # a second import of one file reads the same table off the store
    again = seal_import(tmp_path / "runs", folder / "eval_iter2.json")
    assert again.returncode == 0 and table_of(again.stdout) == table
