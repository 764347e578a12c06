"""SEAL on a GPU: the inner loop, the reference design beside it, self-edit sampling and the
M-step, at the shapes of Qwen2.5-0.5B and Qwen2.5-7B, in one prepared script.

Nothing is downloaded and nothing installed: the models are built from configs of the real
architectures with random weights, in bf16 on the GPU, and a small tokenizer is trained here
(token ids of a random model beyond its vocabulary decode to nothing; the shapes, which set
the time, are the real ones). Sections, each with its own time limit inside a whole budget
(``--budget``, 450 s by default, so that the script ends within 8 minutes):

- ``inner``: the engine's inner loop in the paper's setting (LoRA r 32 / alpha 64 on q_proj
  and v_proj, batch 1, 10 epochs, lr 1e-3; 8 self-edit lines and the passage per candidate,
  5 questions answered greedily, up to 64 tokens each), K candidates trained together as
  stacked-LoRA slots (``--ks``, 5, 40 and 160): seconds per candidate, trained tokens per
  second, and model FLOPs utilisation, MFU = (6 x N x trained tokens + 2 x N x answer tokens)
  / time / the chip's bf16 peak (N: the parameters that do matmul work, the input embedding
  left out; answer tokens: prompts and the most tokens each answer may have);
- ``reference``: the reference implementation's inner loop (``reference_inner_loop.py``: HF
  Trainer and peft per candidate, sequences padded to 2048) on the same model for a few
  candidates, and its time per candidate over ours;
- ``sampling``: the E-step, K = 5 self-edits per context, contexts batched (tokens/s);
- ``mstep``: the M-step (LoRA r 64 on every linear layer, merged), tokens/s.

Each prints peak GPU memory. A section over its limit, out of memory or failing prints a
``skipped=`` line with the reason and the script goes on. Every result is one line:

    BENCH gpu shape=qwen2.5-7b section=inner k=40 s_per_candidate=.. tokens_per_s=.. mfu=.. peak_gb=..

``--smoke`` runs every section on tiny shapes on the CPU in seconds (the test suite does),
so that the script works the first time it meets a GPU:

    python bench/gpu.py [--shapes 0.5b,7b] [--ks 5,40,160] [--ref-candidates 2] [--budget 450]
    python bench/gpu.py --smoke
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import random
import signal
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
warnings.filterwarnings("ignore")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import torch  # noqa: E402
from reference_inner_loop import REFERENCE, ReferenceInnerLoop, Request  # noqa: E402

from engine.config import InnerCfg, MStepCfg, SampleCfg  # noqa: E402
from engine.inner_loop import AdaptJob, InnerLoop  # noqa: E402
from engine.models import Policy  # noqa: E402
from engine.prompts import question_prompt, render  # noqa: E402

# the real architectures (their config.json), random weights
SHAPES = {
    "0.5b": dict(name="qwen2.5-0.5b", hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                 num_attention_heads=14, num_key_value_heads=2, vocab_size=151936, tie_word_embeddings=True),
    "7b": dict(name="qwen2.5-7b", hidden_size=3584, intermediate_size=18944, num_hidden_layers=28,
               num_attention_heads=28, num_key_value_heads=4, vocab_size=152064, tie_word_embeddings=False),
    "smoke": dict(name="smoke", hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, vocab_size=600, tie_word_embeddings=True),
}
# dense bf16 peak of the chip (datasheet, TFLOP/s, without sparsity), by a part of its name
BF16_PEAK_TFLOPS = (("H200", 989.0), ("H100 PCIe", 756.0), ("H100", 989.0), ("H800", 989.0), ("B200", 2250.0),
                    ("A100", 312.0), ("L40S", 362.0), ("L4", 121.0), ("A10", 125.0), ("4090", 165.0))
# each section's own limit in seconds (a 7B inner loop at K = 160 is the longest)
LIMITS = {"0.5b": {"inner": 40, "reference": 60, "sampling": 30, "mstep": 30},
          "7b": {"inner": 90, "reference": 100, "sampling": 45, "mstep": 45},
          "smoke": {"inner": 300, "reference": 300, "sampling": 300, "mstep": 300}}  # a shared CPU may crawl


class SectionTimeout(Exception):
    pass


class Budget:
    def __init__(self, seconds: float):
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return self.end - time.monotonic()


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """SectionTimeout in the main thread after ``seconds`` (between Python steps: a GPU kernel
    already queued finishes first)."""
    def alarm(signum, frame):
        raise SectionTimeout(f"over_{seconds:.0f}s")
    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.01))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def bench_line(**fields) -> str:
    def value(v):
        return f"{v:.4g}" if isinstance(v, float) else str(v).replace(" ", "_")
    return "BENCH gpu " + " ".join(f"{k}={value(v)}" for k, v in fields.items())


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def peak_gb(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else None


# ---------------------------------------------------------------- the model and the data
WORDS = ("river city born painter harbour winter council library bridge museum founded north south "
         "market mayor castle island village railway station school garden valley mountain treaty "
         "merchant festival ancient modern kingdom province language temple bank factory scholar "
         "ship canal tower plain forest copper silver wool grain salt trade route war peace law").split()


def words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def make_tokenizer(folder: Path):
    from tests.support.tiny_models import make_tokenizer as train
    rng = random.Random(0)
    return train([words(rng, 30) for _ in range(400)] + ["Question: Answer: Title: Passage:"], folder,
                 vocab_size=500, chat=False)


def build_model(shape: dict, device: torch.device, dtype: torch.dtype, vocab: int):
    """A random model of ``shape``, built straight on ``device`` in ``dtype``."""
    from transformers import AutoModelForCausalLM, Qwen2Config

    fields = {k: v for k, v in shape.items() if k != "name"}
    if shape["name"] == "smoke":
        fields["vocab_size"] = vocab
    cfg = Qwen2Config(**fields, max_position_embeddings=4096, use_cache=True, bos_token_id=1, eos_token_id=2,
                      pad_token_id=0)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(cfg, dtype=dtype)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def matmul_params(model) -> int:
    """Parameters that do matmul work per token: all but the input embedding (a tied one is
    the output layer too, so it stays)."""
    total = sum(p.numel() for p in model.parameters())
    emb, out = model.get_input_embeddings().weight, model.get_output_embeddings().weight
    return total if emb is out else total - emb.numel()


def candidates(n: int, *, seed: int, lines: int, line_words: int, passage_words: int, questions: int) -> list[AdaptJob]:
    """Self-edits as the paper's inner loop sees them: each line a sequence under the title, the
    passage appended as one more; questions about the passage."""
    rng = random.Random(seed)
    out = []
    for c in range(n):
        title = f"Topic {c}"
        seqs = [f"{title}\n{words(rng, line_words)}" for _ in range(lines)] + [f"{title}\n{words(rng, passage_words)}"]
        qs = [f"What is {words(rng, 6)}?" for _ in range(questions)]
        out.append(AdaptJob(seqs, qs, seed=c))
    return out


# ---------------------------------------------------------------- the sections
class Bench:
    def __init__(self, args, shape: dict, device: torch.device, dtype: torch.dtype, work: Path):
        self.args, self.shape, self.device, self.dtype, self.work = args, shape, device, dtype, work
        self.smoke = shape["name"] == "smoke"
        tok = make_tokenizer(work / "tokenizer")
        self.model = build_model(shape, device, dtype, len(tok))
        self.n = matmul_params(self.model)
        self.policy = Policy(self.model, tok, device, dtype, use_chat=False, source=f"random:{shape['name']}")
        self.epochs = 2 if self.smoke else REFERENCE["epochs"]   # smoke: the code paths, not the paper's work
        size = dict(lines=1, line_words=6, passage_words=12, questions=2) if self.smoke else \
            dict(lines=8, line_words=18, passage_words=120, questions=5)
        self.jobs = candidates(max(args.ks), seed=0, **size)
        self.answer_tokens = 4 if self.smoke else 64
        self.ours_s: dict[int, float] = {}

    def flops(self, trained: int, answered: int) -> float:
        return 6.0 * self.n * trained + 2.0 * self.n * answered

    def answered(self, inner: InnerLoop, jobs: list[AdaptJob]) -> int:
        """Answer tokens: each question's prompt and the most tokens its answer may have."""
        tok = self.policy.tokenizer
        return sum(len(tok(inner._question_text(q))["input_ids"]) + self.answer_tokens for j in jobs for q in j.questions)

    def inner(self, k: int) -> dict:
        cfg = InnerCfg(split="lines", lora_r=32, lora_alpha=64.0, targets=["q_proj", "v_proj"], epochs=self.epochs, lr=1e-3,
                       batch_size=1, answer_max_tokens=self.answer_tokens)
        inner = InnerLoop(self.policy, cfg, slots=k, max_seq_len=2048)
        try:
            jobs = self.jobs[:k]
            warm = [AdaptJob(j.sequences[:1], j.questions[:1], seed=j.seed, epochs=1) for j in jobs]
            inner.run(warm)        # kernels, allocator and packing check, at this K's shapes
            sync(self.device)
            if self.device.type == "cuda":
                torch.cuda.reset_peak_memory_stats()
            t = time.perf_counter()
            inner.run(jobs)
            sync(self.device)
            took = time.perf_counter() - t
            trained = sum(cfg.epochs * (len(inner._encode(s)) - 1) for j in jobs for s in j.sequences)
            flops = self.flops(trained, self.answered(inner, jobs))
            self.ours_s[k] = took / k
            return dict(s_per_candidate=took / k, tokens_per_s=trained / took, **self.mfu(flops, took),
                        peak_gb=peak_gb(self.device))
        finally:
            inner.close()

    def reference(self) -> dict:
        n = self.args.ref_candidates
        length = 64 if self.smoke else REFERENCE["max_seq_length"]
        ref = ReferenceInnerLoop(self.model, self.policy.tokenizer, self.work / "reference", max_seq_length=length,
                                 answer_tokens=self.answer_tokens, epochs=self.epochs)
        try:
            reqs = [Request(j.sequences, [render(ref.tok, question_prompt(q), False) for q in j.questions], j.seed)
                    for j in self.jobs[:n]]
            ref(Request(reqs[0].sequences[:1], reqs[0].prompts[:1], 0))      # warm-up: one short request
            sync(self.device)
            if self.device.type == "cuda":
                torch.cuda.reset_peak_memory_stats()
            ref.trained_tokens = 0
            t = time.perf_counter()
            for i, req in enumerate(reqs):
                ref(req, i + 1)
            sync(self.device)
            took = time.perf_counter() - t
            tok = self.policy.tokenizer
            answered = sum(len(tok(p)["input_ids"]) + self.answer_tokens for r in reqs for p in r.prompts)
            out = dict(candidates=n, padded_to=length, s_per_candidate=took / n,
                       tokens_per_s=ref.trained_tokens / took, **self.mfu(self.flops(ref.trained_tokens, answered), took),
                       peak_gb=peak_gb(self.device))
            for k, s in sorted(self.ours_s.items()):
                out[f"ratio_k{k}"] = (took / n) / s
            return out
        finally:
            ref.close()
            self.policy.model = self.model = ref.model

    def sampling(self) -> dict:
        from engine.sampling import sample_self_edits

        contexts = 2 if self.smoke else 16
        new = 8 if self.smoke else 256
        rng = random.Random(1)
        prompts = [f"Title: Topic {i}\nPassage: {words(rng, 8 if self.smoke else 150)}\n"
                   "List the implications of this passage." for i in range(contexts)]
        cfg = SampleCfg(k=5, temperature=1.0, top_p=0.95, max_new_tokens=new, batch_size=5 * contexts)
        sample_self_edits(self.policy, prompts[:1], cfg, k=5, seed=0)
        sync(self.device)
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        t = time.perf_counter()
        sample_self_edits(self.policy, prompts, cfg, k=5, seed=1)
        sync(self.device)
        took = time.perf_counter() - t
        # a random model rarely ends early: the most tokens is what it writes
        return dict(rows=5 * contexts, new_tokens=new, tokens_per_s=5 * contexts * new / took, seconds=took,
                    peak_gb=peak_gb(self.device))

    def mstep(self) -> dict:
        from engine.mstep import encode_example, train_policy

        rng = random.Random(2)
        examples = [(f"Title: Topic {i}\nPassage: {words(rng, 8 if self.smoke else 150)}\nImplications:\n",
                     "\n".join(words(rng, 6 if self.smoke else 18) for _ in range(2 if self.smoke else 10)))
                    for i in range(8 if self.smoke else 32)]
        cfg = MStepCfg(mode="lora", lora_r=64, lora_alpha=128.0, targets=["all-linear"], lr=3e-4, epochs=1,
                       batch_size=4)
        tokens = sum(len(e[0]) for e in (encode_example(self.policy, p, c, 2048) for p, c in examples) if e)
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        t = time.perf_counter()
        train_policy(self.policy, examples, cfg, max_len=2048, seed=0)   # merges its LoRA: the last section
        sync(self.device)
        took = time.perf_counter() - t
        return dict(examples=len(examples), tokens_per_s=tokens / took, seconds=took, peak_gb=peak_gb(self.device))

    def mfu(self, flops: float, seconds: float) -> dict:
        peak = self.args.peak_tflops
        return {"tflops": flops / seconds / 1e12, **({"mfu": flops / seconds / (peak * 1e12)} if peak else {})}


