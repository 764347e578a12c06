"""Stacked LoRA: many independent adapters on one resident base model.

The inner loop trains the K candidates of a context (or more) together: each
batch row carries the index of its candidate's adapter "slot", and every wrapped
linear layer adds ``scale * dropout(x) @ A[slot] @ B[slot]`` to the frozen base
output. Gradients of one slot depend only on that slot's rows and the optimizer
(SlotAdamW) updates each slot on its own, so training K candidates together gives
the same adapters as training each alone. Resetting a slot (fresh A, zero B, zero
optimizer state) replaces reloading the base model per candidate.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn


class SlotRouting:
    """Which slot each batch row uses; shared by all wrapped layers. ``rows=None`` turns LoRA off.

    Rows come grouped by slot (job after job), so every layer does two batched matmuls:
    directly when every slot has the same number of rows (the usual case), else after
    placing each slot's rows in a zero-padded [slots, most rows] block (the padding
    costs only LoRA arithmetic, never the base model's); no per-row gather of weights.

    Packed training batches route by token instead (``set_tokens``): a row holds the
    sequences of several slots end to end, and each token goes to its slot's place in
    a [slots, most tokens] block; tokens of no slot (row-end filler) get no LoRA term.
    """

    def __init__(self) -> None:
        self.rows: torch.Tensor | None = None
        self.segments: list[tuple[int, int, int]] = []   # (slot, first row, end row)
        self.uniform: int = 0                             # rows per slot when all equal and in slot order
        self.slot_ids: torch.Tensor | None = None         # the slots in use, in row order
        self.padded_rows: int = 0                         # most rows of one slot (padded layout)
        self.in_order: bool = False                       # slot_ids are 0, 1, 2... (the padded layout)
        self.pad_index: torch.Tensor | None = None        # row (or token) -> its place in the padded layout
        self.token_index: torch.Tensor | None = None      # token routing: the flat indices of routed tokens
        self.gather_index: torch.Tensor | None = None     # each padded place's row (or token)
        self.dropout: float = 0.0
        self.training: bool = False

    def set(self, rows: torch.Tensor | None) -> None:
        self.rows = rows
        self.segments, self.uniform = [], 0
        self.slot_ids = self.pad_index = self.token_index = self.gather_index = None
        self.padded_rows, self.in_order = 0, False
        if rows is None:
            return
        values = rows.tolist()
        start = 0
        for i in range(1, len(values) + 1):
            if i == len(values) or values[i] != values[start]:
                self.segments.append((values[start], start, i))
                start = i
        sizes = {e - b for _, b, e in self.segments}
        slots = [s for s, _, _ in self.segments]
        if len(sizes) == 1 and slots == list(range(len(slots))):
            self.uniform = sizes.pop()
            return
        most = max(sizes)
        self.padded_rows = most
        self.in_order = slots == list(range(len(slots)))
        self.slot_ids = torch.tensor(slots, device=rows.device)
        self.pad_index = torch.tensor([k * most + r for k, (_, b, e) in enumerate(self.segments)
                                       for r in range(e - b)], device=rows.device)
        # each padded place's row: a place past its slot's rows repeats row 0 (see set_tokens)
        self.gather_index = torch.tensor([b + r if r < e - b else 0 for _, b, e in self.segments
                                          for r in range(most)], device=rows.device)

    def set_tokens(self, token_slots: torch.Tensor, slots: int) -> None:
        """Route token i of the flattened batch through slot ``token_slots[i]`` (-1: no slot)."""
        self.set(None)
        dev = token_slots.device
        routed = (token_slots >= 0).nonzero().flatten()
        s = token_slots.index_select(0, routed)
        order = torch.argsort(s, stable=True)
        s = s.index_select(0, order)
        counts = torch.bincount(s, minlength=slots)
        used = counts.nonzero().flatten()
        most = int(counts.max()) if len(s) else 0
        starts = counts.cumsum(0) - counts
        place = torch.full((slots,), -1, dtype=torch.long, device=dev)
        place[used] = torch.arange(len(used), device=dev)
        self.rows = token_slots
        self.slot_ids = used
        self.padded_rows, self.in_order = most, True
        self.token_index = routed.index_select(0, order)
        self.pad_index = place[s] * most + (torch.arange(len(s), device=dev) - starts[s])
        # each padded place's token (a place past its slot's tokens repeats token 0: its rows meet
        # no loss, so they add exact zeros to every gradient)
        self.gather_index = torch.zeros(len(used) * most, dtype=torch.long, device=dev)
        self.gather_index[self.pad_index] = self.token_index


class StackedLoRALinear(nn.Module):
    def __init__(self, base: nn.Linear, slots: int, r: int, alpha: float, routing: SlotRouting):
        super().__init__()
        self.base = base
        self.routing = routing
        self.r = r
        self.scale = alpha / r
        dev = base.weight.device
        self.A = nn.Parameter(torch.zeros(slots, base.in_features, r, device=dev, dtype=torch.float32))
        self.B = nn.Parameter(torch.zeros(slots, r, base.out_features, device=dev, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.base(x)
        rows = self.routing.rows
        if rows is None:
            return y
        route = self.routing
        if route.token_index is not None:
            return self._add_token_delta(y, x)
        shape = x.shape
        xs = x.reshape(shape[0], -1, shape[-1]).float()
        if route.training and route.dropout > 0:
            xs = nn.functional.dropout(xs, route.dropout, training=True)
        n_slots = len(route.segments)
        if route.uniform:
            flat = xs.reshape(n_slots, -1, shape[-1])        # [slots, rows_per_slot * T, in]
            # all slots in use: the parameters themselves (a slice would cost a zero-filled
            # full-size gradient and a copy in every backward)
            a, b = (self.A, self.B) if n_slots == self.A.shape[0] else (self.A[:n_slots], self.B[:n_slots])
            delta = torch.bmm(torch.bmm(flat, a), b)
        else:
            padded = xs.index_select(0, route.gather_index)  # [slots * most_rows, T, in]
            flat = padded.reshape(n_slots, -1, shape[-1])    # [slots, most_rows * T, in]
            a, b = self._slot_weights(n_slots)
            delta = torch.bmm(torch.bmm(flat, a), b)
            delta = delta.reshape(n_slots * route.padded_rows, xs.shape[1], -1).index_select(0, route.pad_index)
        return y + (delta * self.scale).reshape(*shape[:-1], -1).to(y.dtype)

    def _slot_weights(self, n_used: int) -> tuple[torch.Tensor, torch.Tensor]:
        """A and B of the routed slots, in their order: every slot in order is the parameters
        themselves (a selection would cost a copy forward and a zero-filled gradient backward)."""
        if n_used == self.A.shape[0] and self.routing.in_order:
            return self.A, self.B
        return self.A.index_select(0, self.routing.slot_ids), self.B.index_select(0, self.routing.slot_ids)

    def _add_token_delta(self, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``y`` plus each routed token's LoRA delta through its own slot (tokens of no slot: ``y``)."""
        route = self.routing
        flat = x.reshape(-1, x.shape[-1]).float()                      # (T, in)
        if route.training and route.dropout > 0:
            flat = nn.functional.dropout(flat, route.dropout, training=True)
        n_used, most = len(route.slot_ids), route.padded_rows
        padded = flat.index_select(0, route.gather_index)              # (n_used * most, in), slot after slot
        a, b = self._slot_weights(n_used)
        delta = torch.bmm(torch.bmm(padded.view(n_used, most, -1), a), b).view(n_used * most, -1)
        routed = (delta.index_select(0, route.pad_index) * self.scale).to(y.dtype)   # (routed tokens, out)
        return y.reshape(-1, y.shape[-1]).index_add(0, route.token_index, routed).view(y.shape)


