"""The trackers: TensorBoard, Weights & Biases and trackio, each behind the same three calls
(``open``, ``write``, ``close``). Each library is imported in ``open`` and only there, so a run
that names none of them loads none, and a missing one fails that tracker alone (an optional
extra: ``pip install 'seal-tui[wandb]'``). None of them imports torch on this path.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .figures import ELAPSED_S, MSTEP_STEP, ROUND, Scalar, Table, flat_config

PROJECT = "seal-tui"   # W&B's and trackio's project where WANDB_PROJECT / TRACKIO_PROJECT name none


@dataclass
class RunInfo:
    """What a tracker is told of the run when it opens it."""

    run_id: str
    name: str
    config: dict            # the resolved config, secrets taken out (figures.public_config)
    created: float          # when the run was created (its first event's time)
    where: Path | None      # tensorboard: the log root; wandb: W&B's dir; trackio: its store (None: its own)
    resume: bool = False    # a resumed run: continue the tracker's run of that id
    replace: bool = False   # an export: a previous export of the run is replaced, not added to


def _by_axis(scalars: Iterable[Scalar]) -> list[tuple[str, int, dict[str, float]]]:
    """Consecutive scalars on the same axis and step, as one row each (W&B's and trackio's log calls)."""
    rows: list[tuple[str, int, dict[str, float]]] = []
    for s in scalars:
        if rows and rows[-1][0] == s.axis and rows[-1][1] == s.step and s.tag not in rows[-1][2]:
            rows[-1][2][s.tag] = s.value
        else:
            rows.append((s.axis, s.step, {s.tag: s.value}))
    return rows


class Tracker:
    name = ""
    extra = ""    # the pip extra that installs it

    def open(self, run: RunInfo) -> str:
        """Start the tracker's run; returns where it writes, in words."""
        raise NotImplementedError

    def write(self, items: list[Scalar | Table]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class TensorBoard(Tracker):
    """Event files under ``<where>/<run-id>/``, written with tensorboard's own event writer (no torch,
    no TensorFlow); scalars as ``simple_value`` as every TensorBoard reads them, the kept self-edits as
    Markdown tables (the text plugin), the config in the HParams plugin and as text."""

    name = extra = "tensorboard"

    def open(self, run: RunInfo) -> str:
        from tensorboard.compat.proto import event_pb2, summary_pb2
        from tensorboard.plugins.hparams import summary_v2 as hparams
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        self._event, self._summary = event_pb2.Event, summary_pb2.Summary
        folder = Path(run.where or "tensorboard") / run.run_id
        folder.mkdir(parents=True, exist_ok=True)
        if run.replace:  # an export again: its earlier event files would show every point twice
            for old in folder.glob("events.out.tfevents.*"):
                old.unlink()
        self._writer = EventFileWriter(str(folder))
        if not run.resume:
            flat = {"run_id": run.run_id, **flat_config(run.config)}
            self._emit(hparams.hparams_pb(flat, trial_id=run.run_id, start_time_secs=int(run.created)), 0, run.created)
            text = "| field | value |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in flat.items())
            self._emit(self._text("config", text), 0, run.created)
        return f"TensorBoard event files in {folder} (tensorboard --logdir {folder.parent})"

    def _text(self, tag: str, markdown: str):
        import numpy as np
        from tensorboard.plugins.text import metadata
        from tensorboard.util import tensor_util

        tensor = tensor_util.make_tensor_proto(np.array(markdown.encode(), dtype=object))
        return self._summary(value=[self._summary.Value(tag=tag, tensor=tensor,
                                                        metadata=metadata.create_summary_metadata(tag, ""))])

    def _emit(self, summary, step: int, wall_time: float) -> None:
        self._writer.add_event(self._event(wall_time=wall_time, step=int(step), summary=summary))

    def write(self, items: list[Scalar | Table]) -> None:
        for item in items:
            if isinstance(item, Table):
                self._emit(self._text(item.tag, item.markdown()), item.step, item.wall_time)
            else:
                value = self._summary.Value(tag=item.tag, simple_value=item.value)
                self._emit(self._summary(value=[value]), item.step, item.wall_time)
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


# the axis each tag group is drawn on in W&B
_AXES = {ROUND: ("train/*", "heldout/*", "heldout_multi/*", "forgetting/*", "judge/*", "teacher/*", "rescore/*",
                 "metrics/*", "self_edits/*"),
         MSTEP_STEP: ("mstep/*",), ELAPSED_S: ("system/*",)}


class WandB(Tracker):
    """A W&B run of the same id (``WANDB_PROJECT``, else ``seal-tui``), online where the machine is
    logged in, offline with ``WANDB_MODE=offline``; each tag group drawn on its own axis (round, M-step
    step, seconds); the kept self-edits as a ``wandb.Table``. W&B's own console capture and system
    sampling are off: the run's telemetry is mirrored as it was recorded."""

    name = extra = "wandb"

    def open(self, run: RunInfo) -> str:
        import wandb

        self._wandb = wandb
        where = Path(run.where or ".")
        where.mkdir(parents=True, exist_ok=True)
        settings = wandb.Settings(console="off", x_disable_stats=True, silent=True)
        self._run = wandb.init(project=os.environ.get("WANDB_PROJECT") or PROJECT, name=run.name, id=run.run_id,
                               dir=str(where), config=run.config, resume="allow", settings=settings,
                               reinit="create_new")
        for axis, groups in _AXES.items():
            self._run.define_metric(axis, hidden=False)
            for group in groups:
                self._run.define_metric(group, step_metric=axis)
        mode = "offline" if self._run.settings.mode in ("offline", "dryrun") else "online"
        return f"W&B run {run.run_id} ({mode}) under {where / 'wandb'}"

    def write(self, items: list[Scalar | Table]) -> None:
        scalars = [i for i in items if isinstance(i, Scalar)]
        for axis, step, values in _by_axis(scalars):
            self._run.log({**values, axis: step})
        for t in (i for i in items if isinstance(i, Table)):
            self._run.log({t.tag: self._wandb.Table(columns=t.columns, data=t.rows), ROUND: t.step})

    def close(self) -> None:
        self._run.finish()


class Trackio(Tracker):
    """A trackio run named by the run id in project ``TRACKIO_PROJECT`` (else ``seal-tui``), in trackio's
    local store (``TRACKIO_DIR``, else trackio's own); the kept self-edits as a ``trackio.Table``."""

    name = extra = "trackio"

    def open(self, run: RunInfo) -> str:
        if run.where is not None and "trackio" not in sys.modules:  # trackio reads its folder on import
            os.environ["TRACKIO_DIR"] = str(run.where)
        import trackio

        self._trackio = trackio
        project = os.environ.get("TRACKIO_PROJECT") or PROJECT
        with _quiet():   # trackio prints its banner on stdout
            if run.replace:
                from trackio.sqlite_storage import SQLiteStorage
                with contextlib.suppress(Exception):   # no earlier export: nothing to replace
                    SQLiteStorage.delete_run(project, run.run_id)
            self._run = trackio.init(project=project, name=run.run_id, config={"name": run.name,
                                                                               **flat_config(run.config)},
                                     resume="allow", auto_log_cpu=False, auto_log_gpu=False, embed=False)
        return (f"trackio project {project}, run {run.run_id} in {trackio.utils.TRACKIO_DIR} "
                f"(trackio show --project {project})")

    def write(self, items: list[Scalar | Table]) -> None:
        for _axis, step, values in _by_axis(i for i in items if isinstance(i, Scalar)):
            self._run.log(values, step=step)
        for t in (i for i in items if isinstance(i, Table)):
            self._run.log({t.tag: self._trackio.Table(columns=t.columns, data=t.rows)}, step=t.step)

    def close(self) -> None:
        with _quiet():
            self._trackio.finish()   # also forgets it as trackio's current run (else its atexit ends it again)


@contextlib.contextmanager
def _quiet():
    with contextlib.redirect_stdout(io.StringIO()):
        yield


TRACKER_CLASSES: dict[str, type[Tracker]] = {t.name: t for t in (TensorBoard, WandB, Trackio)}
