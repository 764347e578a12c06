"""Augmentations: small pure functions on grids, each with its inverse.

A *view* of a task applies one transform to every grid of it (demonstrations, query
input and output), so the hidden rule still holds in the view. Test-time training learns
from many views of the demonstrations; evaluation asks under several views and maps each
answer back through the inverse before voting.

Inverses that cannot always succeed (downscale, untile, unreflect) are checked: a grid
that is not the image of the transform raises ``NotInvertible`` instead of being cut.

The four families a self-edit switches on are the reference's (few-shot/self-edit.py,
``get_augmenters``): basic = rotations, flips, reflections, a translation and transpose;
size = upscale x2 of height, width or both; chain = a geometric transform then upscale x2;
repeat = tiling x2 along rows, columns or both.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from engine.tasks.fewshot.arc import ArcTask, Example, Grid

Transform = Callable[[Grid], Grid]


class NotInvertible(ValueError):
    """A grid that no input of the transform maps to (e.g. an odd height for a 2x downscale)."""


@dataclass(frozen=True)
class View:
    """An invertible transform of grids, named as the console and the vote show it."""

    name: str
    forward: Transform
    backward: Transform

    def __call__(self, grid: Grid) -> Grid:
        return self.forward(grid)

    def invert(self, grid: Grid) -> Grid:
        return self.backward(grid)

    def then(self, other: View) -> View:
        """``self`` first, then ``other``; undone in the opposite order."""
        return View(f"{self.name}+{other.name}", lambda g: other.forward(self.forward(g)),
                    lambda g: self.backward(other.backward(g)))


def view_task(task: ArcTask, view: View, *, undo: bool = False) -> ArcTask:
    """Every grid of ``task`` (demonstrations, test inputs and outputs) seen through ``view``
    (or through its inverse, with ``undo``): the hidden rule holds in the view too."""
    f = view.invert if undo else view.forward
    return ArcTask(task.task_id, tuple(Example(f(e.input), f(e.output)) for e in task.train),
                   tuple(map(f, task.test_inputs)), tuple(map(f, task.test_outputs)))


# ---------------------------------------------------------------- the dihedral group (8 views)
def identity(g: Grid) -> Grid:
    return g


def transpose(g: Grid) -> Grid:
    return tuple(zip(*g))


def flip_rows(g: Grid) -> Grid:
    """Upside down (numpy's flipud; the reference's Flip(0))."""
    return g[::-1]


def flip_cols(g: Grid) -> Grid:
    """Left to right (numpy's fliplr; the reference's Flip(1))."""
    return tuple(row[::-1] for row in g)


def rot90(g: Grid) -> Grid:
    """A quarter turn counter-clockwise, as numpy's rot90 and the reference's Rotate(90)."""
    return flip_rows(transpose(g))


def rot180(g: Grid) -> Grid:
    return flip_rows(flip_cols(g))


def rot270(g: Grid) -> Grid:
    return transpose(flip_rows(g))


def anti_transpose(g: Grid) -> Grid:
    """Mirror about the anti-diagonal."""
    return rot180(transpose(g))


DIHEDRAL: dict[str, View] = {v.name: v for v in (
    View("identity", identity, identity),
    View("rot90", rot90, rot270),
    View("rot180", rot180, rot180),
    View("rot270", rot270, rot90),
    View("flip_rows", flip_rows, flip_rows),
    View("flip_cols", flip_cols, flip_cols),
    View("transpose", transpose, transpose),
    View("anti_transpose", anti_transpose, anti_transpose),
)}


# ---------------------------------------------------------------- size: upscale, tile, reflect
def upscale(g: Grid, fy: int, fx: int) -> Grid:
    """Each cell becomes an fy x fx block."""
    return tuple(tuple(c for c in row for _ in range(fx)) for row in g for _ in range(fy))


def downscale(g: Grid, fy: int, fx: int) -> Grid:
    """The inverse of ``upscale``, checked: every block must be one colour."""
    if len(g) % fy or len(g[0]) % fx:
        raise NotInvertible(f"a {len(g)}x{len(g[0])} grid is not an upscale by {fy}x{fx}")
    small = tuple(tuple(row[::fx]) for row in g[::fy])
    if upscale(small, fy, fx) != g:
        raise NotInvertible(f"the {fy}x{fx} blocks of the grid are not single colours")
    return small


def tile(g: Grid, ny: int, nx: int) -> Grid:
    """The grid repeated ny times down and nx times across (the reference's Repeat)."""
    return tuple(row * nx for row in g) * ny


def untile(g: Grid, ny: int, nx: int) -> Grid:
    """The inverse of ``tile``, checked: the first tile, when every tile equals it."""
    if len(g) % ny or len(g[0]) % nx:
        raise NotInvertible(f"a {len(g)}x{len(g[0])} grid is not {ny}x{nx} tiles")
    first = tuple(row[: len(row) // nx] for row in g[: len(g) // ny])
    if tile(first, ny, nx) != g:
        raise NotInvertible(f"the grid's {ny}x{nx} tiles differ")
    return first


def reflect(g: Grid, axis: int, mirror_first: bool) -> Grid:
    """The grid beside its mirror image (axis 0: stacked, 1: side by side); the reference's Reflect."""
    mirror = flip_rows(g) if axis == 0 else flip_cols(g)
    a, b = (mirror, g) if mirror_first else (g, mirror)
    return a + b if axis == 0 else tuple(ra + rb for ra, rb in zip(a, b))


def unreflect(g: Grid, axis: int, mirror_first: bool) -> Grid:
    """The inverse of ``reflect``, checked: the original half, when the other half mirrors it."""
    n = len(g) if axis == 0 else len(g[0])
    if n % 2:
        raise NotInvertible(f"a grid {n} cells long on axis {axis} is not a reflection")
    half = n // 2
    part = slice(half, None) if mirror_first else slice(None, half)  # the original is after its mirror
    kept = g[part] if axis == 0 else tuple(row[part] for row in g)
    if reflect(kept, axis, mirror_first) != g:
        raise NotInvertible(f"the grid's halves on axis {axis} are not mirror images")
    return kept


def translate(g: Grid, dy: int, dx: int) -> Grid:
    """Rolled dy rows down and dx columns right, wrapping around (numpy's roll)."""
    dy, dx = dy % len(g), dx % len(g[0])
    rows = g[-dy:] + g[:-dy] if dy else g
    return tuple(row[-dx:] + row[:-dx] for row in rows) if dx else rows


def upscale_view(fy: int, fx: int) -> View:
    name = {(2, 2): "upscale2", (2, 1): "taller2", (1, 2): "wider2"}.get((fy, fx), f"upscale{fy}x{fx}")
    return View(name, lambda g: upscale(g, fy, fx), lambda g: downscale(g, fy, fx))


def tile_view(ny: int, nx: int) -> View:
    name = {(2, 1): "tile_rows2", (1, 2): "tile_cols2", (2, 2): "tile2"}.get((ny, nx), f"tile{ny}x{nx}")
    return View(name, lambda g: tile(g, ny, nx), lambda g: untile(g, ny, nx))


def reflect_view(axis: int, mirror_first: bool) -> View:
    name = f"reflect_{'rows' if axis == 0 else 'cols'}{'_mirror_first' if mirror_first else ''}"
    return View(name, lambda g: reflect(g, axis, mirror_first), lambda g: unreflect(g, axis, mirror_first))


def translate_view(dy: int, dx: int) -> View:
    return View(f"translate{dy},{dx}", lambda g: translate(g, dy, dx), lambda g: translate(g, -dy, -dx))


# ---------------------------------------------------------------- colours
def colour_permutation(rng: random.Random) -> tuple[int, ...]:
    """A random map of colours 1-9 onto themselves; 0 stays 0 (ARC's background keeps its meaning)."""
    rest = list(range(1, 10))
    rng.shuffle(rest)
    return (0, *rest)


def colour_view(perm: tuple[int, ...]) -> View:
    if sorted(perm) != list(range(10)):
        raise ValueError(f"{perm} is not a permutation of the colours 0-9")
    back = tuple(perm.index(c) for c in range(10))
    recolour = lambda p: (lambda g: tuple(tuple(p[c] for c in row) for row in g))
    return View("colours" + "".join(map(str, perm)), recolour(perm), recolour(back))


# ---------------------------------------------------------------- the self-edit's four families
def augmentation_families(rng: random.Random) -> dict[str, list[View]]:
    """The views each data-generation switch turns on, in the reference's order.

    ``rng`` draws the translation's shift once per call (the reference draws a random
    shift of up to 3 cells per task; here one shift for every grid of the task)."""
    d = DIHEDRAL
    geometric = [d["rot90"], d["rot270"], d["rot180"], d["flip_rows"], d["flip_cols"], d["transpose"]]
    basic = [d["rot90"], d["rot270"], d["rot180"], d["flip_rows"], d["flip_cols"],
             reflect_view(0, True), reflect_view(1, True), reflect_view(0, False), reflect_view(1, False),
             translate_view(rng.randrange(4), rng.randrange(4)), d["transpose"]]
    return {
        "basic": basic,
        "size": [upscale_view(2, 2), upscale_view(2, 1), upscale_view(1, 2)],
        "chain": [v.then(upscale_view(2, 2)) for v in geometric],
        "repeat": [tile_view(2, 1), tile_view(1, 2), tile_view(2, 2)],
    }
