"""The code rules, checked with the tests so that CI fails on them: ruff's lint and the import
contracts of pyproject.toml ([tool.ruff], [tool.importlinter], checked by import-linter).

Run them by hand with ``.venv/bin/ruff check .`` and ``.venv/bin/lint-imports``."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.support.common import REPO

# Each folder of Python code, linted on its own so that a clean one stays clean; a folder that
# may not be clean yet maps to the reason (the test is then an expected failure).
LINTED: dict[str, str | None] = {"engine": None, "seal_tui": None, "tests": None, "bench": None}

# Import contracts that the code does not keep yet, by id, with the reason.
CONTRACTS_NOT_KEPT: dict[str, str] = {}


def run(*cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)


def marked(values: dict[str, str | None]) -> list:
    return [pytest.param(v, marks=pytest.mark.xfail(reason=why, strict=False)) if why else v
            for v, why in values.items()]


@pytest.mark.parametrize("folder", marked(LINTED))
def test_ruff_finds_nothing(folder):
    proc = run(sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", folder)
    assert proc.returncode == 0, f"ruff check {folder}:\n{proc.stdout}{proc.stderr}"


def test_every_folder_of_python_code_is_linted():
    skip = {"runs", "build", "dist"}
    folders = {d.name for d in REPO.iterdir() if d.is_dir() and not d.name.startswith(".") and d.name not in skip
               and not d.name.endswith(".egg-info") and next(d.rglob("*.py"), None)}
    assert folders <= set(LINTED), f"add to LINTED: {sorted(folders - set(LINTED))}"


def contract_ids() -> dict[str, str | None]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
    return {c["id"]: CONTRACTS_NOT_KEPT.get(c["id"]) for c in config["contracts"]}


@pytest.mark.parametrize("contract", marked(contract_ids()))
def test_import_contract_is_kept(contract):
    lint_imports = Path(sys.executable).with_name("lint-imports")
    proc = run(str(lint_imports), "--no-cache", "--no-logo", "--contract", contract)
    assert proc.returncode == 0, f"lint-imports --contract {contract}:\n{proc.stdout}{proc.stderr}"
