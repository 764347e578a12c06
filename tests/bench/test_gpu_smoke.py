"""bench/gpu.py is prepared for the first GPU it meets: its --smoke mode runs every section (the
inner loop at two K, the reference design, sampling, the M-step) on tiny shapes on this CPU."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from tests.support.common import REPO


def _fields(line: str) -> dict[str, str]:
    return dict(item.split("=", 1) for item in line.split()[2:])


def test_the_gpu_bench_runs_every_section_on_tiny_shapes():
    proc = subprocess.run([sys.executable, "bench/gpu.py", "--smoke"], cwd=REPO, capture_output=True, text=True,
                          timeout=1500)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [_fields(line) for line in proc.stdout.splitlines() if line.startswith("BENCH gpu ")]
    assert not [f for f in lines if "skipped" in f], proc.stdout + proc.stderr[-3000:]
    sections = [(f["section"], f.get("k")) for f in lines]
    assert sections == [("device", None), ("model", None), ("inner", "2"), ("inner", "3"), ("reference", None),
                        ("sampling", None), ("mstep", None)]
    by = {(f["section"], f.get("k")): f for f in lines}
    for key in (("inner", "2"), ("inner", "3"), ("reference", None)):
        assert float(by[key]["s_per_candidate"]) > 0 and float(by[key]["tokens_per_s"]) > 0
    # the reference design against ours at each K, as the GPU run will print it
    assert float(by["reference", None]["ratio_k2"]) > 0 and float(by["reference", None]["ratio_k3"]) > 0
    assert float(by["sampling", None]["tokens_per_s"]) > 0 and float(by["mstep", None]["tokens_per_s"]) > 0


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is here: the full bench would run")
def test_without_a_gpu_the_full_bench_says_to_use_smoke():
    proc = subprocess.run([sys.executable, "bench/gpu.py"], cwd=REPO, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 2
    assert "--smoke" in proc.stderr and "Traceback" not in proc.stderr
