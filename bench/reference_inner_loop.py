"""The reference implementation's inner loop, rebuilt here to time it beside ours.

SEAL's knowledge-incorporation code runs its inner loop as a server (``TTT_server.py`` in
Continual-Intelligence/SEAL): the base model is loaded once and stays resident, and for
each request (one candidate self-edit):

1. each training sequence is tokenized on its own, cut at ``max_seq_length`` and padded to
   it (``padding="max_length"``, 2048 in its launch script), with ``labels`` a copy of the
   input ids: the pad token is the eos token, so the loss counts every pad place too;
2. a fresh peft LoRA (r 32, alpha 64, dropout 0, no target modules named: peft's defaults
   for Llama and Qwen2, q_proj and v_proj) is wrapped onto the resident model;
3. the HF ``Trainer`` trains it (batch 1, 10 epochs, lr 1e-3, ``DataCollatorWithPadding``,
   logging every step, the Trainer's defaults otherwise: linear decay, AdamW, clipping at 1;
   bf16 where a GPU has it);
4. the adapter is saved to a temporary folder and the questions are answered with it (there
   by a vLLM server that loads the folder; here by one batched greedy HF ``generate``);
5. the adapter is unloaded and the folder deleted.

Left out here, to the reference's advantage: its second answering pass per request (the
unadapted model's answers, asked again for every candidate) and the grading calls.

What is written here is this project's own code from that description. The dataset is a list
of dicts (the reference wraps the same rows in ``datasets.Dataset``, which this project does
not install); the Trainer reads either the same way.
"""

from __future__ import annotations

import contextlib
import gc
import io
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

# the reference's request defaults (query_server.py) and launch settings (TTT_server.sh)
REFERENCE = dict(r=32, alpha=64, dropout=0.0, epochs=10, lr=1e-3, batch_size=1, max_seq_length=2048)


@dataclass
class Request:
    sequences: list[str]       # the candidate's training sequences
    prompts: list[str]         # its questions, rendered as the model is asked them
    seed: int = 0


class ReferenceInnerLoop:
    """The resident base model (``model``, already on its device: bf16 on a GPU as the reference
    loads it) and the per-request routine above. ``max_seq_length`` 0: no padding (each sequence
    as long as it is; with batch 1 there is then nothing to pad)."""

    def __init__(self, model, tokenizer, work_dir: Path, *, max_seq_length: int = REFERENCE["max_seq_length"],
                 answer_tokens: int = 64, epochs: int = REFERENCE["epochs"]):
        self.model = model
        self.device = str(next(model.parameters()).device)
        self.bf16 = self.device.startswith("cuda") and torch.cuda.is_bf16_supported()
        self.tok = tokenizer
        self.tok.pad_token = self.tok.eos_token or self.tok.pad_token
        self.work_dir = Path(work_dir)
        self.max_seq_length = max_seq_length
        self.answer_tokens = answer_tokens
        self.epochs = epochs
        self.trained_tokens = 0     # tokens through forward and backward, pad places included
        self._lora = None           # the request's peft model while it is wrapped on

    @classmethod
    def load(cls, model_dir: Path | str, work_dir: Path, **kwargs) -> ReferenceInnerLoop:
        """The base model and tokenizer from a folder, as the reference loads them."""
        from transformers import AutoModelForCausalLM, AutoTokenizer

        cuda = torch.cuda.is_available()
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.bfloat16 if cuda else torch.float32)
        return cls(model.to("cuda" if cuda else "cpu"), AutoTokenizer.from_pretrained(model_dir), work_dir, **kwargs)

    def rows(self, sequences: Sequence[str]) -> list[dict]:
        self.tok.padding_side = "right"
        rows = []
        for seq in sequences:
            if self.max_seq_length:
                enc = self.tok(seq, truncation=True, max_length=self.max_seq_length, padding="max_length")
            else:
                enc = self.tok(seq)
            ids = list(enc["input_ids"])
            rows.append({"input_ids": ids, "attention_mask": list(enc["attention_mask"]), "labels": list(ids)})
        return rows

    def __call__(self, req: Request, step: int = 0) -> list[str]:
        """Adapt to one request and answer its questions; the answers."""
        from peft import LoraConfig, get_peft_model
        from transformers import DataCollatorWithPadding, Trainer, TrainingArguments

        rows = self.rows(req.sequences)
        self.trained_tokens += self.epochs * sum(len(r["input_ids"]) for r in rows)
        tmp = self.work_dir / f"inner_TTT_{step}"
        tmp.mkdir(parents=True, exist_ok=True)
        self._lora = lora = get_peft_model(self.model, LoraConfig(r=REFERENCE["r"], lora_alpha=REFERENCE["alpha"],
                                                     lora_dropout=REFERENCE["dropout"], task_type="CAUSAL_LM"))
        args = TrainingArguments(output_dir=str(tmp), per_device_train_batch_size=REFERENCE["batch_size"],
                                 gradient_accumulation_steps=1, num_train_epochs=self.epochs,
                                 learning_rate=REFERENCE["lr"], logging_steps=1, save_strategy="no", report_to="none",
                                 remove_unused_columns=False, fp16=False, bf16=self.bf16, seed=req.seed,
                                 disable_tqdm=True, use_cpu=self.device == "cpu")
        with contextlib.redirect_stdout(io.StringIO()):  # the Trainer prints every step's log
            Trainer(model=lora, args=args, train_dataset=rows, data_collator=DataCollatorWithPadding(self.tok)).train()
        lora.save_pretrained(str(tmp / "final_adapter"))
        answers = self.answer(lora, req.prompts)
        self.close()
        shutil.rmtree(tmp, ignore_errors=True)
        gc.collect()
        if self.device.startswith("cuda"):
            torch.cuda.empty_cache()
        return answers

    def close(self) -> None:
        """The adapter unloaded: the resident base model without the adapter's layers."""
        if self._lora is not None:
            self.model, self._lora = self._lora.unload(), None

    @torch.no_grad()
    def answer(self, model, prompts: list[str]) -> list[str]:
        model.eval()
        self.tok.padding_side = "left"
        enc = self.tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
        out = model.generate(**enc, max_new_tokens=self.answer_tokens, do_sample=False,
                             pad_token_id=self.tok.pad_token_id)
        return self.tok.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)


def timer(loop: ReferenceInnerLoop, requests: list[Request]) -> Callable[[], float]:
    """Warms up on one request; each call of the result times ``requests``, one after another."""
    import time

    loop(requests[0])

    def timed() -> float:
        t = time.perf_counter()
        for i, req in enumerate(requests):
            loop(req, i)
        if loop.device.startswith("cuda"):
            torch.cuda.synchronize()
        return time.perf_counter() - t
    return timed
