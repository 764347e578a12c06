"""The few-shot task's words: an in-context query as prompt text, and the self-edit prompt.

One ``Layout`` is used for test-time training and for the evaluation queries, so that the
adapted model is asked in the very format it was trained on. The reference (few-shot/,
``GPTTextMessageRepresenterV2``) puts an instruction and the demonstrations in the system
turn, the query input in the user turn and the output in the assistant turn; here the
prompt is one user turn (the engine applies the model's chat template, whatever its
family) and the completion is the output grid alone, so that "output tokens only" means
the loss on the grid the model must produce.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from engine.tasks.fewshot.arc import ArcTask, Example, Grid
from engine.tasks.fewshot.grids import CHAT, COMPACT, GridFormat


@dataclass(frozen=True)
class Layout:
    """How demonstrations and a query are laid out as text around their grids."""

    grid: GridFormat
    instruction: str      # before the demonstrations
    input_label: str      # before each input grid
    output_label: str     # between an input grid and its output grid
    example_sep: str      # after each demonstration's output grid
    request: str = ""     # what the self-edit prompt asks after the demonstrations ("": SELF_EDIT_REQUEST)

    def example(self, ex: Example) -> str:
        return self.query(ex.input) + self.grid.render(ex.output) + self.example_sep

    def query(self, inp: Grid) -> str:
        return self.input_label + self.grid.render(inp) + self.output_label

    def prompt(self, demonstrations: Sequence[Example], query_input: Grid) -> str:
        """The in-context examples, then the query input, ending where the output grid begins."""
        return self.instruction + "".join(self.example(e) for e in demonstrations) + self.query(query_input)

    def completion(self, output: Grid) -> str:
        return self.grid.render(output)

    def parse(self, answer: str) -> Grid | None:
        return self.grid.parse(answer)


CHAT_LAYOUT = Layout(
    grid=CHAT,
    instruction=("Each example below maps an input grid to an output grid by the same rule. "
                 "Find the rule and write the output grid for the last input, one row per line.\n\n"),
    input_label="Input:\n",
    output_label="\nOutput:\n",
    example_sep="\n\n",
)
# for a small grid tokenizer: short fixed words, one grid a word (see grids.COMPACT)
COMPACT_LAYOUT = Layout(grid=COMPACT, instruction="", input_label="in ", output_label=" out ", example_sep="\n",
                        request="plan as json: data_generation (use_basic_augmentations, use_size_augmentations, "
                                "use_chain_augmentations, use_repeat_augmentations: true or false), training "
                                "(strategy: train_using_all_tokens or train_using_output_tokens, learning_rate, "
                                "num_train_epochs)")
LAYOUTS = {"chat": CHAT_LAYOUT, "compact": COMPACT_LAYOUT}


# the shape of the answer with placeholders, as the reference shows it: a filled-in example
# would be copied by a small policy, and the base policy's spread of configs is what RL selects from
SELF_EDIT_REQUEST = """\
Plan how to train on the examples above before solving the task. Two choices:

1. Data generation: which augmentations of the examples to train on, each true or false:
   use_basic_augmentations (rotations, flips, reflections, transpose),
   use_size_augmentations (grids scaled up x2), use_chain_augmentations (a rotation or flip,
   then scaled up x2), use_repeat_augmentations (grids tiled twice).
2. Training: strategy "train_using_all_tokens" or "train_using_output_tokens",
   learning_rate (a number) and num_train_epochs (an integer).

Answer with one JSON object and nothing else, in this shape:
{"data_generation": {"use_basic_augmentations": ..., "use_size_augmentations": ..., \
"use_chain_augmentations": ..., "use_repeat_augmentations": ...}, \
"training": {"strategy": ..., "learning_rate": ..., "num_train_epochs": ...}}"""


def demonstrations_text(task: ArcTask, layout: Layout = CHAT_LAYOUT) -> str:
    """The demonstrations alone (a context's text in the store and the console)."""
    return "".join(layout.example(e) for e in task.train)


def self_edit_prompt(task: ArcTask, layout: Layout = CHAT_LAYOUT, request: str | None = None) -> str:
    """The user turn asking the policy for a plan: the demonstrations, a rule, the schema (the
    layout's own short request for a small grid tokenizer, else ``SELF_EDIT_REQUEST``)."""
    return demonstrations_text(task, layout) + "------\n\n" + (request or layout.request or SELF_EDIT_REQUEST)
