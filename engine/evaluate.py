"""Held-out evaluation of a round's policy: no adaptation, the task's own adaptation
("passage"), the policy's own self-edit; then the task's further evaluations."""

from __future__ import annotations

from engine import events as ev
from engine import seeds
from engine.models import Policy
from engine.runtime import RunContext
from engine.sampling import sample_self_edits
from engine.scoring import ScoreItem, Scorer
from engine.tasks.base import Task


def evaluate_heldout(run: RunContext, policy: Policy, scorer: Scorer, task: Task, heldout: list[dict], cfg) -> dict:
    """Accuracies over every graded answer of the held-out contexts; recorded as eval_result and metrics."""
    conditions = task.heldout_conditions(run.round)
    run.set_phase("eval", total=len(heldout) * len(conditions))
    # one instrument for every round and run seed: the same adapter initialisation per held-out
    # context, so a change of accuracy comes from the policy, not from a re-drawn LoRA
    self_edits = [s[0] for s in sample_self_edits(policy, [task.self_edit_prompt(c) for c in heldout], cfg.sample,
                                                  k=1, seed=seeds.heldout_sampling(cfg.eval.seed),
                                                  temperature=cfg.eval.temperature,
                                                  check=lambda i, text: task.check_self_edit(heldout[i], text),
                                                  retries=task.resample_limit)]
    run.checkpoint()
    bases = scorer.baselines(heldout)
    items = []
    for i, (ctx, se) in enumerate(zip(heldout, self_edits)):
        for cond in conditions:
            seed = seeds.heldout_adapter(cfg.eval.seed, i, cond)
            if cond == "passage":
                items.append(ScoreItem(ctx, task.reference_adaptation(ctx), seed))
            else:
                invalid = task.check_self_edit(ctx, se)
                items.append(ScoreItem(ctx, task.adaptation(ctx, se) if invalid is None else None, seed, invalid))
    correct = {c: [0] * len(heldout) for c in conditions}
    for start, scores in scorer.score_chunks(items):
        for offset, score in enumerate(scores):
            i, cond = divmod(start + offset, len(conditions))
            correct[conditions[cond]][i] = sum(a["correct_after"] for a in score.answers)
        run.progress(start + len(scores), len(items))
        run.checkpoint()
    n_q = [len(b.correct) for b in bases]
    total = sum(n_q) or 1
    result = {
        "round": run.round,
        "none": sum(sum(b.correct) for b in bases) / total,
        "passage": sum(correct["passage"]) / total if "passage" in correct else None,
        "self_edit": sum(correct["self_edit"]) / total,
        "n_contexts": len(heldout), "n_questions": total,
        "per_context": [{"idx": i, "title": c["title"], "n": n,
                         "none": sum(b.correct) / n,
                         "passage": correct["passage"][i] / n if "passage" in correct else None,
                         "self_edit": correct["self_edit"][i] / n,
                         "self_edit_text": se}
                        for i, (c, n, b, se) in enumerate(zip(heldout, n_q, bases, self_edits))],
    }
    result.update(task.further_evaluations(run, scorer, heldout, self_edits))
    for name, value in scorer.grader_metrics().items():
        run.metric(name, value)
    run.record(ev.EvalResult(**result))
    for name in ("none", "passage", "self_edit"):
        if result[name] is not None:
            run.metric(f"heldout_{name}", result[name])
    run.log.info("round %d held-out accuracy: none %.3f, passage %s, self-edit %.3f (%d questions)",
                 run.round, result["none"],
                 "-" if result["passage"] is None else f"{result['passage']:.3f}", result["self_edit"], total)
    return result
