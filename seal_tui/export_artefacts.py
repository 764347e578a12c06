"""``seal-tui export RUN --what policy|adapters --to DIR``: a run's saved weights, copied where other
tools take them from (the Hub, ``from_pretrained``, vLLM's ``--lora-modules``).

policy    the folder a round's M-step saved (``--round R``; default: the last saved round), as
          ``from_pretrained`` reads it: DIR holds config.json, the safetensors and the tokenizer.
adapters  the kept candidates' PEFT folders (``run.save_kept_adapters``), of every round or of
          ``--round R``, as DIR/round-<r>/candidate-<id>/.

Each copied folder gets a model card (README.md) written from the store as it is now
(engine.store.model_card). Files are copied, nothing is loaded: no torch here. The copy is
made beside DIR and renamed into place, so a failed export leaves no half-filled DIR.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from engine.store.model_card import CARD_NAME, adapter_card, policy_card
from engine.store.summary import kept_adapters, saved_policies

WHATS = ("policy", "adapters")


class ArtefactExportError(Exception):
    """An input the user can fix (the message names it and the fix)."""


def export_policy(store, run: dict, round_: int | None, to: Path) -> tuple[int, Path]:
    """Copy round ``round_``'s saved policy (default: the last saved) to ``to``; returns (round, folder)."""
    saved = {r: Path(p) for r, p in saved_policies(store, run["id"]).items()}
    if not saved:
        raise ArtefactExportError(
            f"run {run['id']} has no saved policy: "
            + ("an imported run holds results, not weights" if run.get("source") == "imported" else
               "no round has finished its M-step yet, or the run set run.save_policy = false")
            + "; `seal-tui show " + run["id"] + "` lists what it saved")
    rounds = ", ".join(str(r) for r in sorted(saved))
    if round_ is None:
        round_ = max(saved)
    if round_ not in saved:
        raise ArtefactExportError(f"--round {round_}: run {run['id']} saved no policy for round {round_}; "
                                  f"rounds with a saved policy: {rounds}")
    source = saved[round_]
    if not (source / "config.json").is_file():
        raise ArtefactExportError(f"--round {round_}: the policy folder {source} is gone or incomplete (no config.json); "
                                  f"rounds with a saved policy: {rounds}")
    _check_target(to)
    _copy_into(to, [(source, Path("."))])
    (to / CARD_NAME).write_text(policy_card(store, run, round_, folder=to.absolute()), encoding="utf-8")
    return round_, to


def export_adapters(store, run: dict, round_: int | None, to: Path) -> list[Path]:
    """Copy the kept adapters (of round ``round_``, or all) to ``to``/round-<r>/candidate-<id>/."""
    found = [a for a in kept_adapters(store, run) if a["peft"]]
    if not found:
        raise ArtefactExportError(f"run {run['id']} kept no adapters: a run saves them with run.save_kept_adapters "
                                  "= true (seal-tui run ... --set run.save_kept_adapters=true)")
    rounds = ", ".join(str(r) for r in sorted({a["round"] for a in found}))
    picked = [a for a in found if round_ is None or a["round"] == round_]
    if not picked:
        raise ArtefactExportError(f"--round {round_}: run {run['id']} kept no adapters in round {round_}; "
                                  f"rounds with kept adapters: {rounds} (or leave --round out for all)")
    _check_target(to)
    places = [(Path(a["path"]), Path(f"round-{a['round']}") / f"candidate-{a['candidate_id']}") for a in picked]
    _copy_into(to, places)
    out = []
    for a, (_, rel) in zip(picked, places):
        folder = to / rel
        (folder / CARD_NAME).write_text(adapter_card(store, run, a["candidate_id"], folder.absolute()), encoding="utf-8")
        out.append(folder)
    return out


def _check_target(to: Path) -> None:
    if to.exists() and not to.is_dir():
        raise ArtefactExportError(f"--to {to} is a file; give a new or empty folder")
    if to.is_dir() and any(to.iterdir()):
        raise ArtefactExportError(f"--to {to} exists and is not empty; give a new or empty folder (nothing was "
                                  "overwritten)")


def _copy_into(to: Path, places: list[tuple[Path, Path]]) -> None:
    """Each source folder to ``to``/its place, made in a sibling folder first and renamed into place."""
    to = to.absolute()
    part = to.with_name(to.name + ".part")
    shutil.rmtree(part, ignore_errors=True)
    try:
        for source, rel in places:
            shutil.copytree(source, part / rel, dirs_exist_ok=True)
        if to.is_dir():
            to.rmdir()   # empty (checked): the copy takes its place
        part.replace(to)
    except OSError as exc:
        raise ArtefactExportError(f"cannot write {exc.filename or to}: {exc.strerror or exc}") from None
    finally:
        shutil.rmtree(part, ignore_errors=True)
