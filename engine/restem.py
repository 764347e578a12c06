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

import random
import shutil
from pathlib import Path

from engine import events as ev
from engine import mstep, seeds
from engine.candidate import Candidate
from engine.evaluate import evaluate_heldout
from engine.filter import filter_candidates
from engine.models import Policy, save_policy
from engine.review import review_round
from engine.runtime import RunContext
from engine.sampling import policy_prompt, sample_self_edits
from engine.scoring import ScoreItem, Scorer, combine_repeats
from engine.store.model_card import write_round_cards
from engine.tasks.base import Task


def run_restem(run: RunContext, policy: Policy, scorer: Scorer, task: Task, cfg, train_pool: list[dict],
               heldout: list[dict], run_dir: Path, progress: Progress | None = None) -> dict | None:
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
        last_eval = evaluate_heldout(run, policy, scorer, task, heldout, cfg)
    for r in range(progress.finished_round + 1, rounds + 1):
        run.start_round(r, rounds)
        contexts = round_contexts(train_pool, cfg.data.n_train, seed=seeds.round_contexts(cfg.run.seed, r))
        if r not in progress.trained_rounds:
            run.record(contexts_event("train", contexts))
            cands = sample_step(run, policy, task, cfg, contexts)
            score_step(run, scorer, task, cfg, cands)
            filter_step(run, cfg, cands)
            approved = review_round(run, cands, cfg.run)
            train_step(run, policy, scorer, task, cfg, approved, run_dir)
        evaluated = r in progress.evaluated_rounds and r in progress.trained_rounds  # before a kill: once is enough
        if (cfg.eval.every_round or r == rounds) and not evaluated:
            last_eval = evaluate_heldout(run, policy, scorer, task, heldout, cfg)
        write_round_cards(run.store, run.run_id, r)   # README.md in the round's saved policy and adapter folders
        run.record(ev.RoundFinished(round=r))
    return last_eval


def round_contexts(train_pool: list[dict], n: int, *, seed: int) -> list[tuple[int, dict]]:
    """The ``n`` training contexts of one ReSTEM round, as (pool index, context)."""
    idx = sorted(random.Random(seed).sample(range(len(train_pool)), min(n, len(train_pool))))
    return [(i, train_pool[i]) for i in idx]


def contexts_event(split: str, contexts: list[tuple[int, dict]]) -> ev.Contexts:
    """The contexts of a run's split as the store keeps them (pool index, title, text, questions, and
    a task's further keys, e.g. few-shot's raw ARC task under "arc"; keys starting with _ stay in memory)."""
    shown = ("title", "context", "questions")
    return ev.Contexts(split=split, items=[{"idx": i, "title": c["title"], "context": c["context"],
                                            "questions": c["questions"],
                                            **{k: v for k, v in c.items() if k not in shown and not k.startswith("_")}}
                                           for i, c in contexts])


class Progress:
    """What an earlier engine process of the same run finished, read from its events."""

    KINDS = (ev.EvalResult.KIND, ev.RoundFinished.KIND, ev.MStepDone.KIND)

    def __init__(self, events=()) -> None:
        self.round0_evaluated = False
        self.finished_round = 0
        self.trained_rounds: set[int] = set()
        self.policy_path: str | None = None
        self.last_eval: dict | None = None
        self.evaluated_rounds: set[int] = set()
        for e in events:
            if e.kind not in self.KINDS:  # decode only what matters (a log holds thousands of telemetry rows)
                continue
            p = e.payload
            if isinstance(p, ev.EvalResult):
                self.round0_evaluated = self.round0_evaluated or e.round == 0
                self.evaluated_rounds.add(e.round)
                self.last_eval = e.data
            elif isinstance(p, ev.RoundFinished):
                self.finished_round = max(self.finished_round, p.round)
            elif isinstance(p, ev.MStepDone):
                self.trained_rounds.add(e.round)
                if p.policy_path:
                    self.policy_path = p.policy_path
        # a trained round whose policy was not saved must be trained again
        if self.policy_path is None:
            self.trained_rounds = {r for r in self.trained_rounds if r <= self.finished_round}


