"""The generated-LoRA value type.

An adapter is plain tensors, never trainable parameters: hypernetworks emit them, the store keeps
them, `injection` applies them and `peft_io` exports them. For every adapted layer ``l`` and
target module ``m`` the weight update is ``delta_W = scale * B[m][l] @ A[m][l]``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from lora_memory.errors import AdapterFormatError


@dataclass(frozen=True)
class LoraAdapter:
    """LoRA weights for some layers and target modules of one base model.

    Attributes:
        A: target module name -> tensor of shape ``(layers, rank, d_in)``.
        B: target module name -> tensor of shape ``(layers, d_out, rank)``.
        layers: indices of the decoder blocks the adapter touches, in the order of dim 0.
        scale: multiplier of ``B @ A`` (the plain scale, not PEFT's ``alpha / r``).
        base_model: name of the base model the adapter was generated for.
        metadata: JSON-serialisable facts about the adapter (source, chunk count, ...).
    """

    A: Mapping[str, Tensor]
    B: Mapping[str, Tensor]
    layers: tuple[int, ...]
    scale: float = 1.0
    base_model: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if set(self.A) != set(self.B) or not self.A:
            raise AdapterFormatError(
                f"adapter needs the same non-empty set of modules in A and B, got {sorted(self.A)} "
                f"and {sorted(self.B)}"
            )
        if len(set(self.layers)) != len(self.layers):
            raise AdapterFormatError(f"adapter layers repeat: {self.layers}")
        for name in self.A:
            a, b = self.A[name], self.B[name]
            if a.dim() != 3 or b.dim() != 3:
                raise AdapterFormatError(
                    f"{name}: A must be (layers, rank, d_in) and B (layers, d_out, rank), "
                    f"got {tuple(a.shape)} and {tuple(b.shape)}"
                )
            if a.shape[0] != len(self.layers) or b.shape[0] != len(self.layers):
                raise AdapterFormatError(
                    f"{name}: {len(self.layers)} layers declared but A has {a.shape[0]} and B {b.shape[0]}"
                )
            if a.shape[1] != b.shape[2]:
                raise AdapterFormatError(f"{name}: rank of A ({a.shape[1]}) != rank of B ({b.shape[2]})")
            if not (torch.isfinite(a).all() and torch.isfinite(b).all()):
                raise AdapterFormatError(f"{name}: adapter weights contain NaN or infinity")

    @property
    def modules(self) -> tuple[str, ...]:
        return tuple(sorted(self.A))

    def rank(self, module: str | None = None) -> int:
        """Rank of one module's update (of the first module when none is named)."""
        return int(self.A[module or self.modules[0]].shape[1])

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (*self.A.values(), *self.B.values()))

    def delta_weight(self, module: str, layer: int) -> Tensor:
        """The dense update ``scale * B @ A`` of one module, shape ``(d_out, d_in)``."""
        i = self.layers.index(layer)
        return self.scale * self.B[module][i] @ self.A[module][i]

    def to(self, dtype: torch.dtype | None = None, device: torch.device | str | None = None) -> LoraAdapter:
        return LoraAdapter(
            A={k: v.to(device=device, dtype=dtype) for k, v in self.A.items()},
            B={k: v.to(device=device, dtype=dtype) for k, v in self.B.items()},
            layers=self.layers,
            scale=self.scale,
            base_model=self.base_model,
            metadata=dict(self.metadata),
        )

    def with_scale_folded(self) -> LoraAdapter:
        """The same update with ``scale`` multiplied into B and ``scale == 1``."""
        if self.scale == 1.0:
            return self
        return LoraAdapter(
            A=dict(self.A),
            B={k: v * self.scale for k, v in self.B.items()},
            layers=self.layers,
            scale=1.0,
            base_model=self.base_model,
            metadata=dict(self.metadata),
        )

    def padded_to_rank(self, rank: int) -> LoraAdapter:
        """Zero-pad every module to ``rank``; zero rows of A and columns of B change nothing."""
        A, B = {}, {}
        for name in self.modules:
            r = self.rank(name)
            if rank < r:
                raise AdapterFormatError(f"cannot pad {name} of rank {r} down to rank {rank}")
            A[name] = torch.nn.functional.pad(self.A[name], (0, 0, 0, rank - r))
            B[name] = torch.nn.functional.pad(self.B[name], (0, rank - r))
        return LoraAdapter(A, B, self.layers, self.scale, self.base_model, dict(self.metadata))

    def first_rows(self, keep: int) -> LoraAdapter:
        """The adapter of the first ``keep`` rank rows of every module, after dropping rows that are
        exactly zero (they change nothing and would only cost bytes when stored).

        A network that emits its rows in order of importance (fast-weight Doc-to-LoRA: learned
        queries, then surprise rows most surprising first) is cut to a storage budget this way.
        """
        if keep < 1:
            raise ValueError(f"keep must be at least 1, got {keep}")
        A, B = {}, {}
        for name in self.modules:
            a, b = self.A[name], self.B[name]  # (layers, r, d_in), (layers, d_out, r)
            live = (a.abs().amax(dim=(0, 2)) > 0) & (b.abs().amax(dim=(0, 1)) > 0)  # (r,)
            rows = live.nonzero().flatten()[:keep]
            if not len(rows):  # an all-zero update: one zero row keeps the adapter well-formed
                rows = torch.zeros(1, dtype=torch.long, device=a.device)
            A[name], B[name] = a[:, rows].contiguous(), b[:, :, rows].contiguous()
        return LoraAdapter(A, B, self.layers, self.scale, self.base_model, dict(self.metadata))

    def compressed(self) -> LoraAdapter:
        """The same update at the smallest rank that holds it exactly, ``min(d_in, d_out)`` at most.

        A long document's chunk adapters concatenate to a rank that grows with its length, but
        ``B @ A`` never has a rank above the smaller side of the weight: past that, an SVD of the
        update gives the same update (to float precision) with fewer bytes and less compute per
        token. Modules already at or below that rank are kept as they are.
        """
        if all(self.A[m].shape[1] <= min(self.A[m].shape[2], self.B[m].shape[1]) for m in self.modules):
            return self
        return self.refactored()

    def refactored(self, cap: Mapping[str, Tensor] | None = None) -> LoraAdapter:
        """``B @ A`` re-factored by SVD at rank ``min(rank, d_in, d_out)``, singular values capped
        per layer at ``cap[module]`` when given (Doc-to-LoRA's `fold_chunks`); scale folded in.

        Below full rank the SVD runs on the ``r x r`` core of two QRs (``B A = Qb Rb Ra^T Qa^T``)
        instead of the ``d_out x d_in`` product: for a 2-chunk document that was most of
        `internalize`'s time."""
        A, B = {}, {}
        for name in self.modules:
            a, b = self.A[name].float(), self.B[name].float()  # (layers, r, d_in), (layers, d_out, r)
            k = min(a.shape[1], a.shape[2], b.shape[1])
            if k == a.shape[1]:
                qa, ra = torch.linalg.qr(a.transpose(1, 2))  # (layers, d_in, r), (layers, r, r)
                qb, rb = torch.linalg.qr(b)  # (layers, d_out, r), (layers, r, r)
                u, sv, vh = torch.linalg.svd(rb @ ra.transpose(1, 2) * self.scale)
                u, vh = qb @ u, vh @ qa.transpose(1, 2)
            else:
                u, sv, vh = torch.linalg.svd((b @ a) * self.scale, full_matrices=False)
            sv = sv[:, :k] if cap is None else torch.minimum(sv[:, :k], cap[name].unsqueeze(-1))
            root = sv.sqrt()
            A[name] = (root.unsqueeze(-1) * vh[:, :k]).to(self.A[name].dtype).contiguous()
            B[name] = (u[:, :, :k] * root.unsqueeze(1)).to(self.B[name].dtype).contiguous()
        return LoraAdapter(A, B, self.layers, 1.0, self.base_model, dict(self.metadata))


