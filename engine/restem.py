"""ReSTEM, SEAL's outer loop: sample, score, filter, review, train, evaluate.

    for round r = 1..R:
        self_edits = E-step: the policy writes K self-edits per training context
        rewards    = inner loop: adapt a fresh LoRA to each, answer, grade
        kept       = filter: the best candidate(s) per context
        approved   = review: a person may approve, reject or edit (optional)
        policy     = M-step: SFT on (self-edit prompt -> approved self-edit)
        evaluate the new policy on held-out contexts
"""

from __future__ import annotations

import shutil
from pathlib import Path

from engine import mstep
from engine.data import round_contexts
from engine.evaluate import evaluate_heldout
from engine.filter import filter_candidates
from engine.models import Policy, save_policy
from engine.review import review_round
from engine.runtime import RunContext
from engine.sampling import sample_self_edits, self_edit_prompt_text
from engine.scoring import ScoreItem, Scorer, candidate_seed, combine_repeats
from engine.sequences import training_sequences


def run_restem(run: RunContext, policy: Policy, scorer: Scorer, cfg, train_pool: list[dict],
               heldout: list[dict], run_dir: Path, progress: "Progress | None" = None) -> dict | None:
    """The whole run; returns the last held-out evaluation.

    ``progress`` (from a resumed run's store) says what is already done: finished
    rounds are skipped, and in the interrupted round candidates already sampled
    and scored are reused and the M-step is not redone if its policy was saved.
    """
    progress = progress or Progress()
    rounds = cfg.run.rounds
    last_eval = progress.last_eval
    if not progress.round0_evaluated:
        run.start_round(0, rounds)
        last_eval = evaluate_heldout(run, policy, scorer, heldout, cfg)
    for r in range(progress.finished_round + 1, rounds + 1):
        run.start_round(r, rounds)
        contexts = round_contexts(train_pool, cfg.data.n_train, cfg.run.seed, r)
        if r not in progress.trained_rounds:
            run.store.save_contexts(run.run_id, "train", contexts, round_=r)
            cands = sample_step(run, policy, cfg, contexts)
            score_step(run, scorer, cfg, contexts, cands)
            filter_step(run, cfg, cands)
            approved = review_round(run, cands, cfg.run)
            train_step(run, policy, scorer, cfg, contexts, cands, approved, run_dir)
        if cfg.eval.every_round or r == rounds:
            last_eval = evaluate_heldout(run, policy, scorer, heldout, cfg)
        run.event("round_finished", {"round": r})
    return last_eval


class Progress:
    """What an earlier engine process of the same run finished, read from its events."""

    def __init__(self, events=()) -> None:
        self.round0_evaluated = False
        self.finished_round = 0
        self.trained_rounds: set[int] = set()
        self.policy_path: str | None = None
        self.last_eval: dict | None = None
        for e in events:
            if e.kind == "eval_result" and e.round == 0:
                self.round0_evaluated = True
            if e.kind == "eval_result":
                self.last_eval = e.data
            if e.kind == "round_finished":
                self.finished_round = max(self.finished_round, e.data["round"])
            if e.kind == "mstep_done":
                self.trained_rounds.add(e.round)
                if e.data.get("policy_path"):
                    self.policy_path = e.data["policy_path"]
        # a trained round whose policy was not saved must be trained again
        if self.policy_path is None:
            self.trained_rounds = {r for r in self.trained_rounds if r <= self.finished_round}


