"""Hypernetwork checkpoints: one safetensors file whose JSON header rebuilds the network.

The header (safetensors ``__metadata__["lora_memory"]``) holds the format version, kind,
architecture, config and the identity of the base model the network was trained for, plus any
training card. Nothing is ever unpickled: a checkpoint is tensors and JSON.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file
from safetensors.torch import save as save_safetensors

from lora_memory.backbone import Backbone, BaseModelIdentity
from lora_memory.errors import CheckpointError
from lora_memory.files import check_regular, write_atomic
from lora_memory.hypernets.base import Hypernetwork
from lora_memory.hypernets.fast_weight import FastWeightDocToLoRA
from lora_memory.hypernets.perceiver import PerceiverDocToLoRA
from lora_memory.hypernets.text2lora import TextToLoRA
from lora_memory.hypernets.upstream_perceiver import UpstreamPerceiverDocToLoRA
from lora_memory.hypernets.upstream_text2lora import UpstreamTextToLoRA

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
HEADER_KEY = "lora_memory"
ARCHITECTURES: dict[str, type[Hypernetwork]] = {
    cls.arch: cls
    for cls in (FastWeightDocToLoRA, PerceiverDocToLoRA, TextToLoRA, UpstreamPerceiverDocToLoRA, UpstreamTextToLoRA)
}
DEFAULT_ARCH = {"doc2lora": FastWeightDocToLoRA.arch, "text2lora": TextToLoRA.arch}
SHIPPED_DIR = Path(__file__).resolve().parent.parent / "checkpoints"
_DAMAGED = "save it again, or copy it again from where it came from"


def save_checkpoint(path: str | os.PathLike, net: Hypernetwork, card: dict[str, Any] | None = None) -> Path:
    """Write ``net`` atomically (temporary file, fsync, rename) so a crash never leaves half a file."""
    path = Path(path)
    header = {
        "format_version": FORMAT_VERSION,
        "kind": net.kind,
        "arch": net.arch,
        "config": net.config.to_dict(),
        "base_model": net.identity.to_dict(),
        "card": card or {},
    }
    tensors = {k: v.detach().contiguous().cpu() for k, v in net.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, save_safetensors(tensors, metadata={HEADER_KEY: json.dumps(header)}))
    return path


def read_header(path: str | os.PathLike) -> dict[str, Any]:
    """The JSON header of a checkpoint, without reading its tensors."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        check_regular(path)  # a FIFO would block the read forever
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(
            f"{path} is not a readable safetensors file (truncated or corrupt?): {exc}; {_DAMAGED}"
        ) from exc
    if HEADER_KEY not in meta:
        raise CheckpointError(f"{path} is a safetensors file but not a lora-memory checkpoint (no {HEADER_KEY!r} header)")
    try:
        header = json.loads(meta[HEADER_KEY])
    except (json.JSONDecodeError, RecursionError) as exc:
        raise CheckpointError(f"{path} has a corrupt lora-memory header: {exc!r}; {_DAMAGED}") from exc
    if not isinstance(header, dict):
        raise CheckpointError(f"{path} has a corrupt lora-memory header (not a JSON object); {_DAMAGED}")
    if header.get("format_version") != FORMAT_VERSION or header.get("arch") not in ARCHITECTURES:
        raise CheckpointError(
            f"{path}: unsupported checkpoint (format {header.get('format_version')}, arch {header.get('arch')!r}); "
            f"this lora-memory reads format {FORMAT_VERSION} with arch in {sorted(ARCHITECTURES)}"
        )
    if header.get("kind") != ARCHITECTURES[header["arch"]].kind:
        raise CheckpointError(f"{path}: the header's kind {header.get('kind')!r} is damaged; {_DAMAGED}")
    return header


