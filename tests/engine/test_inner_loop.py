"""The stacked-LoRA inner loop on a tiny model saved to disk and loaded like any model."""

from __future__ import annotations

import pytest
import torch

from engine.config import InnerCfg
from engine.inner_loop import AdaptJob, InnerLoop
from engine.models import ModelLoadError, load_policy


@pytest.fixture(scope="module")
def policy(tiny_model_dir):
    return load_policy(str(tiny_model_dir))


@pytest.fixture(autouse=True)
def bare_model_after(request):
    """The module's model without LoRA slots after every test, also one that failed midway (else the
    next test's InnerLoop finds no linear layer to wrap and fails for the wrong reason)."""
    yield
    if "policy" not in request.fixturenames:
        return
    from engine.lora import StackedLoRALinear

    model = request.getfixturevalue("policy").model
    for name, module in [(n, m) for n, m in model.named_modules() if isinstance(m, StackedLoRALinear)]:
        parent_name, _, leaf = name.rpartition(".")
        setattr(model.get_submodule(parent_name) if parent_name else model, leaf, module.base)


JOBS = [
    AdaptJob(["Paris\nThe tower is tall.", "Paris\nIt is in France.", "Paris\nIt was built in 1889."],
             ["Where is it?", "When was it built?"], seed=11),
    AdaptJob(["Rome\nAn ancient city on seven hills."], ["What is Rome?"], seed=12),
    AdaptJob(["Oslo\nThe capital of Norway.", "Oslo\nA port city."], ["Which country?"], seed=13),
]


def _snapshot(inner, slot):
    return [(layer.A.data[slot].clone(), layer.B.data[slot].clone()) for layer in inner.lora.layers]


@pytest.mark.parametrize("batch_size", [0, 1, 2])
def test_batched_training_equals_training_each_candidate_alone(policy, batch_size):
    cfg = InnerCfg(epochs=3, batch_size=batch_size, lr=1e-2, targets=["all-linear"], lora_r=4, lora_alpha=8)
    inner = InnerLoop(policy, cfg, slots=3)
    inner.lora.reset([j.seed for j in JOBS])
    inner.train(JOBS)
    together = [_snapshot(inner, s) for s in range(3)]
    assert any(b.abs().max() > 0 for _, b in together[0]), "training moved no weight"
    for s, job in enumerate(JOBS):
        inner.lora.reset([job.seed])
        inner.train([job])
        alone = _snapshot(inner, 0)
        # together, a job's sequences may share packed rows with other jobs' sequences: the
        # same sums in another order, so float32 noise (~1e-6), far below one step's change
        for (a1, b1), (a2, b2) in zip(together[s], alone):
            torch.testing.assert_close(a1, a2, rtol=1e-4, atol=1e-5)
            torch.testing.assert_close(b1, b2, rtol=1e-4, atol=1e-5)
    inner.lora.detach()


