"""Model cards: the ``README.md`` that the Hugging Face Hub, ``huggingface_hub.ModelCard`` and people
read in a saved policy folder (``runs/<id>/policy/round-<r>/``) and a kept adapter folder
(``runs/<id>/adapters/round-<r>/candidate-<id>/``), written from the store.

YAML front matter (``base_model``, ``library_name``: transformers for a policy, peft for an
adapter, ``tags``: seal), then what the run was: its config, its rounds, its held-out accuracy
per round, and the data the folder's weights were trained on (the contexts and self-edits of
each M-step for a policy; the one self-edit for an adapter). The engine writes them as each
round ends (``write_round_cards``); ``seal-tui export --what policy|adapters`` writes them
again into the copy, with what the store holds then.
"""

from __future__ import annotations

import json
from pathlib import Path

from .summary import kept_adapters, run_summary, saved_policies

CARD_NAME = "README.md"
TEXT_CAP = 2000   # characters of one self-edit in a card (a sampled self-edit can run long)


def write_round_cards(store, run_id: str, round_: int) -> list[Path]:
    """README.md into round ``round_``'s saved policy folder and each kept adapter folder of it."""
    run = store.get_run(run_id)
    summary = run_summary(store, run)
    written = []
    policy = saved_policies(store, run_id).get(round_)
    if policy is not None and Path(policy).is_dir():
        written.append(_write(Path(policy), policy_card(store, run, round_, summary)))
    for adapter in kept_adapters(store, run):
        folder = Path(adapter["path"])
        if adapter["round"] == round_ and folder.is_dir():
            written.append(_write(folder, adapter_card(store, run, adapter["candidate_id"], folder, summary)))
    return written


def _write(folder: Path, text: str) -> Path:
    path = folder / CARD_NAME
    tmp = path.with_name(CARD_NAME + ".part")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)  # a reader never meets half a card
    finally:
        tmp.unlink(missing_ok=True)
    return path


def policy_card(store, run: dict, round_: int, summary: dict | None = None, folder: Path | None = None) -> str:
    """The card of round ``round_``'s policy in ``folder`` (default: where the run saved it)."""
    s = summary or run_summary(store, run)
    base = s["model"] or _config(run).get("model", {}).get("name_or_path") or ""
    folder = folder or saved_policies(store, run["id"]).get(round_)
    lines = [*_front_matter(base, "transformers", ["seal", "restem", "self-edit"]),
             f"# SEAL policy after round {round_} of run {run['id']}", "",
             (f"The policy (the model that writes self-edits) of the SEAL run **{s['name'] or run['id']}** "
             f"({s['task']} task, preset {s['preset'] or '–'}) after {round_} of its {s['rounds']} ReSTEM rounds: "
             f"`{base}` trained by supervised fine-tuning on its own kept self-edits in each round's M-step"
             f"{' (a LoRA merged into the weights)' if _config(run).get('mstep', {}).get('mode') == 'lora' else ''}. "
             "Saved with `save_pretrained` (safetensors) by seal-tui's engine."), "",
             "## Use", "", "```python", "from transformers import AutoModelForCausalLM, AutoTokenizer", "",
             f'path = "{folder or "."}"',
             "model = AutoModelForCausalLM.from_pretrained(path)", "tokenizer = AutoTokenizer.from_pretrained(path)",
             "```", "",
             *_heldout(s, round_, "this policy"), *_rounds(s, round_),
             "## Training data", "", *_data(run), "",
             ("Self-edits this policy was trained on, round by round (prompt: the run's self-edit prompt "
             "on the context; target: the self-edit):"), ""]
    for r in range(1, round_ + 1):
        lines += _round_examples(store, run, r)
    lines += _config_block(run)
    return "\n".join(lines) + "\n"


def adapter_card(store, run: dict, candidate_id: int, folder: Path, summary: dict | None = None) -> str:
    s = summary or run_summary(store, run)
    cand = store.candidates_by_id([candidate_id]).get(candidate_id, {})
    round_ = cand.get("round", 0)
    try:
        base = json.loads((folder / "adapter_config.json").read_text())["base_model_name_or_path"]
    except (OSError, ValueError, KeyError):
        base = s["model"] or ""
    labels = s.get("labels") or {}
    context = labels.get("context", "context")
    starting = "the run's starting model" if round_ <= 1 else f"the policy after round {round_ - 1}"
    unsaved = round_ > 1 and (round_ - 1) not in saved_policies(store, run["id"])
    lines = [*_front_matter(base, "peft", ["seal", "lora", "self-edit"]),
             f"# SEAL self-edit adapter: run {run['id']}, round {round_}, candidate {candidate_id}", "",
             (f"A LoRA adapter (PEFT) from the inner loop of the SEAL run **{s['name'] or run['id']}**: "
             f"{starting} (`{base}`) adapted to one self-edit written for the {context} "
             f"“{cand.get('title', '?')}”, then answering its {labels.get('question', 'question')}s. "
             f"Reward {_num(cand.get('reward'))} (baseline {_num(cand.get('baseline'))}, gain {_num(cand.get('gain'))}); "
             f"kept by the filter{': ' + cand['keep_reason'] if cand.get('keep_reason') else ''}."), "",
             "## Use", "", "```python", "from peft import PeftModel", "from transformers import AutoModelForCausalLM",
             "", f'base = AutoModelForCausalLM.from_pretrained("{base}")',
             f'model = PeftModel.from_pretrained(base, "{folder}")', "```", "",
             f"With vLLM: `vllm serve {base} --enable-lora --lora-modules seal-r{round_}-c{candidate_id}={folder}`.", "",
             *([(f"Note: the policy after round {round_ - 1} was not saved (run.save_policy = false), so "
                "`base_model` names the run's starting model, not the weights this adapter was trained on."), ""]
               if unsaved else []),
             "## Training data", "", *_data(run), "",
             ("This adapter was trained by test-time training on the task's demonstrations, augmented as this "
              "plan says:" if s["task"] == "fewshot" else
              "This adapter was trained on the sequences built from this self-edit "
              f"(inner.split = {_config(run).get('inner', {}).get('split', '?')}):"), "",
             *_fenced(cand.get("self_edit") or ""), "",
             *_heldout(s, None, ""), *_rounds(s, None), *_config_block(run)]
    return "\n".join(lines) + "\n"


