"""The few-shot sandbox's world: small ARC-style tasks, each a hidden rule shown by a few examples.

Everything is a pure function of the world seed (no torch, no numpy). A task is in ARC's own
layout, ``{"train": [{"input", "output"}, ...], "test": [{"input", "output"}]}``: 2-4
demonstrations and one test input, grids 3x3 to 5x5 (``WorldConfig``) in colours 0-5, 0 the
background, every output at most 10x10.

Rules. A *primitive* is a small pure function Grid -> Grid with a name, from seven families:
- geometric: flip_rows, flip_cols, rot90, rot180, rot270, transpose (the names and the
  conventions of ``engine.tasks.fewshot.views``);
- colour: colour_map (a derangement of the non-background colours, drawn per task),
  recolour (every non-background cell to one colour c);
- shift: shift_right/down/left/up, one cell, cells leaving the grid dropped;
- gravity: gravity_down/up/left/right, non-background cells fall in their column or row;
- scale: upscale2 (both axes), taller2, wider2; tile: tile_rows2, tile_cols2;
- object (an object is a 4-connected patch of one colour): fill_bbox (each object fills its
  bounding box), recolour_largest (the largest object to colour c), border (the grid's edge to c).
A *composition* ``a+b`` applies a, then b (a and b of different families). ``catalogue`` drops
the compositions that compute a primitive's function and keeps one name for compositions that
compute the same one (``colour_map+flip_rows``, ``flip_rows+colour_map``), compared on sample
grids over their parameters; compositions that may compute a common function, and the two
orders of a pair that often agree on tasks' inputs (``fill_bbox+shift_up``, ``shift_up+fill_bbox``),
form a group that one split gets whole. 24 primitives, about 290 compositions.

Well defined by construction: a primitive may have a precondition (recolour_largest: one
largest object of two or more; fill_bbox: no two boxes overlap), checked on its own input at
every step; every step must change its grid, and the output differ from the input, on every
example; inputs are redrawn until all hold (rules that need too many redraws in a world's
sizes are left out, ``usable_groups``). So no task is solved by copying its input, and in a
composition both steps are visible. Object rules get inputs of a few separated blobs; the
others random cells of random density.

Splits (``split_rules``): every primitive and a share A of the compositions are for
pretraining; the ReSTEM training tasks use compositions B, the held-out tasks compositions C;
A, B and C are disjoint (stratified by family pair, so each split mixes the same kinds of
rule; shares 0.5 / 0.25 / 0.25, about 170 / 73 / 73 rules). A held-out task's rule was never
seen, but both its primitives were. The rule split has its own seed (RULE_SPLIT_SEED unless
given), apart from the seed that draws the tasks: runs of any seed on a model pretrained on
one split stay recall-free. Task ids are ``sbx-<split>-<index>``, task i the same however
many are drawn.

The colour-map world (``WorldConfig.maps``; ``SANDBOX_WORLD``, the few-shot sandbox's). The
rules world above asks a tiny model to infer a rule in context during pretraining, which a
model of a million parameters never learns (measured: 0% in context, 0-1 of 12 held-out tasks
after test-time training, which then memorises its examples). Here pretraining only copies
grids; a training or held-out task's rule is a permutation of colours 1..n_colours-1 (never the
identity), after an optional geometric step (``geometry``, the identity by default), and the
maps of the three splits are disjoint (``map_split``: 0 / 40 / 40 of the 119 with six
colours). In context the model copies (0%); test-time training must remap its copy. Which plan
works is a matter of the inner loop, not of recall: a colour permutation view conjugates a map
into another, so every augmentation family (which the reference pairs with a colour-permuted
copy of each example) teaches wrong maps; either strategy works (the output tokens a little
better: 13 of 16 held-out maps at lr 3e-3 x 10 against 6-11 on all tokens); a learning rate
too low or too few epochs leave the copy in place, too high a rate breaks the grids.

What makes test-time-training plans differ (the design intent; ``rule_commutes`` tabulates it).
An augmentation view v applied to every grid of a task turns its rule R into v R v^-1, which
is R itself exactly when R commutes with v. Then the augmented examples are more data for the
same rule and help; otherwise they teach another rule and hurt. Colour rules commute with every
geometric, size and tile view; a flip commutes with the other flip and rot180 but not with
rot90 or transpose (conjugated into another flip); a shift commutes with no upscaling along its
own axis (one cell becomes two); gravity down commutes with flip_cols, upscaling and
side-by-side tiling but not with flip_rows or stacking; a colour permutation conjugates a
colour map into another. So the best plan (which of basic / size / chain / repeat to switch
on) depends on the task's rule, and the demonstrations show which rule it is. Measured on the
held-out rules of split 0: every size view keeps 39% of them (none keeps 19%), every repeat
view 17% (none 33%), every chain view 3%, every basic view 1%; colour permutations keep 64%.
"""

from __future__ import annotations

import itertools
import math
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache, reduce
from typing import NamedTuple

