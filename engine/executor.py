"""Where the inner loop's chunks run: in this process, or (``run.executor = "ray"``) on a pool
of Ray actors (``engine.scale.pool``).

A chunk is up to ``slots`` adaptation jobs that train together as stacked-LoRA slots and are
answered together. An executor takes chunks from an iterator (drawing the next one only when
it can start it) and gives each back with its results as it finishes; grading, the store and
everything else stay with the caller. Where a chunk runs never changes its results: each job
carries its own seeds.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
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

    def adapt(self, chunks: Iterable[Chunk]) -> Iterator[tuple[Chunk, list[AdaptResult]]]:
        for chunk in chunks:
            def save(j: int, slot: int, chunk: Chunk = chunk) -> None:
                folder = chunk.save_to[j] if chunk.save_to else None
                if folder is not None:
                    self.inner.save_adapter(slot, folder)

            yield chunk, self.inner.run(chunk.jobs, save_slot=save if any(chunk.save_to) else None, rule=chunk.rule)

    def policy_changed(self) -> None:
        """Nothing to do: the inner loop wraps the very model the M-step trained."""

    def release(self) -> None:
        pass

    def close(self) -> None:
        pass


class ExecutorError(RuntimeError):
    """The executor cannot start (the Ray cluster is unreachable, its workers cannot load the model);
    the message names the setting and the fix."""

