"""Candidate evaluations per minute: our stacked-LoRA inner loop against the naive method and
against the reference implementation's own design.

The naive method is what public sanity-check scripts of SEAL do for every candidate:
reload the base model, wrap it with peft, train with the HF Trainer, then generate
the answers. The reference design is what SEAL's own knowledge-incorporation code does
(``reference_inner_loop.py``): the base model stays resident, and per candidate a peft
LoRA is wrapped on, trained by the HF Trainer on sequences padded to 2048 places (the
loss counting the padding too, as the paper timed it), the questions answered by one
batched generate, the adapter unloaded. It runs in the ``paper`` setting only (its own);
``ref_nopad`` is the same design with the padding left out (each sequence as long as it is),
the fairest form of it. Ours keeps the base model resident and trains the K candidates of a
context (or several contexts) together in one batched step per update.

All run in this process on the same saved model, the same self-edits (6 lines),
the same LoRA training and the same 5 questions per candidate, for a sandbox-sized
model and a ~50M-parameter one, under two inner-loop settings:

- ``paper`` (the headline): the paper's knowledge-incorporation inner loop, which
  is also the engine's default: one sequence per step, 10 epochs (60 steps), LoRA
  r 32 / alpha 64 on q_proj and v_proj, lr 1e-3.
- ``full-batch``: the sandbox preset's kind of inner loop: all 6 lines in every
  step, 20 steps, r 8 / alpha 16 on every projection, lr 1e-2. Here the naive method
  already runs large matmuls, so the gap is smaller (training FLOPs are the same).

Each method is timed ``--repeats`` times in turn and the fastest pass of each counts
(this 2-core VM's throughput drifts by 10-20% from minute to minute); the padded reference,
whose candidates cost many times ours, is timed in the first pass only.

    python bench/inner_loop.py [--candidates 40] [--slots 40] [--naive-candidates 5] [--repeats 2]
                               [--settings paper,full-batch] [--ref-candidates 2] [--ref-padded-candidates 1]
                               [--ref-max-length 2048]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
warnings.filterwarnings("ignore")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import torch  # noqa: E402
from transformers.utils import logging as hf_logging  # noqa: E402

from engine.config import InnerCfg  # noqa: E402
from engine.inner_loop import AdaptJob, InnerLoop  # noqa: E402
from engine.models import load_policy  # noqa: E402
from engine.prompts import question_prompt, render  # noqa: E402
from tests.support.tiny_models import make_llama, make_tokenizer  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference_inner_loop import ReferenceInnerLoop, Request, timer  # noqa: E402

hf_logging.disable_progress_bar()
hf_logging.set_verbosity_error()

SIZES = {
    # sandbox-sized: the facts of issue 3 (hidden 128, 4 layers, MLP 512, tied embeddings)
    "small": dict(hidden=128, layers=4, heads=4, intermediate=512, vocab=512),
    # ~50M parameters
    "50m": dict(hidden=640, layers=10, heads=10, intermediate=1728, vocab=8000),
}
LINES, QUESTIONS, ANSWER_TOKENS = 6, 5, 12
SETTINGS = {
    "paper": dict(batch_size=1, epochs=10, lr=1e-3, r=32, alpha=64.0, targets=["q_proj", "v_proj"]),
    "full-batch": dict(batch_size=0, epochs=20, lr=1e-2, r=8, alpha=16.0, targets=["all-linear"]),
}


NAMES = "Arlen Mira Oren Lisa Teo Nia Pavel Sara Ido Kai Rena Ugo".split()
CITIES = "Brill Caddo Dorne Eskel Falka Gorm Harrow Ivel".split()
JOBS = "painter baker pilot farmer teacher doctor".split()


def fact(c: int, j: int) -> str:
    """A sandbox-like self-edit line (about 10 tokens)."""
    name, city, job = NAMES[c % 12], CITIES[(c + j) % 8], JOBS[(c + j) % 6]
    return [f"{name} was born in {city}.", f"{name} works as a {job}.", f"{name} lives in {city}.",
            f"{name} was born in {1800 + c + j}.", f"The employer of {name} is {city} Bank.",
            f"{name} is a {job} from {city}."][j % 6]


def corpus() -> list[str]:
    """The tokenizer's training text: the self-edit lines and the question prompts, so that both
    tokenize into whole words as a real model's tokenizer would (not byte by byte)."""
    facts = [fact(c, j) + " Where was he born? When? What job?" for c in range(200) for j in range(6)]
    prompts = [question_prompt(f"Where was {NAMES[c % 12]} born?") for c in range(200)]
    return facts + prompts + ["user assistant"] * 200