Grid = tuple[tuple[int, ...], ...]
BG = 0
SPLITS = ("pretrain", "train", "heldout")
ID_PREFIX = "sbx"
IDENTITY = "identity"
GEOMETRIC = ("flip_rows", "flip_cols", "rot90", "rot180", "rot270", "transpose")


@dataclass(frozen=True)
class WorldConfig:
    min_side: int = 3
    max_side: int = 5             # small grids: the sandbox model's prompts stay short (a CPU trains on them)
    n_colours: int = 6            # colours 0..n_colours-1, 0 the background
    max_out: int = 10             # an output grid is at most max_out on a side
    demos: tuple[int, int] = (2, 4)
    # shares of the compositions for (pretraining, ReSTEM training, held out)
    shares: tuple[float, float, float] = (0.5, 0.25, 0.25)
    # the colour-map world (the sandbox's, ``SANDBOX_WORLD``): None, the rules world above; else how
    # many colour maps each split's tasks use (pretraining: the copy rule and these; disjoint sets)
    maps: tuple[int, int, int] | None = None
    geometry: tuple[str, ...] = ("identity",)   # the colour-map world's geometric steps, before the map

    def __post_init__(self):
        if not 2 <= self.min_side <= self.max_side <= 30 or not self.max_side <= self.max_out <= 30:
            raise ValueError(f"grid sides {self.min_side}..{self.max_side}, outputs up to {self.max_out}: "
                             "need 2 <= min_side <= max_side <= max_out <= 30")
        if not 3 <= self.n_colours <= 10:
            raise ValueError(f"n_colours = {self.n_colours}: need 3..10 (a background and two colours at least)")
        if not 1 <= self.demos[0] <= self.demos[1]:
            raise ValueError(f"demos = {self.demos}: need 1 <= fewest <= most")
        if self.maps is not None:
            n_maps = math.factorial(self.n_colours - 1) - 1
            if min(self.maps) < 0 or sum(self.maps) > n_maps or not all(self.maps[1:]):
                raise ValueError(f"maps = {self.maps}: need a map at least for training and held out, "
                                 f"{n_maps} in all at most with {self.n_colours} colours")
            unknown = [g for g in self.geometry if g != IDENTITY and g not in GEOMETRIC]
            if unknown or not self.geometry:
                raise ValueError(f"geometry = {self.geometry}: choose among {IDENTITY} {' '.join(GEOMETRIC)}")


# ---------------------------------------------------------------- grid helpers
def _shape(g: Grid) -> tuple[int, int]:
    return len(g), len(g[0])


def _transpose(g: Grid) -> Grid:
    return tuple(zip(*g))


def _map_cells(g: Grid, f: Callable[[int], int]) -> Grid:
    return tuple(tuple(f(c) for c in row) for row in g)


def objects(g: Grid) -> list[tuple[int, list[tuple[int, int]]]]:
    """(colour, cells) of every 4-connected patch of one non-background colour, in reading order."""
    h, w = _shape(g)
    seen: set[tuple[int, int]] = set()
    found = []
    for r, c in itertools.product(range(h), range(w)):
        if g[r][c] == BG or (r, c) in seen:
            continue
        colour, stack, cells = g[r][c], [(r, c)], []
        seen.add((r, c))
        while stack:
            y, x = stack.pop()
            cells.append((y, x))
            for ny, nx in ((y + 1, x), (y - 1, x), (y, x + 1), (y, x - 1)):
                if 0 <= ny < h and 0 <= nx < w and (ny, nx) not in seen and g[ny][nx] == colour:
                    seen.add((ny, nx))
                    stack.append((ny, nx))
        found.append((colour, sorted(cells)))
    return found


def _bbox(cells):
    ys, xs = [y for y, _ in cells], [x for _, x in cells]
    return min(ys), min(xs), max(ys), max(xs)


# ---------------------------------------------------------------- the primitives
def flip_rows(g: Grid, _=None) -> Grid:
    return g[::-1]


def flip_cols(g: Grid, _=None) -> Grid:
    return tuple(row[::-1] for row in g)


def rot90(g: Grid, _=None) -> Grid:
    """A quarter turn counter-clockwise (numpy's rot90, as views.rot90)."""
    return flip_rows(_transpose(g))


def rot180(g: Grid, _=None) -> Grid:
    return flip_rows(flip_cols(g))


def rot270(g: Grid, _=None) -> Grid:
    return _transpose(flip_rows(g))


def transpose(g: Grid, _=None) -> Grid:
    return _transpose(g)


def colour_map(g: Grid, perm: tuple[int, ...]) -> Grid:
    """``perm[c]`` for each colour c it covers; other colours stay."""
    return _map_cells(g, lambda c: perm[c] if c < len(perm) else c)


def recolour(g: Grid, colour: int) -> Grid:
    return _map_cells(g, lambda c: colour if c != BG else BG)


