"""Pairs trained with the loss on the completion only, for any model family.

The completion's tokens are found from the rendered text and the tokenizer's offsets,
never from token ids of one family (the reference's masking knows Llama-3's ids only and
fails elsewhere). Checked here on two tokenizers and chat templates made by the test: a
Llama-3-style one (header tokens, <|eot_id|>, digits in groups of up to three) and a
Qwen/ChatML-style one (<|im_start|>, a default system turn, one token per digit).
"""

from __future__ import annotations

import pytest
import torch

from engine.batches import pad_batch, pair_tokens
from engine.config import InnerCfg
from engine.inner_loop import AdaptJob, InnerLoop
from engine.models import load_policy
from engine.prompts import render
from engine.tasks.fewshot.arc import Example
from engine.tasks.fewshot.prompts import CHAT_LAYOUT

LLAMA3_TEMPLATE = (
    "{{ '<|begin_of_text|>' }}{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n"
    "{{ m['content'] }}<|eot_id|>{% endfor %}"
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)
QWEN_TEMPLATE = (
    "{% for m in messages %}{% if loop.first and m['role'] != 'system' %}<|im_start|>system\n"
    "You are a helpful assistant.<|im_end|>\n{% endif %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
# the two families' pre-tokenizer patterns (Llama-3: digits in runs of up to 3; Qwen2: one digit a token)
_WORDS = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|"
_REST = r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
FAMILIES = {
    "llama3": dict(template=LLAMA3_TEMPLATE, pattern=_WORDS + r"\p{N}{1,3}" + _REST,
                   specials=["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>",
                             "<|eot_id|>", "<|finetune_right_pad_id|>"],
                   bos="<|begin_of_text|>", eos="<|eot_id|>", pad="<|finetune_right_pad_id|>"),
    "qwen": dict(template=QWEN_TEMPLATE, pattern=_WORDS + r"\p{N}" + _REST,
                 specials=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
                 bos=None, eos="<|im_end|>", pad="<|endoftext|>"),
}

DEMOS = [Example(((1, 0), (0, 1)), ((0, 1), (1, 0))), Example(((2, 2), (0, 2)), ((2, 2), (2, 0)))]
QUERY, ANSWER = ((3, 0), (0, 0)), ((0, 3), (0, 0))
PROMPT = CHAT_LAYOUT.prompt(DEMOS, QUERY)       # the few-shot task's user turn
COMPLETION = CHAT_LAYOUT.completion(ANSWER)     # the output grid: "0 3\n0 0"


def _make_family(folder, name: str):
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from tests.support.tiny_models import make_llama

    fam = FAMILIES[name]
    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(fam["pattern"]), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tk.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=fam["specials"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    texts = [PROMPT + COMPLETION, "user assistant system You are a helpful assistant.", "Where is Rome? In Italy."] * 20
    tk.train_from_iterator(texts, trainer)
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, bos_token=fam["bos"], eos_token=fam["eos"], pad_token=fam["pad"])
    tok.chat_template = fam["template"]
    tok.save_pretrained(folder)
    make_llama(folder, tok, hidden=32, layers=1, heads=2, intermediate=64)
    return load_policy(str(folder))


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def family(request, tmp_path_factory):
    policy = _make_family(tmp_path_factory.mktemp(request.param), request.param)
    assert policy.use_chat
    return request.param, policy


CFG = InnerCfg(epochs=1, batch_size=0, lr=1e-2, targets=["q_proj", "v_proj"], lora_r=4, lora_alpha=8)


def test_exactly_the_completion_and_eos_carry_loss_under_each_chat_template(family):
    name, policy = family
    tok = policy.tokenizer
    inner = InnerLoop(policy, CFG, slots=1)
    ids, start = inner._encode_pair(PROMPT, COMPLETION)
    inner.lora.detach()
    rendered = render(tok, PROMPT, use_chat=True)
    assert rendered.endswith({"llama3": "<|end_header_id|>\n\n", "qwen": "<|im_start|>assistant\n"}[name])
    # the prompt's tokens are the ones the model is asked with at answer time
    assert ids[:start] == tok(rendered, add_special_tokens=False)["input_ids"]
    # and the rest is the completion's tokens, then eos: nothing of the template, nothing lost
    assert ids[-1] == tok.eos_token_id == tok.convert_tokens_to_ids(FAMILIES[name]["eos"])
    assert tok.decode(ids[start:-1]) == COMPLETION
    batch = pad_batch([(0, ids, start)], pad=tok.pad_token_id)
    targets = batch["labels"][0][batch["labels"][0] >= 0].tolist()
    assert targets == ids[start:]
    # all tokens (train_using_all_tokens): every token but the first is a target
    batch = pad_batch([(0, ids)], pad=tok.pad_token_id)
    assert batch["labels"][0].tolist() == ids[1:]


def test_a_pairs_first_step_loss_is_the_models_loss_on_its_completion(family):
    """Before any update, a slot's loss must be what the model itself reports with the prompt's
    labels set to -100 (output tokens only), or with every label (all tokens)."""
    _, policy = family
    inner = InnerLoop(policy, CFG, slots=2)
    inner.lora.reset([1, 2])
    jobs = [AdaptJob([], [], seed=1, pairs=[(PROMPT, COMPLETION)]),
            AdaptJob([], [], seed=2, pairs=[(PROMPT, COMPLETION)], prompt_loss=True)]
    losses, steps, dropped = inner.train(jobs)
    ids, start = inner._encode_pair(PROMPT, COMPLETION)
    inner.lora.detach()
    assert steps == [1, 1] and dropped == [0, 0]
    x = torch.tensor([ids])
    masked = x.clone()
    masked[0, :start] = -100
    with torch.no_grad():
        completion_only = float(policy.model(input_ids=x, labels=masked).loss)
        every_token = float(policy.model(input_ids=x, labels=x).loss)
    assert losses[0] == pytest.approx(completion_only, rel=1e-5)
    assert losses[1] == pytest.approx(every_token, rel=1e-5)
    assert abs(completion_only - every_token) > 1e-3, "the two strategies must train on different tokens"


def test_pairs_and_sequences_share_a_step_and_a_too_long_pair_is_left_out_whole(family):
    _, policy = family
    inner = InnerLoop(policy, CFG, slots=1, max_seq_len=len(policy.tokenizer(render(
        policy.tokenizer, PROMPT, True), add_special_tokens=False)["input_ids"]) + 20)
    inner.lora.reset([3])
    long_answer = CHAT_LAYOUT.completion(((1,) * 8,) * 8)
    job = AdaptJob(["Rome\nA city."], [], seed=3, pairs=[(PROMPT, COMPLETION), (PROMPT, long_answer)])
    trained = inner.train([job])
    inner.lora.detach()
    assert trained.dropped == [1]           # never cut: a cut grid teaches a wrong shape
    assert trained.steps == [1] and trained.losses[0] is not None


def test_without_a_chat_template_the_prompt_is_plain_text(tiny_model_dir):
    policy = load_policy(str(tiny_model_dir), chat_template="off")
    inner = InnerLoop(policy, CFG, slots=1)
    ids, start = inner._encode_pair(PROMPT, COMPLETION)
    inner.lora.detach()
    tok = policy.tokenizer
    assert ids[:start] == tok(PROMPT + "\n")["input_ids"]   # as a plain question is asked (engine.prompts.render)
    assert tok.decode(ids[start:]) == COMPLETION + tok.eos_token


def test_a_token_spanning_prompt_and_completion_counts_as_the_completions(tiny_model_dir):
    """A byte-level tokenizer joins a prompt's last space to the next word: the offsets put that
    token on the completion's side, so no character of the completion goes untrained."""
    policy = load_policy(str(tiny_model_dir))
    tok = policy.tokenizer
    prompt, completion = "The answer is ", "Paris"
    ids, start = pair_tokens(tok, prompt, completion, add_special_tokens=False)
    assert tok(prompt, add_special_tokens=False)["input_ids"] != ids[:len(tok(prompt, add_special_tokens=False)["input_ids"])]
    assert tok.decode(ids[start:]) == " Paris"
    assert tok.decode(ids[:start]) == "The answer is"


def test_a_tokenizer_without_offsets_needs_the_prompt_as_a_prefix():
    class CharTokenizer:  # a slow tokenizer: one id per character, no offsets
        is_fast = False

        def __call__(self, text, add_special_tokens=True):
            return {"input_ids": [ord(c) for c in text]}

    ids, start = pair_tokens(CharTokenizer(), "ab", "cd", add_special_tokens=False)
    assert ids[start:] == [ord("c"), ord("d")]

    class Merging(CharTokenizer):  # "bc" becomes one token: the prompt alone is no prefix
        def __call__(self, text, add_special_tokens=True):
            return {"input_ids": [ord(c) for c in text.replace("bc", "\x00")]}

    with pytest.raises(ValueError, match="fast tokenizer"):
        pair_tokens(Merging(), "ab", "cd", add_special_tokens=False)
