"""The store's read API: what the console, the ``seal-tui`` commands and resume read.

Every query of the store lives in this package; callers get dicts, lists and
``engine.events.Event`` rows, never SQL. Plain sqlite3 (no sqlite_utils).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from typing import Any

from engine.events import Event


class RunReads:
    conn: sqlite3.Connection

    def _rows(self, sql: str, *args: Any) -> list[dict]:
        cur = self.conn.cursor()
        cur.row_factory = sqlite3.Row
        return [dict(r) for r in cur.execute(sql, args)]

    # ------------------------------------------------------------------ runs
    def get_run(self, run_id: str) -> dict | None:
        rows = self._rows("SELECT * FROM runs WHERE id = ?", run_id)
        return rows[0] if rows else None

    def find_run(self, ref: str) -> dict | None:
        """A run by id, unique id prefix or name (the newest of that name)."""
        return self.get_run(ref) or next(iter(self._rows(
            "SELECT * FROM runs WHERE id LIKE ? OR name = ? ORDER BY created_at DESC", ref + "%", ref)), None)

    def list_runs(self) -> list[dict]:
        return self._rows("SELECT * FROM runs ORDER BY created_at DESC")

    # ------------------------------------------------------------------ events
    def events_after(self, run_id: str, last_id: int = 0, limit: int = 5000) -> list[Event]:
        rows = self.conn.execute(
            "SELECT id, run_id, ts, kind, round, phase, data_json FROM events "
            "WHERE run_id = ? AND id > ? ORDER BY id LIMIT ?", (run_id, last_id, limit)).fetchall()
        return [Event(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6])) for r in rows]

    def iter_events(self, run_id: str, batch: int = 5000) -> Iterator[Event]:
        last = 0
        while True:
            chunk = self.events_after(run_id, last, batch)
            if not chunk:
                return
            yield from chunk
            last = chunk[-1].id

    def events_of(self, run_id: str, kinds: Iterable[str]) -> list[Event]:
        """The run's events of these kinds, in order."""
        kinds = tuple(kinds)
        rows = self.conn.execute(
            f"SELECT id, run_id, ts, kind, round, phase, data_json FROM events WHERE run_id=? "
            f"AND kind IN ({','.join('?' * len(kinds))}) ORDER BY id", (run_id, *kinds)).fetchall()
        return [Event(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6])) for r in rows]

    def last_event(self, run_id: str, kind: str | None = None) -> Event | None:
        """The run's newest event (of ``kind``, if given)."""
        sql = "SELECT id, run_id, ts, kind, round, phase, data_json FROM events WHERE run_id=?"
        args: tuple = (run_id,)
        if kind:
            sql, args = sql + " AND kind=?", (run_id, kind)
        r = self.conn.execute(sql + " ORDER BY id DESC LIMIT 1", args).fetchone()
        return Event(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6])) if r else None

    def count_events(self, run_id: str) -> int:
        return self.conn.execute("SELECT COUNT(*) FROM events WHERE run_id = ?", (run_id,)).fetchone()[0]

    def max_event_id(self, run_id: str) -> int:
        return self.conn.execute("SELECT max(id) FROM events WHERE run_id=?", (run_id,)).fetchone()[0] or 0

    def event_times(self, run_id: str, after_id: int = 0) -> list[tuple[int, float]]:
        """(id, time) of each event after ``after_id``: a replay's index, without payloads."""
        return self.conn.execute("SELECT id, ts FROM events WHERE run_id = ? AND id > ? ORDER BY id",
                                 (run_id, after_id)).fetchall()

    def event_marks(self, run_id: str, after_id: int, up_to_id: int,
                    kinds: Iterable[str]) -> list[tuple[int, str, int | None]]:
        """(id, kind, round) of the events of ``kinds`` in (after_id, up_to_id]."""
        kinds = tuple(kinds)
        return self.conn.execute(
            f"SELECT id, kind, round FROM events WHERE run_id = ? AND id > ? AND id <= ? "
            f"AND kind IN ({','.join('?' * len(kinds))}) ORDER BY id", (run_id, after_id, up_to_id, *kinds)).fetchall()

    # ------------------------------------------------------------------ contexts, candidates, answers
    def get_contexts(self, run_id: str, split: str) -> list[dict]:
        return [{"idx": r["idx"], "title": r["title"], "context": r["context"],
                 "questions": json.loads(r["questions_json"]), **json.loads(r.get("data_json") or "{}")}
                for r in self._rows("SELECT * FROM contexts WHERE run_id=? AND split=? ORDER BY idx", run_id, split)]

    def candidates(self, run_id: str, round_: int | None = None) -> list[dict]:
        if round_ is None:
            return self._rows("SELECT * FROM candidates WHERE run_id=? ORDER BY round, context_idx, cand_idx", run_id)
        return self._rows("SELECT * FROM candidates WHERE run_id=? AND round=? ORDER BY context_idx, cand_idx",
                          run_id, round_)

    def candidates_by_id(self, ids: list[int]) -> dict[int, dict]:
        out: dict[int, dict] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            for row in self._rows(f"SELECT * FROM candidates WHERE id IN ({','.join('?' * len(chunk))})", *chunk):
                out[row["id"]] = row
        return out

    def answers(self, candidate_id: int) -> list[dict]:
        """A candidate's answers; where the task kept what they were made from, its
        ``detail_before`` / ``detail_after`` (few-shot: ``engine.events.GridDetail``)."""
        rows = self._rows("SELECT * FROM answers WHERE candidate_id=? ORDER BY q_idx", candidate_id)
        for r in rows:
            detail = json.loads(r.pop("detail_json", None) or "null")
            if detail:
                r["detail_before"], r["detail_after"] = detail.get("before"), detail.get("after")
        return rows

    def answer_rows(self, run_id: str) -> Iterator[dict]:
        """Every answer of the run with its candidate's place (round, context, index), in order."""
        rows = self.conn.execute(
            "SELECT c.id, c.round, c.context_idx, c.cand_idx, a.q_idx, a.question, a.gold, a.answer_before, "
            "a.answer_after, a.correct_before, a.correct_after, a.reason, a.rep FROM answers a "
            "JOIN candidates c ON c.id = a.candidate_id WHERE c.run_id = ? ORDER BY c.id, a.q_idx", (run_id,))
        for r in rows:
            yield {"run_id": run_id, "candidate_id": r[0], "round": r[1], "context_idx": r[2], "cand_idx": r[3],
                   "q_idx": r[4], "question": r[5], "gold": r[6], "answer_before": r[7], "answer_after": r[8],
                   "correct_before": bool(r[9]), "correct_after": bool(r[10]), "reason": r[11] or "",
                   "rep": r[12] or 0}

    def round_counts(self, run_id: str) -> dict[int, dict]:
        """Per round: candidates, scored, kept (None before filtering), mean reward, review counts."""
        out = {}
        for r, n, scored, kept, mean_reward, approved, rejected, edited in self.conn.execute(
                "SELECT round, COUNT(*), COUNT(scored_at), CASE WHEN COUNT(kept) THEN SUM(kept) END, AVG(reward), "
                "SUM(review='approved'), SUM(review='rejected'), SUM(review='edited') "
                "FROM candidates WHERE run_id=? GROUP BY round", (run_id,)):
            out[int(r)] = {"candidates": n, "scored": scored, "kept": kept, "mean_reward": mean_reward,
                           "review": {"approved": approved or 0, "rejected": rejected or 0, "edited": edited or 0}
                           if approved or rejected or edited else None}
        return out

    # ------------------------------------------------------------------ metrics
    def metrics(self, run_id: str, name: str | None = None) -> list[dict]:
        if name:
            return self._rows("SELECT * FROM metrics WHERE run_id=? AND name=? ORDER BY id", run_id, name)
        return self._rows("SELECT * FROM metrics WHERE run_id=? ORDER BY id", run_id)

    def metric_per_round(self, run_id: str, name: str) -> list[tuple[int, float]]:
        """The metric's value per round (the last one written in a round wins)."""
        values: dict[int, float] = {}
        for rnd, value in self.conn.execute(
                "SELECT round, value FROM metrics WHERE run_id = ? AND name = ? ORDER BY id", (run_id, name)):
            if value is not None:
                values[int(rnd or 0)] = float(value)
        return sorted(values.items())
