"""The sandbox tokenizer: byte-level BPE trained here on the world's own text.

Byte-level, so any text a person types into a self-edit still encodes; trained on the
world, so every name, city and template word is one token. Every line starts as if
after a space, so a word is the same token at the start of a line ("Bouss" in a title)
and inside one ("of Bouss"): copying a name from a passage into a note is then one
lookup, not two. The decoder drops those spaces again, so text decodes as it was
written (spaces next to a newline aside). Saved as a ``PreTrainedTokenizerFast`` with
eos, pad and a minimal chat template.
"""

from __future__ import annotations

from collections.abc import Iterable

EOS = "<|end|>"
PAD = "<|pad|>"
USER, ASSISTANT = "<|user|>", "<|assistant|>"

# ChatML in miniature: each turn is "<|role|>\n{content}<|end|>\n"; replies end with eos.
CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}" + EOS + "\n{% endfor %}"
    "{% if add_generation_prompt %}" + ASSISTANT + "\n{% endif %}"
)


def train_tokenizer(texts: Iterable[str], vocab_size: int = 1024):
    """A PreTrainedTokenizerFast trained on ``texts`` (no bos: sequences start with text)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split("\n", behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=True),  # per line
    ])
    core.decoder = decoders.Sequence([
        decoders.ByteLevel(), decoders.Fuse(),
        decoders.Replace(" \n", "\n"), decoders.Replace("\n ", "\n"), decoders.Strip(" ", 1, 0),
    ])
    specials = [PAD, EOS, USER, ASSISTANT, "<|system|>"]
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials, min_frequency=2,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    core.train_from_iterator(texts, trainer)
    tok = PreTrainedTokenizerFast(tokenizer_object=core, eos_token=EOS, pad_token=PAD,
                                  additional_special_tokens=[USER, ASSISTANT, "<|system|>"])
    tok.chat_template = CHAT_TEMPLATE
    tok.padding_side = "left"  # generation pads on the left
    return tok
