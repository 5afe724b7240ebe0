"""Context-local adapter application and activation capture.

Hooks are installed ONCE per model and never changed afterwards. What they do on a given call is
read from `contextvars`, which are private to each thread and each asyncio task. So two threads
generating with different adapters share the model's weights but never each other's adapters, and
no call mutates the model (the weakness of PEFT-style ``set_adapter`` under concurrency).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from lora_memory.adapter import AdapterBatch
from lora_memory.errors import AdapterFormatError

_ADAPTERS: ContextVar[AdapterBatch | None] = ContextVar("lora_memory_adapters", default=None)
_CAPTURE: ContextVar[Capture | None] = ContextVar("lora_memory_capture", default=None)
_INSTALL_LOCK = threading.Lock()


class _StopForward(Exception):
    """Raised by a block pre-hook once every requested activation has been recorded."""


@dataclass
class Capture:
    """What to record during one forward pass, and the records.

    Attributes:
        blocks: decoder block indices whose INPUT (the residual stream) is recorded.
        modules: (layer, module name) pairs whose input is recorded.
        stop_at: block index at which the forward pass is abandoned (early exit), or None.
        block_inputs: filled with ``layer -> (batch, seq, hidden)``.
        module_inputs: filled with ``(layer, name) -> (batch, seq, d_in)``.
        final_hidden: the decoder's output ``(batch, seq, hidden)`` (after the final norm), kept
            by `Backbone.capture` when asked for; None after an early exit.
    """

    blocks: frozenset[int] = frozenset()
    modules: frozenset[tuple[int, str]] = frozenset()
    stop_at: int | None = None
    block_inputs: dict[int, Tensor] = field(default_factory=dict)
    module_inputs: dict[tuple[int, str], Tensor] = field(default_factory=dict)
    final_hidden: Tensor | None = None


def _block_pre_hook(layer: int):
    def hook(module: nn.Module, args: tuple, kwargs: dict):
        capture = _CAPTURE.get()
        if capture is None:
            return None
        if capture.stop_at is not None and layer >= capture.stop_at:
            raise _StopForward
        if layer in capture.blocks:
            capture.block_inputs[layer] = args[0] if args else kwargs["hidden_states"]
        return None

    return hook


def _linear_hook(layer: int, name: str):
    key = (layer, name)

    def hook(module: nn.Module, args: tuple, output: Tensor):
        capture = _CAPTURE.get()
        if capture is not None and key in capture.modules:
            capture.module_inputs[key] = args[0]
        batch = _ADAPTERS.get()
        if batch is None or name not in batch.A or layer not in batch.layers:
            return None
        x = args[0]
        i = batch.layers.index(layer)
        a_layers, b_layers = batch.by_layer[name]
        a = a_layers[i].to(x.dtype)  # (batch, rank, d_in)
        b = b_layers[i].to(x.dtype)  # (batch, d_out, rank)
        return output + lora_delta(x, a, b, _repeats(batch, x.shape[0]))

    return hook


def lora_delta(x: Tensor, a: Tensor, b: Tensor, repeats: tuple[int, ...] | None = None) -> Tensor:
    """``B_i @ A_i`` applied to the sequences of sample ``i``: ``x`` is ``(n, seq, d_in)``, ``a``
    ``(adapters, rank, d_in)``, ``b`` ``(adapters, d_out, rank)``; adapter ``i`` serves the next
    ``repeats[i]`` sequences (None: one each), read in place rather than copied per sequence."""
    adapters, (n, seq, _) = a.shape[0], x.shape
    if repeats is None or len(set(repeats)) == 1:
        # equal shares: each adapter's sequences side by side, one batched product for all
        xs = x.reshape(adapters, n // adapters * seq, -1)  # (adapters, shares * seq, d_in)
        h = torch.einsum("bsi,bri->bsr", xs, a)  # (adapters, shares * seq, rank)
        return torch.einsum("bsr,bor->bso", h, b).reshape(n, seq, -1)  # (n, seq, d_out)
    parts = x.split(list(repeats))
    return torch.cat([(xi @ ai.transpose(0, 1)) @ bi.transpose(0, 1) for xi, ai, bi in zip(parts, a, b, strict=True)])


def _repeats(batch: AdapterBatch, sequences: int) -> tuple[int, ...] | None:
    """How many consecutive sequences each adapter serves; generate() with several sequences per
    prompt repeats each sample consecutively, so a whole multiple also fits."""
    adapters = batch.batch_size
    if batch.repeats is not None:
        if len(batch.repeats) != adapters or sum(batch.repeats) != sequences:
            raise AdapterFormatError(
                f"repeats {batch.repeats} do not split a batch of {sequences} sequences over {adapters} adapters"
            )
        return batch.repeats
    if sequences == adapters:
        return None
    if sequences % adapters:
        raise AdapterFormatError(f"batch of {sequences} sequences cannot carry {adapters} per-sample adapters")
    return (sequences // adapters,) * adapters


def install(blocks: nn.ModuleList) -> None:
    """Install the hooks on every decoder block and every Linear inside it (idempotent)."""
    with _INSTALL_LOCK:
        if getattr(blocks, "_lora_memory_hooked", False):
            return
        for layer, block in enumerate(blocks):
            block.register_forward_pre_hook(_block_pre_hook(layer), with_kwargs=True)
            for path, module in block.named_modules():
                if isinstance(module, nn.Linear):
                    module.register_forward_hook(_linear_hook(layer, path.rsplit(".", 1)[-1]))
        blocks._lora_memory_hooked = True


@contextlib.contextmanager
def adapters_active(batch: AdapterBatch | None) -> Iterator[None]:
    """Within the block, forward passes in THIS context apply ``batch`` (per sample)."""
    token = _ADAPTERS.set(batch)
    try:
        yield
    finally:
        _ADAPTERS.reset(token)


@contextlib.contextmanager
def capturing(capture: Capture) -> Iterator[Capture]:
    """Within the block, forward passes in THIS context record into ``capture``.

    A forward pass cut short by ``capture.stop_at`` ends quietly at the end of the block.
    """
    token = _CAPTURE.set(capture)
    try:
        yield capture
    except _StopForward:
        pass
    finally:
        _CAPTURE.reset(token)