def run_section(name: str, fn: Callable[[], dict], *, shape: str, limit: float, budget: Budget, **tags) -> bool:
    """Run one section within ``limit`` and what is left of the budget; print its line either way."""
    left = budget.left()
    if left < 5:
        print(bench_line(shape=shape, section=name, **tags, skipped="budget_spent"), flush=True)
        return False
    try:
        with time_limit(min(limit, left)):
            fields = fn()
    except SectionTimeout as exc:
        print(bench_line(shape=shape, section=name, **tags, skipped=f"timeout_{exc}"), flush=True)
        return False
    except torch.cuda.OutOfMemoryError:
        print(bench_line(shape=shape, section=name, **tags, skipped="out_of_memory"), flush=True)
        return False
    except Exception as exc:   # a section's failure is reported, the others still run
        traceback.print_exc()
        print(bench_line(shape=shape, section=name, **tags, skipped=f"error_{type(exc).__name__}"), flush=True)
        return False
    finally:
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    print(bench_line(shape=shape, section=name, **{**tags, **fields}), flush=True)
    return True


def stated_peak(device: torch.device) -> tuple[str, float | None]:
    if device.type != "cuda":
        return "cpu", None
    name = torch.cuda.get_device_name()
    return name, next((peak for part, peak in BF16_PEAK_TFLOPS if part in name), None)


