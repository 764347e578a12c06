"""The task seam: what the knowledge task gives the outer loop, and how the scorer and the
E-step treat a self-edit the task cannot use (the few-shot task's invalid JSON)."""

from __future__ import annotations

from contextlib import contextmanager
from types import SimpleNamespace

import pytest

from engine import sampling
from engine.config import SampleCfg, load_config
from engine.graders import ExactGrader, GradeItem
from engine.inner_loop import AdaptResult
from engine.scoring import ScoreItem, Scorer
from engine.tasks import make_task
from engine.tasks.knowledge import KnowledgeTask

CTX = {"title": "Paris", "context": "The tower is tall.", "questions": [{"question": "How tall?", "answer": "tall"}]}


@pytest.fixture(scope="module")
def task():
    return KnowledgeTask(load_config(preset="sandbox"))


class FakeInnerLoop:
    """Answers from two tables (unadapted, adapted) and counts what it was asked to do."""

    slots = 2

    def __init__(self, before: dict, after: dict):
        self.before, self.after = before, after
        self.trained: list = []
        self.unadapted_calls = 0

    def baseline_answers(self, questions, rule=None):
        self.unadapted_calls += 1
        return [self.before.get(q, "") for q in questions]

    def run(self, jobs, save_slot=None, rule=None):
        self.trained.extend(jobs)
        return [AdaptResult([self.after.get(q, "") for q in job.questions], None, 0) for job in jobs]

    @contextmanager
    def bare_model(self):
        yield


def test_a_run_gets_the_knowledge_task_and_its_console_labels():
    task = make_task(load_config(preset="sandbox"))
    assert task.name == "knowledge"
    assert task.labels.as_dict() == {"context": "passage", "question": "question", "none": "no adaptation",
                                     "passage": "passage only", "passage_short": "passage",
                                     "self_edit": "self-edits", "multi": "passages"}


def test_the_knowledge_task_trains_on_title_prefixed_lines_and_grades_each_question(task):
    assert "The tower is tall." in task.self_edit_prompt(CTX)
    assert task.adaptation(CTX, "1. It is tall.\n- It is old.").sequences == ["Paris\nIt is tall.", "Paris\nIt is old."]
    assert task.reference_adaptation(CTX).sequences == ["Paris\nThe tower is tall."]
    assert task.queries(CTX) == ["How tall?"]
    assert task.grade_items(CTX, ["very tall"]) == [GradeItem("How tall?", "tall", "very tall")]
    assert task.check_self_edit(CTX, "") is None  # any text is a self-edit


def test_an_invalid_self_edit_scores_zero_with_its_reason_and_is_never_trained_on(task):
    inner = FakeInnerLoop(before={"How tall?": "small"}, after={"How tall?": "tall"})
    scorer = Scorer(inner, ExactGrader(), task)
    items = [ScoreItem(CTX, task.adaptation(CTX, "It is tall."), seed=1),
             ScoreItem(CTX, None, seed=2, invalid="not valid JSON"),
             ScoreItem(CTX, task.adaptation(CTX, "Tall it is."), seed=3)]
    scores = [s for _, chunk in scorer.score_chunks(items) for s in chunk]
    assert [s.reward for s in scores] == [1.0, 0.0, 1.0]
    assert scores[1].answers == [{"question": "How tall?", "gold": "tall", "answer_before": "small", "answer_after": "",
                                  "correct_before": False, "correct_after": False, "reason": "not valid JSON"}]
    assert [job.seed for job in inner.trained] == [1, 3]


def test_unadapted_answers_are_reused_until_the_m_step_changes_the_policy(task):
    inner = FakeInnerLoop(before={"How tall?": "tall"}, after={})
    scorer = Scorer(inner, ExactGrader(), task)
    assert [b.accuracy for b in scorer.baselines([CTX, CTX])] == [1.0, 1.0]
    scorer.baselines([CTX])
    assert inner.unadapted_calls == 1
    with scorer.policy_update():
        pass
    scorer.baselines([CTX])
    assert inner.unadapted_calls == 2
    assert scorer.unadapted_accuracy(CTX) == 1.0 and inner.unadapted_calls == 3  # never cached: merges change it


def test_an_invalid_sample_is_drawn_again_a_bounded_number_of_times(monkeypatch):
    draws = iter([["bad", "bad"], ["worse"], ["{b}"], ["still bad"], ["bad again"]])
    monkeypatch.setattr(sampling, "generate", lambda *args, **kwargs: next(draws))
    policy = SimpleNamespace(tokenizer=None, use_chat=False)
    check = lambda i, text: None if text.startswith("{") else "not valid JSON"
    out = sampling.sample_self_edits(policy, ["a prompt"], SampleCfg(temperature=1.0), k=2, seed=0,
                                     check=check, retries=2)
    assert out == [["{b}", "bad again"]]  # the second kept its last draw: the loop scores it 0 with the reason
    assert next(draws, None) is None
