"""``?``: the keys of the screen you came from, and what each pane shows."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Markdown

PANES = """
**Dashboard panes** — *Candidates*: self-edits as they are sampled and scored (reward =
accuracy after the inner-loop update, gain = reward − baseline). *Detail*: the selected
self-edit with its passage, training sequences and each question's answers before/after.
*Rewards*: per round histogram, box and mean. *Accuracy*: held-out accuracy per round
(no adaptation, passage only, self-edits), mean train reward and M-step loss.
*System*: CPU, memory and GPUs of the engine. *Log*: the engine's log.
*Evals* (`e`): per round, held-out accuracy with each passage alone (no adaptation, passage
only, self-edits), the multi-passage setting (one LoRA on the self-edits of N passages
together) and the forgetting matrix as a heatmap (row i: after i self-edits merged in turn;
cells: accuracy on each passage, mean ± std over sequences; the row mean on the right);
`←` `→` show another round's matrix.
"""


def key_table(screen: Screen) -> str:
    """Our keys active on ``screen`` (focused widget, screen and app), as Markdown."""
    rows = ["| Key | Action | Binding id |", "|---|---|---|"]
    seen: set[str] = set()
    for active in screen.active_bindings.values():
        binding = active.binding
        if not binding.id or not binding.description or binding.id in seen:
            continue
        seen.add(binding.id)
        tip = f" — {binding.tooltip}" if binding.tooltip else ""
        rows.append(f"| `{screen.app.get_key_display(binding)}` | {binding.description}{tip} "
                    f"| {binding.id or ''} |")
    return "\n".join(rows)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "close", "Close", id="help.close"),
        Binding("q", "close", "Close", show=False, id="help.close_q"),
        Binding("question_mark", "close", "Close", show=False, id="help.close_help"),
    ]

    def __init__(self, of: Screen) -> None:
        super().__init__()
        self.text = (f"# Keys\n\n{key_table(of)}\n\nCtrl+P opens the command palette "
                     "(every action above is there too).\n")
        if of.__class__.__name__ == "DashboardScreen":
            self.text += PANES

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box", classes="dialog"):
            yield Markdown(self.text)

    def action_close(self) -> None:
        self.dismiss(None)