def _shift(dy: int, dx: int):
    def shift(g: Grid, _=None) -> Grid:
        h, w = _shape(g)
        return tuple(tuple(g[r - dy][c - dx] if 0 <= r - dy < h and 0 <= c - dx < w else BG for c in range(w))
                     for r in range(h))
    return shift


def _fall(line: tuple[int, ...], to_end: bool) -> tuple[int, ...]:
    cells = tuple(c for c in line if c != BG)
    pad = (BG,) * (len(line) - len(cells))
    return pad + cells if to_end else cells + pad


def gravity_down(g: Grid, _=None) -> Grid:
    return _transpose(tuple(_fall(col, True) for col in _transpose(g)))


def gravity_up(g: Grid, _=None) -> Grid:
    return _transpose(tuple(_fall(col, False) for col in _transpose(g)))


def gravity_right(g: Grid, _=None) -> Grid:
    return tuple(_fall(row, True) for row in g)


def gravity_left(g: Grid, _=None) -> Grid:
    return tuple(_fall(row, False) for row in g)


def _upscale(fy: int, fx: int):
    return lambda g, _=None: tuple(tuple(c for c in row for _ in range(fx)) for row in g for _ in range(fy))


def _tile(ny: int, nx: int):
    return lambda g, _=None: tuple(row * nx for row in g) * ny


def fill_bbox(g: Grid, _=None) -> Grid:
    """Each object's bounding box filled with its colour (where the background was)."""
    out = [list(row) for row in g]
    for colour, cells in objects(g):
        y0, x0, y1, x1 = _bbox(cells)
        for y, x in itertools.product(range(y0, y1 + 1), range(x0, x1 + 1)):
            if out[y][x] == BG:
                out[y][x] = colour
    return tuple(map(tuple, out))


def boxes_apart(g: Grid, _=None) -> bool:
    """fill_bbox is well defined: no two objects' bounding boxes overlap."""
    boxes = [_bbox(cells) for _, cells in objects(g)]
    return not any(a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]
                   for a, b in itertools.combinations(boxes, 2))


def recolour_largest(g: Grid, colour: int) -> Grid:
    """The largest object (the first in reading order on a tie) recoloured."""
    objs = objects(g)
    if not objs:
        return g
    largest = set(max(objs, key=lambda o: len(o[1]))[1])
    return tuple(tuple(colour if (r, c) in largest else v for c, v in enumerate(row)) for r, row in enumerate(g))


def one_largest(g: Grid, colour: int) -> bool:
    """recolour_largest is well defined and shows: one object is larger than every other (two at least)."""
    sizes = sorted((len(cells) for _, cells in objects(g)), reverse=True)
    return len(sizes) >= 2 and sizes[0] > sizes[1]


def border(g: Grid, colour: int) -> Grid:
    h, w = _shape(g)
    return tuple(tuple(colour if r in (0, h - 1) or c in (0, w - 1) else v for c, v in enumerate(row))
                 for r, row in enumerate(g))


@dataclass(frozen=True)
class Primitive:
    name: str
    family: str
    fn: Callable[[Grid, object], Grid]
    param: str | None = None                           # None, "perm" or "colour": drawn per task
    ok: Callable[[Grid, object], bool] | None = None   # the step's precondition on its input
    objects: bool = False                              # wants inputs of separated objects


PRIMITIVES: dict[str, Primitive] = {p.name: p for p in (
    Primitive("flip_rows", "geometric", flip_rows), Primitive("flip_cols", "geometric", flip_cols),
    Primitive("rot90", "geometric", rot90), Primitive("rot180", "geometric", rot180),
    Primitive("rot270", "geometric", rot270), Primitive("transpose", "geometric", transpose),
    Primitive("colour_map", "colour", colour_map, "perm"), Primitive("recolour", "colour", recolour, "colour"),
    Primitive("shift_right", "shift", _shift(0, 1)), Primitive("shift_down", "shift", _shift(1, 0)),
    Primitive("shift_left", "shift", _shift(0, -1)), Primitive("shift_up", "shift", _shift(-1, 0)),
    Primitive("gravity_down", "gravity", gravity_down), Primitive("gravity_up", "gravity", gravity_up),
    Primitive("gravity_left", "gravity", gravity_left), Primitive("gravity_right", "gravity", gravity_right),
    Primitive("upscale2", "scale", _upscale(2, 2)), Primitive("taller2", "scale", _upscale(2, 1)),
    Primitive("wider2", "scale", _upscale(1, 2)),
    Primitive("tile_rows2", "tile", _tile(2, 1)), Primitive("tile_cols2", "tile", _tile(1, 2)),
    Primitive("fill_bbox", "object", fill_bbox, ok=boxes_apart, objects=True),
    Primitive("recolour_largest", "object", recolour_largest, "colour", ok=one_largest, objects=True),
    Primitive("border", "object", border, "colour"),
)}


