"""Loading models lazily and sharing them per process: what `ParametricMemory` and `TaskAdapter` load.

Frameworks build these objects many times (LangChain's standard tests construct one per test), so
construction loads nothing: the backbone and hypernetwork load on first use, once per process, and
every object that names the same model, device and checkpoint reuses them. Inference never
mutates them (adapters live in context-local state), so sharing is safe across threads.
"""

from __future__ import annotations

import threading
import weakref

from lora_memory.backbone import Backbone
from lora_memory.hypernets.base import Hypernetwork
from lora_memory.hypernets.checkpoint import load_checkpoint, load_default

_LOCK = threading.Lock()
_BACKBONES: dict[tuple[str | None, str | None], Backbone] = {}
# Keyed weakly by backbone, so a caller's own backbone and its networks are freed together.
_HYPERNETS: weakref.WeakKeyDictionary[Backbone, dict[tuple[str, str | None], Hypernetwork]] = (
    weakref.WeakKeyDictionary()
)


def shared_backbone(model: str | None = None, device: str | None = None) -> Backbone:
    """The process-wide backbone for ``(model, device)``, loaded on the first request."""
    with _LOCK:
        key = (model, device)
        if key not in _BACKBONES:
            _BACKBONES[key] = Backbone.load(model, device=device)
        return _BACKBONES[key]


def shared_hypernet(kind: str, backbone: Backbone, checkpoint: str | None = None) -> Hypernetwork:
    """The process-wide ``kind`` network for ``backbone``: ``checkpoint``, or the shipped default."""
    with _LOCK:
        nets = _HYPERNETS.setdefault(backbone, {})
        key = (kind, checkpoint)
        if key not in nets:
            nets[key] = load_checkpoint(checkpoint, backbone, kind=kind) if checkpoint else load_default(kind, backbone)
        return nets[key]


class LazyModels:
    """A backbone and one hypernetwork: the caller's own, or the shared ones loaded on first use.

    Args:
        kind: ``doc2lora`` or ``text2lora``.
        backbone: a loaded backbone; else ``model`` and ``device`` say which one to load.
        hypernet: a loaded network of ``kind``; else ``checkpoint`` (or the shipped default).
        model: hub id or local directory; None for the embedded default.
        checkpoint: path of a hypernetwork checkpoint.
        device: device to load the backbone on (default: CUDA when available).
    """

    def __init__(
        self,
        kind: str,
        *,
        backbone: Backbone | None = None,
        hypernet: Hypernetwork | None = None,
        model: str | None = None,
        checkpoint: str | None = None,
        device: str | None = None,
    ):
        if backbone is not None and (model is not None or device is not None):
            raise ValueError("pass either a loaded backbone or model/device to load one, not both")
        if hypernet is not None and checkpoint is not None:
            raise ValueError(f"pass either a loaded {kind} network or a checkpoint to load, not both")
        if hypernet is not None and hypernet.kind != kind:
            raise ValueError(f"expected a {kind} network, got a {hypernet.kind} one")
        self.kind = kind
        self._backbone, self._hypernet = backbone, hypernet
        # str() so a Path and its string share one cache entry
        self._model = None if model is None else str(model)
        self._checkpoint = None if checkpoint is None else str(checkpoint)
        self._device = None if device is None else str(device)
        if backbone is not None:
            self._check_fit(backbone)

    def _check_fit(self, backbone: Backbone) -> None:
        if self._hypernet is not None:
            backbone.identity.check(self._hypernet.identity, f"{self.kind} network")

    @property
    def backbone(self) -> Backbone:
        if self._backbone is None:
            backbone = shared_backbone(self._model, self._device)
            self._check_fit(backbone)
            self._backbone = backbone
        return self._backbone

    @property
    def hypernet(self) -> Hypernetwork:
        if self._hypernet is None:
            self._hypernet = shared_hypernet(self.kind, self.backbone, self._checkpoint)
        return self._hypernet
