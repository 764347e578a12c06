"""Where the inner loop's chunks run: in this process, one after another; in this process on
copies of the model, side by side in threads (``run.executor = "threads"``); or on a pool of
Ray actors (``run.executor = "ray"``, ``engine.scale.pool``).

A chunk is up to ``slots`` adaptation jobs that train together as stacked-LoRA slots and are
answered together. An executor takes chunks from an iterator (drawing the next one only when
it can start it) and gives each back with its results as it finishes; grading, the store and
everything else stay with the caller. Where a chunk runs never changes its results: each job
carries its own seeds.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from engine.generation import AnswerRule
from engine.inner_loop import AdaptJob, AdaptResult, InnerLoop


@dataclass
class Chunk:
    start: int                          # the caller's index of its first job
    jobs: list[AdaptJob]
    rule: AnswerRule | None = None      # how answers are generated (None: the inner loop's default)
    save_to: list[Path | None] = field(default_factory=list)  # per job: a folder for its adapter (PEFT), or None


class Executor(Protocol):
    slots: int

    def adapt(self, chunks: Iterable[Chunk]) -> Iterator[tuple[Chunk, list[AdaptResult]]]: ...

    def policy_changed(self) -> None: ...

    def release(self) -> None: ...

    def close(self) -> None: ...


class LocalExecutor:
    """Every chunk in this process, on the engine's own inner loop, one after another."""

    def __init__(self, inner: InnerLoop):
        self.inner = inner
        self.slots = inner.slots

    def run(self, chunk: Chunk) -> list[AdaptResult]:
        def save(j: int, slot: int) -> None:
            folder = chunk.save_to[j] if chunk.save_to else None
            if folder is not None:
                self.inner.save_adapter(slot, folder)

        return self.inner.run(chunk.jobs, save_slot=save if any(chunk.save_to) else None, rule=chunk.rule)

    def adapt(self, chunks: Iterable[Chunk]) -> Iterator[tuple[Chunk, list[AdaptResult]]]:
        for chunk in chunks:
            yield chunk, self.run(chunk)

    def policy_changed(self) -> None:
        """Nothing to do: the inner loop wraps the very model the M-step trained."""

    def release(self) -> None:
        pass

    def close(self) -> None:
        pass


class ThreadExecutor:
    """Chunks side by side in this process: ``n`` copies of the model, each with its own inner loop,
    each chunk in a thread of its own while torch runs every operation on one CPU thread. On a CPU
    a small model's operations are too small to share two cores well; two steps at once, one per
    core, go faster (the sandbox preset on 2 cores: 81 s instead of 113, the same figures).
    The copies take the engine model's weights at the start of every ``adapt`` (after an M-step or
    a merge); the engine's own inner loop is left free for the baselines the caller runs meanwhile."""

    def __init__(self, inner: InnerLoop, n: int):
        if n < 1:
            raise ValueError(f"a thread executor needs at least one copy of the model, not {n}")
        self.inner = inner
        self.slots = inner.slots
        self.copies = [LocalExecutor(inner.replica()) for _ in range(n)]

    def adapt(self, chunks: Iterable[Chunk]) -> Iterator[tuple[Chunk, list[AdaptResult]]]:
        import torch

        for copy in self.copies:
            copy.inner.copy_weights_from(self.inner)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        todo = iter(chunks)
        free = list(self.copies)
        running: dict[Future, tuple[Chunk, LocalExecutor]] = {}
        try:
            with ThreadPoolExecutor(len(self.copies), thread_name_prefix="inner-loop") as pool:
                while True:
                    while free and (chunk := next(todo, None)) is not None:  # drawn only when a copy is free
                        copy = free.pop()
                        running[pool.submit(copy.run, chunk)] = (chunk, copy)
                    if not running:
                        return
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    for future in done:
                        chunk, copy = running.pop(future)
                        free.append(copy)
                        yield chunk, future.result()
        finally:
            for future in running:
                future.cancel()
            torch.set_num_threads(threads)

    def policy_changed(self) -> None:
        """Nothing to do now: the copies take the weights at the next ``adapt``."""

    def release(self) -> None:
        pass

    def close(self) -> None:
        for copy in self.copies:
            copy.inner.close()
        self.copies = []


class ExecutorError(RuntimeError):
    """The executor cannot start (the Ray cluster is unreachable, its workers cannot load the model);
    the message names the setting and the fix."""