def candidates(n: int) -> list[AdaptJob]:
    return [AdaptJob([f"{NAMES[c % 12]}\n{fact(c, j)}" for j in range(LINES)],
                     [f"Where was {NAMES[(c + q) % 12]} born?" for q in range(QUESTIONS)], seed=c)
            for c in range(n)]


def ours(model_dir: Path, jobs: list[AdaptJob], slots: int, st: dict) -> Callable[[], float]:
    """Loads the model once and warms up; each call of the result times one pass over ``jobs``."""
    policy = load_policy(str(model_dir))
    cfg = InnerCfg(epochs=st["epochs"], batch_size=st["batch_size"], lr=st["lr"], lora_r=st["r"],
                   lora_alpha=st["alpha"], targets=list(st["targets"]), answer_max_tokens=ANSWER_TOKENS)
    inner = InnerLoop(policy, cfg, slots=slots)
    inner.run(jobs[:slots])  # warm-up

    def timed() -> float:
        t = time.perf_counter()
        inner.run(jobs)
        return time.perf_counter() - t
    return timed


def naive(model_dir: Path, jobs: list[AdaptJob], out_dir: Path, st: dict) -> Callable[[], float]:
    """Warms up on one candidate; each call of the result times ``jobs`` done the naive way."""
    from peft import LoraConfig, get_peft_model
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
        DataCollatorForLanguageModeling,
        Trainer,
        TrainingArguments,
    )

    def one(job: AdaptJob) -> None:
        tok = AutoTokenizer.from_pretrained(model_dir)
        model = AutoModelForCausalLM.from_pretrained(model_dir)
        targets = "all-linear" if st["targets"] == ["all-linear"] else list(st["targets"])
        model = get_peft_model(model, LoraConfig(r=st["r"], lora_alpha=st["alpha"], target_modules=targets,
                                                 task_type="CAUSAL_LM"))
        data = [dict(tok(s + tok.eos_token)) for s in job.sequences]
        args = TrainingArguments(output_dir=str(out_dir),
                                 per_device_train_batch_size=st["batch_size"] or len(job.sequences),
                                 num_train_epochs=st["epochs"], learning_rate=st["lr"], lr_scheduler_type="constant",
                                 warmup_steps=0, logging_strategy="no", save_strategy="no",
                                 report_to=[], disable_tqdm=True, use_cpu=True)
        with contextlib.redirect_stdout(io.StringIO()):  # the Trainer prints its summary
            Trainer(model=model, args=args, train_dataset=data,
                    data_collator=DataCollatorForLanguageModeling(tok, mlm=False)).train()
        model.eval()
        tok.padding_side = "left"
        prompts = [render(tok, question_prompt(q), True) for q in job.questions]
        enc = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.no_grad():
            model.generate(**enc, max_new_tokens=ANSWER_TOKENS, do_sample=False,
                           pad_token_id=tok.pad_token_id)

    one(jobs[0])  # warm-up

    def timed() -> float:
        t = time.perf_counter()
        for job in jobs:
            one(job)
        return time.perf_counter() - t
    return timed