@dataclass(frozen=True)
class Rule:
    """A rule with its parameters: steps of (primitive name, parameter), applied in order."""

    name: str
    steps: tuple[tuple[str, object], ...]

    def __call__(self, g: Grid) -> Grid:
        for prim, param in self.steps:
            g = PRIMITIVES[prim].fn(g, param)
        return g

    @property
    def params(self) -> tuple:
        return tuple(param for _, param in self.steps)

    def trace(self, g: Grid) -> Grid | None:
        """The output, or None where a step's precondition fails, a step leaves its grid unchanged
        or the last undoes the first."""
        start = g
        for prim, param in self.steps:
            p = PRIMITIVES[prim]
            if p.ok is not None and not p.ok(g, param):
                return None
            out = p.fn(g, param)
            if out == g:
                return None
            g = out
        return g if g != start or not self.steps else None   # the copy rule (no step) alone may copy


def steps_of(name: str) -> list[str]:
    """``"flip_rows+colour_map"`` -> ["flip_rows", "colour_map"]; ValueError for an unknown name."""
    parts = name.split("+")
    unknown = [p for p in parts if p not in PRIMITIVES]
    if unknown or not 1 <= len(parts) <= 2:
        raise ValueError(f"rule {name!r}: write a primitive or two joined by '+', primitives: {' '.join(PRIMITIVES)}")
    return parts


def _param_values(kind: str | None, n_colours: int) -> list:
    """Every value a parameter of this kind may take (perm: derangements of the non-background colours)."""
    if kind is None:
        return [None]
    if kind == "colour":
        return list(range(1, n_colours))
    return [(BG, *p) for p in itertools.permutations(range(1, n_colours))
            if all(c != i + 1 for i, c in enumerate(p))]


def draw_rule(name: str, rng: random.Random, n_colours: int = WorldConfig.n_colours) -> Rule:
    """The rule ``name`` with its parameters drawn (a task's colour map, its colour)."""
    steps = []
    for prim in steps_of(name):
        kind = PRIMITIVES[prim].param
        if kind == "perm":
            while True:  # a derangement, drawn without listing them all (9! of them with 10 colours)
                rest = list(range(1, n_colours))
                rng.shuffle(rest)
                if all(c != i + 1 for i, c in enumerate(rest)):
                    break
            param: object = (BG, *rest)
        else:
            param = rng.randrange(1, n_colours) if kind == "colour" else None
        steps.append((prim, param))
    return Rule(name, tuple(steps))


# ---------------------------------------------------------------- inputs
def _noise_grid(rng: random.Random, h: int, w: int, n_colours: int) -> Grid:
    p_bg = rng.uniform(0.3, 0.7)
    return tuple(tuple(BG if rng.random() < p_bg else rng.randrange(1, n_colours) for _ in range(w)) for _ in range(h))


def _objects_grid(rng: random.Random, h: int, w: int, n_colours: int) -> Grid:
    """1-4 blobs (up to 3x3 each) of random colours, no two touching, not even at a corner."""
    g = [[BG] * w for _ in range(h)]
    for _ in range(rng.randint(1, 4)):
        bh, bw = rng.randint(1, min(3, h)), rng.randint(1, min(3, w))
        cells = [(0, 0)]
        for _ in range(rng.randint(0, bh * bw - 1)):
            y, x = rng.choice(cells)
            ny, nx = rng.choice(((y + 1, x), (y - 1, x), (y, x + 1), (y, x - 1)))
            if 0 <= ny < bh and 0 <= nx < bw and (ny, nx) not in cells:
                cells.append((ny, nx))
        oy, ox = rng.randrange(h - bh + 1), rng.randrange(w - bw + 1)
        placed = [(oy + y, ox + x) for y, x in cells]
        near = {(y + dy, x + dx) for y, x in placed for dy in (-1, 0, 1) for dx in (-1, 0, 1)}
        if any(0 <= y < h and 0 <= x < w and g[y][x] != BG for y, x in near):
            continue
        colour = rng.randrange(1, n_colours)
        for y, x in placed:
            g[y][x] = colour
    return tuple(map(tuple, g))


def input_shapes(name: str, cfg: WorldConfig) -> list[tuple[int, int]]:
    """Input shapes whose output fits in max_out x max_out (the output's shape depends on the input's only)."""
    placeholder = {None: None, "colour": 1, "perm": tuple(range(10))}
    rule = Rule(name, tuple((p, placeholder[PRIMITIVES[p].param]) for p in steps_of(name)))
    shapes = []
    for h, w in itertools.product(range(cfg.min_side, cfg.max_side + 1), repeat=2):
        oh, ow = _shape(rule(tuple((BG,) * w for _ in range(h))))
        if oh <= cfg.max_out and ow <= cfg.max_out:
            shapes.append((h, w))
    return shapes


def _draw_input(rule: Rule, rng: random.Random, cfg: WorldConfig, shapes) -> Grid:
    h, w = rng.choice(shapes)
    wants_objects = any(PRIMITIVES[p].objects for p, _ in rule.steps)
    return (_objects_grid if wants_objects else _noise_grid)(rng, h, w, cfg.n_colours)


def as_lists(g: Grid) -> list[list[int]]:
    return [list(row) for row in g]


