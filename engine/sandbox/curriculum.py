"""The pretraining curriculum: which documents teach the tiny model its two skills.

Skill 1, closed-book question answering, is learned only about "QA entities": their
facts appear as the inner loop's training lines (title, then a canonical statement
or a question/answer line), several times, and are asked once as chat questions.
Their passages are never shown. Skill 2, note writing, is learned from demonstrations
(chat: note-writing prompt -> notes), each about a person made up for it alone, so
the notes can only come from reading the passage, never from memory. The passages
of the other pretraining entities are shown as plain text, as in the passage-only
condition, and never asked about.

That keeps the paper's format gap: prose read in a passage is hard to retrieve by
question, while canonical and question/answer lines are easy; so the notes that
restate a passage are worth more than the passage itself. The demonstrations mix
note styles of which the helpful ones (restate, qa) are a minority; ReSTEM has to
find them in the model's own samples.
"""

from __future__ import annotations

import random

from engine.prompts import SELF_EDIT_INSTRUCTIONS, question_prompt, render, self_edit_prompt
from engine.sandbox.world import ATTRIBUTES, Entity, Fact, World, canonical, make_entity, qa_line, question, to_context

# How often each note style is demonstrated; restate and qa are the helpful ones.
NOTE_STYLES = {"copy": 0.25, "irrelevant": 0.15, "partial": 0.20, "restate": 0.20, "qa": 0.20}
# The preset's prompt style gets most demonstrations; the other styles keep their prompts usable.
PROMPT_STYLE_WEIGHTS = {s: (0.6 if s == "implications" else 0.1) for s in SELF_EDIT_INSTRUCTIONS}
FILLER = (
    "This passage is about {name}.",
    "The passage has {n} sentences.",
    "{name} is a person.",
    "The passage is short.",
    "{first} is the first name of {name}.",
    "Nothing else is known about {name}.",
)


def sentences(passage: str) -> list[str]:
    out, start = [], 0
    for i, ch in enumerate(passage):
        if ch == "." and (i + 1 == len(passage) or passage[i + 1] == " "):
            out.append(passage[start:i + 1].strip())
            start = i + 1
    return [s for s in out if s]


def notes(entity: Entity, passage: str, style: str, rng: random.Random) -> str:
    """A demonstration self-edit of ``passage`` in one note style, one note per line."""
    facts = list(entity.facts)
    if style == "copy":
        lines = sentences(passage)
    elif style == "restate":
        lines = [canonical(entity, f) for f in facts]
    elif style == "qa":
        lines = [qa_line(entity, f) for f in facts]
    elif style == "partial":
        some = rng.sample(facts, rng.randint(1, max(1, len(facts) - 2)))
        lines = [rng.choice((canonical, qa_line))(entity, f) for f in some]
    elif style == "irrelevant":
        n = len(sentences(passage))
        lines = [t.format(name=entity.name, first=entity.first, n=n) for t in rng.sample(FILLER, rng.randint(2, 3))]
        if rng.random() < 0.5:  # an invented fact: the notes that hurt
            f = rng.choice(facts)
            wrong = rng.choice([v for v in ATTRIBUTES[f.attribute][0] if v != f.value])
            lines.insert(rng.randrange(len(lines) + 1), canonical(entity, Fact(f.attribute, wrong)))
    else:
        raise ValueError(f"unknown note style {style!r}")
    return "\n".join(lines)


def answer(fact: Fact) -> str:
    """The reply to a closed-book question: phrased like a question/answer note, so that
    what the inner loop trains on ("Question: ... Answer: harp") is what an answer recalls."""
    return f"Answer: {fact.value}"


def _pick(weights: dict[str, float], rng: random.Random) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def documents(world: World, tokenizer, *, n_qa: int, qa_repeats: int = 1, n_demos: int = 2,
              seed: int = 0) -> dict[str, list[str]]:
    """Every pretraining document as text ending with eos, by kind, each list in a seeded order.

    "notes": ``n_demos`` note-writing demonstrations (chat) per passage entity;
    "passages": the passage entities' passages as plain text;
    "questions": QA entities' training lines (``qa_repeats`` times over, so their facts
    are memorized in fewer steps) and one chat question per fact.
    """
    rng = random.Random(f"{seed}-curriculum")
    eos = tokenizer.eos_token
    qa_entities, passage_entities = world.pretrain[:n_qa], world.pretrain[n_qa:]
    kinds: dict[str, list[str]] = {"notes": [], "passages": [], "questions": []}
    for entity, ctx in zip(passage_entities, world.contexts("pretrain")[n_qa:]):
        kinds["passages"].append(f"{entity.name}\n{ctx['context']}{eos}")
    # Each demonstration is about a person made up for it alone (a pretraining name with
    # fresh facts), so its notes can only be written by reading the passage: a tiny model
    # shown the same person twice learns to recall the facts instead of copying them.
    names = [e.name for e in world.pretrain]
    for i in range(n_demos * len(passage_entities)):
        entity = make_entity(rng.choice(names), f"{seed}-demo-{i}")
        ctx = to_context(entity, random.Random(f"{seed}-demo-{i}-passage"))
        prompt = self_edit_prompt(entity.name, ctx["context"], _pick(PROMPT_STYLE_WEIGHTS, rng))
        style = _pick(NOTE_STYLES, rng)
        kinds["notes"].append(render(tokenizer, prompt, use_chat=True) + notes(entity, ctx["context"], style, rng) + eos)
    # QA entities: their facts are read ``qa_repeats`` times as statements but asked once,
    # so answering has to go through what was read, as after the inner loop.
    for entity in qa_entities:
        for fact in entity.facts:
            kinds["questions"] += [
                f"{entity.name}\n{canonical(entity, fact)}{eos}",
                f"{entity.name}\n{qa_line(entity, fact)}{eos}",
            ] * qa_repeats
            kinds["questions"].append(
                render(tokenizer, question_prompt(question(entity, fact)), use_chat=True) + answer(fact) + eos)
    for docs in kinds.values():
        rng.shuffle(docs)
    return kinds


def tokenizer_corpus(world: World) -> list[str]:
    """Text the tokenizer is trained on: every passage, note form and prompt of the world."""
    texts = list(SELF_EDIT_INSTRUCTIONS.values()) + [question_prompt("x")] + list(FILLER)
    for split in ("pretrain", "train", "heldout"):
        for entity, ctx in zip(getattr(world, split), world.contexts(split)):
            texts.append(f"Title: {entity.name}\nPassage: {ctx['context']}")
            texts.extend(canonical(entity, f) + "\n" + qa_line(entity, f) for f in entity.facts)
    return texts
