#!/usr/bin/env bash
# Sets up .venv with everything seal-tui needs. Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
        echo "setup: seal-tui needs Python 3.11 or newer (it reads TOML with tomllib); $PY is $("$PY" -V 2>&1)." \
             "Run with PYTHON=python3.11 (or newer)." >&2
        exit 1
    fi
    "$PY" -m venv .venv
fi
VPY=.venv/bin/python
if ! "$VPY" -c "import torch" >/dev/null 2>&1; then
    if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
        "$VPY" -m pip install -q torch             # GPU machine: the normal (CUDA) build
    else
        # No GPU: the CPU build (2.13.0 is on disk here; elsewhere PyTorch's CPU index has it).
        "$VPY" -m pip install -q torch==2.13.0 \
            || "$VPY" -m pip install -q torch --index-url https://download.pytorch.org/whl/cpu
    fi
fi
extras=""
[ "${1:-}" = "--test" ] && extras="[test,ray,tensorboard,wandb,trackio]"  # the Ray executor on a local cluster; the trackers (report_to) offline
if ! "$VPY" -m pip install -q -e ".${extras}" >/tmp/seal-tui-setup.log 2>&1; then
    cat /tmp/seal-tui-setup.log >&2
    exit 1
fi
if [ "${1:-}" = "--test" ] && ! command -v tmux >/dev/null 2>&1; then
    # The end-to-end tests drive the console in tmux, as a person would.
    (apt-get update -qq && apt-get install -y -qq tmux sqlite3) >/dev/null 2>&1 \
        || echo "setup: could not install tmux; the tmux tests will be skipped" >&2
fi
if [ "${1:-}" = "--test" ] && ! command -v chromium >/dev/null 2>&1; then
    # seal-tui serve is tested in a real headless browser (tests/e2e/test_serve.py).
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 \
        || echo "setup: could not install chromium; the browser test will be skipped" >&2
fi
