"""What every hypernetwork shares: a typed config that round-trips through JSON, and identity.

A hypernetwork is built from ``(config, identity)``: the config says its architecture's sizes and
the identity says which base model (shapes and name) its adapters are for. Both are written into
the checkpoint header, so a checkpoint rebuilds exactly the network that wrote it.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from torch import nn

from lora_memory.backbone import BaseModelIdentity


class ConfigMixin:
    """JSON round trip for config dataclasses (lists come back as tuples)."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, data: dict[str, Any]):
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"{cls.__name__} has no fields {sorted(unknown)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


def upper_half(num_layers: int) -> tuple[int, ...]:
    """Adapt the upper half of the blocks: backward through the student stops halfway."""
    return tuple(range(num_layers // 2, num_layers))


class Hypernetwork(nn.Module):
    """Base of all hypernetworks: ``kind`` (doc2lora / text2lora) and ``arch`` name the class."""

    kind: ClassVar[str]
    arch: ClassVar[str]
    config_class: ClassVar[type]

    def __init__(self, config: Any, identity: BaseModelIdentity):
        super().__init__()
        self.config = config
        self.identity = identity

    @property
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
