"""What the inner loop trains a fresh LoRA on for one self-edit (or one held-out condition).

A task makes it (``engine.tasks``), the scorer runs it (``engine.scoring``); neither
imports the other's module for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Adaptation:
    """Training data and the hyperparameters a self-edit chose (None: the config's)."""

    sequences: list[str]                                        # the loss on every token
    pairs: list[tuple[str, str]] = field(default_factory=list)  # (prompt, completion): the loss on the completion only
    lr: float | None = None                                     # None: inner.lr
    epochs: int | None = None                                   # None: inner.epochs
    prompt_loss: bool = False                                   # pairs: the loss on the prompt's tokens too
