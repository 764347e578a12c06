"""Edit a self-edit before the policy trains on it: a text editor in a dialog."""

from __future__ import annotations

from collections.abc import Callable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static, TextArea


class SelfEditEditor(ModalScreen[str | None]):
    """Returns the edited text (Ctrl+S or Save), or None (Ctrl+G, Esc or Cancel). ``check``
    (the text -> why it cannot be sent, or None) refuses a save with its message shown, and
    the editor stays open; ``help_text`` replaces the line above the text."""

    DEFAULT_CSS = """
    SelfEditEditor { align: center middle; }
    SelfEditEditor > Vertical {
        width: 90%; height: 80%; border: round $accent; background: $surface; padding: 0 1;
    }
    SelfEditEditor TextArea { height: 1fr; }
    SelfEditEditor #editor-buttons { height: auto; align-horizontal: right; }
    SelfEditEditor #editor-help { color: $text-muted; }
    SelfEditEditor #editor-problem { color: $error; text-style: bold; display: none; }
    SelfEditEditor #editor-problem.-shown { display: block; }
    """
    BINDINGS = [
        Binding("ctrl+s", "save", "Save edit", id="review_editor.save",
                tooltip="Keep this text: the M-step trains on it (the original stays recorded)"),
        Binding("ctrl+g", "cancel", "Cancel", id="review_editor.cancel", tooltip="Close without deciding"),
        Binding("escape", "cancel", "Cancel", show=False, id="review_editor.cancel_escape"),
    ]

    def __init__(self, text: str, title: str, *, check: Callable[[str], str | None] | None = None,
                 help_text: str | None = None) -> None:
        super().__init__(id="review-editor")
        self.text = text
        self.title_text = title
        self.check = check
        self.help_text = help_text or "The M-step trains on what you save here; the model's own text stays recorded."

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = self.title_text
            yield Static(self.help_text, id="editor-help")
            yield Static(id="editor-problem", markup=False)
            yield TextArea(self.text, id="editor-text", soft_wrap=True, show_line_numbers=False)
            with Horizontal(id="editor-buttons"):
                yield Button("Save (Ctrl+S)", id="editor-save", variant="success", compact=True)
                yield Button("Cancel (Ctrl+G)", id="editor-cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one(TextArea).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "editor-save":
            self.action_save()
        else:
            self.action_cancel()

    def action_save(self) -> None:
        text = self.query_one(TextArea).text
        if not text.strip():
            self.notify("An edited self-edit cannot be empty: write the text, or reject the candidate (x).",
                        severity="warning")
            return
        problem = self.check(text) if self.check is not None else None
        shown = self.query_one("#editor-problem", Static)
        shown.set_class(problem is not None, "-shown")
        if problem is not None:
            shown.update(f"Not saved: {problem}")
            self.notify(problem, title="The edit does not fit the self-edit schema", severity="error")
            return
        self.dismiss(text)

    def action_cancel(self) -> None:
        self.dismiss(None)