def make_task(rule: Rule, rng: random.Random, cfg: WorldConfig | None = None, *, n_demos: int | None = None,
              attempts: int = 400) -> dict:
    """A task of ``rule`` in ARC's layout: ``n_demos`` demonstrations (drawn in cfg.demos when None)
    and one test, inputs all different, every step well defined and visible on every example."""
    cfg = cfg or WorldConfig()
    n = n_demos if n_demos is not None else rng.randint(*cfg.demos)
    shapes = input_shapes(rule.name, cfg)
    if not shapes:
        raise ValueError(f"rule {rule.name}: no input of {cfg.min_side}..{cfg.max_side} a side has an output "
                         f"within {cfg.max_out}x{cfg.max_out}; raise max_out or lower min_side")
    pairs: list[tuple[Grid, Grid]] = []
    for _ in range(attempts):
        g = _draw_input(rule, rng, cfg, shapes)
        if any(g == i for i, _ in pairs):
            continue
        out = rule.trace(g)
        if out is None:
            continue
        pairs.append((g, out))
        if len(pairs) == n + 1:
            as_pair = lambda p: {"input": as_lists(p[0]), "output": as_lists(p[1])}
            return {"train": [as_pair(p) for p in pairs[:n]], "test": [as_pair(pairs[n])]}
    raise ValueError(f"rule {rule.name}: fewer than {n + 1} inputs in {attempts} draws on which every step "
                     "is defined and changes the grid")


# ---------------------------------------------------------------- which compositions are rules
_SIGNATURE_CFG = WorldConfig()  # the catalogue is structural: fixed palette and sample grids, any world's
_SIGNATURE_PERMS = 8            # colour maps tried per rule (the same ones for every rule)
NEAR = 0.2                      # two orders of a pair that agree this often on tasks' inputs are one group


@lru_cache(maxsize=1)
def _sample_grids() -> tuple[Grid, ...]:
    """Random cells, and separated blobs on which fill_bbox and recolour_largest both act."""
    rng, n = random.Random("arc-world-signatures"), _SIGNATURE_CFG.n_colours
    grids = []
    for h, w in ((3, 4), (4, 3), (4, 5), (5, 4), (3, 5), (5, 3), (5, 5), (6, 5)):
        grids.append(_noise_grid(rng, h, w, n))
        g = _objects_grid(rng, h, w, n)
        while fill_bbox(g) == g or not one_largest(g, 1) or len(objects(g)) < 2:
            g = _objects_grid(rng, h, w, n)
        grids.append(g)
    return tuple(grids)


