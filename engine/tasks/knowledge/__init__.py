"""Knowledge incorporation, SEAL's first experiment.

A context is a passage with questions about it. A self-edit is text the policy writes
about the passage (notes, implications, rewritings, question/answer pairs); the inner
loop trains a fresh LoRA on its lines, then answers the passage's questions closed-book,
and the reward is the share the grader finds correct. Held out: no adaptation, the
passage alone, the policy's own self-edit; optionally the multi-passage and forgetting
evaluations (``continual``).
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.adaptation import Adaptation
from engine.graders import GradeItem
from engine.prompts import question_prompt, self_edit_prompt
from engine.tasks.base import Labels, Task
from engine.tasks.knowledge.data import load_run_contexts
from engine.tasks.knowledge.sequences import passage_sequences, training_sequences


class KnowledgeTask(Task):
    name = "knowledge"
    labels = Labels()       # the defaults are this task's (engine.events.KNOWLEDGE_LABELS)

    def load_contexts(self) -> tuple[list[dict], list[dict]]:
        return load_run_contexts(self.cfg.data, self.cfg.run.seed, self.cfg.model.name_or_path)

    def self_edit_prompt(self, ctx: dict) -> str:
        sample = self.cfg.sample
        return self_edit_prompt(ctx["title"], ctx["context"], sample.prompt_style, sample.template)

    def adaptation(self, ctx: dict, self_edit: str) -> Adaptation:
        inner = self.cfg.inner
        return Adaptation(training_sequences(ctx["title"], self_edit, split=inner.split, context=ctx["context"],
                                             append_passage=inner.append_passage))

    def reference_adaptation(self, ctx: dict) -> Adaptation:
        return Adaptation(passage_sequences(ctx["title"], ctx["context"]))

    def queries(self, ctx: dict) -> list[str]:
        return [q["question"] for q in ctx["questions"]]

    def query_prompt(self, query: str) -> str:
        return question_prompt(query)

    def grade_items(self, ctx: dict, answers: Sequence[str]) -> list[GradeItem]:
        return [GradeItem(q["question"], q["answer"], a) for q, a in zip(ctx["questions"], answers)]

    def heldout_self_edits(self) -> int:
        return self.cfg.eval.k

    def further_evaluations(self, run, scorer, heldout: list[dict], self_edits: list[str]) -> dict:
        # torch only once a run evaluates: a run records its task before it loads torch
        from engine.tasks.knowledge.continual import forgetting_eval, multi_passage_eval

        ev, out = self.cfg.eval, {}
        if ev.multi_passage:
            run.set_phase("eval", total=2)
            out["multi_passage"] = multi_passage_eval(run, scorer, heldout, self_edits, self.cfg)
        if ev.forgetting_k:
            run.set_phase("eval", total=ev.forgetting_k * ev.forgetting_sequences)
            out["forgetting"] = forgetting_eval(run, scorer, self, heldout, self_edits, self.cfg)
        return out
