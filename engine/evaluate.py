"""Held-out evaluation of a round's policy: no adaptation, passage only, own self-edit."""

from __future__ import annotations

from engine.continual import forgetting_eval, multi_passage_eval
from engine.models import Policy
from engine.runtime import RunContext
from engine.sampling import sample_self_edits
from engine.scoring import ScoreItem, Scorer
from engine.sequences import passage_sequences, training_sequences


def evaluate_heldout(run: RunContext, policy: Policy, scorer: Scorer, heldout: list[dict], cfg) -> dict:
    """Question-weighted accuracies on the held-out contexts; recorded as eval_result and metrics."""
    with_passage = cfg.eval.passage_only and (run.round == 0 or cfg.eval.passage_every_round)
    conditions = ["passage", "self_edit"] if with_passage else ["self_edit"]
    run.set_phase("eval", total=len(heldout) * len(conditions))
    # one instrument for every round and run seed: the same adapter initialisation per held-out
    # context, so a change of accuracy comes from the policy, not from a re-drawn LoRA
    seed = cfg.eval.seed * 7919
    self_edits = [s[0] for s in sample_self_edits(policy, heldout, cfg.sample, k=1, seed=seed,
                                                  temperature=cfg.eval.temperature)]
    run.checkpoint()
    bases = scorer.baselines(heldout)
    items = []
    for i, (ctx, se) in enumerate(zip(heldout, self_edits)):
        if with_passage:
            items.append(ScoreItem(ctx, passage_sequences(ctx["title"], ctx["context"]), seed + 2 * i))
        items.append(ScoreItem(ctx, training_sequences(ctx["title"], se, split=cfg.inner.split,
                                                       context=ctx["context"],
                                                       append_passage=cfg.inner.append_passage), seed + 2 * i + 1))
    correct = {c: [0] * len(heldout) for c in conditions}
    for start, scores in scorer.score_chunks(items):
        for offset, score in enumerate(scores):
            i, cond = divmod(start + offset, len(conditions))
            correct[conditions[cond]][i] = sum(a["correct_after"] for a in score.answers)
        run.progress(start + len(scores), len(items))
        run.checkpoint()
    n_q = [len(c["questions"]) for c in heldout]
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
    if cfg.eval.multi_passage:
        run.set_phase("eval", total=2)
        result["multi_passage"] = multi_passage_eval(run, scorer, heldout, self_edits, cfg, seed)
    if cfg.eval.forgetting_k:
        run.set_phase("eval", total=cfg.eval.forgetting_k * cfg.eval.forgetting_sequences)
        result["forgetting"] = forgetting_eval(run, scorer, heldout, self_edits, cfg, seed)
    from engine.restem import record_grader_stats
    record_grader_stats(run, scorer.grader)
    run.event("eval_result", result)
    for name in ("none", "passage", "self_edit"):
        if result[name] is not None:
            run.metric(f"heldout_{name}", result[name])
    run.log.info("round %d held-out accuracy: none %.3f, passage %s, self-edit %.3f (%d questions)",
                 run.round, result["none"],
                 "-" if result["passage"] is None else f"{result['passage']:.3f}", result["self_edit"], total)
    return result