def sample_step(run: RunContext, policy: Policy, task: Task, cfg, contexts: list[tuple[int, dict]]) -> list[Candidate]:
    """E-step: K self-edits per context, recorded as they are generated."""
    k = cfg.sample.k
    run.set_phase("sample", total=len(contexts) * k)
    by_ctx = dict(contexts)
    earlier = run.store.candidates(run.run_id, run.round)
    if len(earlier) == len(contexts) * k:  # resumed: this round's self-edits were all sampled already
        run.progress(len(earlier), len(earlier))
        cands = [Candidate.from_row(row, by_ctx[row["context_idx"]]) for row in earlier]
    else:
        cands = []

        def record(first: int, batch: list[list[str]]) -> None:
            run.checkpoint()  # a stop cuts a batch's texts short: never record one
            new = [Candidate(run.round, contexts[first + i][0], j, contexts[first + i][1], text)
                   for i, texts in enumerate(batch) for j, text in enumerate(texts)]
            ids = run.store.add_candidates(run.run_id, run.round, [
                ev.CandidateSampled(context_idx=c.context_idx, cand_idx=c.cand_idx, title=c.title, self_edit=c.self_edit,
                                    **task.describe_self_edit(c.self_edit))
                for c in new])
            for c, cid in zip(new, ids):
                c.id = cid
            cands.extend(new)
            run.progress(len(cands), len(contexts) * k)
            run.checkpoint()

        sample_self_edits(policy, [task.self_edit_prompt(c) for _, c in contexts], cfg.sample, k=k,
                          seed=seeds.e_step(cfg.run.seed, run.round),
                          check=lambda i, text: task.check_self_edit(contexts[i][1], text),
                          retries=task.resample_limit, on_batch=record)
        stored = {row["id"]: row for row in run.store.candidates(run.run_id, run.round)}
        for c in cands:
            c.update_from(stored[c.id])  # a resumed round keeps the self-edits sampled before
    for c in cands:
        c.invalid = task.check_self_edit(c.context, c.self_edit)
    return cands


