"""The run store: one SQLite file that the engine and every console share.

- ``Store`` (``db``): ``record`` an event (its projection keeps the tables in step),
  the read API (``read``), commands and review decisions from consoles.
- ``facts``: statuses, phases, decision states, run ids, resume rules (defined once).
- ``summary``: a run's row and summary as plain data.
The console may import this package; it imports neither torch nor sqlite_utils
(the latter only when a store file is created or upgraded).
"""

from engine.events import Event

from .db import Store, StoreError, connect
from .facts import (
    COMMANDS,
    DB_NAME,
    DECISION_STATE,
    DECISIONS,
    LIVE_STATUSES,
    PHASES,
    STATUSES,
    default_runs_dir,
    new_run_id,
    resume_refusal,
)
from .summary import run_row, run_summary

__all__ = ["COMMANDS", "DB_NAME", "DECISIONS", "DECISION_STATE", "Event", "LIVE_STATUSES", "PHASES", "REVIEW_STATES",
           "STATUSES", "Store", "StoreError", "connect", "default_runs_dir", "new_run_id", "resume_refusal",
           "run_row", "run_summary"]