def concat_adapters(adapters: Sequence[LoraAdapter], metadata: Mapping[str, Any] | None = None) -> LoraAdapter:
    """Concatenate adapters along the rank dimension: the result's update is the sum of theirs.

    Used for the chunks of a long document and for several documents at once (REFERENCE.md,
    "Long documents"); no normalisation by count, as upstream. Differing scales are folded into B.
    The adapters must target the same layers and modules (`combine_adapters` joins any targets).
    """
    if not adapters:
        raise AdapterFormatError("concat_adapters needs at least one adapter")
    first = adapters[0]
    for other in adapters[1:]:
        if other.layers != first.layers or other.modules != first.modules:
            raise AdapterFormatError(
                f"cannot concatenate adapters over different targets: layers {first.layers} / "
                f"{other.layers}, modules {first.modules} / {other.modules}"
            )
    return combine_adapters(adapters, metadata)


def combine_adapters(adapters: Sequence[LoraAdapter], metadata: Mapping[str, Any] | None = None) -> LoraAdapter:
    """Rank concatenation over the union of the adapters' layers and modules: the update is the sum.

    A Text-to-LoRA task adapter (q_proj / v_proj) and a Doc-to-LoRA document adapter (down_proj)
    touch different modules; joined here, one forward pass applies both ("answer from this
    document, in one word"). Where an adapter lacks a layer its rows of A and columns of B are
    zero, which adds nothing, so the result is exact. Differing scales are folded into B.
    """
    if not adapters:
        raise AdapterFormatError("combine_adapters needs at least one adapter")
    first = adapters[0]
    for other in adapters[1:]:
        if other.base_model != first.base_model:
            raise AdapterFormatError(
                f"cannot concatenate adapters of different base models: {first.base_model!r} and "
                f"{other.base_model!r}"
            )
    scales = {a.scale for a in adapters}
    parts = adapters if len(scales) == 1 else [a.with_scale_folded() for a in adapters]
    extra = sorted({layer for a in parts for layer in a.layers} - set(first.layers))
    layers = (*first.layers, *extra)  # the first adapter's order, so same-target joins keep it
    row = {layer: i for i, layer in enumerate(layers)}
    A: dict[str, Tensor] = {}
    B: dict[str, Tensor] = {}
    for name in sorted({m for a in parts for m in a.modules}):
        having = [p for p in parts if name in p.A]
        if all(p.layers == layers for p in having):
            A[name] = torch.cat([p.A[name] for p in having], dim=1)
            B[name] = torch.cat([p.B[name] for p in having], dim=2)
            continue
        a_parts, b_parts = [], []
        for p in having:
            a, b = p.A[name], p.B[name]  # (own layers, r, d_in), (own layers, d_out, r)
            idx = torch.tensor([row[layer] for layer in p.layers])
            a_full = a.new_zeros(len(layers), *a.shape[1:])  # (layers, r, d_in)
            b_full = b.new_zeros(len(layers), *b.shape[1:])  # (layers, d_out, r)
            a_full[idx], b_full[idx] = a, b
            a_parts.append(a_full)
            b_parts.append(b_full)
        A[name], B[name] = torch.cat(a_parts, dim=1), torch.cat(b_parts, dim=2)
    return LoraAdapter(
        A=A,
        B=B,
        layers=layers,
        scale=parts[0].scale,
        base_model=first.base_model,
        metadata=dict(metadata if metadata is not None else first.metadata),
    )


