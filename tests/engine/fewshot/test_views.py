"""Augmentations and their inverses: a view that does not undo exactly would make test-time
training learn a wrong rule and the vote count answers in the wrong orientation."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.tasks.fewshot import views as V
from engine.tasks.fewshot.arc import ArcTask, Example
from tests.engine.fewshot.strategies import PROPERTY, grids

ASYMMETRIC = ((1, 2, 3), (4, 5, 6))


@PROPERTY
@given(grids(), st.sampled_from(sorted(V.DIHEDRAL)))
def test_every_dihedral_view_composed_with_its_inverse_is_the_identity(g, name):
    view = V.DIHEDRAL[name]
    assert view.invert(view(g)) == g
    assert view(view.invert(g)) == g


@PROPERTY
@given(grids(max_side=15), st.integers(0, 2**32 - 1), st.data())
def test_every_augmentation_a_self_edit_can_switch_on_is_undone_by_its_inverse(g, seed, data):
    families = V.augmentation_families(random.Random(seed))
    view = data.draw(st.sampled_from([v for vs in families.values() for v in vs]), label="view")
    assert view.invert(view(g)) == g


def test_the_dihedral_views_are_eight_different_pictures_of_an_asymmetric_grid():
    pictures = {v(ASYMMETRIC) for v in V.DIHEDRAL.values()}
    assert len(pictures) == 8
    assert V.rot90(V.rot90(V.rot90(V.rot90(ASYMMETRIC)))) == ASYMMETRIC
    assert V.rot90(ASYMMETRIC) == ((3, 6), (2, 5), (1, 4))  # counter-clockwise, as numpy's rot90


def test_the_families_are_the_references_lists():
    fam = V.augmentation_families(random.Random(0))
    assert {k: len(v) for k, v in fam.items()} == {"basic": 11, "size": 3, "chain": 6, "repeat": 3}
    assert [v.name for v in fam["size"]] == ["upscale2", "taller2", "wider2"]
    assert all(v.name.endswith("+upscale2") for v in fam["chain"])


@PROPERTY
@given(grids(), st.integers(0, 2**32 - 1))
def test_colour_permutations_keep_the_background_and_invert(g, seed):
    view = V.colour_view(V.colour_permutation(random.Random(seed)))
    out = view(g)
    assert all((a == 0) == (b == 0) for ra, rb in zip(g, out) for a, b in zip(ra, rb))
    assert view.invert(out) == g


@PROPERTY
@given(grids(max_side=15), st.sampled_from([(2, 2), (2, 1), (1, 2), (3, 1)]))
def test_upscale_and_downscale_invert_each_other(g, factors):
    up = V.upscale(g, *factors)
    assert (len(up), len(up[0])) == (len(g) * factors[0], len(g[0]) * factors[1])
    assert V.downscale(up, *factors) == g


@PROPERTY
@given(grids(max_side=15), st.sampled_from([(2, 1), (1, 2), (2, 2)]))
def test_tile_and_untile_invert_each_other(g, counts):
    assert V.untile(V.tile(g, *counts), *counts) == g


@PROPERTY
@given(grids(max_side=15), st.sampled_from([0, 1]), st.booleans())
def test_reflect_and_unreflect_invert_each_other(g, axis, mirror_first):
    assert V.unreflect(V.reflect(g, axis, mirror_first), axis, mirror_first) == g


def test_checked_inverses_refuse_grids_that_are_not_images_instead_of_cutting_them():
    with pytest.raises(V.NotInvertible):
        V.downscale(((1, 1), (1, 1), (1, 1)), 2, 2)       # odd height
    with pytest.raises(V.NotInvertible):
        V.downscale(((1, 2), (1, 1)), 2, 2)               # a block of two colours
    with pytest.raises(V.NotInvertible):
        V.untile(((1, 2), (3, 4)), 2, 1)                  # the two tiles differ
    with pytest.raises(V.NotInvertible):
        V.unreflect(((1, 2), (3, 4)), 1, False)           # not a mirror image


def test_a_chained_view_is_undone_in_the_opposite_order():
    chain = V.DIHEDRAL["rot90"].then(V.upscale_view(2, 1))
    assert chain(ASYMMETRIC) == V.upscale(V.rot90(ASYMMETRIC), 2, 1)
    assert chain.invert(chain(ASYMMETRIC)) == ASYMMETRIC


@PROPERTY
@given(st.lists(grids(max_side=6), min_size=3, max_size=7), st.integers(0, 2**32 - 1), st.data())
def test_a_view_of_a_whole_task_is_undone_grid_by_grid(gs, seed, data):
    task = ArcTask("t", tuple(Example(a, b) for a, b in zip(gs[:-1:2], gs[1::2])), (gs[-1],), (gs[0],))
    families = V.augmentation_families(random.Random(seed))
    view = data.draw(st.sampled_from([*V.DIHEDRAL.values(), *(v for vs in families.values() for v in vs)]))
    seen = V.view_task(task, view)
    assert seen.test_inputs == (view(gs[-1]),) and seen.train[0].output == view(gs[1])
    assert V.view_task(seen, view, undo=True) == task