def _matches(name: str, targets: list[str]) -> bool:
    leaf = name.rsplit(".", 1)[-1]
    return leaf in targets or name in targets


def _target_names(model: nn.Module, targets: list[str]) -> list[str]:
    out_emb = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    names = []
    for name, mod in model.named_modules():
        if not isinstance(mod, nn.Linear) or mod is out_emb:
            continue
        if "all-linear" in targets or _matches(name, targets):
            names.append(name)
    return names


class StackedLoRA:
    """The set of wrapped layers of one model, with ``slots`` adapters in each."""

    def __init__(self, model: nn.Module, *, slots: int, r: int, alpha: float,
                 targets: list[str], dropout: float = 0.0):
        self.model = model
        self.slots, self.r, self.alpha, self.targets = slots, r, alpha, list(targets)
        self.routing = SlotRouting()
        self.routing.dropout = dropout
        self.names = _target_names(model, targets)
        if not self.names:
            raise ValueError(f"inner.targets = {targets}: no linear layer of the model matches; "
                             "use module names such as q_proj, v_proj, or 'all-linear'")
        self.layers: list[StackedLoRALinear] = []
        self.attach()

    # -- attaching to / detaching from the model (the M-step and saving need the bare model)
    def attach(self) -> None:
        old = {n: (layer.A.data, layer.B.data) for n, layer in zip(self.names, self.layers)}
        self.layers = []
        for name in self.names:
            parent_name, _, leaf = name.rpartition(".")
            parent = self.model.get_submodule(parent_name) if parent_name else self.model
            base = getattr(parent, leaf)
            if isinstance(base, StackedLoRALinear):
                base = base.base
            layer = StackedLoRALinear(base, self.slots, self.r, self.alpha, self.routing)
            if name in old:
                layer.A.data.copy_(old[name][0])
                layer.B.data.copy_(old[name][1])
            setattr(parent, leaf, layer)
            self.layers.append(layer)

    def detach(self) -> None:
        for name, layer in zip(self.names, self.layers):
            parent_name, _, leaf = name.rpartition(".")
            parent = self.model.get_submodule(parent_name) if parent_name else self.model
            setattr(parent, leaf, layer.base)

    def parameters(self) -> list[nn.Parameter]:
        return [p for layer in self.layers for p in (layer.A, layer.B)]

    # -- slots
    @torch.no_grad()
    def reset(self, seeds: list[int]) -> None:
        """Fresh adapters: slot s gets A ~ U(-1/sqrt(in), 1/sqrt(in)) from ``seeds[s]``, B = 0."""
        gens = [torch.Generator().manual_seed(int(s)) for s in seeds]
        for layer in self.layers:
            fan_in = layer.A.shape[1]
            bound = 1.0 / math.sqrt(fan_in)
            for s, g in enumerate(gens):
                a = torch.rand(layer.A.shape[1:], generator=g) * (2 * bound) - bound
                layer.A.data[s].copy_(a)
            layer.A.data[len(gens):].zero_()
            layer.B.data.zero_()

    def route(self, rows: torch.Tensor | None, *, training: bool = False) -> None:
        """Send batch row i through slot ``rows[i]``; rows must come grouped by slot."""
        self.routing.set(rows)
        self.routing.training = training

    def route_tokens(self, token_slots: torch.Tensor, *, training: bool = False) -> None:
        """Send token i of the flattened batch through slot ``token_slots[i]`` (-1: none)."""
        self.routing.set_tokens(token_slots, self.slots)
        self.routing.training = training

    def off(self) -> None:
        self.route(None)

    # -- merging a slot into the base weights (continual self-edits)
    @torch.no_grad()
    def merge_slot(self, slot: int) -> None:
        """W += scale * (A B)^T for every wrapped layer: the adapter becomes part of the model."""
        for layer in self.layers:
            delta = (layer.A.data[slot] @ layer.B.data[slot]).T * layer.scale
            layer.base.weight.data += delta.to(layer.base.weight.dtype)

    @torch.no_grad()
    def snapshot_base(self) -> list[torch.Tensor]:
        return [layer.base.weight.data.clone() for layer in self.layers]

    @torch.no_grad()
    def restore_base(self, saved: list[torch.Tensor]) -> None:
        for layer, w in zip(self.layers, saved):
            layer.base.weight.data.copy_(w)

    # -- PEFT export of one slot
    def save_slot_peft(self, slot: int, folder: Path, base_model_path: str) -> None:
        """Write slot ``slot`` as a PEFT adapter folder (loadable with PeftModel.from_pretrained)."""
        import json

        from safetensors.torch import save_file

        folder.mkdir(parents=True, exist_ok=True)
        tensors = {}
        for name, layer in zip(self.names, self.layers):
            key = f"base_model.model.{name}"
            tensors[f"{key}.lora_A.weight"] = layer.A.data[slot].T.contiguous().cpu()
            tensors[f"{key}.lora_B.weight"] = layer.B.data[slot].T.contiguous().cpu()
        save_file(tensors, str(folder / "adapter_model.safetensors"))
        leafs = sorted({n.rsplit(".", 1)[-1] for n in self.names})
        (folder / "adapter_config.json").write_text(json.dumps({
            "peft_type": "LORA", "task_type": "CAUSAL_LM", "base_model_name_or_path": base_model_path,
            "r": self.r, "lora_alpha": self.alpha, "lora_dropout": self.routing.dropout,
            "target_modules": leafs, "bias": "none", "fan_in_fan_out": False,
            "inference_mode": True, "init_lora_weights": True,
        }, indent=2))


