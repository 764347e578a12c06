"""Importing the run store fast: the console's first paint waits on it.

``engine.store`` uses sqlite_utils, which imports pandas and numpy whenever they
are installed (about a second here), only to convert their values on insert; the
console never inserts such values. So the first import holds them back, and
anything imported later may still use them normally.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType

OPTIONAL_HEAVY = ("pandas", "numpy")


def store_module() -> ModuleType:
    if "engine.store" in sys.modules:
        return sys.modules["engine.store"]
    held = [name for name in OPTIONAL_HEAVY if name not in sys.modules]
    for name in held:
        sys.modules[name] = None   # type: ignore[assignment]  # makes `import name` fail fast
    try:
        return importlib.import_module("engine.store")
    finally:
        for name in held:
            if sys.modules.get(name, ...) is None:
                del sys.modules[name]
