"""The engine's machine: CPU and RSS always, each GPU's utilization, memory and
temperature over the last minutes, and "no GPU" plainly when there is none; with the Ray
executor, one row per scoring worker (node, device, and its GPU or CPU and memory)."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from ..format import duration, mib, sparkline
from ..imported import is_imported
from ..state import RunState


class SystemPane(Static):
    can_focus = True

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._state: RunState | None = None

    def show(self, state: RunState) -> None:
        self._state = state
        self.refresh()

    def render(self) -> Text:
        s = self._state
        out = self._machine(s)
        if s is not None and s.workers:
            out.append("\n\n")
            out.append_text(worker_rows(s.workers))
        return out

    def _machine(self, s: RunState | None) -> Text:
        if s is not None and not s.telemetry and is_imported(s):
            return Text("No telemetry: an imported result file records no machine (the reference's runs "
                        "were not watched by seal-tui).", style="dim")
        if s is None or not s.telemetry:
            return Text("No telemetry yet: the engine samples CPU, memory and GPUs every ~2 s.",
                        style="dim")
        samples = list(s.telemetry)
        last = samples[-1]
        label_w = 16
        spark_w = max(4, (self.size.width or 40) - label_w - 1)
        out = Text()
        span = samples[-1].ts - samples[-min(len(samples), spark_w)].ts
        out.append(f"last {duration(span)} · {len(samples)} samples\n", style="dim")

        out.append(f"{'CPU':<5}{last.cpu_pct:>5.0f}%".ljust(label_w), style="bold")
        out.append(sparkline([t.cpu_pct for t in samples], spark_w, lo=0,
                             hi=max(100.0, max(t.cpu_pct for t in samples))), style="cyan")
        out.append("\n")
        out.append(f"{'RSS':<5}{mib(last.rss_mb):>8}".ljust(label_w), style="bold")
        out.append(sparkline([t.rss_mb for t in samples], spark_w, lo=0), style="cyan")
        out.append("\n")
        if not last.gpus:
            out.append("no GPU", style="bold yellow")
            out.append(" (the engine runs on the CPU)", style="dim")
            return out
        for gpu in last.gpus:
            idx = gpu.get("index", 0)
            hist = [next((g for g in t.gpus if g.get("index") == idx), {}) for t in samples]
            out.append(f"\nGPU {idx} ", style="bold")
            out.append(f"{gpu.get('name', '')}", style="dim")
            temp = gpu.get("temp_c")
            if temp is not None:
                out.append(f"  {temp:.0f}°C", style="bold red" if temp >= 85 else "")
            out.append("\n")
            out.append(f"{'util':<5}{gpu.get('util', 0):>5.0f}%".ljust(label_w))
            out.append(sparkline([g.get("util", 0) or 0 for g in hist], spark_w, lo=0, hi=100), style="green")
            out.append("\n")
            used, total = gpu.get("mem_used_mb"), gpu.get("mem_total_mb")
            out.append(f"{'mem':<5}{mib(used)}/{mib(total)}".ljust(label_w)[:label_w])
            out.append(sparkline([g.get("mem_used_mb", 0) or 0 for g in hist], spark_w, lo=0,
                                 hi=total or None), style="magenta")
            out.append("\n")
            if temp is not None:
                out.append(f"{'temp':<5}{temp:>5.0f}°C".ljust(label_w))
                out.append(sparkline([g.get("temp_c", 0) or 0 for g in hist], spark_w, lo=20, hi=95),
                           style="red")
                out.append("\n")
        out.rstrip()
        return out


WORKER_STYLE = {"busy": "bold green", "idle": "dim", "lost": "bold red"}


def worker_rows(workers: dict[int, dict]) -> Text:
    """Two lines per scoring worker: its number, state, node, process and chunks done; then its
    device with its GPUs' utilization and memory (else its CPU and RSS), or why it was lost."""
    out = Text()
    out.append(f"Workers (Ray) · {sum(w.get('state') != 'lost' for w in workers.values())} of {len(workers)} alive",
               style="bold")
    for n in sorted(workers):
        w = workers[n]
        state = w.get("state") or "idle"
        out.append(f"\nw{n} ", style="bold")
        out.append(f"{state:<4}", style=WORKER_STYLE.get(state, ""))
        out.append(f" {w.get('node', '?')} · pid {w.get('pid') or '?'} · {w.get('chunks', 0)} chunks")
        out.append("\n   ")
        if state == "lost":
            out.append(w.get("reason", "") or "lost", style="red")
            continue
        out.append(w.get("device", ""), style="dim")
        gpus = w.get("gpus") or []
        for g in gpus:
            out.append(f"  GPU {g.get('index', 0)} {g.get('util', 0) or 0:.0f}% "
                       f"{mib(g.get('mem_used_mb'))}/{mib(g.get('mem_total_mb'))}")
        if not gpus and w.get("cpu_pct") is not None:
            out.append(f"  CPU {w['cpu_pct']:.0f}% RSS {mib(w.get('rss_mb'))}")
    return out
