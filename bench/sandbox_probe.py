"""What is each kind of note worth in the sandbox, and what does the model write?

A diagnostic for the sandbox model, run before the ReSTEM benchmark: on held-out
contexts it adapts the model (the engine's own inner loop, with the sandbox preset's
settings) to the passage and to demonstration notes of each style written from the
world's facts, and reports the held-out accuracy of each; then it samples the model's
own notes and reports which style they look like and how many of their facts are right.
A world in which SEAL can learn has helpful styles worth clearly more than the others,
and a model whose own samples contain them.

    .venv/bin/python bench/sandbox_probe.py [--model DIR] [--contexts 48] [--samples 5]

Ends with one line:
    BENCH sandbox_probe none=.. passage=.. copy=.. restate=.. qa=.. partial=.. irrelevant=.. own=.. faithful=..
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine.adaptation import Adaptation  # noqa: E402
from engine.config import load_config  # noqa: E402
from engine.graders import ExactGrader  # noqa: E402
from engine.inner_loop import InnerLoop  # noqa: E402
from engine.models import load_policy  # noqa: E402
from engine.sampling import sample_self_edits  # noqa: E402
from engine.sandbox import resolve_model  # noqa: E402
from engine.sandbox.curriculum import NOTE_STYLES, notes  # noqa: E402
from engine.sandbox.world import ATTRIBUTES, make_world  # noqa: E402
from engine.scoring import ScoreItem, Scorer  # noqa: E402
from engine.tasks.knowledge import KnowledgeTask  # noqa: E402
from engine.tasks.knowledge.sequences import training_sequences  # noqa: E402


def classify(note: str) -> str:
    lines = [ln for ln in note.splitlines() if ln.strip()]
    if not lines:
        return "empty"
    if all(ln.startswith("Question:") for ln in lines):
        return "qa"
    if any(w in note for w in ("passage", "first name", "is a person")):
        return "irrelevant"
    if any(ln.startswith(("It is said", "As far as", "Few people", "She ", "He ")) or ", or so" in ln
           or "surprises" in ln for ln in lines):
        return "copy"
    return "restate"


def faithful(note: str, entity) -> tuple[int, int]:
    """(lines stating a value of the entity's facts correctly, lines stating any value)."""
    values = {f.attribute: f.value for f in entity.facts}
    right = stated = 0
    for line in note.splitlines():
        for attr, (vocab, _, _) in ATTRIBUTES.items():
            said = [v for v in vocab if re.search(rf"\b{re.escape(v)}\b", line)]
            if said:
                stated += 1
                right += values.get(attr) in said
                break
    return right, stated


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="sandbox", help="model folder (default: the shipped sandbox model)")
    ap.add_argument("--contexts", type=int, default=48, help="held-out contexts (default %(default)s)")
    ap.add_argument("--samples", type=int, default=5, help="own notes sampled per context")
    ap.add_argument("--set", dest="sets", action="append", default=[], help="section.field=value over the preset")
    args = ap.parse_args(argv)
    cfg = load_config(preset="sandbox", overrides=args.sets)
    start = time.time()
    folder = resolve_model() if args.model == "sandbox" else args.model
    policy = load_policy(str(folder))
    world = make_world(0)
    entities = world.heldout[:args.contexts]
    contexts = world.contexts("heldout")[:args.contexts]
    task = KnowledgeTask(cfg)
    scorer = Scorer(InnerLoop(policy, cfg.inner, slots=64, max_seq_len=cfg.model.max_seq_len), ExactGrader(), task)
    rng = random.Random(0)
    conditions: dict[str, list[ScoreItem]] = {"passage": [ScoreItem(c, task.reference_adaptation(c), i)
                                                          for i, c in enumerate(contexts)]}
    for style in NOTE_STYLES:
        conditions[style] = [ScoreItem(c, Adaptation(training_sequences(c["title"], notes(e, c["context"], style, rng))), i)
                             for i, (c, e) in enumerate(zip(contexts, entities))]
    own = sample_self_edits(policy, [task.self_edit_prompt(c) for c in contexts], cfg.sample, k=args.samples, seed=0)
    conditions["own"] = [ScoreItem(c, Adaptation(training_sequences(c["title"], se)), i)
                         for i, (c, ses) in enumerate(zip(contexts, own)) for se in ses]
    n_q = sum(len(c["questions"]) for c in contexts)
    acc = {"none": sum(sum(b.correct) for b in scorer.baselines(contexts)) / n_q}
    own_rewards = []
    for name, items in conditions.items():
        correct = 0
        for _, scores in scorer.score_chunks(items):
            correct += sum(a["correct_after"] for s in scores for a in s.answers)
            own_rewards += [s.reward for s in scores] if name == "own" else []
        acc[name] = correct / (n_q * (args.samples if name == "own" else 1))
    styles = Counter(classify(se) for ses in own for se in ses)
    by_style: dict[str, list[float]] = {}
    flat = [se for ses in own for se in ses]
    for se, r in zip(flat, own_rewards):
        by_style.setdefault(classify(se), []).append(r)
    right = stated = 0
    for e, ses in zip(entities, own):
        for se in ses:
            a, b = faithful(se, e)
            right, stated = right + a, stated + b
    print(f"{len(contexts)} held-out contexts, {n_q} questions, model {folder}")
    for name, v in acc.items():
        print(f"  {name:<11} {v:.3f}")
    print("own notes by style (share, mean reward):")
    for s, n in styles.most_common():
        print(f"  {s:<11} {n / len(flat):.2f}  {sum(by_style[s]) / len(by_style[s]):.3f}")
    print("examples:")
    for se in flat[:4]:
        print("  | " + se.replace("\n", "\n  | "))
    print(f"facts stated right in own notes: {right}/{stated}; {time.time() - start:.0f} s")
    print("BENCH sandbox_probe " + " ".join(f"{k}={v:.3f}" for k, v in acc.items())
          + f" faithful={right / max(stated, 1):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