def _instances(name: str) -> list[Rule]:
    values = [_param_values(PRIMITIVES[p].param, _SIGNATURE_CFG.n_colours) for p in steps_of(name)]
    values = [v[:: max(1, len(v) // _SIGNATURE_PERMS)][:_SIGNATURE_PERMS] for v in values]
    return [Rule(name, tuple(zip(steps_of(name), combo))) for combo in itertools.product(*values)]


def _signature(rule: Rule) -> tuple[Grid, ...]:
    return tuple(rule(g) for g in _sample_grids())


def _agreement(a: str, b: str, inputs: int = 12) -> float:
    """How often rule b gives rule a's output on inputs of a's tasks (the same parameters, step for step)."""
    rng = random.Random(f"arc-world-agreement:{a}:{b}")
    shapes, same, seen = input_shapes(a, _SIGNATURE_CFG), 0, 0
    for _ in range(inputs * 10):
        rule = draw_rule(a, rng, _SIGNATURE_CFG.n_colours)
        g = _draw_input(rule, rng, _SIGNATURE_CFG, shapes)
        out = rule.trace(g)
        if out is None:
            continue
        params = dict(rule.steps)
        same += Rule(b, tuple((p, params[p]) for p in steps_of(b)))(g) == out
        seen += 1
        if seen == inputs:
            break
    return same / seen if seen else 0.0


@lru_cache(maxsize=1)
def catalogue() -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]:
    """(primitives, groups of compositions). A composition joins two primitives of different families
    and computes no primitive's function; of compositions that compute the same function one name
    is kept; compositions that can compute a common function, or the two orders of a pair that agree
    on tasks' inputs (fill_bbox then shift, shift then fill_bbox), are one group: one split gets all."""
    primitive_sigs = {_signature(r) for p in PRIMITIVES for r in _instances(p)}
    primitive_sigs.add(_sample_grids())  # the identity
    names: list[str] = []
    owner: dict[tuple, str] = {}   # signature -> the first composition that computed it
    parent: dict[str, str] = {}

    def root(x: str) -> str:
        while parent[x] != x:
            x = parent[x]
        return x

    def join(x: str, y: str) -> None:
        parent[root(y)] = root(x)

    for a, b in itertools.product(PRIMITIVES, repeat=2):
        name = f"{a}+{b}"
        if PRIMITIVES[a].family == PRIMITIVES[b].family:
            continue
        sigs = {_signature(r) for r in _instances(name)}
        if sigs & primitive_sigs or sigs <= owner.keys():
            continue  # a primitive's function, or only functions another composition computes
        names.append(name)
        parent[name] = name
        for s in sigs:
            if s in owner:
                join(owner[s], name)
            else:
                owner[s] = name
    same: set[str] = set()  # the later order of a pair that always agrees with the earlier one
    for i, name in enumerate(names):
        a, b = steps_of(name)
        other = f"{b}+{a}"
        if other not in parent or names.index(other) < i:
            continue
        there, back = _agreement(name, other), _agreement(other, name)
        if min(there, back) == 1.0:
            same.add(other)
        elif max(there, back) >= NEAR:
            join(name, other)
    groups: dict[str, list[str]] = {}
    for name in names:
        if name in same:
            continue
        groups.setdefault(root(name), []).append(name)
    return tuple(PRIMITIVES), tuple(tuple(g) for g in groups.values())


def family_of(name: str) -> str:
    """"flip_rows" -> "geometric"; "flip_rows+colour_map" -> "geometric+colour"."""
    return "+".join(PRIMITIVES[p].family for p in steps_of(name))


MIN_ACCEPTANCE = 0.05  # of random inputs on which a rule is defined and every step shows


def usable(name: str, cfg: WorldConfig, draws: int = 3, inputs: int = 40) -> bool:
    """Whether a task of ``name`` finds inputs in this world's sizes without endless redrawing: at least
    MIN_ACCEPTANCE of random inputs (over a few parameter draws, fixed seed) can serve as examples."""
    rng, shapes = random.Random(f"arc-world-acceptance:{name}"), input_shapes(name, cfg)
    if not shapes:
        return False
    need = MIN_ACCEPTANCE * draws * inputs
    rules = [draw_rule(name, rng, cfg.n_colours) for _ in range(draws)]
    for rule in itertools.islice(itertools.cycle(rules), draws * inputs):
        need -= rule.trace(_draw_input(rule, rng, cfg, shapes)) is not None
        if need <= 0:
            return True
    return False


@lru_cache(maxsize=8)
def usable_groups(cfg: WorldConfig) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]:
    """The catalogue's rules that are ``usable`` in this world's sizes (tiling then recolouring the
    largest object is not: the tiles tie for largest)."""
    prims, groups = catalogue()
    ok = lambda name: usable(name, cfg)
    kept = (tuple(n for n in g if ok(n)) for g in groups)
    return tuple(filter(ok, prims)), tuple(g for g in kept if g)


RULE_SPLIT_SEED = 0  # the rule split of every world unless told otherwise (a model is pretrained on one)


def split_rules(seed: int = RULE_SPLIT_SEED, cfg: WorldConfig | None = None) -> dict[str, tuple[str, ...]]:
    """{"pretrain", "train", "heldout"} -> rule names: every primitive and a share of the compositions
    for pretraining, disjoint shares for ReSTEM training and held out. A catalogue group goes whole
    to one split; groups of each family pair are spread over the three in the shares' proportions.
    The split is made on the whole catalogue, then the rules a world's sizes cannot use are left
    out: a rule is in the same split whatever the grid sizes."""
    cfg = cfg or WorldConfig()
    if cfg.maps is not None:
        return map_split(seed, cfg)
    prims, groups = catalogue()
    by_pair: dict[str, list[tuple[str, ...]]] = {}
    for group in groups:
        by_pair.setdefault(family_of(group[0]), []).append(group)
    rng = random.Random(f"arc-world-split:{seed}")
    out: dict[str, list[str]] = {"pretrain": list(prims), "train": [], "heldout": []}
    counts = dict.fromkeys(SPLITS, 0)
    for pair in sorted(by_pair):
        pair_groups = sorted(by_pair[pair])
        rng.shuffle(pair_groups)
        for group in pair_groups:  # to the split furthest below its share so far (ties: a seeded draw)
            total = sum(counts.values()) + len(group)
            split = min(SPLITS, key=lambda s: (counts[s] - cfg.shares[SPLITS.index(s)] * total, rng.random()))
            counts[split] += len(group)
            out[split].extend(group)
    usable_prims, usable_comps = usable_groups(cfg)
    keep = {*usable_prims, *(n for g in usable_comps for n in g)}
    return {s: tuple(sorted(n for n in names if n in keep)) for s, names in out.items()}


# ---------------------------------------------------------------- the colour-map world (the sandbox's)
COPY = "copy"
MAP_PREFIX = "colour_map:"


def map_name(perm: tuple[int, ...], geometry: str = IDENTITY) -> str:
    """``(0, 3, 1, 2, 5, 4)`` -> "colour_map:31254" (colour c becomes perm[c]); "rot90+colour_map:..."
    with a geometric step first; the identity map is the copy rule ("copy", "rot90")."""
    identity = list(perm) == sorted(perm)
    colours = COPY if identity else MAP_PREFIX + "".join(map(str, perm[1:]))
    if geometry == IDENTITY:
        return colours
    return geometry if identity else f"{geometry}+{colours}"


def map_rule(name: str) -> Rule:
    """The rule a colour-map world's name stands for (``map_name``'s inverse)."""
    steps: list[tuple[str, object]] = []
    for part in name.split("+"):
        if part == COPY:
            continue
        if part.startswith(MAP_PREFIX) and part[len(MAP_PREFIX):].isdigit():
            steps.append(("colour_map", (BG, *map(int, part[len(MAP_PREFIX):]))))
        elif part in GEOMETRIC:
            steps.append((part, None))
        else:
            raise ValueError(f"rule {name!r}: not a colour-map world's rule (copy, colour_map:<digits>, "
                             f"a geometric step and '+')")
    return Rule(name, tuple(steps))


def map_split(seed: int, cfg: WorldConfig) -> dict[str, tuple[str, ...]]:
    """The colour-map world's rules: the permutations of colours 1..n_colours-1 other than the
    identity, in a seeded order, the first cfg.maps[0] for pretraining (beside the copy rule), the
    next cfg.maps[1] for ReSTEM training, the next cfg.maps[2] held out; each with every geometric
    step of cfg.geometry."""
    perms = [(BG, *p) for p in itertools.permutations(range(1, cfg.n_colours))][1:]
    random.Random(f"arc-map-split:{seed}").shuffle(perms)
    a, b, c = cfg.maps
    chosen = {"pretrain": [(BG, *range(1, cfg.n_colours))] + perms[:a], "train": perms[a:a + b],
              "heldout": perms[a + b:a + b + c]}
    return {s: tuple(map_name(p, g) for p in chosen[s] for g in cfg.geometry) for s in SPLITS}


def _colours(g: Grid) -> set[int]:
    return {c for row in g for c in row if c != BG}


def map_task(rule: Rule, rng: random.Random, cfg: WorldConfig, attempts: int = 400) -> dict:
    """A colour-map world's task: random grids, every example changed by every step (the copy rule
    aside), and every colour of the test input shown by a demonstration (the map is determined)."""
    n = rng.randint(*cfg.demos)
    pairs: list[tuple[Grid, Grid]] = []
    for _ in range(attempts):
        g = _noise_grid(rng, rng.randint(cfg.min_side, cfg.max_side), rng.randint(cfg.min_side, cfg.max_side),
                        cfg.n_colours)
        out = rule.trace(g)
        if out is None or any(g == i for i, _ in pairs):
            continue
        if len(pairs) == n and not _colours(g) <= set().union(*(_colours(i) for i, _ in pairs)):
            continue
        pairs.append((g, out))
        if len(pairs) == n + 1:
            as_pair = lambda p: {"input": as_lists(p[0]), "output": as_lists(p[1])}
            return {"train": [as_pair(p) for p in pairs[:n]], "test": [as_pair(pairs[n])]}
    raise ValueError(f"rule {rule.name}: fewer than {n + 1} usable inputs in {attempts} draws")


# the few-shot sandbox's world: pretraining copies grids (through colour permutations, in the build);
# ReSTEM training and held-out tasks are colour maps it never saw, 40 each, disjoint
SANDBOX_WORLD = WorldConfig(maps=(0, 40, 40), min_side=4, max_side=4, demos=(3, 3))


# ---------------------------------------------------------------- the world
class WorldTask(NamedTuple):
    task_id: str
    rule_name: str
    arc: dict
    rule: Rule          # with its parameters: ``rule(input) == output`` on every pair


@dataclass(frozen=True)
class World:
    seed: int           # draws the tasks
    split_seed: int     # splits the rules
    rules: dict[str, tuple[str, ...]]
    pretrain: list[WorldTask] = field(default_factory=list)
    train: list[WorldTask] = field(default_factory=list)
    heldout: list[WorldTask] = field(default_factory=list)


def task_id(split: str, index: int) -> str:
    return f"{ID_PREFIX}-{split}-{index:03d}"


def split_tasks(seed: int, split: str, n: int, cfg: WorldConfig | None = None,
                split_seed: int = RULE_SPLIT_SEED) -> list[WorldTask]:
    """The first ``n`` tasks of a split; task i is the same whatever n is (its own seeded draw),
    its rule the split's rules in a seeded order, round and round."""
    cfg = cfg or WorldConfig()
    names = list(split_rules(split_seed, cfg)[split])
    if not names:
        raise ValueError(f"the {split} split has no rule; give it a larger share (WorldConfig.shares)")
    random.Random(f"arc-world-order:{seed}:{split}").shuffle(names)
    tasks = []
    for i in range(n):
        rng = random.Random(f"arc-world-task:{seed}:{split}:{i}")
        name = names[i % len(names)]
        if cfg.maps is not None:
            rule = map_rule(name)
            tasks.append(WorldTask(task_id(split, i), name, map_task(rule, rng, cfg), rule))
            continue
        rule = draw_rule(name, rng, cfg.n_colours)
        tasks.append(WorldTask(task_id(split, i), name, make_task(rule, rng, cfg), rule))
    return tasks


def world(seed: int, n_pretrain: int = 2000, n_train: int = 32, n_heldout: int = 32,
          cfg: WorldConfig | None = None, split_seed: int = RULE_SPLIT_SEED) -> World:
    """The first n tasks of each split, drawn by ``seed``, the rules split by ``split_seed``.

    The rule split has a seed of its own so that a model pretrained on one world stays
    recall-free on the training and held-out tasks of a world of any other seed."""
    cfg = cfg or WorldConfig()
    return World(seed, split_seed, split_rules(split_seed, cfg),
                 *(split_tasks(seed, s, n, cfg, split_seed) for s, n in zip(SPLITS, (n_pretrain, n_train, n_heldout))))


# ---------------------------------------------------------------- what augmentations do to a rule
def _dihedral(name: str) -> Callable[[Grid], Grid]:
    return lambda g: PRIMITIVES[name].fn(g, None)


VIEWS: dict[str, Callable[[Grid], Grid]] = {
    **{n: _dihedral(n) for n in ("flip_rows", "flip_cols", "rot90", "rot180", "rot270", "transpose")},
    "anti_transpose": lambda g: rot180(_transpose(g)),
    "upscale2": _upscale(2, 2), "taller2": _upscale(2, 1), "wider2": _upscale(1, 2),
    "tile_rows2": _tile(2, 1), "tile_cols2": _tile(1, 2), "tile2": _tile(2, 2),
    "reflect_rows": lambda g: g + g[::-1], "reflect_cols": lambda g: tuple(r + r[::-1] for r in g),
    "reflect_rows_mirror_first": lambda g: g[::-1] + g,
    "reflect_cols_mirror_first": lambda g: tuple(r[::-1] + r for r in g),
}
COLOURS_VIEW = "colours"  # a permutation of the non-background colours, as test-time training draws them


def _translate(dy: int, dx: int) -> Callable[[Grid], Grid]:
    """Rolled dy rows down and dx columns right, wrapping around (views.translate)."""
    def roll(g: Grid) -> Grid:
        y, x = dy % len(g), dx % len(g[0])
        rows = g[-y:] + g[:-y] if y else g
        return tuple(row[-x:] + row[:-x] for row in rows) if x else rows
    return roll


def view_named(name: str) -> Callable[[Grid], Grid]:
    """A view by its name in ``engine.tasks.fewshot.views`` (``VIEWS``, or ``translate<dy>,<dx>``);
    "a+b" is a, then b (a chain view)."""
    fs = []
    for part in name.split("+"):
        shift = re.fullmatch(r"translate(-?\d+),(-?\d+)", part)
        if part not in VIEWS and not shift:
            raise ValueError(f"view {name!r}: choose among {' '.join(VIEWS)} translate<dy>,<dx> {COLOURS_VIEW}, "
                             "or two joined by '+'")
        fs.append(VIEWS[part] if part in VIEWS else _translate(int(shift.group(1)), int(shift.group(2))))
    return lambda g: reduce(lambda x, f: f(x), fs, g)


def rule_commutes(rule: Rule | str, view: str, cfg: WorldConfig | None = None, samples: int = 24) -> bool:
    """Whether ``view`` (a name ``view_named`` knows, or "colours") keeps ``rule``: view(rule(g)) == rule(view(g))
    on sample inputs g where the rule is defined (on view(g) it need not be: tiling ties two objects
    for largest, and the view's examples then teach another rule). A rule name is checked over
    several draws of its parameters (all must commute); "colours" over several permutations."""
    cfg = cfg or WorldConfig()
    named = view_named(view) if view != COLOURS_VIEW else None
    rng = random.Random(f"arc-world-commute:{rule if isinstance(rule, str) else rule.name}:{view}")
    rules = list(dict.fromkeys(draw_rule(rule, rng, cfg.n_colours) for _ in range(6))) if isinstance(rule, str) \
        else [rule]
    wide = WorldConfig(cfg.min_side, cfg.max_side, cfg.n_colours, max_out=30)
    for r in rules:
        shapes, checked = input_shapes(r.name, wide), 0
        for _ in range(samples * 8):
            g = _draw_input(r, rng, wide, shapes)
            if view == COLOURS_VIEW:
                rest = list(range(1, cfg.n_colours))
                rng.shuffle(rest)
                v: Callable[[Grid], Grid] = lambda x, p=(BG, *rest): colour_map(x, p)
            else:
                v = named
            if not _defined(r, g):
                continue
            if v(r(g)) != r(v(g)):
                return False
            checked += 1
            if checked == samples:
                break
        if not checked:
            raise ValueError(f"rule {r.name}: no sample input to check it on")
    return True


def _defined(rule: Rule, g: Grid) -> bool:
    for prim, param in rule.steps:
        p = PRIMITIVES[prim]
        if p.ok is not None and not p.ok(g, param):
            return False
        g = p.fn(g, param)
    return True
