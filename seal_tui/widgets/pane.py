"""A bordered pane of the dashboard; highlighted while the keys go to it."""

from __future__ import annotations

from textual.containers import Vertical
from textual.widget import Widget


class Pane(Vertical):
    """One of the dashboard's panes: a titled border around one widget."""

    def __init__(self, *children: Widget, name: str, title: str) -> None:
        super().__init__(*children, id=f"{name}-pane", classes="pane")
        self.pane_name = name
        self.border_title = title

    @property
    def focus_target(self) -> Widget:
        for child in self.query("*"):
            if child.focusable:
                return child
        return self
