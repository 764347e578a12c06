"""The sandbox world: deterministic by seed, disjoint splits, answerable questions."""

from __future__ import annotations

import random

from engine.graders import normalize
from engine.prompts import render, self_edit_prompt
from engine.sandbox import curriculum
from engine.sandbox.curriculum import documents, notes, sentences
from engine.sandbox.tokenizer import train_tokenizer
from engine.sandbox.world import ATTRIBUTES, canonical, make_world, qa_line
from engine.tasks.knowledge.sequences import self_edit_lines


def test_same_seed_same_world_other_seed_other_world():
    a, b, c = make_world(3, n_pretrain=200), make_world(3, n_pretrain=200), make_world(4, n_pretrain=200)
    assert a.contexts("train") == b.contexts("train")
    assert a.contexts("heldout") == b.contexts("heldout")
    assert a.contexts("train") != c.contexts("train")


def test_splits_are_disjoint_and_sized():
    world = make_world(0)
    pre = {e.name for e in world.pretrain}
    train = {e.name for e in world.train}
    held = {e.name for e in world.heldout}
    assert (len(pre), len(train), len(held)) == (2400, 500, 200)
    assert not pre & train and not pre & held and not train & held


def test_train_and_heldout_do_not_depend_on_the_pretraining_size():
    # the engine regenerates the contexts from the seed alone
    assert make_world(1, n_pretrain=0).contexts("heldout") == make_world(1, n_pretrain=2000).contexts("heldout")


def test_every_question_is_answerable_from_its_passage():
    world = make_world(5)
    for ctx in world.contexts("train") + world.contexts("heldout"):
        assert set(ctx) == {"title", "context", "questions"}
        assert 3 <= len(ctx["questions"]) <= 5
        for q in ctx["questions"]:
            assert q["answer"] in ctx["context"], (ctx, q)
            assert ctx["title"] in q["question"]


def test_each_answer_word_belongs_to_one_attribute():
    # a note-writer can tell which fact a value states from the value alone
    vocabularies = [set(values) for values, *_ in ATTRIBUTES.values()]
    for i, vi in enumerate(vocabularies):
        for vj in vocabularies[i + 1:]:
            assert not vi & vj


def test_note_styles_state_the_facts_or_not():
    world = make_world(2, n_pretrain=20)
    entity, ctx = world.pretrain[0], world.contexts("pretrain")[0]
    rng = random.Random(0)
    assert self_edit_lines(notes(entity, ctx["context"], "restate", rng)) == [canonical(entity, f) for f in entity.facts]
    assert self_edit_lines(notes(entity, ctx["context"], "qa", rng)) == [qa_line(entity, f) for f in entity.facts]
    assert self_edit_lines(notes(entity, ctx["context"], "copy", rng)) == sentences(ctx["context"])
    partial = self_edit_lines(notes(entity, ctx["context"], "partial", rng))
    assert 1 <= len(partial) < len(entity.facts)


def test_curriculum_keeps_the_format_gap():
    world = make_world(0, n_pretrain=40)
    tok = train_tokenizer(curriculum.tokenizer_corpus(world), 600)
    kinds = documents(world, tok, n_qa=10, qa_repeats=2, n_demos=1)
    docs = [d for group in kinds.values() for d in group]
    qa_names = {e.name for e in world.pretrain[:10]}
    passage_names = {e.name for e in world.pretrain[10:]}
    question_docs = [d for d in kinds["questions"] if "Answer the question" in d]
    # questions are asked about QA entities only, each fact once; its statements are read qa_repeats times
    assert len(question_docs) == sum(len(e.facts) for e in world.pretrain[:10])
    assert all(any(n in d for n in qa_names) and not any(n in d for n in passage_names) for d in question_docs)
    statements = [d for d in kinds["questions"] if "Answer the question" not in d]
    assert len(statements) == 2 * 2 * sum(len(e.facts) for e in world.pretrain[:10])
    # a QA entity's passage is never shown, in plain text or inside a prompt
    passages = {c["context"] for c in world.contexts("pretrain")[:10]}
    assert not any(p in d for p in passages for d in docs)
    # the note-writing demonstrations use the engine's own prompt rendering, each about a
    # person made up for it (a pretraining name, facts of its own): its notes can only be copied
    prompts = [d.split("<|assistant|>")[0] for d in kinds["notes"]]
    assert len(kinds["notes"]) == 30 and len(set(prompts)) == 30
    assert all(d.startswith("<|user|>\nTitle: ") for d in kinds["notes"])
    for d in kinds["notes"]:
        title = d.split("\n")[1][len("Title: "):]
        assert title in qa_names | passage_names
        passage = d.split("Passage: ")[1].split("\n")[0]
        assert render(tok, self_edit_prompt(title, passage, "implications"), True) in d or any(
            render(tok, self_edit_prompt(title, passage, s), True) in d for s in curriculum.PROMPT_STYLE_WEIGHTS)
    assert all(d.endswith(tok.eos_token) for d in docs)


def test_tokenizer_round_trips_and_has_a_chat_template():
    world = make_world(0, n_pretrain=40)
    tok = train_tokenizer(curriculum.tokenizer_corpus(world), 600)
    ctx = world.contexts("heldout")[0]
    text = f"{ctx['title']}\n{ctx['context']}"
    assert tok.decode(tok(text)["input_ids"]) == text
    # a name is one and the same token at the start of a line and inside one
    first = ctx["title"].split()[0]
    inside = tok.tokenize(f"x of {first}")[len(tok.tokenize("x of")):]
    assert tok.tokenize(f"x\n{first}")[-len(inside):] == inside
    rendered = render(tok, "Hello", use_chat=True)
    assert rendered.startswith("<|user|>\nHello") and rendered.endswith("<|assistant|>\n")
    assert normalize(tok.decode(tok(" Ünïcode typed by a person")["input_ids"])) == normalize(" Ünïcode typed by a person")