@dataclass(frozen=True)
class AdapterBatch:
    """Per-sample adapters for one forward pass; sample ``i`` uses ``A[m][i]`` and ``B[m][i]``.

    Scales are folded into B, so the update of sample ``i`` is ``B[m][i, l] @ A[m][i, l]``. Samples
    without an adapter carry zeros, which adds exactly nothing. Hypernetworks build this type
    directly in training (so gradients flow); inference builds it with `stack`.

    Attributes:
        A: module -> ``(batch, layers, rank, d_in)``.
        B: module -> ``(batch, layers, d_out, rank)``.
        layers: decoder block indices of dim 1.
        repeats: adapter ``i`` serves the next ``repeats[i]`` consecutive sequences of the forward
            batch (None = one each). Training asks several questions of one document this way
            without copying its adapter per question, which cost more than the whole backbone.
    """

    A: Mapping[str, Tensor]
    B: Mapping[str, Tensor]
    layers: tuple[int, ...]
    repeats: tuple[int, ...] | None = None

    @property
    def batch_size(self) -> int:
        return int(next(iter(self.A.values())).shape[0])

    @functools.cached_property
    def by_layer(self) -> dict[str, tuple[tuple[Tensor, ...], tuple[Tensor, ...]]]:
        """module -> (A of each layer, B of each layer), views unbound once per batch: indexing a
        layer per forward hook made backward fill a full-size zero gradient for every layer."""
        return {m: (self.A[m].unbind(1), self.B[m].unbind(1)) for m in self.A}

    def to(self, device: torch.device | str) -> AdapterBatch:
        return AdapterBatch(
            {k: v.to(device) for k, v in self.A.items()}, {k: v.to(device) for k, v in self.B.items()}, self.layers,
            self.repeats,
        )

    def to_adapter(self, index: int = 0, base_model: str = "", metadata: Mapping[str, Any] | None = None) -> LoraAdapter:
        """Sample ``index`` as a standalone fp32 CPU `LoraAdapter` (scale already folded in)."""
        return LoraAdapter(
            A={m: t[index].detach().float().cpu() for m, t in self.A.items()},
            B={m: t[index].detach().float().cpu() for m, t in self.B.items()},
            layers=self.layers,
            base_model=base_model,
            metadata=dict(metadata or {}),
        )

    @classmethod
    def stack(cls, adapters: Sequence[LoraAdapter | None]) -> AdapterBatch | None:
        """Stack per-sample adapters (None = no adapter); ranks are zero-padded to the largest.

        Returns None when no sample carries an adapter, so the caller runs the plain model.
        """
        present = [a for a in adapters if a is not None]
        if not present:
            return None
        layers = tuple(sorted({layer for a in present for layer in a.layers}))
        row = {layer: i for i, layer in enumerate(layers)}
        A: dict[str, Tensor] = {}
        B: dict[str, Tensor] = {}
        for name in sorted({m for a in present for m in a.modules}):
            having = [a for a in present if name in a.A]
            rank = max(a.rank(name) for a in having)
            (_, _, d_in), (_, d_out, _) = having[0].A[name].shape, having[0].B[name].shape
            ref = having[0].A[name]
            a_out = ref.new_zeros(len(adapters), len(layers), rank, d_in)
            b_out = ref.new_zeros(len(adapters), len(layers), d_out, rank)
            for i, adapter in enumerate(adapters):
                if adapter is None or name not in adapter.A:
                    continue
                a, b = adapter.A[name], adapter.B[name]
                if a.shape[2] != d_in or b.shape[1] != d_out:
                    raise AdapterFormatError(
                        f"{name}: adapters in one batch disagree on shape ({d_in}->{d_out} vs "
                        f"{a.shape[2]}->{b.shape[1]})"
                    )
                idx = torch.tensor([row[layer] for layer in adapter.layers])
                r = a.shape[1]
                a_out[i, idx, :r] = a.to(a_out.dtype)
                b_out[i, idx, :, :r] = (b * adapter.scale).to(b_out.dtype)
            A[name], B[name] = a_out, b_out
        return cls(A, B, layers)
