"""The engine bounds how long torch's OpenMP threads spin while they wait (a shared CPU's cores
would burn in the spinning), and leaves the user's own OpenMP wait settings alone."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.support.common import REPO

PROBE = ("import os, sys; from engine.cli import bounded_openmp_spin; bounded_openmp_spin(); "
         "assert 'torch' not in sys.modules; import torch; torch.ones(64, 64) @ torch.ones(64, 64); "
         "print(os.environ.get('GOMP_SPINCOUNT'), os.environ.get('OMP_WAIT_POLICY'))")


def _probe(**env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    proc = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={**clean, **env})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_the_engine_bounds_openmp_spinning_before_torch_loads():
    assert _probe() == "1000 None"


def test_a_users_own_openmp_wait_setting_is_kept():
    assert _probe(OMP_WAIT_POLICY="ACTIVE") == "None ACTIVE"
    assert _probe(GOMP_SPINCOUNT="50000") == "50000 None"