def load_checkpoint(
    path: str | os.PathLike, backbone: Backbone, *, kind: str | None = None, strict_name: bool = True
) -> Hypernetwork:
    """Rebuild a hypernetwork from its checkpoint, for ``backbone``, on its device, in eval mode.

    Raises:
        CheckpointError: missing, truncated, corrupt or foreign file, or the wrong kind.
        BaseModelMismatchError: the checkpoint was trained for another base model.
    """
    header = read_header(path)
    if kind is not None and header["kind"] != kind:
        raise CheckpointError(f"{path} holds a {header['kind']} network, not {kind}")
    try:
        trained_for = BaseModelIdentity.from_dict(header["base_model"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CheckpointError(f"{path}: the header's base_model is missing or damaged ({exc!r}); {_DAMAGED}") from exc
    backbone.identity.check(trained_for, f"{header['kind']} checkpoint {Path(path).name}", strict_name=strict_name)
    cls = ARCHITECTURES[header["arch"]]
    try:
        config = cls.config_class.from_dict(header["config"])
        # Built on the meta device first: no memory, so a damaged size (rank -1, 1e9) costs nothing.
        with torch.device("meta"):
            shapes = {k: tuple(v.shape) for k, v in cls(config, trained_for).state_dict().items()}
    except (KeyError, TypeError, ValueError, AttributeError, RuntimeError, OverflowError, IndexError) as exc:
        raise CheckpointError(f"{path}: the header's config is missing or damaged ({exc!r}); {_DAMAGED}") from exc
    stored = _tensor_shapes(path)
    if stored != shapes:
        differ = sorted(k for k in shapes.keys() | stored.keys() if shapes.get(k) != stored.get(k))
        shown = ", ".join(f"{k}: header {shapes.get(k)} vs file {stored.get(k)}" for k in differ[:3])
        raise CheckpointError(
            f"{path}: the header's config does not match the tensors in the file ({len(differ)} differ: {shown}); "
            f"{_DAMAGED}"
        )
    try:
        # The sizes now match the file's own tensors, so this allocation is bounded by the file.
        net = cls(config, trained_for)
    except (KeyError, TypeError, ValueError, AttributeError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: the header's config is missing or damaged ({exc!r}); {_DAMAGED}") from exc
    try:
        state = load_file(str(path))
        net.load_state_dict(state, strict=True)
    except (SafetensorError, RuntimeError, OSError) as exc:
        raise CheckpointError(
            f"{path}: tensors do not match the header's network (corrupt file?): {exc}; {_DAMAGED}"
        ) from exc
    net.card = header.get("card", {})
    return net.to(backbone.device).eval().requires_grad_(False)


def _tensor_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """The shape of every tensor in a safetensors file, from its header alone."""
    try:
        with safe_open(str(path), framework="pt") as f:
            return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path} is not a readable safetensors file: {exc}; {_DAMAGED}") from exc


def fresh(kind: str, backbone: Backbone, arch: str | None = None, seed: int = 0, **config: Any) -> Hypernetwork:
    """A freshly initialised (untrained) network of ``kind`` for ``backbone``."""
    cls = ARCHITECTURES[arch or DEFAULT_ARCH[kind]]
    if cls.kind != kind:
        raise ValueError(f"architecture {cls.arch!r} is a {cls.kind} network, not {kind}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = cls(cls.config_class(**config), backbone.identity)
    net.card = {"untrained": True}
    return net.to(backbone.device).eval()


def shipped_checkpoint(kind: str) -> Path | None:
    """The checkpoint of ``kind`` shipped inside the package, if any."""
    path = SHIPPED_DIR / f"{kind}.safetensors"
    return path if path.is_file() else None


def load_default(kind: str, backbone: Backbone) -> Hypernetwork:
    """The shipped checkpoint when it fits ``backbone``, else a fresh network with a loud warning."""
    path = shipped_checkpoint(kind)
    if path is not None and BaseModelIdentity.from_dict(read_header(path)["base_model"]) == backbone.identity:
        return load_checkpoint(path, backbone, kind=kind)
    log.warning(
        "no trained %s checkpoint for %s: using a FRESHLY INITIALISED hypernetwork, whose adapters "
        "change nothing (answers come from the base model alone)",
        kind,
        backbone.name,
    )
    return fresh(kind, backbone)


def card_path(kind: str) -> Path:
    """The JSON card that sits next to a shipped checkpoint."""
    return SHIPPED_DIR / f"{kind}.card.json"


def ship(
    source: str | os.PathLike, evaluation: dict[str, Any] | None = None, command: str = "", notes: str = ""
) -> Path:
    """Make a trained checkpoint the package's default for its kind, with its card next to it.

    The card says how the network was made (data and recipe config, steps, hardware, wall time;
    from the checkpoint's own header) and how it scored (``evaluation``: the summary of an eval
    run, and the ``command`` that reproduces it); ``notes`` says what the header cannot, such as
    the earlier runs a warm-started one continued. The file must stay under 40 MB, as every
    shipped version stays in git history.
    """
    header = read_header(source)
    size_mb = Path(source).stat().st_size / 2**20
    if size_mb >= 40:
        raise CheckpointError(f"{source} is {size_mb:.1f} MB; shipped checkpoints must stay under 40 MB")
    kind, made = header["kind"], header.get("card", {})
    card = {
        "kind": kind,
        "arch": header["arch"],
        "base_model": header["base_model"]["name"],
        "training": {"recipe_config": made.get("config"), "step": made.get("step"), "hardware": made.get("device"),
                     "train_seconds": made.get("train_seconds"), "last_metrics": made.get("last_metrics")},
        "evaluation": evaluation or {},
        "evaluation_command": command,
        "notes": notes,
    }
    SHIPPED_DIR.mkdir(parents=True, exist_ok=True)
    target = SHIPPED_DIR / f"{kind}.safetensors"
    shutil.copyfile(source, target)
    card_path(kind).write_text(json.dumps(card, indent=2) + "\n")
    load_file(target)  # the copy must read back
    return target
