"""``seal-engine`` / ``python -m engine``: run SEAL headless, show configs, build the sandbox."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from engine.config import ConfigError, load_config, preset_names, to_toml
from engine.store import StoreError, default_runs_dir
from engine.store.facts import ERROR_PREFIX


def _config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", help="preset to start from (default: sandbox); see 'seal-engine presets'")
    p.add_argument("--config", metavar="FILE", help="TOML file with [section] fields over the preset")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                   help="override one field, e.g. --set inner.lr=1e-3 (repeatable)")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="seal-engine", description="Run SEAL (Self-Adapting Language Models) headless.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="start a run; events go to the run store")
    _config_args(run)
    run.add_argument("--runs-dir", type=Path, help="run store folder (default: $SEAL_RUNS_DIR or ./runs)")
    run.add_argument("--run-id", help="id for the new run (default: made from time and preset)")
    run.add_argument("--name", help="name shown in the console")
    res = sub.add_parser("resume", help="continue a stale, failed or stopped run from its last completed phase")
    res.add_argument("run", help="run id, id prefix or name")
    res.add_argument("--runs-dir", type=Path, help="run store folder (default: $SEAL_RUNS_DIR or ./runs)")
    evl = sub.add_parser("eval", help="score a policy on a run's held-out contexts, recorded as an evaluation of "
                                      "that run (the console shows it beside the run's rounds)")
    evl.add_argument("run", help="run id, id prefix or name")
    which = evl.add_mutually_exclusive_group()
    which.add_argument("--round", type=int, metavar="N", help="the run's policy saved after round N (0: its base model)")
    which.add_argument("--policy", metavar="DIR", help="a policy folder (from_pretrained) or hub id to score")
    evl.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                     help="change the run's config for this evaluation, e.g. --set eval.k=5 or "
                          "--set eval.teacher='\"gpt-4.1\"' (repeatable)")
    evl.add_argument("--runs-dir", type=Path, help="run store folder (default: $SEAL_RUNS_DIR or ./runs)")
    cfg = sub.add_parser("config", help="print a resolved config with every field's description")
    cfg.add_argument("--show", nargs="?", const="", metavar="PRESET", help="preset to show (default: sandbox)")
    _config_args(cfg)
    sub.add_parser("presets", help="list the presets shipped with the engine")
    sb = sub.add_parser("sandbox", help="the built-in sandbox world and model")
    sb.add_argument("action", choices=["build"], help="build: pretrain the sandbox model from scratch "
                    "(--task fewshot: the few-shot sandbox's ARC-style world and model)")
    sb.add_argument("rest", nargs=argparse.REMAINDER)
    return ap


def bounded_openmp_spin() -> None:
    """Torch's OpenMP threads (libgomp) wait for the next parallel region by spinning up to 300,000
    rounds. On a CPU shared with other processes the thread they wait for is often descheduled, and
    the spinning burns the cores: a sandbox chunk's training took 12x its CPU time and as much longer.
    Unless the user chose (OMP_WAIT_POLICY, GOMP_SPINCOUNT), spin 1,000 rounds, libgomp's own choice
    when threads outnumber CPUs, then sleep. It changes no arithmetic: the figures stay the same.
    Only before torch is loaded (libgomp reads it once)."""
    if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ and "torch" not in sys.modules:
        os.environ["GOMP_SPINCOUNT"] = "1000"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    bounded_openmp_spin()
    if argv[:2] == ["sandbox", "build"]:
        # --task chooses the world and the model; the rest is that build's own options
        task_arg = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
        task_arg.add_argument("--task", default="knowledge")
        known, rest = task_arg.parse_known_args(argv[2:])
        if known.task == "fewshot":
            from engine.tasks.fewshot.sandbox_build import build_main as arc_build_main
            return arc_build_main(rest)
        if known.task != "knowledge":
            print(f"seal-engine sandbox build: --task {known.task}: expected knowledge or fewshot", file=sys.stderr)
            return 2
        from engine.sandbox.build import build_main
        return build_main(rest)
    args = build_parser().parse_args(argv)
    try:
        if args.cmd == "presets":
            print("\n".join(preset_names()))
            return 0
        if args.cmd == "config":
            cfg = load_config(args.config, args.show or args.preset, args.overrides)
            print(to_toml(cfg))
            return 0
        if args.cmd == "resume":
            from engine.run import InputError, resume_run
            try:
                return resume_run(args.runs_dir or default_runs_dir(), args.run)
            except InputError as exc:
                print(f"{ERROR_PREFIX}{exc}", file=sys.stderr)
                return 2
        if args.cmd == "eval":
            from engine.rescore import InputError, rescore_run
            try:
                return rescore_run(args.runs_dir or default_runs_dir(), args.run, policy=args.policy,
                                   round_=args.round, overrides=args.overrides)
            except InputError as exc:
                print(f"{ERROR_PREFIX}{exc}", file=sys.stderr)
                return 2
        cfg = load_config(args.config, args.preset, args.overrides)
        if args.name:
            cfg.run.name = args.name
        from engine.run import InputError, execute_run
        try:
            return execute_run(cfg, runs_dir=args.runs_dir or default_runs_dir(), run_id=args.run_id)
        except InputError as exc:
            print(f"{ERROR_PREFIX}{exc}", file=sys.stderr)
            return 2
    except (ConfigError, StoreError) as exc:
        print(f"{ERROR_PREFIX}{exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("seal-engine: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