def sample_step(run: RunContext, policy: Policy, cfg, contexts: list[tuple[int, dict]]) -> list[dict]:
    """E-step: K self-edits per context, recorded as they are generated."""
    k = cfg.sample.k
    run.set_phase("sample", total=len(contexts) * k)
    earlier = run.store.candidates(run.run_id, run.round)
    if len(earlier) == len(contexts) * k:  # resumed: this round's self-edits were all sampled already
        by_ctx = {i: c for i, c in contexts}
        run.progress(len(earlier), len(earlier))
        return [{"id": c["id"], "context_idx": c["context_idx"], "cand_idx": c["cand_idx"],
                 "title": c["title"], "self_edit": c["self_edit"], "ctx": by_ctx[c["context_idx"]],
                 "scored": c["scored_at"] is not None, "reward": c["reward"], "baseline": c["baseline"],
                 "gain": c["gain"]} for c in earlier]
    cands: list[dict] = []

    def record(first: int, batch: list[list[str]]) -> None:
        items = [{"context_idx": contexts[first + i][0], "cand_idx": j,
                  "title": contexts[first + i][1]["title"], "self_edit": text}
                 for i, texts in enumerate(batch) for j, text in enumerate(texts)]
        ids = run.store.add_candidates(run.run_id, run.round, items)
        cands.extend(dict(it, id=cid, scored=False) for it, cid in zip(items, ids))
        run.progress(len(cands), len(contexts) * k)
        run.checkpoint()

    sample_self_edits(policy, [c for _, c in contexts], cfg.sample, k=k,
                      seed=cfg.run.seed * 104729 + run.round, on_batch=record)
    stored = {c["id"]: c for c in run.store.candidates(run.run_id, run.round)}
    for n, cand in enumerate(cands):
        cand["ctx"] = contexts[n // k][1]
        row = stored[cand["id"]]  # a resumed round keeps the self-edits sampled before
        cand.update(self_edit=row["self_edit"], scored=row["scored_at"] is not None,
                    reward=row["reward"], baseline=row["baseline"], gain=row["gain"])
    return cands


def score_step(run: RunContext, scorer: Scorer, cfg, contexts, cands: list[dict]) -> None:
    """Inner loop: reward = adapted accuracy on the context's questions.

    With ``inner.reward_repeats`` = n each candidate is adapted n times, each run
    from its own LoRA initialisation, and its reward is the mean: one run's accuracy
    on a handful of questions depends on the initialisation about as much as on the
    self-edit. A candidate is recorded once all its runs are in."""
    run.set_phase("inner_loop", total=len(cands))
    done = sum(c["scored"] for c in cands)
    todo = [c for c in cands if not c["scored"]]  # a resumed round never rescores a candidate
    reps = cfg.inner.reward_repeats
    sequences = [training_sequences(c["title"], c["self_edit"], split=cfg.inner.split, context=c["ctx"]["context"],
                                    append_passage=cfg.inner.append_passage) for c in todo]
    items = [ScoreItem(c["ctx"], seqs, seed=candidate_seed(cfg.run.seed, run.round, c["context_idx"], c["cand_idx"], rep))
             for c, seqs in zip(todo, sequences) for rep in range(reps)]
    save = None
    if cfg.run.save_kept_adapters:
        def save(i: int, slot: int) -> None:  # the first run's adapter stands for the candidate
            if i % reps == 0:
                scorer.inner.lora.save_slot_peft(slot, adapter_dir(run, todo[i // reps]["id"]), scorer.inner.policy.source)
    results: list = []
    recorded = 0
    for start, scores in scorer.score_chunks(items, save_adapter=save):
        results.extend(scores)
        while (recorded + 1) * reps <= len(results):
            c = todo[recorded]
            s = combine_repeats(results[recorded * reps:(recorded + 1) * reps])
            c.update(reward=s.reward, baseline=s.baseline, gain=s.gain)
            run.store.record_score(run.run_id, run.round, c["id"], reward=s.reward, baseline=s.baseline,
                                   gain=s.gain, train_sequences=sequences[recorded], answers=s.answers,
                                   rewards=s.rewards if reps > 1 else None)
            recorded += 1
        run.progress(done + recorded, len(cands))
        run.checkpoint()
    record_grader_stats(run, scorer.grader)
    rewards = [c["reward"] for c in cands]
    run.metric("train_reward_mean", sum(rewards) / len(rewards))
    run.metric("train_reward_max", max(rewards))
    run.metric("baseline_mean", sum(c["baseline"] for c in cands) / len(cands))


def record_grader_stats(run: RunContext, grader) -> None:
    """A grader with costs (the LLM judge) reports cumulative counters: cache hits, tokens..."""
    stats = getattr(grader, "stats", None)
    if callable(stats):
        for key, value in stats().items():
            run.metric(f"judge_{key}", value)


def adapter_dir(run: RunContext, candidate_id: int) -> Path:
    return run.run_dir / "adapters" / f"round-{run.round}" / f"candidate-{candidate_id}"


def filter_step(run: RunContext, cfg, cands: list[dict]) -> None:
    """Rejection sampling: per context, keep what the rule allows."""
    run.set_phase("filter", total=len(cands))
    by_ctx: dict[int, list[dict]] = {}
    for c in cands:
        by_ctx.setdefault(c["context_idx"], []).append(c)
    verdicts = []
    for ctx_idx, group in by_ctx.items():
        verdicts.extend(filter_candidates(group, cfg.filter, seed=cfg.run.seed * 31 + run.round * 7 + ctx_idx))
    kept = {v["id"] for v in verdicts if v["kept"]}
    for c in cands:
        c["kept"] = c["id"] in kept
        folder = adapter_dir(run, c["id"])
        if not c["kept"] and folder.is_dir():  # only kept candidates' adapters are worth the disk
            shutil.rmtree(folder)
    run.store.record_filter(run.run_id, run.round, verdicts)
    run.metric("kept_count", len(kept))
    run.progress(len(cands), len(cands))
    run.log.info("round %d: kept %d of %d candidates", run.round, len(kept), len(cands))


def train_step(run: RunContext, policy: Policy, scorer: Scorer, cfg, contexts, cands: list[dict],
               approved: list[dict], run_dir: Path) -> None:
    """M-step: SFT the policy on (self-edit prompt -> approved self-edit), then save it."""
    run.set_phase("train", total=len(approved))
    if not approved:
        reason = "no candidate was kept or approved this round"
        run.event("mstep_done", {"policy_path": None, "examples": 0, "loss": None,
                                 "skipped": True, "reason": reason})
        run.log.warning("M-step skipped: %s", reason)
        return
    by_id = {c["id"]: c for c in cands}
    examples, trained = [], []
    for a in approved:
        c = by_id[a["id"]]
        examples.append((self_edit_prompt_text(policy, c["ctx"], cfg.sample), a["text"]))
        run.store.set_trained_text(a["id"], a["text"])
        edited = a.get("decision") == "edit"
        trained.append({"id": a["id"], "edited": edited, **({"text": a["text"]} if edited else {})})
    run.event("mstep_examples", {"candidates": trained})

    def on_step(step: int, total: int, loss: float, epoch: int) -> None:
        run.event("mstep_progress", {"step": step, "total": total, "loss": loss, "epoch": epoch})
        run.store.add_metric(run.run_id, run.round, "mstep_loss", loss, step, event=False)
        run.checkpoint()

    inner = scorer.inner
    inner.lora.detach()  # the M-step and the saved policy see the bare model
    try:
        loss = mstep.train_policy(policy, examples, cfg.mstep, max_len=cfg.model.max_seq_len,
                                  seed=cfg.run.seed * 17 + run.round, on_step=on_step)
        path = None
        if cfg.run.save_policy:
            folder = run_dir / "policy" / f"round-{run.round}"
            save_policy(policy, folder)
            path = str(folder)
    finally:
        inner.lora.attach()
    scorer.clear_baselines()
    run.event("mstep_done", {"policy_path": path, "examples": len(examples), "loss": loss,
                             "skipped": False, "reason": None})
    run.log.info("M-step on %d self-edits: final loss %.4f%s", len(examples), loss,
                 f"; policy saved to {path}" if path else "")
