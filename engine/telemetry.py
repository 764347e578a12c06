"""System telemetry every ~2 s: CPU, process RSS, and per GPU utilization, memory and
temperature through NVML. No GPU is recorded as an empty list, never raised."""

from __future__ import annotations

import os
import threading

import psutil

from engine import events as ev
from engine.store import Store


class GPUProbe:
    def __init__(self) -> None:
        self.handles: list = []
        self.nvml = None
        try:
            import pynvml
            pynvml.nvmlInit()
            self.nvml = pynvml
            self.handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
        except Exception:  # no driver, no library, no GPU: all the same to us
            self.handles = []

    def sample(self) -> list[dict]:
        out = []
        nv = self.nvml
        for i, h in enumerate(self.handles):
            try:
                util = nv.nvmlDeviceGetUtilizationRates(h)
                mem = nv.nvmlDeviceGetMemoryInfo(h)
                name = nv.nvmlDeviceGetName(h)
                out.append({"index": i, "name": name.decode() if isinstance(name, bytes) else str(name),
                            "util": float(util.gpu), "mem_used_mb": mem.used / 2**20,
                            "mem_total_mb": mem.total / 2**20,
                            "temp_c": float(nv.nvmlDeviceGetTemperature(h, nv.NVML_TEMPERATURE_GPU))})
            except Exception:
                continue
        return out


class Telemetry(threading.Thread):
    """Daemon thread with its own store connection; also refreshes the run's heartbeat."""

    def __init__(self, runs_dir, run_id: str, interval: float = 2.0):
        super().__init__(name="telemetry", daemon=True)
        self.runs_dir, self.run_id, self.interval = runs_dir, run_id, interval
        self._halt = threading.Event()

    def run(self) -> None:
        store = Store(self.runs_dir)
        proc = psutil.Process(os.getpid())
        proc.cpu_percent(None)
        psutil.cpu_percent(None)
        gpus = GPUProbe()
        try:
            while not self._halt.wait(self.interval):
                try:
                    store.record(self.run_id, ev.Telemetry(cpu_pct=psutil.cpu_percent(None),
                                                           rss_mb=proc.memory_info().rss / 2**20, gpus=gpus.sample()))
                except Exception:  # a busy store must not kill the run; try again next tick
                    continue
        finally:
            store.close()

    def stop(self) -> None:
        self._halt.set()