def score_step(run: RunContext, scorer: Scorer, task: Task, cfg, cands: list[Candidate]) -> None:
    """Inner loop: the reward of each self-edit, from the model adapted to it.

    With ``inner.reward_repeats`` = n each candidate is adapted n times, each run
    from its own LoRA initialisation, and its reward is the mean: one run's accuracy
    on a handful of questions depends on the initialisation about as much as on the
    self-edit. A candidate is recorded once all its runs are in."""
    run.set_phase("inner_loop", total=len(cands))
    done = sum(c.scored for c in cands)
    todo = [c for c in cands if not c.scored]  # a resumed round never rescores a candidate
    reps = cfg.inner.reward_repeats
    adaptations = [None if c.invalid else task.adaptation(c.context, c.self_edit) for c in todo]
    items = [ScoreItem(c.context, a, seeds.candidate_lora(cfg.run.seed, run.round, c.context_idx, c.cand_idx, rep),
                       c.invalid)
             for c, a in zip(todo, adaptations) for rep in range(reps)]
    save_to = None
    if cfg.run.save_kept_adapters:
        def save_to(i: int) -> Path | None:  # the first run's adapter stands for the candidate
            return adapter_dir(run, todo[i // reps].id) if i % reps == 0 else None
    results: list = []
    recorded = 0
    for _, scores in scorer.score_chunks(items, save_to=save_to):
        results.extend(scores)
        while (recorded + 1) * reps <= len(results):
            c, a = todo[recorded], adaptations[recorded]
            s = combine_repeats(results[recorded * reps:(recorded + 1) * reps])
            c.scored, c.reward, c.baseline, c.gain = True, s.reward, s.baseline, s.gain
            c.rewards = s.rewards if reps > 1 else None
            run.record(ev.CandidateScored(id=c.id, context_idx=c.context_idx, cand_idx=c.cand_idx, reward=c.reward,
                                          baseline=c.baseline, gain=c.gain, train_sequences=task.shown_training(a) if a else [],
                                          answers=s.answers, rewards=c.rewards, invalid=c.invalid,
                                          dropped=s.dropped))
            recorded += 1
        run.progress(done + recorded, len(cands))
        run.checkpoint()
    if not todo and _recorded_this_round(run, "train_reward_mean"):
        return  # resumed after this round's scores were all in and their metrics recorded
    for name, value in scorer.grader_metrics().items():
        run.metric(name, value)
    rewards = [c.reward for c in cands]
    run.metric("train_reward_mean", sum(rewards) / len(rewards))
    run.metric("train_reward_max", max(rewards))
    run.metric("baseline_mean", sum(c.baseline for c in cands) / len(cands))


def _recorded_this_round(run: RunContext, metric: str) -> bool:
    return any(m["round"] == run.round for m in run.store.metrics(run.run_id, metric))


def adapter_dir(run: RunContext, candidate_id: int) -> Path:
    return run.run_dir / "adapters" / f"round-{run.round}" / f"candidate-{candidate_id}"


def filter_step(run: RunContext, cfg, cands: list[Candidate]) -> None:
    """Rejection sampling: per context, keep what the rule allows. A resumed round whose candidates
    were all filtered before keeps those verdicts and records none again."""
    run.set_phase("filter", total=len(cands))
    stored = {row["id"]: row for row in run.store.candidates(run.run_id, run.round)}
    if cands and all(stored.get(c.id, {}).get("kept") is not None for c in cands):
        for c in cands:
            c.kept, c.keep_reason = bool(stored[c.id]["kept"]), stored[c.id]["keep_reason"] or ""
        run.progress(len(cands), len(cands))
        return
    by_ctx: dict[int, list[Candidate]] = {}
    for c in cands:
        by_ctx.setdefault(c.context_idx, []).append(c)
    for ctx_idx, group in by_ctx.items():
        verdicts = filter_candidates(group, cfg.filter, seed=seeds.filter_pick(cfg.run.seed, run.round, ctx_idx))
        for c, v in zip(group, verdicts):
            c.kept, c.keep_reason = v.kept, v.reason
    for c in cands:
        folder = adapter_dir(run, c.id)
        if not c.kept and folder.is_dir():  # only kept candidates' adapters are worth the disk
            shutil.rmtree(folder)
    run.store.record_many(run.run_id, [ev.CandidateFiltered(id=c.id, kept=c.kept, reason=c.keep_reason)
                                       for group in by_ctx.values() for c in group], round_=run.round, phase=run.phase)
    kept = sum(c.kept for c in cands)
    run.metric("kept_count", kept)
    run.progress(len(cands), len(cands))
    run.log.info("round %d: kept %d of %d candidates", run.round, kept, len(cands))


def train_step(run: RunContext, policy: Policy, scorer: Scorer, task: Task, cfg, approved: list[Candidate],
               run_dir: Path) -> None:
    """M-step: SFT the policy on (self-edit prompt -> approved self-edit), then save it."""
    run.set_phase("train", total=len(approved))
    if not approved:
        reason = "no candidate was kept or approved this round"
        run.record(ev.MStepDone(skipped=True, reason=reason))
        run.log.warning("M-step skipped: %s", reason)
        return
    examples, trained = [], []
    for c in approved:
        examples.append((policy_prompt(policy, task.self_edit_prompt(c.context)), c.trained_text))
        edited = c.decision == "edit"
        trained.append({"id": c.id, "edited": edited, **({"text": c.trained_text} if edited else {})})
    run.record(ev.MStepExamples(candidates=trained))

    def on_step(step: int, total: int, loss: float, epoch: int) -> None:
        run.record(ev.MStepProgress(step=step, total=total, loss=loss, epoch=epoch))
        run.checkpoint()

    with scorer.policy_update():  # the M-step and the saved policy see the bare model
        if cfg.mstep.workers > 1:  # data-parallel: Ray Train's processes (run.executor = ray) or accelerate's
            from engine.mstep_parallel import train_policy_parallel
            loss = train_policy_parallel(policy, examples, cfg, seed=seeds.m_step(cfg.run.seed, run.round),
                                         work_dir=run_dir / "mstep" / f"round-{run.round}", on_step=on_step,
                                         release=scorer.executor.release)
        else:
            loss = mstep.train_policy(policy, examples, cfg.mstep, max_len=cfg.model.max_seq_len,
                                      seed=seeds.m_step(cfg.run.seed, run.round), on_step=on_step)
        path = None
        if cfg.run.save_policy:
            folder = run_dir / "policy" / f"round-{run.round}"
            save_policy(policy, folder)
            path = str(folder)
            policy.source = path   # the base the next round's saved adapters name (a resumed run's, too)
    run.record(ev.MStepDone(policy_path=path, examples=len(examples), loss=loss))
    run.log.info("M-step on %d self-edits: final loss %.4f%s", len(examples), loss,
                 f"; policy saved to {path}" if path else "")
