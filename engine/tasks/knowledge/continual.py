"""The knowledge task's two further evaluations of a round's policy on held-out passages.

Multi-passage (continued pretraining): one LoRA trained on the self-edits of N
passages together (each passage appended once), then all their questions.

Forgetting (continual self-edits): for a sequence of k passages, train on each
passage's self-edit in turn and merge it into the weights; after each step answer
the questions of every passage so far. Row 0 of the matrix is the model before any
edit (all k passages), row i the model after i edits (passages 0..i-1).
"""

from __future__ import annotations

import random
import statistics

from engine import seeds
from engine.adaptation import Adaptation
from engine.runtime import RunContext
from engine.scoring import ScoreItem, Scorer
from engine.tasks.base import Task
from engine.tasks.knowledge.sequences import passage_sequences, training_sequences


def multi_passage_eval(run: RunContext, scorer: Scorer, heldout: list[dict], self_edits: list[str], cfg) -> dict:
    n = cfg.eval.multi_passage
    ctxs, edits = heldout[:n], self_edits[:n]
    together = {"title": f"{n} passages", "context": "\n".join(c["context"] for c in ctxs),
                "questions": [q for c in ctxs for q in c["questions"]]}
    passages = [s for c in ctxs for s in passage_sequences(c["title"], c["context"])]
    # each passage appended once after its self-edit, whatever inner.append_passage says
    notes = [s for c, e in zip(ctxs, edits) for s in training_sequences(
        c["title"], e, split=cfg.inner.split, context=c["context"], append_passage=True)]
    items = [ScoreItem(together, Adaptation(passages), seeds.multi_passage_adapter(cfg.eval.seed, "passage")),
             ScoreItem(together, Adaptation(notes), seeds.multi_passage_adapter(cfg.eval.seed, "self_edit"))]
    scores = [s for _, chunk in scorer.score_chunks(items) for s in chunk]
    run.progress(2, 2)
    result = {"n_passages": n, "n_questions": len(together["questions"]), "none": scores[0].baseline,
              "passage": scores[0].reward, "self_edit": scores[1].reward}
    for name in ("none", "passage", "self_edit"):
        run.metric(f"multi_{name}", result[name])
    run.log.info("round %d multi-passage (%d passages): none %.3f, passages %.3f, self-edits %.3f",
                 run.round, n, result["none"], result["passage"], result["self_edit"])
    return result


def forgetting_eval(run: RunContext, scorer: Scorer, task: Task, heldout: list[dict], self_edits: list[str],
                    cfg) -> dict:
    k, n_seq = cfg.eval.forgetting_k, cfg.eval.forgetting_sequences
    rng = random.Random(seeds.forgetting_order(cfg.eval.seed))
    matrices = []
    for s in range(n_seq):
        with scorer.merges_undone():  # each sequence starts from the round's policy
            order = rng.sample(range(len(heldout)), k)
            ctxs = [heldout[i] for i in order]
            m: list[list[float | None]] = [[scorer.unadapted_accuracy(c) for c in ctxs]]
            for i, idx in enumerate(order, 1):
                scorer.merge(task.adaptation(heldout[idx], self_edits[idx]),
                             lora_seed=seeds.forgetting_lora(cfg.eval.seed, s, i),
                             seed=seeds.forgetting_schedule(cfg.eval.seed, i))
                m.append([scorer.unadapted_accuracy(c) for c in ctxs[:i]] + [None] * (k - i))
                run.progress(s * k + i, n_seq * k)
                run.checkpoint()
            matrices.append(m)
    mean = [[None if matrices[0][r][c] is None else statistics.fmean(mm[r][c] for mm in matrices)
             for c in range(k)] for r in range(k + 1)]
    std = [[None if matrices[0][r][c] is None else (statistics.pstdev([mm[r][c] for mm in matrices]))
            for c in range(k)] for r in range(k + 1)]
    row_mean = [statistics.fmean(v for v in row if v is not None) for row in mean]
    result = {"k": k, "sequences": n_seq, "mean": mean, "std": std, "row_mean": row_mean}
    run.metric("forgetting_first_passage_final", mean[k][0])
    run.metric("forgetting_row_mean_final", row_mean[k])
    run.log.info("round %d forgetting over %d edits: row means %s", run.round, k,
                 " ".join(f"{x:.2f}" for x in row_mean))
    return result
