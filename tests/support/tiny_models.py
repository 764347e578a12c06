"""Tiny models the tests and benchmarks make themselves and save to disk.

Nothing is downloaded: a byte-level BPE tokenizer is trained on the given texts,
a LlamaForCausalLM with random weights is built, and both are saved with
save_pretrained, so the engine loads them through from_pretrained like any model.
"""

from __future__ import annotations

from pathlib import Path

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def make_tokenizer(texts: list[str], folder: Path, *, vocab_size: int = 512, chat: bool = True):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    specials = ["<pad>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"]
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tk.train_from_iterator(texts, trainer)
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, pad_token="<pad>", bos_token="<s>",
                                  eos_token="</s>")
    if chat:
        tok.chat_template = CHATML
    folder.mkdir(parents=True, exist_ok=True)
    tok.save_pretrained(folder)
    return tok


def make_llama(folder: Path, tokenizer, *, hidden: int = 64, layers: int = 2, heads: int = 4,
               intermediate: int = 128, seed: int = 0, max_pos: int = 4096):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=intermediate,
                      num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=heads,
                      max_position_embeddings=max_pos, tie_word_embeddings=True,
                      bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                      pad_token_id=tokenizer.pad_token_id)
    model = LlamaForCausalLM(cfg)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    return model


def default_texts() -> list[str]:
    import json

    squad = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "seal" / "squad_val.json"
    texts = ["Answer the question in a few words. Question: Answer: Title: Passage: notes"]
    if squad.is_file():
        for c in json.loads(squad.read_text())[:300]:
            texts.append(c["title"] + "\n" + c["context"])
            texts.extend(q["question"] + " " + q["answer"] for q in c["questions"])
    else:
        texts.extend(f"The city number {i} lies on river {i % 7} since {1800 + i}." for i in range(500))
    return texts


def make_tiny_model(folder: Path, *, chat: bool = True, vocab_size: int = 512, **llama_kwargs) -> Path:
    tok = make_tokenizer(default_texts(), folder, vocab_size=vocab_size, chat=chat)
    make_llama(folder, tok, **llama_kwargs)
    return folder