@pytest.mark.parametrize("batch_size", [0, 1])
def test_packed_rows_train_the_same_adapters_as_one_padded_row_per_sequence(policy, batch_size):
    """Training packs the sequences of many slots end to end into shared rows; each sequence
    must still see only itself: the adapters equal those of padded rows, one per sequence."""
    from engine.batches import pack_batch

    # a sequence's last token is a label only, never an input
    packed = pack_batch([(0, [1, 2, 3, 4, 5, 6, 7]), (1, [8, 9, 10]), (2, [11, 12, 13]), (1, [14, 15])], pad=0)
    assert packed["input_ids"].tolist() == [[1, 2, 3, 4, 5, 6, 8, 9, 11, 12, 14]]
    assert packed["labels"].tolist() == [[2, 3, 4, 5, 6, 7, 9, 10, 12, 13, 15]]
    assert packed["position_ids"].tolist() == [[0, 1, 2, 3, 4, 5, 0, 1, 0, 1, 0]]
    assert packed["token_slots"].tolist() == [[0, 0, 0, 0, 0, 0, 1, 1, 2, 2, 1]]
    # where attention is dear (hidden 1 here), rows stay narrow and end in filler that trains nothing
    narrow = pack_batch([(0, [1, 2, 3, 4, 5, 6, 7]), (1, [8, 9, 10]), (2, [11, 12, 13, 14])], pad=0, hidden=1)
    assert narrow["input_ids"].tolist() == [[1, 2, 3, 4, 5, 6], [11, 12, 13, 8, 9, 0]]
    assert narrow["labels"][1].tolist() == [12, 13, 14, 9, 10, -100]
    assert narrow["token_slots"][1].tolist() == [2, 2, 2, 1, 1, -1]
    # sequences of one length gain nothing from packing: one padded row each, routed by row
    assert pack_batch([(0, [1, 2, 3]), (1, [4, 5, 6])], pad=0, hidden=1) is None
    cfg = InnerCfg(epochs=3, batch_size=batch_size, lr=1e-2, targets=["all-linear"], lora_r=4, lora_alpha=8)
    inner = InnerLoop(policy, cfg, slots=3)
    assert inner.packs(), "a Llama keeps packed sequences apart; packing should be on"
    inner.lora.reset([j.seed for j in JOBS])
    inner.train(JOBS)
    with_packing = [_snapshot(inner, s) for s in range(3)]
    inner._packs = False
    inner.lora.reset([j.seed for j in JOBS])
    inner.train(JOBS)
    for s in range(3):   # other row layouts sum in another order: float32 noise, far below a step
        for (a1, b1), (a2, b2) in zip(with_packing[s], _snapshot(inner, s)):
            torch.testing.assert_close(a1, a2, rtol=1e-4, atol=1e-5)
            torch.testing.assert_close(b1, b2, rtol=1e-4, atol=1e-5)
    inner.lora.detach()


def _assert_each_alone_equals(inner, jobs, together):
    """Each job trained alone in slot 0 gives the adapter it got in its slot beside the others.
    Packed beside other slots: the same sums in another order (float32 noise), which Adam's
    m / sqrt(v) enlarges on weights whose gradient is near zero; still far below one step (>= 3e-3)."""
    for s, job in enumerate(jobs):
        inner.lora.reset([job.seed])
        inner.train([job])
        for (a1, b1), (a2, b2) in zip(together[s], _snapshot(inner, 0)):
            torch.testing.assert_close(a1, a2, rtol=1e-3, atol=1e-4)
            torch.testing.assert_close(b1, b2, rtol=1e-3, atol=1e-4)


# a plan per job, as the few-shot task's self-edits choose them: its own learning rate and epochs,
# plain sequences and (prompt, completion) pairs with the loss on the completion
PLANNED = [
    AdaptJob(JOBS[0].sequences, JOBS[0].questions, seed=11, lr=3e-2, epochs=2),
    AdaptJob([], ["What is Rome?"], seed=12, lr=3e-3, epochs=4,
             pairs=[("Where is Rome?", "In Italy, on seven hills."), ("What is Rome?", "A city.")]),
    AdaptJob(JOBS[2].sequences, JOBS[2].questions, seed=13, epochs=3, pairs=[("Which country?", "Norway.")],
             prompt_loss=True),
]


@pytest.mark.parametrize("batch_size", [0, 1])
def test_slots_with_their_own_learning_rates_and_epochs_train_as_each_alone(policy, batch_size):
    """K self-edits of one task trained together as slots, each with its own plan, must give the
    adapters each plan gives trained alone: a slot steps at its own rate until its epochs end."""
    cfg = InnerCfg(epochs=5, batch_size=batch_size, lr=1e-2, targets=["all-linear"], lora_r=4, lora_alpha=8)
    inner = InnerLoop(policy, cfg, slots=3)
    inner.lora.reset([j.seed for j in PLANNED])
    trained = inner.train(PLANNED)
    # examples per job: 3 sequences; 2 pairs; 2 sequences + 1 pair
    assert trained.steps == ([2, 4, 3] if batch_size == 0 else [6, 8, 9])
    together = [_snapshot(inner, s) for s in range(3)]
    _assert_each_alone_equals(inner, PLANNED, together)
    # the rate is the job's: the first plan at inner.lr ends elsewhere
    inner.lora.reset([11])
    inner.train([AdaptJob(PLANNED[0].sequences, [], seed=11, epochs=2)])
    moved = max(float((b1 - b2).abs().max()) for (_, b1), (_, b2) in zip(together[0], _snapshot(inner, 0)))
    assert moved > 1e-3
    inner.lora.detach()


