"""ARC grids as the console draws them (colours, marks, the plain fallback, wrapping) and the
check a plan edited in review must pass; no store, no app."""

from __future__ import annotations

from rich.color import Color
from rich.console import Console

from seal_tui.self_edit_check import schema_problem
from seal_tui.widgets.arc_grid import ARC_COLORS, MARK, GridGallery, GridPanel, as_grid, compare_note

# the shape of the few-shot plan's schema (engine.tasks.fewshot.plan.json_schema), written out
SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object", "additionalProperties": False, "required": ["data_generation", "training"],
    "properties": {
        "data_generation": {"type": "object", "properties": {"use_basic_augmentations": {"type": "boolean"}}},
        "training": {"type": "object", "additionalProperties": False,
                     "properties": {"learning_rate": {"type": "number", "minimum": 1e-7, "maximum": 0.1},
                                    "num_train_epochs": {"type": "integer", "minimum": 1}}},
    },
}


def lines(renderable, width: int = 60) -> list[list[tuple[str, object]]]:
    """Each rendered line as (character, style) per column."""
    console = Console(width=width, color_system="truecolor", force_terminal=True)
    out: list[list[tuple[str, object]]] = [[]]
    for seg in console.render(renderable, console.options.update_width(width)):
        if seg.text == "\n":
            out.append([])
            continue
        out[-1] += [(ch, seg.style) for ch in seg.text]
    return [line for line in out if line]


def text(line) -> str:
    return "".join(ch for ch, _ in line)


def test_cells_take_arcs_ten_colours_two_characters_each():
    grid = [list(range(5)), list(range(5, 10))]
    drawn = lines(GridGallery([GridPanel("all ten", grid)]))
    assert text(drawn[0]).startswith("all ten")
    for r, row in enumerate(grid):
        for c, value in enumerate(row):
            for x in (2 * c, 2 * c + 1):
                ch, style = drawn[1 + r][x]
                assert ch == " " and style.bgcolor == Color.parse(ARC_COLORS[value]), (r, c, x)


def test_cells_that_differ_from_the_reference_are_marked():
    gold = [[1, 1], [1, 1]]
    answer = [[1, 2], [1, 1]]
    note, ok = compare_note(answer, gold)
    drawn = lines(GridGallery([GridPanel("answer", answer, reference=gold, note=note, good=ok)]))
    assert text(drawn[1])[:4] == "   " + MARK and text(drawn[2])[:4] == "    "
    assert drawn[1][3][1].bgcolor == Color.parse(ARC_COLORS[2])     # the mark sits on the answer's colour
    assert text(drawn[3]).strip() == "1 cell differs" and not ok


def test_without_colours_cells_are_digits_and_differences_still_marked():
    drawn = lines(GridGallery([GridPanel("answer", [[0, 3], [7, 9]], reference=[[0, 3], [7, 8]])], color=False))
    assert [text(line).rstrip() for line in drawn] == ["answer", "0 3", f"7 9{MARK}"]
    assert all(style is None or style.bgcolor is None for line in drawn for _, style in line)


def test_grids_sit_side_by_side_and_wrap_when_narrow():
    panels = [GridPanel(f"grid {i}", [[i] * 4]) for i in range(3)]          # 8 columns each
    wide = lines(GridGallery(panels, color=False), width=60)
    assert text(wide[0]).split() == ["grid", "0", "grid", "1", "grid", "2"]
    narrow = [text(line) for line in lines(GridGallery(panels, color=False), width=20)]
    captions = [line.split() for line in narrow if "grid" in line]
    assert captions == [["grid", "0", "grid", "1"], ["grid", "2"]]


def test_a_grid_wider_than_the_pane_gets_one_character_a_cell():
    drawn = lines(GridGallery([GridPanel("wide", [[1] * 30])]), width=40)
    assert len(drawn[1]) == 30 and drawn[1][29][1].bgcolor == Color.parse(ARC_COLORS[1])


def test_no_grid_and_odd_values_are_shown_not_fatal():
    assert as_grid("3 3\n3 3") is None and as_grid([[]]) is None and as_grid([[1, "x"]]) == [[1, -1]]
    drawn = [text(line) for line in lines(GridGallery([GridPanel("answer", None), GridPanel("odd", [[12, 1]])],
                                                         color=False))]
    assert "no grid" in drawn[1] and "?" in drawn[1]
    assert compare_note(None, [[1]]) == ("no grid", False)
    assert compare_note([[1, 1]], [[1]]) == ("1×2, gold 1×1", False)


def test_an_edited_plan_must_be_json_that_fits_the_schema():
    ok = '{"data_generation": {"use_basic_augmentations": true}, "training": {"learning_rate": 0.0001}}'
    assert schema_problem(ok, SCHEMA) is None
    assert schema_problem("anything at all", None) is None           # free text (knowledge runs)
    assert schema_problem('{"training": {"learning_rate": 5}, "data_generation": {}}', SCHEMA) == \
        "training.learning_rate: 5 is greater than the maximum of 0.1"
    assert schema_problem("use rotations {", SCHEMA).startswith("not JSON: Expecting value at line 1, column 1")
    assert schema_problem('{"training": {}}', SCHEMA) == "the object: 'data_generation' is a required property"
    many = schema_problem('{"extra": 1, "training": {"num_train_epochs": 0}}', SCHEMA)
    assert many.endswith("(and 2 more problems)")


def test_a_demonstrations_input_and_output_wrap_together():
    panels = [GridPanel(f"{kind} {i}", [[i] * 4]) for i in (1, 2) for kind in ("in", "out")]   # 8 columns each
    drawn = [text(line) for line in lines(GridGallery(panels, color=False, gap=2, together=2), width=30)]
    captions = [line.split() for line in drawn if "in" in line]
    assert captions == [["in", "1", "out", "1"], ["in", "2", "out", "2"]]     # three would fit in 30 columns
