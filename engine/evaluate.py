"""Held-out evaluation of a round's policy: no adaptation, the task's own adaptation
("passage"), a teacher model's self-edits ("teacher", with ``eval.teacher``), the policy's
own self-edits; then the task's further evaluations."""

from __future__ import annotations

from engine import events as ev
from engine import seeds
from engine.models import Policy
from engine.runtime import RunContext
from engine.sampling import sample_self_edits
from engine.scoring import ScoreItem, Scorer
from engine.tasks.base import Task

WRITTEN = ("teacher", "self_edit")   # the conditions scored on k self-edits per context


def evaluate_heldout(run: RunContext, policy: Policy, scorer: Scorer, task: Task, heldout: list[dict], cfg,
                     rescore: ev.PolicyEval | None = None) -> dict:
    """Accuracies of the held-out contexts (each context adds ``task.heldout_tally`` of its graded
    answers: knowledge counts every question, few-shot every task); recorded as eval_result and metrics.

    The policy writes ``task.heldout_self_edits()`` self-edits per context (knowledge ``eval.k``, as the
    reference's k_completions; few-shot 5 as the paper reports: the success rate over tasks x self-edits),
    each scored on its own; a context's figure is their mean. A teacher writes as many.

    ``rescore`` (``seal-engine eval``): the policy scored is not the run's round; every condition is
    measured and the result is recorded as that policy_eval event (its policy, label, overrides)."""
    conditions = task.heldout_conditions(0 if rescore is not None else run.round)
    k = task.heldout_self_edits()
    # per context: the conditions in order, a written one once per self-edit (k = 1: one item per condition)
    slots = [(cond, j) for cond in conditions for j in (range(k) if cond in WRITTEN else (0,))]
    run.set_phase("eval", total=len(heldout) * len(slots))
    prompts = [task.self_edit_prompt(c) for c in heldout]
    written = {}
    if "teacher" in conditions:
        from engine.teacher import Teacher, teacher_self_edits  # the openai client only when asked for

        teacher = Teacher(cfg, run_id=run.run_id)
        written["teacher"] = teacher_self_edits(run, teacher, prompts, k)
        for name, value in teacher.stats().items():
            run.metric(f"teacher_{name}", value)
    # one instrument for every round and run seed: the same adapter initialisation per held-out
    # context, so a change of accuracy comes from the policy, not from a re-drawn LoRA
    written["self_edit"] = self_edits = sample_self_edits(
        policy, prompts, cfg.sample, k=k, seed=seeds.heldout_sampling(cfg.eval.seed),
        temperature=cfg.eval.temperature, check=lambda i, text: task.check_self_edit(heldout[i], text),
        retries=task.resample_limit, on_batch=lambda first, batch: run.checkpoint())
    run.checkpoint()
    bases = scorer.baselines(heldout)
    items = []
    for i, ctx in enumerate(heldout):
        for cond, j in slots:
            if cond == "passage":
                items.append(ScoreItem(ctx, task.reference_adaptation(ctx), seeds.heldout_adapter(cfg.eval.seed, i, cond)))
            else:  # the teacher's self-edit j trains from the same initialisation as the policy's: a paired comparison
                text = written[cond][i][j]
                invalid = task.check_self_edit(ctx, text)
                items.append(ScoreItem(ctx, task.adaptation(ctx, text) if invalid is None else None,
                                       seeds.heldout_self_edit_adapter(cfg.eval.seed, i, j), invalid))
    # correct[cond][i][j]: what self-edit j (or the one adaptation) of context i adds to the condition
    correct = {c: [[0] * (k if c in WRITTEN else 1) for _ in heldout] for c in conditions}
    for start, scores in scorer.score_chunks(items):
        for offset, score in enumerate(scores):
            i, s = divmod(start + offset, len(slots))
            cond, j = slots[s]
            correct[cond][i][j] = task.heldout_tally(heldout[i], [a["correct_after"] for a in score.answers])[0]
        run.progress(start + len(scores), len(items))
        run.checkpoint()
    tallies = [task.heldout_tally(c, b.correct) for c, b in zip(heldout, bases)]
    n_q = [n for _, n in tallies]
    total = sum(n_q) or 1
    share = lambda cond, i: sum(correct[cond][i]) / len(correct[cond][i])  # mean over the context's self-edits
    overall = lambda cond: (sum(sum(x) for x in correct[cond]) / (total * len(correct[cond][0]))
                            if cond in correct else None)
    result = {
        "round": run.round,
        "none": sum(c for c, _ in tallies) / total,
        "passage": overall("passage"),
        "self_edit": overall("self_edit"),
        "teacher": overall("teacher"),
        "n_contexts": len(heldout), "n_questions": total,
        "per_context": [{"idx": i, "title": c["title"], "n": n,
                         "none": t[0] / n,
                         "passage": correct["passage"][i][0] / n if "passage" in correct else None,
                         "self_edit": share("self_edit", i) / n,
                         "self_edit_text": edits[0],
                         # several self-edits: each one's text and tally
                         **({"self_edit_texts": edits, "self_edit_correct": correct["self_edit"][i]} if k > 1 else {}),
                         **({"teacher": share("teacher", i) / n, "teacher_text": written["teacher"][i][0]}
                            if "teacher" in correct else {}),
                         **({"teacher_texts": written["teacher"][i], "teacher_correct": correct["teacher"][i]}
                            if "teacher" in correct and k > 1 else {})}
                        for i, (c, n, t, edits) in enumerate(zip(heldout, n_q, tallies, self_edits))],
    }
    result.update(task.further_evaluations(run, scorer, heldout, [edits[0] for edits in self_edits]))
    for name, value in scorer.grader_metrics().items():
        run.metric(name, value)
    # the result and its metrics in one transaction: a kill between them cannot leave one without the other
    run.store.record_many(run.run_id, [
        ev.PolicyEval(**{**ev.encode(rescore), **result, "round": rescore.round}) if rescore is not None
        else ev.EvalResult(**result),
        *(ev.Metric(name=f"heldout_{name}", value=float(result[name]))   # a re-score leaves the run's curves be
          for name in ("none", "passage", "self_edit", "teacher") if result[name] is not None and rescore is None)],
        round_=run.round, phase=run.phase)
    run.log.info("%s held-out accuracy: none %.3f, passage %s,%s self-edit %.3f (%d questions)",
                 rescore.label if rescore is not None else f"round {run.round}", result["none"],
                 _pct(result["passage"]), "" if result["teacher"] is None else f" teacher {result['teacher']:.3f},",
                 result["self_edit"], total)
    return result


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