def test_the_first_step_loss_is_the_models_own_causal_lm_loss(policy):
    """Before any update (B = 0) a slot's loss must be what the model itself reports for the
    sequence with labels = inputs, whatever the packing and the dropped last input token."""
    texts = ["Paris\nThe tower is tall and old.", "Rome\nHills.", "Oslo\nA port city in the north."]
    cfg = InnerCfg(epochs=1, batch_size=1, lr=1e-2, targets=["q_proj", "v_proj"], lora_r=4, lora_alpha=8)
    inner = InnerLoop(policy, cfg, slots=3)
    inner.lora.reset([1, 2, 3])
    losses, steps, _ = inner.train([AdaptJob([t], [], seed=i) for i, t in enumerate(texts)])
    inner.lora.detach()
    assert steps == [1, 1, 1]
    for text, loss in zip(texts, losses):
        ids = torch.tensor([inner._encode(text)])
        with torch.no_grad():
            expected = policy.model(input_ids=ids, labels=ids).loss
        assert loss == pytest.approx(float(expected), rel=1e-5)


def test_adapters_change_answers_and_reset_restores_the_base(policy):
    cfg = InnerCfg(epochs=30, batch_size=0, lr=3e-2, targets=["all-linear"], lora_r=8, lora_alpha=16,
                   answer_max_tokens=6)
    inner = InnerLoop(policy, cfg, slots=2)
    questions = ["Where is it?", "What is Rome?"]
    before = inner.baseline_answers(questions)
    job = AdaptJob(["Rome\n" + "Rome is red stone. " * 3], questions, seed=1)
    adapted = inner.run([job])[0]
    assert adapted.final_loss is not None and adapted.steps == 30
    assert adapted.answers != before, "a trained adapter left every answer unchanged"
    inner.lora.reset([0, 0])
    assert inner.answer([AdaptJob([], questions)], adapted=True)[0] == before
    inner.lora.detach()


def test_padding_never_counts_in_the_loss(policy):
    """One short sequence trained alone and padded beside a long one gives the same adapter."""
    cfg = InnerCfg(epochs=2, batch_size=0, lr=1e-2, targets=["q_proj", "v_proj"], lora_r=4, lora_alpha=8)
    inner = InnerLoop(policy, cfg, slots=2)
    short = AdaptJob(["A\nshort"], ["q"], seed=5)
    long = AdaptJob(["B\n" + "a much longer training sequence " * 8], ["q"], seed=6)
    inner.lora.reset([5, 6])
    inner.train([short, long])
    padded = _snapshot(inner, 0)
    inner.lora.reset([5])
    inner.train([short])
    for (_a1, b1), (_a2, b2) in zip(padded, _snapshot(inner, 0)):
        torch.testing.assert_close(b1, b2, rtol=1e-4, atol=1e-6)
    inner.lora.detach()


def test_a_slot_saves_as_a_peft_adapter_that_peft_loads(policy, tiny_model_dir, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    cfg = InnerCfg(epochs=5, batch_size=0, lr=1e-2, targets=["q_proj", "v_proj"], lora_r=4, lora_alpha=8,
                   answer_max_tokens=4)
    inner = InnerLoop(policy, cfg, slots=1)
    job = AdaptJob(["Rome\nRome is red."], ["What is Rome?"], seed=3)
    inner.lora.reset([3])
    inner.train([job])
    ids = policy.tokenizer("Rome is", return_tensors="pt")["input_ids"]
    inner.lora.route(torch.zeros(1, dtype=torch.long))
    with torch.no_grad():
        ours = policy.model(ids).logits
    inner.lora.off()
    inner.lora.save_slot_peft(0, tmp_path / "adapter", str(tiny_model_dir))
    inner.lora.detach()
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    peft_model = PeftModel.from_pretrained(base, tmp_path / "adapter").eval()
    with torch.no_grad():
        theirs = peft_model(ids).logits
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-4)


def test_missing_and_broken_model_folders_are_named(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_policy(str(tmp_path / "nope"))
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match=r"config.json is not valid JSON"):
        load_policy(str(tmp_path / "broken"))
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "config.json").write_text("{}")
    with pytest.raises(ModelLoadError, match="no weights"):
        load_policy(str(tmp_path / "empty"))


