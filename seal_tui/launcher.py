"""Starting an engine run as its own process, so it outlives the console."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from engine.store.facts import ERROR_PREFIX, OUTPUT_ENV, OUTPUT_NAME, new_run_id


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
    first_output: Path          # where the output went at the start (a new run: a file of its own)
    run_dir: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def output_path(self) -> Path:
        """The output file: in the run's folder once the engine made it and took its output there."""
        adopted = self.run_dir / OUTPUT_NAME
        return self.first_output if self.first_output.exists() or not adopted.exists() else adopted

    def exit_code(self) -> int | None:
        """The exit status once it has ended (this also reaps it), else None."""
        return self.popen.poll()

    def output_tail(self, lines: int = 12) -> str:
        try:
            text = self.output_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.rstrip().splitlines()[-lines:])

    def refusal(self) -> str:
        """Why an engine that ended before its run existed refused to start (its error line), and its
        output file removed: a refused run leaves nothing behind."""
        tail = self.output_tail(40)
        errors = [line[len(ERROR_PREFIX):] for line in tail.splitlines() if line.startswith(ERROR_PREFIX)]
        if self.first_output.parent != self.run_dir:
            self.first_output.unlink(missing_ok=True)
        return errors[-1] if errors else (tail.strip().splitlines() or ["no output"])[-1]


def spawn_engine(spec: LaunchSpec, runs_dir: Path, run_id: str | None = None) -> EngineProcess:
    """Start ``python -m engine run ...`` in a new session (immune to the console's SIGHUP).

    A resumed run writes its output into its folder; a new run's goes to a file of its own until
    the engine, its checks passed, makes the run's folder and moves it there."""
    run_id = run_id or new_run_id(spec.preset)
    run_dir = Path(runs_dir) / run_id
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if run_dir.is_dir():
        output_path = run_dir / OUTPUT_NAME
    else:
        fd, name = tempfile.mkstemp(prefix=f"seal-{run_id}-", suffix=".log")
        os.close(fd)
        env[OUTPUT_ENV] = name
        output_path = Path(name)
    with open(output_path, "ab") as out:
        popen = subprocess.Popen(
            spec.argv(Path(runs_dir), run_id), stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True, env=env, close_fds=True)
    return EngineProcess(run_id=run_id, popen=popen, first_output=output_path, run_dir=run_dir)
