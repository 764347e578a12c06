"""Held-out evaluation of a round's policy: no adaptation, the task's own adaptation
("passage"), the policy's own self-edits; then the task's further evaluations."""

from __future__ import annotations

from engine import events as ev
from engine import seeds
from engine.models import Policy
from engine.runtime import RunContext
from engine.sampling import sample_self_edits
from engine.scoring import ScoreItem, Scorer
from engine.tasks.base import Task


def evaluate_heldout(run: RunContext, policy: Policy, scorer: Scorer, task: Task, heldout: list[dict], cfg) -> dict:
    """Accuracies of the held-out contexts (each context adds ``task.heldout_tally`` of its graded
    answers: knowledge counts every question, few-shot every task); recorded as eval_result and metrics.

    The policy writes ``task.heldout_self_edits()`` self-edits per context (knowledge 1, few-shot 5
    as the paper reports: the success rate over tasks x self-edits)."""
    conditions = task.heldout_conditions(run.round)
    k = task.heldout_self_edits()
    # per context: the conditions in order, "self_edit" once per self-edit (k = 1: one item per condition)
    slots = [(cond, j) for cond in conditions for j in (range(k) if cond == "self_edit" else (0,))]
    run.set_phase("eval", total=len(heldout) * len(slots))
    # one instrument for every round and run seed: the same adapter initialisation per held-out
    # context, so a change of accuracy comes from the policy, not from a re-drawn LoRA
    self_edits = sample_self_edits(policy, [task.self_edit_prompt(c) for c in heldout], cfg.sample,
                                   k=k, seed=seeds.heldout_sampling(cfg.eval.seed),
                                   temperature=cfg.eval.temperature,
                                   check=lambda i, text: task.check_self_edit(heldout[i], text),
                                   retries=task.resample_limit, on_batch=lambda first, batch: run.checkpoint())
    run.checkpoint()
    bases = scorer.baselines(heldout)
    items = []
    for i, (ctx, edits) in enumerate(zip(heldout, self_edits)):
        for cond, j in slots:
            if cond == "passage":
                items.append(ScoreItem(ctx, task.reference_adaptation(ctx), seeds.heldout_adapter(cfg.eval.seed, i, cond)))
            else:
                invalid = task.check_self_edit(ctx, edits[j])
                items.append(ScoreItem(ctx, task.adaptation(ctx, edits[j]) if invalid is None else None,
                                       seeds.heldout_self_edit_adapter(cfg.eval.seed, i, j), invalid))
    # correct[cond][i][j]: what self-edit j (or the one adaptation) of context i adds to the condition
    correct = {c: [[0] * (k if c == "self_edit" else 1) for _ in heldout] for c in conditions}
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
    result = {
        "round": run.round,
        "none": sum(c for c, _ in tallies) / total,
        "passage": sum(sum(x) for x in correct["passage"]) / total if "passage" in correct else None,
        "self_edit": sum(sum(x) for x in correct["self_edit"]) / (total * k),
        "n_contexts": len(heldout), "n_questions": total,
        "per_context": [{"idx": i, "title": c["title"], "n": n,
                         "none": t[0] / n,
                         "passage": correct["passage"][i][0] / n if "passage" in correct else None,
                         "self_edit": share("self_edit", i) / n,
                         "self_edit_text": edits[0],
                         # several self-edits: each one's text and tally
                         **({"self_edit_texts": edits, "self_edit_correct": correct["self_edit"][i]} if k > 1 else {})}
                        for i, (c, n, t, edits) in enumerate(zip(heldout, n_q, tallies, self_edits))],
    }
    result.update(task.further_evaluations(run, scorer, heldout, [edits[0] for edits in self_edits]))
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
