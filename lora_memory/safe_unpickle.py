"""The one place lora-memory reads a pickle: upstream checkpoints, rebuilt without running their code.

Sakana AI ships its hypernetworks as ``torch.save`` archives (a zip holding ``data.pkl`` and one
raw file per tensor storage), loaded upstream with ``torch.load(weights_only=False)``: unpickling
such a file runs whatever callables it names. Here the pickle is read by an unpickler whose
``find_class`` answers from a fixed table of our own functions: tensors and storages, plain
containers, and the upstream config dataclasses and enums, which become `UpstreamRecord` values
and plain strings. Any other name (``os.system``, ``builtins.eval``, a class of the file's choosing)
raises `UnsafePickleError` before it is imported, so nothing the file names is ever run.
``tests/test_safe_loading.py`` allows ``pickle.Unpickler`` in this file and nowhere else.
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from lora_memory.errors import CheckpointError, UnsafePickleError

# torch.save names a tensor's storage class; the class only says the element type.
_STORAGE_DTYPES = {
    "FloatStorage": torch.float32,
    "DoubleStorage": torch.float64,
    "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16,
    "LongStorage": torch.int64,
    "IntStorage": torch.int32,
    "ShortStorage": torch.int16,
    "CharStorage": torch.int8,
    "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool,
}
# Config dataclasses pickled inside upstream checkpoints (the list upstream registers with
# torch.serialization.add_safe_globals, plus the argument dataclasses saved next to it).
RECORDS = frozenset({
    "ctx_to_lora.modeling.hypernet.HypernetConfig",
    "ctx_to_lora.modeling.aggregator.AggregatorConfig",
    "ctx_to_lora.configs.CtxEncoderArguments",
    "ctx_to_lora.configs.HypernetArguments",
    "ctx_to_lora.configs.AggregatorArguments",
    "peft.tuners.lora.config.LoraConfig",
    "peft.tuners.lora.config.LoraRuntimeConfig",
})
# str / int enums: rebuilt as their plain value.
ENUMS = frozenset({
    "peft.utils.peft_types.PeftType",
    "peft.utils.peft_types.TaskType",
    "ctx_to_lora.modeling.aggregator.AGGREGATOR_TYPE",
    "ctx_to_lora.modeling.ctx_encoder.CTX_ENCODER_TYPE",
    "ctx_to_lora.pooling.POOL_FN",
})


@dataclass
class UpstreamRecord:
    """An upstream config dataclass as plain data: its qualified class name and its fields."""

    qualname: str = ""
    fields: dict[str, Any] = field(default_factory=dict)

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2 and state[1] is None:  # (dict, slots) form
            state = state[0]
        if not isinstance(state, dict):
            raise UnsafePickleError(f"the pickled {self.qualname} has a state of type {type(state).__name__}, not a dict")
        self.fields = dict(state)

    def __getitem__(self, name: str) -> Any:
        return self.fields[name]

    def get(self, name: str, default: Any = None) -> Any:
        return self.fields.get(name, default)


@dataclass(frozen=True)
class _Storage:
    data: torch.UntypedStorage
    dtype: torch.dtype


class _Callable:
    """A table entry handed to the pickle: callable, but its attributes cannot be rewritten (BUILD
    on a plain function could replace its defaults for every later load in the process)."""

    __slots__ = ("_fn",)

    def __init__(self, fn: Callable[..., Any]):
        object.__setattr__(self, "_fn", fn)

    def __call__(self, *args: Any) -> Any:
        return self._fn(*args)

    def __setattr__(self, name: str, value: Any) -> None:
        raise UnsafePickleError(f"the file tries to set {name!r} on {self._fn.__name__}")


def _record_class(qualname: str) -> type[UpstreamRecord]:
    """A subclass per upstream name, so the pickle's NEWOBJ (``cls.__new__(cls)``) makes a record."""

    def new(cls: type, *args: Any) -> UpstreamRecord:
        if args:
            raise UnsafePickleError(f"the pickled {qualname} passes constructor arguments: not a plain dataclass")
        return UpstreamRecord(qualname)

    return type(qualname.rsplit(".", 1)[-1], (UpstreamRecord,), {"__new__": new})


def _enum_value(qualname: str) -> _Callable:
    def value(v: Any) -> Any:
        if not isinstance(v, str | int):
            raise UnsafePickleError(f"the pickled {qualname} member has a value of type {type(v).__name__}")
        return v

    return _Callable(value)


