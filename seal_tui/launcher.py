"""Starting an engine run as its own process, so it outlives the console."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from engine.store.facts import new_run_id

OUTPUT_NAME = "engine-output.log"   # the engine process's stdout and stderr


@dataclass
class LaunchSpec:
    preset: str = "sandbox"
    config_path: str | None = None
    overrides: list[str] = field(default_factory=list)
    name: str | None = None

    def argv(self, runs_dir: Path, run_id: str) -> list[str]:
        args = [sys.executable, "-m", "engine", "run", "--preset", self.preset,
                "--runs-dir", str(runs_dir), "--run-id", run_id]
        if self.config_path:
            args += ["--config", self.config_path]
        if self.name:
            args += ["--name", self.name]
        for item in self.overrides:
            args += ["--set", item]
        return args


@dataclass
class EngineProcess:
    """The engine we started: its pid, where its output goes, and whether it still runs."""

    run_id: str
    popen: subprocess.Popen
    output_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def exit_code(self) -> int | None:
        """The exit status once it has ended (this also reaps it), else None."""
        return self.popen.poll()

    def output_tail(self, lines: int = 12) -> str:
        try:
            text = self.output_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.rstrip().splitlines()[-lines:])


def spawn_engine(spec: LaunchSpec, runs_dir: Path, run_id: str | None = None) -> EngineProcess:
    """Start ``python -m engine run ...`` in a new session (immune to the console's SIGHUP)."""
    run_id = run_id or new_run_id(spec.preset)
    run_dir = Path(runs_dir) / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    output_path = run_dir / OUTPUT_NAME
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with open(output_path, "ab") as out:
        popen = subprocess.Popen(
            spec.argv(Path(runs_dir), run_id), stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True, env=env, close_fds=True)
    return EngineProcess(run_id=run_id, popen=popen, output_path=output_path)