def test_merging_a_slot_gives_the_same_model_as_routing_through_it(policy):
    cfg = InnerCfg(epochs=5, batch_size=0, lr=1e-2, targets=["all-linear"], lora_r=4, lora_alpha=8)
    inner = InnerLoop(policy, cfg, slots=1)
    saved = inner.lora.snapshot_base()
    inner.lora.reset([4])
    inner.train([AdaptJob(["Oslo\nOslo is a port."], [], seed=4)])
    ids = policy.tokenizer("Oslo is", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        inner.lora.route(torch.zeros(1, dtype=torch.long))
        routed = policy.model(ids).logits
        inner.lora.off()
        plain = policy.model(ids).logits
        inner.lora.merge_slot(0)
        merged = policy.model(ids).logits
        inner.lora.restore_base(saved)
        restored = policy.model(ids).logits
    assert not torch.allclose(routed, plain)
    torch.testing.assert_close(merged, routed, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(restored, plain)
    inner.lora.detach()


@pytest.mark.parametrize("lrs", [[1e-2] * 3, [1e-2, 3e-2, 1e-3]], ids=["one-rate", "a-rate-per-slot"])
@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
@pytest.mark.parametrize("kernel", ["fused", "masked"])
def test_slot_adamw_steps_each_slot_like_torch_adamw_alone(weight_decay, kernel, lrs, monkeypatch):
    """Slot 1 sits out steps 2 and 3, slot 2 stops after step 4; every slot must match
    torch.optim.AdamW run on that slot alone at its own learning rate, with torch's fused
    kernel and with the masked update used where torch has none."""
    from engine.lora import SlotAdamW

    if kernel == "masked":
        monkeypatch.delattr(torch, "_fused_adamw_")

    torch.manual_seed(0)
    start = torch.randn(3, 5, 4)
    grads = [torch.randn(3, 5, 4) for _ in range(6)]
    active = [torch.tensor([True, s not in (2, 3), s < 4]) for s in range(6)]
    stacked = torch.nn.Parameter(start.clone())
    opt = SlotAdamW([stacked], 3, lr=lrs if len(set(lrs)) > 1 else lrs[0], weight_decay=weight_decay)
    for g, act in zip(grads, active):
        stacked.grad = g * act.view(-1, 1, 1)
        opt.step(act)
    for s in range(3):
        alone = torch.nn.Parameter(start[s].clone())
        ref = torch.optim.AdamW([alone], lr=lrs[s], weight_decay=weight_decay)
        for g, act in zip(grads, active):
            if act[s]:
                alone.grad = g[s].clone()
                ref.step()
        torch.testing.assert_close(stacked.data[s], alone.data, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("stop_chars", [0, 1, 2], ids=["first-line", "stop-1-char", "stop-2-chars"])
def test_answers_with_the_shared_prefix_run_once_equal_plain_generation(policy, stop_chars):
    """The inner loop runs the prompts' common prefix once per adapter; the answers must be
    those of HF generate() on the whole prompts, each through its own adapter, ending where
    the task says (the first line break, or a stop text) within the task's token budget."""
    from engine.generation import AnswerRule, generate

    cfg = InnerCfg(epochs=20, batch_size=0, lr=3e-2, targets=["all-linear"], lora_r=8, lora_alpha=16,
                   answer_max_tokens=8)
    inner = InnerLoop(policy, cfg, slots=3)
    inner.lora.reset([j.seed for j in JOBS])
    inner.train(JOBS)
    slot_prompts = [[inner._question_text(q) for q in job.questions] for job in JOBS]

    def through_slots(**ends):
        out = []
        for s, prompts in enumerate(slot_prompts):
            inner.lora.route(torch.tensor([s] * len(prompts)))
            out.append(generate(policy, prompts, **ends))
        inner.lora.off()
        return out

    stop = None
    if stop_chars:  # a stop text the adapted model does write: taken from its own unstopped answers
        longest = max((a for answers in through_slots(max_new_tokens=24) for a in answers), key=len)
        assert len(longest) > 2 + stop_chars, "the adapted model writes too little to test a stop text"
        # no whitespace in it: a raw text may open with a space that the unstopped answer's strip drops
        at = next(i for i in range(2, len(longest) - stop_chars + 1)
                  if not any(ch.isspace() for ch in longest[i:i + stop_chars]))
        stop = longest[at:at + stop_chars]
    rule = AnswerRule(max_tokens=None if stop is None else 24, stop=stop)
    ends = dict(max_new_tokens=rule.max_tokens or 8, first_line=stop is None, stop=stop)
    together = inner.answer(JOBS, adapted=True, rule=rule)
    assert together == through_slots(**ends)
    assert any(a for answers in together for a in answers), "no answer at all: the comparison would be empty"
    if stop is not None:  # the stop text did end an answer early: without it that answer is longer
        unstopped = through_slots(max_new_tokens=24)
        assert together == [[a.split(stop, 1)[0].strip() for a in answers] for answers in unstopped]
        assert sum(len(a) for ans in together for a in ans) < sum(len(a) for ans in unstopped for a in ans)
    questions = [q for j in JOBS for q in j.questions]
    plain = generate(policy, [inner._question_text(q) for q in questions], **ends)
    assert inner.baseline_answers(questions, rule) == plain
    inner.lora.detach()


def test_long_answer_prompts_are_split_into_calls_within_the_token_budget(policy, monkeypatch):
    """Grid prompts are long: a batched answer call holds at most ANSWER_TOKENS prompt and answer
    tokens, and splitting gives the same answers."""
    from engine import inner_loop

    cfg = InnerCfg(targets=["q_proj"], lora_r=2, lora_alpha=4, answer_max_tokens=6)
    inner = InnerLoop(policy, cfg, slots=1)
    questions = ["Where is it?", "When was the tower built, and by whom?", "What is Rome?", "Which country?"]
    whole = inner.baseline_answers(questions)
    lengths = [len(policy.tokenizer(inner._question_text(q))["input_ids"]) for q in questions]
    monkeypatch.setattr(inner_loop, "ANSWER_TOKENS", 2 * (max(lengths) + 6))
    calls = inner._answer_calls([inner._question_text(q) for q in questions], 6)
    assert calls[0][0] == 0 and calls[-1][1] == 4 and len(calls) >= 2
    assert all(b - a <= 2 for a, b in calls)
    assert inner.baseline_answers(questions) == whole
    inner.lora.detach()


def test_a_cosine_schedule_follows_each_slots_own_steps_as_hf_does(policy, monkeypatch):
    """inner.schedule = "cosine" (the reference's few-shot TTT): each slot's rate falls from its
    plan's rate to 0 over its own steps, as transformers' cosine schedule without warm-up does;
    slots trained together still equal each trained alone."""
    from transformers import get_cosine_schedule_with_warmup

    from engine.lora import SlotAdamW

    seen: list[list[float]] = []
    step = SlotAdamW.step

    def recording(self, active):
        seen.append([lr if bool(a) else None for lr, a in zip(self.lrs, active)])
        return step(self, active)
    monkeypatch.setattr(SlotAdamW, "step", recording)
    cfg = InnerCfg(epochs=5, batch_size=1, lr=1e-2, targets=["all-linear"], lora_r=4, lora_alpha=8, schedule="cosine")
    inner = InnerLoop(policy, cfg, slots=3)
    inner.lora.reset([j.seed for j in PLANNED])
    trained = inner.train(PLANNED)
    together = [_snapshot(inner, s) for s in range(3)]
    for j, job in enumerate(PLANNED):
        rate = job.lr or cfg.lr
        param = torch.nn.Parameter(torch.zeros(1))
        hf = get_cosine_schedule_with_warmup(torch.optim.SGD([param], lr=rate), 0, trained.steps[j])
        expected = []
        for _ in range(trained.steps[j]):
            expected.append(hf.get_last_lr()[0])
            hf.optimizer.step()
            hf.step()
        mine = [lrs[j] for lrs in seen if lrs[j] is not None]
        assert mine == pytest.approx(expected, rel=1e-9, abs=1e-12)
    # the longest slot's last update runs at under 5% of its rate
    assert seen[-1][2] is not None and seen[-1][2] < 0.05 * cfg.lr
    seen.clear()
    _assert_each_alone_equals(inner, PLANNED, together)
    inner.lora.detach()