def _rebuild_tensor(storage: Any, offset: int, size: Any, stride: Any, requires_grad: Any = False,
                    hooks: Any = None, metadata: Any = None) -> torch.Tensor:
    if not isinstance(storage, _Storage) or hooks:
        raise UnsafePickleError("a pickled tensor refers to something other than a storage of this file, or has hooks")
    try:
        return torch.empty(0, dtype=storage.dtype).set_(storage.data, offset, tuple(size), tuple(stride))
    except (RuntimeError, TypeError, ValueError) as exc:
        raise CheckpointError(f"a pickled tensor does not fit its storage ({exc})") from exc


def _rebuild_parameter(data: Any, requires_grad: Any = False, hooks: Any = None) -> torch.Tensor:
    if not isinstance(data, torch.Tensor) or hooks:
        raise UnsafePickleError("a pickled parameter wraps something other than a tensor, or has hooks")
    return data


def _set(items: Any = ()) -> set:
    return set(items)


def _ordered_dict(items: Any = ()) -> collections.OrderedDict:
    return collections.OrderedDict(items)


_FUNCTIONS: dict[str, _Callable] = {
    "torch._utils._rebuild_tensor_v2": _Callable(_rebuild_tensor),
    "torch._utils._rebuild_tensor": _Callable(_rebuild_tensor),
    "torch._utils._rebuild_parameter": _Callable(_rebuild_parameter),
    "collections.OrderedDict": _Callable(_ordered_dict),
    "builtins.set": _Callable(_set),
    "builtins.frozenset": _Callable(_set),
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Answers ``find_class`` from the tables above; storages come from the archive's raw files."""

    def __init__(self, data: bytes, storages: Callable[[str, int], bytes]):
        super().__init__(io.BytesIO(data))
        self._storages = storages
        self._records: dict[str, type[UpstreamRecord]] = {}

    def find_class(self, module: str, name: str) -> Any:
        module = "builtins" if module == "__builtin__" else module  # protocol 2 writes Python 2 names
        qualname = f"{module}.{name}"
        if qualname in _FUNCTIONS:
            return _FUNCTIONS[qualname]
        if module == "torch" and name in _STORAGE_DTYPES:
            return _STORAGE_DTYPES[name]
        if qualname in RECORDS:
            return self._records.setdefault(qualname, _record_class(qualname))
        if qualname in ENUMS:
            return _enum_value(qualname)
        raise UnsafePickleError(
            f"the file asks to rebuild {qualname!r}, which is not a tensor, a plain container or an upstream "
            "config: refused, and nothing from the file was run. Only Sakana AI Doc-to-LoRA / Text-to-LoRA "
            "checkpoints (pytorch_model.bin, hypermod.pt) are converted."
        )

    def persistent_load(self, pid: Any) -> _Storage:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage" and isinstance(pid[1], torch.dtype)):
            raise UnsafePickleError(f"the file refers to an unknown persistent object {pid!r:.80}")
        _, dtype, key, _location, numel = pid  # every tensor is rebuilt on the CPU
        raw = self._storages(str(key), int(numel) * dtype.itemsize)
        data = torch.UntypedStorage.from_buffer(raw, dtype=torch.uint8) if raw else torch.UntypedStorage(0)
        return _Storage(data, dtype)


def read_torch_archive(path: str | os.PathLike) -> Any:
    """The object a ``torch.save`` zip archive holds, rebuilt without running code from it.

    Raises:
        UnsafePickleError: the pickle names anything outside the tables of this module.
        CheckpointError: the file is missing, not a zip archive from ``torch.save``, or damaged.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path} does not exist or is not a regular file")
    try:
        with zipfile.ZipFile(path) as archive:
            pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
            if len(pickles) != 1:
                raise CheckpointError(f"{path} is a zip file but not a torch.save archive (no single */data.pkl)")
            prefix = pickles[0][: -len("data.pkl")]

            def storage(key: str, size: int) -> bytes:
                """The raw bytes of one storage, checked against its declared size before reading (a
                compressed entry cannot unpack into more than the tensor it claims to be)."""
                try:
                    info = archive.getinfo(f"{prefix}data/{key}")
                except KeyError as exc:
                    raise CheckpointError(f"{path}: storage {key!r} is missing from the archive") from exc
                if info.file_size != size:
                    raise CheckpointError(f"{path}: storage {key} holds {info.file_size} bytes, not the {size} declared")
                return archive.read(info)

            try:
                return _RestrictedUnpickler(archive.read(pickles[0]), storage).load()
            except (pickle.UnpicklingError, EOFError, TypeError, ValueError, AttributeError, IndexError) as exc:
                raise CheckpointError(f"{path}: the pickle inside is damaged ({exc!r})") from exc
    except (zipfile.BadZipFile, OSError) as exc:
        raise CheckpointError(
            f"{path} is not a torch.save zip archive ({exc}); files from torch < 1.6 (legacy format) are not read"
        ) from exc
