"""The footer: the keys that work here, drawn as one line by one widget.

It shows what Textual's ``Footer`` shows, laid out and coloured the same way (each
key, then its description; the command palette's key on the right). Textual's
builds a widget per key and rebuilds them all whenever the focus moves; on the runs
screen that was a fifth of the first paint. This one redraws a line of text, and
only when the keys it shows change. A click on a key presses it; hovering shows its
tooltip.
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual import events
from textual.widget import Widget

KeyItem = tuple   # (key, key display, description, enabled, tooltip)


class KeyFooter(Widget):
    ALLOW_SELECT = False
    COMPONENT_CLASSES = {"key-footer--key", "key-footer--description", "key-footer--hover",
                         "key-footer--palette-border"}
    DEFAULT_CSS = """
    KeyFooter {
        dock: bottom;
        height: 1;
        color: $footer-foreground;
        background: $footer-background;
        & > .key-footer--key {
            color: $footer-key-foreground;
            background: $footer-key-background;
            text-style: bold;
        }
        & > .key-footer--description {
            color: $footer-description-foreground;
            background: $footer-description-background;
        }
        & > .key-footer--hover {
            color: $footer-key-foreground;
            background: $block-hover-background;
        }
        & > .key-footer--palette-border {
            color: $foreground 20%;
        }
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._keys: tuple[KeyItem, ...] = ()
        self._palette: KeyItem | None = None
        self._spans: list[tuple[int, int, int]] = []   # (first cell, end cell, index in keys; -1 palette)
        self._hover: int | None = None

    # ------------------------------------------------------------------ which keys
    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)
        self._bindings_changed(self.screen)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen) -> None:
        if not screen.app.app_focus and self._keys:   # as Textual's: keep the keys while the app is unfocused
            return
        keys, palette = self.active_keys()
        if (keys, palette) != (self._keys, self._palette):
            self._keys, self._palette = keys, palette
            self.refresh()

    def active_keys(self) -> tuple[tuple[KeyItem, ...], KeyItem | None]:
        """The shown bindings of the focused widget, the screen and the app, one per action
        (the first, as Textual's footer does), and the command palette's."""
        app = self.app
        active = self.screen.active_bindings
        seen: set[str] = set()
        keys = []
        for _node, binding, enabled, tooltip in active.values():
            if not binding.show or binding.action in seen:
                continue
            seen.add(binding.action)
            keys.append((binding.key, app.get_key_display(binding), binding.description, enabled,
                         tooltip or binding.tooltip))
        palette = None
        if app.ENABLE_COMMAND_PALETTE and app.COMMAND_PALETTE_BINDING in active:
            _node, binding, enabled, tooltip = active[app.COMMAND_PALETTE_BINDING]
            palette = (binding.key, app.get_key_display(binding), binding.description, enabled,
                       binding.tooltip or binding.description)
        return tuple(keys), palette

    # ------------------------------------------------------------------ drawing
    def _item_text(self, item: KeyItem, hovered: bool, compact: bool = False) -> Text:
        """As Textual's FooterKey draws it: " key " then "description ", or "key description"
        when compact (the palette's key)."""
        _key, display, description, enabled, _tip = item
        key_style = self.get_component_rich_style("key-footer--key")
        desc_style = self.get_component_rich_style("key-footer--description")
        if hovered:
            hover = Style(bgcolor=self.get_component_rich_style("key-footer--hover").bgcolor)
            key_style, desc_style = key_style + hover, desc_style + hover
        text = Text(end="")
        if not description:
            text.append(display, key_style)
        elif compact:
            text.append(display, key_style)
            text.append(f" {description}", desc_style)
        else:
            text.append(f" {display} ", key_style)
            text.append(f"{description} ", desc_style)
        if not enabled:
            text.stylize(Style(dim=True))
        return text

    def render(self) -> Text:
        width = self.size.width
        right = Text(end="")
        if self._palette is not None:   # "▏^p palette ", docked right
            right.append("▏", self.get_component_rich_style("key-footer--palette-border"))
            right.append_text(self._item_text(self._palette, self._hover == -1, compact=True))
            right.append(" ", self.rich_style)
        room = max(0, width - right.cell_len)
        out = Text(no_wrap=True, overflow="crop", end="")
        spans: list[tuple[int, int, int]] = []
        for i, item in enumerate(self._keys):
            start = out.cell_len
            if start >= room:
                break
            out.append_text(self._item_text(item, self._hover == i))
            spans.append((start, min(out.cell_len, room), i))
        out.truncate(room, pad=True)
        if self._palette is not None:
            spans.append((room + 1, width, -1))
            out.append_text(right)
        self._spans = spans
        return out

    # ------------------------------------------------------------------ mouse
    def _item_at(self, x: int) -> int | None:
        for start, end, index in self._spans:
            if start <= x < end:
                return index
        return None

    def _item(self, index: int | None) -> KeyItem | None:
        if index is None:
            return None
        return self._palette if index == -1 else self._keys[index]

    def on_mouse_move(self, event: events.MouseMove) -> None:
        index = self._item_at(event.x)
        if index != self._hover:
            self._hover = index
            item = self._item(index)
            self.tooltip = item[4] if item else None
            self.refresh()

    def on_leave(self) -> None:
        if self._hover is not None:
            self._hover = None
            self.tooltip = None
            self.refresh()

    def on_click(self, event: events.Click) -> None:
        item = self._item(self._item_at(event.x))
        if item is None:
            return
        if item[3]:
            self.app.simulate_key(item[0])
        else:
            self.app.bell()