class SlotAdamW:
    """AdamW over stacked parameters [slots, ...] where each slot steps on its own, at its own
    learning rate (a self-edit may choose it).

    A slot that took no part in a step keeps its weights, moments and step count,
    exactly as if it had been trained alone with torch.optim.AdamW at its learning rate.
    """

    def __init__(self, params: list[nn.Parameter], slots: int, lr: float | Sequence[float],
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0):
        self.params = params
        self.lrs = [float(lr)] * slots if isinstance(lr, (int, float)) else [float(x) for x in lr]
        if len(self.lrs) != slots:
            raise ValueError(f"{len(self.lrs)} learning rates for {slots} slots")
        self.betas, self.eps, self.wd = betas, eps, weight_decay
        dev = params[0].device
        self.t = torch.zeros(slots, device=dev)
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self, active: torch.Tensor) -> None:
        self.t += active.float()
        if hasattr(torch, "_fused_adamw_"):
            self._step_fused(active)
        else:
            self._step_masked(active)

    def _step_fused(self, active: torch.Tensor) -> None:
        """torch's own fused AdamW kernel on each active slot's rows (views, updated in place),
        each with its own step count, once per distinct learning rate. A slot gets the same
        arithmetic whether it trains alone or beside others, so batched training matches
        training alone."""
        live = [(p, m, v) for p, m, v in zip(self.params, self.m, self.v) if p.grad is not None]
        if not live:
            return
        slots = active.nonzero().flatten().tolist()
        b1, b2 = self.betas
        kernel = dict(beta1=b1, beta2=b2, weight_decay=self.wd, eps=self.eps, amsgrad=False, maximize=False)
        if (len(slots) == len(self.t) and bool((self.t == self.t[0]).all())
                and len(set(self.lrs)) == 1):
            # every slot at the same step and rate: whole tensors, the same kernel in fewer, larger pieces
            ps, gs = [p.data for p, _, _ in live], [p.grad for p, _, _ in live]
            ms, vs = [m for _, m, _ in live], [v for _, _, v in live]
            torch._fused_adamw_(ps, gs, ms, vs, [], [self.t[0]] * len(live), lr=self.lrs[0], **kernel)
            return
        by_lr: dict[float, list[int]] = {}
        for s in slots:
            by_lr.setdefault(self.lrs[s], []).append(s)
        for lr, group in by_lr.items():
            ps, gs, ms, vs, steps = [], [], [], [], []
            for p, m, v in live:
                for s in group:
                    ps.append(p.data[s])
                    gs.append(p.grad[s])
                    ms.append(m[s])
                    vs.append(v[s])
                    steps.append(self.t[s])
            torch._fused_adamw_(ps, gs, ms, vs, [], steps, lr=lr, **kernel)

    def _step_masked(self, active: torch.Tensor) -> None:
        b1, b2 = self.betas
        t = self.t.clamp(min=1)
        bc1 = 1 - b1 ** t
        bc2_sqrt = torch.sqrt(1 - b2 ** t)
        lr = torch.tensor(self.lrs, device=t.device)   # (slots,)
        for p, m, v in zip(self.params, self.m, self.v):
            g = p.grad
            if g is None:
                continue
            mask = active.view(-1, *([1] * (p.dim() - 1)))
            view = (-1,) + (1,) * (p.dim() - 1)
            if self.wd:
                p.mul_(torch.where(mask, 1 - lr.view(view) * self.wd, 1.0))
            m.copy_(torch.where(mask, m * b1 + g * (1 - b1), m))
            v.copy_(torch.where(mask, v * b2 + g * g * (1 - b2), v))
            denom = v.sqrt() / bc2_sqrt.view(view) + self.eps
            step = (lr / bc1).view(view) * m / denom
            p.sub_(torch.where(mask, step, torch.zeros_like(step)))
