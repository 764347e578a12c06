"""The store's write methods from before typed events, as thin wrappers over ``record``.

Transition only: removed once every caller records ``engine.events`` payloads itself."""

from __future__ import annotations

from typing import Any

from engine import events as ev


class LegacyWrites:
    def create_run(self, run_id: str, *, name: str, preset: str, model: str, config: dict, rounds: int,
                   source: str = "engine", run_dir: str | None = None) -> None:
        self.record(run_id, ev.RunCreated(name=name, preset=preset, model=model, rounds=rounds, config=config,
                                          source=source), round_=0, phase="setup")

    def update_run(self, run_id: str, **fields: Any) -> None:
        if not fields:
            return
        with self.conn:
            self.conn.execute(f"UPDATE runs SET {', '.join(f'{k}=?' for k in fields)} WHERE id=?",
                              (*fields.values(), run_id))

    def append_event(self, run_id: str, kind: str, data: dict | None = None, *, round_: int | None = None,
                     phase: str | None = None, ts: float | None = None) -> int:
        return self.record(run_id, ev.decode(kind, data or {}), round_=round_, phase=phase, ts=ts)

    def save_contexts(self, run_id: str, split: str, items: list[tuple[int, dict]], *, round_: int | None = 0) -> None:
        self.record(run_id, ev.Contexts(split=split, items=[
            {"idx": i, "title": c["title"], "context": c["context"], "questions": c["questions"]} for i, c in items]),
            round_=round_, phase="setup")

    def record_score(self, run_id: str, round_: int, candidate_id: int, *, reward: float, baseline: float,
                     gain: float, train_sequences: list[str], answers: list[dict],
                     rewards: list[float] | None = None) -> None:
        ctx, idx = self.conn.execute("SELECT context_idx, cand_idx FROM candidates WHERE id=?",
                                     (candidate_id,)).fetchone()
        self.record(run_id, ev.CandidateScored(id=candidate_id, context_idx=ctx, cand_idx=idx, reward=reward,
                                               baseline=baseline, gain=gain, train_sequences=train_sequences,
                                               answers=answers, rewards=rewards or None),
                    round_=round_, phase="inner_loop")

    def record_filter(self, run_id: str, round_: int, verdicts: list[dict]) -> None:
        self.record_many(run_id, [ev.CandidateFiltered(id=v["id"], kept=bool(v["kept"]), reason=v["reason"])
                                  for v in verdicts], round_=round_, phase="filter")

    def set_trained_text(self, candidate_id: int, text: str | None) -> None:
        with self.conn:
            self.conn.execute("UPDATE candidates SET trained_text=? WHERE id=?", (text, candidate_id))

    def set_review_state(self, candidate_ids, state: str) -> None:
        with self.conn:
            self.conn.executemany("UPDATE candidates SET review=? WHERE id=?", [(state, c) for c in candidate_ids])

    def add_metric(self, run_id: str, round_: int, name: str, value: float, step: int | None = None, *,
                   event: bool = True) -> None:
        if event:  # without an event: the M-step's loss, which its mstep_progress event now writes
            self.record(run_id, ev.Metric(name=name, value=float(value), step=step), round_=round_)

    def add_telemetry(self, run_id: str, cpu_pct: float, rss_mb: float, gpus: list[dict]) -> None:
        self.record(run_id, ev.Telemetry(cpu_pct=cpu_pct, rss_mb=rss_mb, gpus=gpus))