def _front_matter(base: str, library: str, tags: list[str]) -> list[str]:
    # JSON strings are YAML strings: a path or id with any character stays one value
    return ["---", f"base_model: {json.dumps(base)}", f"library_name: {library}", "tags:",
            *[f"- {t}" for t in tags], "pipeline_tag: text-generation", "---", ""]


def _heldout(s: dict, mark: int | None, mark_text: str) -> list[str]:
    words = s.get("labels") or {}
    rows = [r for r in s["rounds_detail"] if mark is None or r["round"] <= mark]
    teacher = any(r.get("heldout_teacher") is not None for r in rows)
    head = ["round", words.get("none", "no adaptation"), words.get("passage", "passage only"),
            words.get("self_edit", "self-edits"), *(["teacher"] if teacher else [])]
    out = ["## Held-out accuracy", "",
           (f"On the run's held-out {words.get('context', 'context')}s (round 0: the starting model), "
           "as recorded in the run store:"), "",
           "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        if all(r[k] is None for k in ("heldout_none", "heldout_passage", "heldout_self_edit", "heldout_teacher")):
            continue
        cells = [f"{r['round']}{' (' + mark_text + ')' if r['round'] == mark else ''}",
                 *(_num(r[k]) for k in ("heldout_none", "heldout_passage", "heldout_self_edit")),
                 *([_num(r["heldout_teacher"])] if teacher else [])]
        out.append("| " + " | ".join(cells) + " |")
    return out + [""]


def _rounds(s: dict, upto: int | None) -> list[str]:
    out = ["## Rounds", "", "| round | candidates | kept | train reward mean | M-step examples | M-step loss |",
           "|---|---|---|---|---|---|"]
    for r in s["rounds_detail"]:
        if r["round"] == 0 or (upto is not None and r["round"] > upto):
            continue
        m = r["mstep"] or {}
        out.append(f"| {r['round']} | {r['candidates']} | {r['kept'] if r['kept'] is not None else '–'} | "
                   f"{_num(r['train_reward_mean'])} | {m.get('examples', '–') if not m.get('skipped') else 'skipped'} | "
                   f"{_num(m.get('loss'))} |")
    return out + [""]


def _data(run: dict) -> list[str]:
    data = _config(run).get("data", {})
    return [f"- data: `{data.get('path') or '?'}`"
            + (f" (held out from `{data['heldout_path']}`)" if data.get("heldout_path") else ""),
            f"- {data.get('n_train', '?')} training contexts per round, {data.get('n_heldout', '?')} held out"]


def _round_examples(store, run: dict, round_: int) -> list[str]:
    trained = [e.payload for e in store.events_of(run["id"], ("mstep_examples",)) if e.round == round_]
    if not trained:
        return [f"- round {round_}: no M-step (nothing kept or approved)", ""]
    picked = trained[-1].candidates       # a resumed round's last attempt is the one that trained
    cands = store.candidates_by_id([c["id"] for c in picked])
    out = [f"<details><summary>round {round_}: {len(picked)} self-edits</summary>", ""]
    for c in picked:
        row = cands.get(c["id"], {})
        text = c.get("text") if c.get("edited") else row.get("self_edit")
        out += [(f"**{row.get('title', '?')}** (candidate {c['id']}, reward {_num(row.get('reward'))}"
                f"{', edited by a person' if c.get('edited') else ''})"), "", *_fenced(text or ""), ""]
    return out + ["</details>", ""]


def _fenced(text: str) -> list[str]:
    text = text if len(text) <= TEXT_CAP else text[:TEXT_CAP] + " …"
    fence = "~~~~" if "```" in text else "```"
    return [f"{fence}text", text, fence]


def _config_block(run: dict) -> list[str]:
    return ["## Config", "", "The run's resolved config (`seal-tui show` prints its essentials):", "",
            "```json", json.dumps(_config(run), indent=1, sort_keys=True), "```"]


def _config(run: dict) -> dict:
    try:
        return json.loads(run.get("config_json") or "{}")
    except ValueError:
        return {}


def _num(x) -> str:
    return "–" if x is None else f"{x:.3f}"