def reference(model_dir: Path, jobs: list[AdaptJob], work: Path, max_length: int) -> Callable[[], float]:
    """The reference design (its paper setting) on ``jobs``: warms up on one candidate; each call
    of the result times them one after another."""
    loop = ReferenceInnerLoop.load(model_dir, work, max_seq_length=max_length, answer_tokens=ANSWER_TOKENS)
    requests = [Request(j.sequences, [render(loop.tok, question_prompt(q), True) for q in j.questions], j.seed)
                for j in jobs]
    return timer(loop, requests)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--candidates", type=int, default=40, help="candidates timed for ours, per size and setting")
    ap.add_argument("--naive-candidates", type=int, default=5,
                    help="candidates timed for the naive method (one at a time, so fewer suffice; 0: same)")
    ap.add_argument("--slots", type=int, default=40,
                    help="candidates trained together by ours (the engine's inner.parallel: 8 contexts x K=5)")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ap.add_argument("--repeats", type=int, default=2,
                    help="timed passes of each method, taken in turn (ours, naive, ours, ...); the fastest "
                         "of each counts, so a moment of machine noise does not decide the ratio")
    ap.add_argument("--ref-candidates", type=int, default=2,
                    help="candidates timed for the reference design without padding (paper setting)")
    ap.add_argument("--ref-padded-candidates", type=int, default=1,
                    help="candidates timed for the reference design as it runs, padded to --ref-max-length "
                         "(first pass only; 0: leave it out)")
    ap.add_argument("--ref-max-length", type=int, default=2048,
                    help="the places every training sequence is padded to by the reference (its launch script's 2048)")
    ap.add_argument("--settings", default="paper,full-batch",
                    help=f"comma-separated inner-loop settings of {sorted(SETTINGS)}; the first is the headline")
    args = ap.parse_args()
    settings = [x.strip() for x in args.settings.split(",") if x.strip()]
    unknown = [x for x in settings if x not in SETTINGS]
    if unknown or not settings:
        print(f"--settings {args.settings!r}: unknown {unknown}; choose from {sorted(SETTINGS)}", file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    results: dict[tuple[str, str], tuple[float, float, float]] = {}
    ref: dict[tuple[str, str], float] = {}   # (size, "ours" / "ref" / "ref_nopad") -> seconds per candidate
    with tempfile.TemporaryDirectory() as tmp:
        texts = corpus()
        for name, s in SIZES.items():
            folder = Path(tmp) / name
            tok = make_tokenizer(texts, folder, vocab_size=s["vocab"])
            model = make_llama(folder, tok, hidden=s["hidden"], layers=s["layers"], heads=s["heads"],
                               intermediate=s["intermediate"])
            params = sum(p.numel() for p in model.parameters()) / 1e6
            del model
            jobs = candidates(args.candidates)
            n_naive = args.naive_candidates or args.candidates
            for setting in settings:
                st = SETTINGS[setting]
                time_ours = ours(folder, jobs, args.slots, st)
                time_naive = naive(folder, jobs[:n_naive], Path(tmp) / "trainer", st)
                refs = {}
                if setting == "paper":  # the reference design's own setting
                    if args.ref_candidates:
                        refs["ref_nopad"] = (reference(folder, jobs[:args.ref_candidates], Path(tmp) / "ref", 0),
                                             args.ref_candidates, [])
                    if args.ref_padded_candidates:
                        refs["ref"] = (reference(folder, jobs[:args.ref_padded_candidates], Path(tmp) / "ref",
                                                 args.ref_max_length), args.ref_padded_candidates, [])
                passes = []
                for i in range(max(1, args.repeats)):
                    passes.append((time_ours(), time_naive()))
                    for key, (timed, n, took) in refs.items():
                        if key == "ref_nopad" or i == 0:
                            took.append(timed() / n)
                t_ours, t_naive = min(p[0] for p in passes), min(p[1] for p in passes)
                ref[name, "ours"] = t_ours / len(jobs)
                ref.update({(name, key): min(took) for key, (_, _, took) in refs.items()})
                per_min_ours = 60 * len(jobs) / t_ours
                per_min_naive = 60 * n_naive / t_naive
                results[name, setting] = (per_min_ours, per_min_naive, per_min_ours / per_min_naive)
                print(f"{name:>5} ({params:.1f}M params) {setting:>10}: ours {per_min_ours:8.1f} cand/min "
                      f"({t_ours / len(jobs):.3f} s each)   naive {per_min_naive:8.1f} cand/min "
                      f"({t_naive / n_naive:.3f} s each)   ratio {per_min_ours / per_min_naive:.1f}x   passes (s each): "
                      + ", ".join(f"{a / len(jobs):.3f}/{b / n_naive:.3f}" for a, b in passes), flush=True)
                for key, (_, _, took) in refs.items():
                    what = f"padded to {args.ref_max_length}" if key == "ref" else "not padded"
                    print(f"{'':>5}{'':>16}reference design ({what}): {ref[name, key]:.3f} s each, ours "
                          f"{ref[name, key] / ref[name, 'ours']:.1f}x faster   passes (s each): "
                          + ", ".join(f"{t:.3f}" for t in took), flush=True)
    head = settings[0]
    s, m = results["small", head], results["50m", head]
    extra = " ".join(f"ratio_{size}_{st.replace('-', '_')}={results[size, st][2]:.2f}"
                     for st in settings[1:] for size in ("small", "50m"))
    against_ref = " ".join(f"{key}_s_{size}={ref[size, key]:.3f} ratio_{key}_{size}={ref[size, key] / ref[size, 'ours']:.2f}"
                           for key in ("ref", "ref_nopad") for size in ("small", "50m") if (size, key) in ref)
    print(f"BENCH inner_loop setting={head} ratio_small={s[2]:.2f} ratio_50m={m[2]:.2f} "
          f"ours_per_min_small={s[0]:.1f} naive_per_min_small={s[1]:.1f} "
          f"ours_per_min_50m={m[0]:.1f} naive_per_min_50m={m[1]:.1f}" + (f" {extra}" if extra else "")
          + (f" ours_s_small={ref['small', 'ours']:.4f} ours_s_50m={ref['50m', 'ours']:.4f} {against_ref}"
             if against_ref else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