def measured_matmul_tflops(device: torch.device, dtype: torch.dtype, n: int) -> float:
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    sync(device)
    t = time.perf_counter()
    for _ in range(10):
        a @ b
    sync(device)
    return 10 * 2 * n ** 3 / (time.perf_counter() - t) / 1e12


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--smoke", action="store_true", help="tiny shapes on the CPU, every section (seconds)")
    ap.add_argument("--shapes", default=None, help="comma-separated of 0.5b, 7b (default both; --smoke: smoke)")
    ap.add_argument("--ks", default=None, help="candidates trained together, comma-separated (default 5,40,160)")
    ap.add_argument("--ref-candidates", type=int, default=None, help="candidates the reference design runs (2)")
    ap.add_argument("--budget", type=float, default=None, help="seconds for every section together (450; --smoke: 1200)")
    ap.add_argument("--peak-tflops", type=float, default=None, help="the chip's bf16 peak (default: its datasheet's)")
    args = ap.parse_args()
    args.shapes = [s.strip() for s in (args.shapes or ("smoke" if args.smoke else "0.5b,7b")).split(",") if s.strip()]
    args.ks = [int(k) for k in (args.ks or ("2,3" if args.smoke else "5,40,160")).split(",")]
    args.ref_candidates = args.ref_candidates or (1 if args.smoke else 2)
    unknown = [s for s in args.shapes if s not in SHAPES]
    if unknown:
        print(f"--shapes {unknown}: choose from {sorted(SHAPES)}", file=sys.stderr)
        return 2
    budget = Budget(args.budget or (1200.0 if args.smoke else 450.0))
    if args.smoke:
        device, dtype = torch.device("cpu"), torch.float32
    elif torch.cuda.is_available():
        device, dtype = torch.device("cuda"), torch.bfloat16
        torch.backends.cuda.matmul.allow_tf32 = True   # the LoRA slots' float32 matmuls
    else:
        print("no CUDA device here: run on a GPU machine, or with --smoke for tiny shapes on the CPU", file=sys.stderr)
        return 2
    name, peak = stated_peak(device)
    args.peak_tflops = args.peak_tflops or peak
    matmul = measured_matmul_tflops(device, dtype, 256 if args.smoke else 8192)
    print(bench_line(section="device", device=name, torch=torch.__version__, bf16_peak_tflops=args.peak_tflops or "unknown",
                     matmul_tflops=matmul), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for key in args.shapes:
            shape, limits = SHAPES[key], LIMITS[key]
            if budget.left() < 20:
                print(bench_line(shape=shape["name"], section="all", skipped="budget_spent"), flush=True)
                continue
            t = time.perf_counter()
            try:
                bench = Bench(args, shape, device, dtype, Path(tmp) / key)
            except Exception as exc:
                traceback.print_exc()
                print(bench_line(shape=shape["name"], section="all", skipped=f"error_{type(exc).__name__}"), flush=True)
                continue
            print(bench_line(shape=shape["name"], section="model", params_b=bench.n / 1e9,
                             built_s=time.perf_counter() - t), flush=True)
            for k in args.ks:
                run_section("inner", lambda k=k, bench=bench: bench.inner(k), shape=shape["name"], limit=limits["inner"],
                            budget=budget, k=k)
            for section in ("reference", "sampling", "mstep"):
                run_section(section, getattr(bench, section), shape=shape["name"], limit=limits[section], budget=budget)
            del bench
            gc.collect()
            if device.type == "cuda":
                torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main())
