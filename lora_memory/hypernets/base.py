"""What every hypernetwork shares: a typed config that round-trips through JSON, and identity.

A hypernetwork is built from ``(config, identity)``: the config says its architecture's sizes and
the identity says which base model (shapes and name) its adapters are for. Both are written into
the checkpoint header, so a checkpoint rebuilds exactly the network that wrote it. Every config
has ``layers``, the adapted decoder blocks; left empty, it is resolved here, once, to the upper
half of the backbone's blocks.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from torch import nn

from lora_memory.backbone import BaseModelIdentity


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
        if not config.layers:
            config = dataclasses.replace(config, layers=upper_half(identity.num_layers))
        self.config = config
        self.identity = identity

    @property
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
