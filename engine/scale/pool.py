"""The Ray executor: the inner loop's chunks on a pool of ``ScoringWorker`` actors.

The pool is a placement group of ``run.workers`` bundles (``run.worker_cpus`` CPUs and
``run.worker_gpus`` GPUs each, spread over the nodes), one actor per bundle. Chunks are handed
to idle workers as they free up and come back as they finish; the engine grades and records
them (it alone writes the store). A worker that dies mid-chunk (its process killed, its node
gone) is reported (``worker_lost`` and a log line) and its chunk goes to another; with none
left the run pauses with the reason, and resuming starts a new pool. After an M-step the new
weights go to the workers through the object store; a data-parallel M-step takes the pool's
resources (``release``) and the next chunk starts a new one.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import ray
from ray.exceptions import ActorDiedError, ActorUnavailableError, GetTimeoutError, RayActorError
from ray.util.placement_group import placement_group, remove_placement_group
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

from engine import events as ev
from engine.executor import Chunk, ExecutorError
from engine.inner_loop import AdaptResult, InnerLoop
from engine.runtime import RunContext
from engine.scale.cluster import connect, disconnect
from engine.scale.worker import ScoringWorker
from engine.store import Store

PLACEMENT_TIMEOUT_S = 120.0   # waiting longer for the cluster's resources pauses the run with the reason
START_ATTEMPTS = 2            # a worker that dies while loading the model once may have met a busy machine
TELEMETRY_TIMEOUT_S = 1.0     # a busy worker answers its telemetry from a second thread at once
TELEMETRY_INTERVAL_S = 2.0    # as the engine's own telemetry (engine.telemetry)
LOST = (RayActorError, ActorDiedError, ActorUnavailableError)


class NoRoom(RuntimeError):
    """The cluster cannot place the pool now; the message says what it lacks."""


class WorkerStartError(ExecutorError):
    """A worker could not load the model (the message is the worker's reason)."""


@dataclass
class Worker:
    number: int
    handle: ray.actor.ActorHandle
    info: dict = field(default_factory=dict)
    busy: bool = False
    alive: bool = True
    chunks: int = 0
    reason: str = ""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    # a Ray error's last line is the cause (the worker's own exception, or why the actor died)
    return (lines[-1] if lines else type(exc).__name__)[:300]


class RayExecutor:
    def __init__(self, run: RunContext, cfg, inner: InnerLoop, *, policy_is_base: bool = True):
        self.run, self.cfg, self.inner = run, cfg, inner
        self.slots = inner.slots
        rc = cfg.run
        self.bundle = {"CPU": float(rc.worker_cpus), **({"GPU": float(rc.worker_gpus)} if rc.worker_gpus else {})}
        trainers = cfg.mstep.workers if cfg.mstep.workers > 1 else 0
        self.address, self.started_here = connect(rc, cpus_needed=max(rc.workers, trainers) * rc.worker_cpus)
        self.workers: list[Worker] = []
        self.pg = None
        self._numbers = 0
        self._weights = None if policy_is_base else self._put_weights()  # the policy the workers must hold
        self._telemetry = WorkerTelemetry(run, self.telemetry_rows)
        self._telemetry.start()

    # ------------------------------------------------------------ the pool
    def _count(self) -> int:
        if self.cfg.run.workers:
            return self.cfg.run.workers
        have = ray.cluster_resources()
        key = "GPU" if "GPU" in self.bundle else "CPU"
        return max(1, int(have.get(key, 0) // self.bundle[key]))

    def start(self) -> None:
        """Place and start the pool (each worker loads the model, then the current policy)."""
        n = self._count()
        self.pg = placement_group([dict(self.bundle)] * n, strategy="SPREAD")
        try:
            ray.get(self.pg.ready(), timeout=PLACEMENT_TIMEOUT_S)
        except GetTimeoutError:
            remove_placement_group(self.pg)
            self.pg = None
            free = {k: v for k, v in ray.available_resources().items() if k in ("CPU", "GPU")}
            raise NoRoom(f"the Ray cluster at {self.address} has no room for {n} workers of {self.bundle} "
                         f"(free now: {free}); add nodes, or lower run.workers, run.worker_cpus or run.worker_gpus") from None
        actor = ray.remote(ScoringWorker)
        pool = []
        for i in range(n):
            handle = actor.options(
                num_cpus=self.bundle["CPU"], num_gpus=self.bundle.get("GPU", 0), max_concurrency=2, max_restarts=0,
                scheduling_strategy=PlacementGroupSchedulingStrategy(self.pg, placement_group_bundle_index=i),
            ).remote(self.cfg, self._numbers + i, self.slots)
            pool.append(Worker(self._numbers + i, handle))
        self._numbers += n
        for w in pool:
            try:
                w.info = ray.get(w.handle.info.remote())
            except LOST as exc:
                self.workers = pool
                self.release()
                raise WorkerStartError(f"a Ray worker could not start: {_first_line(exc)}") from None
        self.workers = pool
        if self._weights is not None:
            self._send_weights()
        self.run.record(ev.WorkersStarted(address=self.address, workers=[dict(w.info) for w in pool]))
        nodes = {w.info.get("node_id") for w in pool}
        self.run.log.info("%d Ray workers on %d node%s at %s (%s each)", n, len(nodes), "s" * (len(nodes) != 1),
                          self.address, ", ".join(f"{v:g} {k}" for k, v in self.bundle.items()))

    def _alive(self) -> list[Worker]:
        return [w for w in self.workers if w.alive]

    def release(self) -> None:
        """Stop the pool's workers and free its resources (a shared cluster keeps running)."""
        for w in self.workers:
            if w.alive:
                ray.kill(w.handle, no_restart=True)
        self.workers = []
        if self.pg is not None:
            remove_placement_group(self.pg)
            self.pg = None

    def close(self) -> None:
        self._telemetry.stop()
        if self.workers:  # the pool's last state: how many chunks each worker finished, which were lost
            try:
                self.run.record(ev.WorkerTelemetry(workers=self.telemetry_rows()))
            except Exception:  # closing must go on (a full disk, a cluster gone)
                pass
        self.release()
        disconnect()

    # ------------------------------------------------------------ the policy
    def _put_weights(self):
        with self.inner.bare_model():
            state = {k: v.detach().to("cpu") for k, v in self.inner.policy.model.state_dict().items()}
        return ray.put(state)

    def _send_weights(self) -> None:
        calls = {w.number: w.handle.load_weights.remote(self._weights, self.inner.policy.source) for w in self._alive()}
        for w in self._alive():
            try:
                ray.get(calls[w.number])
            except LOST as exc:
                self._lost(w, None, exc)

    def policy_changed(self) -> None:
        """After the M-step: the new policy to every worker (a pool started later gets it at start)."""
        self._weights = self._put_weights()
        if self._alive():
            self._send_weights()

    # ------------------------------------------------------------ scoring
    def adapt(self, chunks: Iterable[Chunk]) -> Iterator[tuple[Chunk, list[AdaptResult]]]:
        source = iter(chunks)
        retry: deque[Chunk] = deque()
        ready: deque[tuple[Chunk, list[AdaptResult]]] = deque()
        running: dict[ray.ObjectRef, tuple[Worker, Chunk]] = {}
        drawn_all = False

        def fill() -> None:  # every idle worker gets the next chunk (a lost worker's first)
            nonlocal drawn_all
            for w in self._alive():
                while not w.busy:
                    chunk = retry.popleft() if retry else None
                    if chunk is None and not drawn_all:
                        chunk = next(source, None)
                        drawn_all = chunk is None
                    if chunk is None:
                        return
                    if not chunk.jobs:      # every self-edit of it unusable: nothing to adapt
                        ready.append((chunk, []))
                        continue
                    ref = w.handle.run_chunk.remote(chunk.jobs, chunk.rule, [f is not None for f in chunk.save_to])
                    running[ref] = (w, chunk)
                    w.busy = True

        if not self._alive():
            self.ensure_pool()
        while True:
            fill()
            while ready:
                yield ready.popleft()
            if not running:
                if drawn_all and not retry:
                    return
                self.ensure_pool()    # work left and no worker
                continue
            [ref], _ = ray.wait(list(running), num_returns=1)
            w, chunk = running.pop(ref)
            w.busy = False
            try:
                results, adapters = ray.get(ref)
            except LOST as exc:
                self._lost(w, chunk, exc)
                retry.append(chunk)
                continue
            w.chunks += 1
            for j, files in adapters.items():
                folder = chunk.save_to[j]
                folder.mkdir(parents=True, exist_ok=True)
                for name, data in files.items():
                    (folder / name).write_bytes(data)
            fill()   # the freed worker starts its next chunk while the engine grades this one
            yield chunk, results

    def _lost(self, w: Worker, chunk: Chunk | None, exc: BaseException) -> None:
        w.alive, w.busy, w.reason = False, False, _first_line(exc)
        ray.kill(w.handle, no_restart=True)   # one that was only unreachable must not come back mid-retry
        left = len(self._alive())
        retried = len(chunk.jobs) if chunk else 0
        self.run.record(ev.WorkerLost(worker=w.number, node=w.info.get("node", ""), pid=w.info.get("pid"),
                                      reason=w.reason, retried=retried, left=left))
        self.run.log.warning("Ray worker %d (node %s, pid %s) lost%s: %s; %d worker%s left", w.number,
                             w.info.get("node", "?"), w.info.get("pid", "?"),
                             f" mid-chunk, its {retried} adaptations go to another worker" if chunk else "",
                             w.reason, left, "s" * (left != 1))

    def ensure_pool(self) -> None:
        """A pool to work with: started now, or after the run pauses with the reason and a person resumes it."""
        lost = [w for w in self.workers if not w.alive]
        reason = (f"no Ray worker left ({len(lost)} lost; the last: {lost[-1].reason})" if lost else None)
        failed_starts = 0
        while True:
            if reason:
                self.run.pause_for(reason + "; resume starts new workers")
            self.release()
            try:
                self.start()
                return
            except NoRoom as exc:
                reason = str(exc)
            except WorkerStartError as exc:
                failed_starts += 1
                if failed_starts == START_ATTEMPTS:  # twice: the model itself, not a busy machine
                    raise
                self.run.log.warning("%s; starting the workers again", exc)
                reason = None

    # ------------------------------------------------------------ telemetry (from the telemetry thread)
    def telemetry_rows(self) -> list[dict]:
        """One row per worker of the pool: who, where, state, and its machine now (ev.WorkerInfo)."""
        pool = list(self.workers)
        calls = {w.number: w.handle.telemetry.remote() for w in pool if w.alive}
        if calls:
            ray.wait(list(calls.values()), num_returns=len(calls), timeout=TELEMETRY_TIMEOUT_S)
        rows = []
        for w in pool:
            row = {**w.info, "worker": w.number, "chunks": w.chunks,
                   "state": "lost" if not w.alive else "busy" if w.busy else "idle"}
            if w.number in calls:
                try:
                    row.update(ray.get(calls[w.number], timeout=0))
                except Exception:  # gone or slow: this sample has no numbers for it
                    pass
            rows.append(row)
        return rows


class WorkerTelemetry(threading.Thread):
    """Records the pool's rows (``worker_telemetry``) every ~2 s from its own store connection,
    beside the engine's own telemetry thread; a released pool is recorded once, empty."""

    def __init__(self, run: RunContext, rows):
        super().__init__(name="worker-telemetry", daemon=True)
        self.runs_dir, self.run_id, self.rows = run.store.runs_dir, run.run_id, rows
        self._halt = threading.Event()

    def run(self) -> None:
        store = Store(self.runs_dir)
        last_empty = True
        try:
            while not self._halt.wait(TELEMETRY_INTERVAL_S):
                try:
                    rows = self.rows()
                    if rows or not last_empty:
                        store.record(self.run_id, ev.WorkerTelemetry(workers=rows))
                    last_empty = not rows
                except Exception:  # a busy store or cluster must not kill the run; try again next tick
                    continue
        finally:
            store.close()

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=5)
