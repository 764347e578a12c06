"""``seal-tui``: open the console (runs screen), or attach to a run's dashboard."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="seal-tui",
        description="A terminal lab console for SEAL: start runs and watch them live.")
    parser.add_argument("--runs-dir", type=Path, default=None,
                        help="the run store folder (default: $SEAL_RUNS_DIR, else ./runs)")
    sub = parser.add_subparsers(dest="command", metavar="[COMMAND]")
    sub.add_parser("console", help="open the console on the runs screen (the default)")
    attach = sub.add_parser("attach", help="open a run's dashboard: its state so far, then live")
    attach.add_argument("run", nargs="?", help="run id, id prefix or name (default: the latest running run)")
    replay = sub.add_parser("replay", help="play a run's recorded events through its dashboard "
                                           "(space play/pause, +/- speed, [ ] step, g go to a round)")
    replay.add_argument("run", help="run id, id prefix or name")
    replay.add_argument("--runs-dir", type=Path, default=argparse.SUPPRESS,
                        help="the run store folder (default: $SEAL_RUNS_DIR, else ./runs)")
    from .serve import DEFAULT_HOST, DEFAULT_PORT
    serve = sub.add_parser("serve", help="serve the console to a web browser (textual-serve); over SSH: "
                                         "ssh -L 8000:127.0.0.1:8000 <host>, then open http://127.0.0.1:8000")
    serve.add_argument("--host", default=DEFAULT_HOST,
                       help=f"address to listen on (default: {DEFAULT_HOST}, this machine only; another host "
                            "lets anyone who reaches it drive the console, and is warned about)")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"TCP port (default: {DEFAULT_PORT})")
    serve.add_argument("--runs-dir", type=Path, default=argparse.SUPPRESS,
                       help="the run store folder (default: $SEAL_RUNS_DIR, else ./runs)")
    from .commands import add_subcommands
    add_subcommands(sub)  # ls, show, run, resume, export, import: terminal subcommands
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command in (None, "console"):
        return console(args.runs_dir)
    from engine.store import Store, StoreError, default_runs_dir

    runs_dir = (args.runs_dir or default_runs_dir()).expanduser()
    if args.command == "serve":
        from .serve import serve
        return serve(runs_dir.resolve(), args.host, args.port)
    from .commands import COMMANDS, dispatch
    if args.command in COMMANDS:
        return dispatch(args, runs_dir)
    try:
        store = Store(runs_dir, create=args.command != "replay")   # nothing to replay: create no store
    except (StoreError, OSError) as exc:
        print(f"seal-tui: {exc}", file=sys.stderr)
        return 2

    open_run = replay_run = None
    if args.command == "replay":
        run = store.find_run(args.run)
        if run is None:
            print(f"seal-tui replay: no run {args.run!r} in {runs_dir}; 'seal-tui ls' lists the runs",
                  file=sys.stderr)
            return 2
        replay_run = run["id"]
    if args.command == "attach":
        run = _pick_run(store, args.run)
        if run is None:
            what = f"no run matches {args.run!r}" if args.run else "no run is running"
            print(f"seal-tui: {what} in {runs_dir}; `seal-tui` lists them all", file=sys.stderr)
            return 2
        open_run = run["id"]

    from .app import SealApp

    SealApp(runs_dir, store=store, open_run=open_run, replay_run=replay_run).run()
    return 0


def console(runs_dir: Path | None) -> int:
    """The runs screen; a first start, with no store yet, creates it (a store that is not one is
    said here, in one line)."""
    from engine.store import Store, StoreError, default_runs_dir

    runs_dir = (runs_dir or default_runs_dir()).expanduser()
    try:
        store = Store(runs_dir)
    except (StoreError, OSError) as exc:
        print(f"seal-tui: {exc}", file=sys.stderr)
        return 2
    from .app import SealApp

    app = SealApp(runs_dir, store=store)
    app.run()
    return app.return_code or 0


def _pick_run(store, ref: str | None) -> dict | None:
    from engine.store import LIVE_STATUSES

    if ref:
        return store.find_run(ref)
    for run in store.list_runs():
        if store.display_status(run) in LIVE_STATUSES:
            return run
    return None


if __name__ == "__main__":
    raise SystemExit(main())
