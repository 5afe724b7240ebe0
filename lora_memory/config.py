"""Typed configs: dataclasses that round-trip through JSON and are their own command-line schema.

Every run (training, evaluation, benchmark) is one config dataclass: saved as JSON next to what it
made, read back into the same type (`ConfigMixin`), and turned into one ``--flag`` per field
(`add_config_args`). A config may nest another (a training run holds the network config it
builds); a nested config's fields are addressed by their own names, flat, both on the command line
(``--rank``) and in JSON written before the nesting, and a name that several nested configs share
sets each of them. The fields every run has are declared once, in `RunConfig` and `ResultsConfig`.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class ConfigMixin:
    """JSON round trip for config dataclasses (lists come back as tuples, nested configs as theirs)."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]):
        """Rebuild the config from `to_dict`'s output; a nested config's fields may also be given
        flat (see the module docstring). Unknown names raise `ValueError`."""
        nested = nested_configs(cls)
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        values: dict[str, Any] = {}
        parts: dict[str, dict[str, Any]] = {name: {} for name in nested}
        unknown = []
        for key, value in data.items():
            if key in nested and isinstance(value, Mapping):
                parts[key].update(value)
            elif key in names:
                values[key] = tuple(value) if isinstance(value, list) else value
            elif owners := [n for n, sub in nested.items() if key in {f.name for f in dataclasses.fields(sub)}]:
                for name in owners:
                    parts[name][key] = value
            else:
                unknown.append(key)
        if unknown:
            raise ValueError(f"{cls.__name__} has no fields {sorted(unknown)}")
        for name, part in parts.items():
            if part:
                default = _default(cls, name)
                values[name] = type(default).from_dict({**default.to_dict(), **part})
        return cls(**values)


def nested_configs(cls: type) -> dict[str, type]:
    """Field name -> config class, for the fields of ``cls`` that are configs themselves."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if dataclasses.is_dataclass(hints[f.name])}


def _default(cls: type, name: str) -> Any:
    field = next(f for f in dataclasses.fields(cls) if f.name == name)
    return field.default_factory() if field.default_factory is not dataclasses.MISSING else field.default


@dataclass
class RunConfig(ConfigMixin):
    """What every run names: the base model, the device and the seed.

    Attributes:
        model: base model, a hub id or local directory (None = embedded SmolLM2-135M-Instruct).
        device: cpu / cuda (default: CUDA when available).
        seed: seeds the run's sampling and initialisation.
    """

    model: str | None = None
    device: str | None = None
    seed: int = 0


@dataclass
class ResultsConfig(RunConfig):
    """A run that measures a trained network and writes its results (evaluations, the benchmark).

    Attributes:
        out: directory for results.json and the figures.
        checkpoint: the network measured (None = the shipped one).
    """

    out: str = "runs/results"
    checkpoint: str | None = None


# ---- the command line -----------------------------------------------------------------------------
def _field_docs(cls: type) -> dict[str, str]:
    """Field descriptions from the ``Attributes:`` sections of the class docstrings, base classes
    first, so a subclass may describe an inherited field anew."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        doc = (klass.__dict__.get("__doc__") or "").split("Attributes:", 1)
        if len(doc) == 2:
            docs |= {m[1]: " ".join(m[2].split())
                     for m in re.finditer(r"^\s{8}(\w+): (.+?)(?=^\s{8}\w+: |\Z)", doc[1], re.M | re.S)}
    return docs


@dataclass(frozen=True)
class _Flag:
    name: str
    kind: Any
    default: Any
    help: str


def _flags(cls: type) -> list[_Flag]:
    """One flag per field of ``cls`` and per field name of its nested configs (shared names once)."""
    hints, docs, nested = typing.get_type_hints(cls), _field_docs(cls), nested_configs(cls)
    flags = {f.name: _Flag(f.name, hints[f.name], f.default, docs.get(f.name, ""))
             for f in dataclasses.fields(cls) if f.name not in nested}
    own = set(flags)
    for name, sub in nested.items():
        default, sub_hints, sub_docs = _default(cls, name), typing.get_type_hints(sub), _field_docs(sub)
        for f in dataclasses.fields(sub):
            flag = _Flag(f.name, sub_hints[f.name], getattr(default, f.name), sub_docs.get(f.name, ""))
            seen = flags.setdefault(f.name, flag)
            if f.name in own or (seen.kind, seen.default) != (flag.kind, flag.default):
                raise TypeError(f"{cls.__name__}: --{f.name} would set fields that differ in type or default")
    return list(flags.values())


def _parser_type(kind: Any) -> dict[str, Any]:
    if typing.get_origin(kind) in (typing.Union, types.UnionType):  # X | None: an X, default None
        kind = next(a for a in typing.get_args(kind) if a is not type(None))
    if kind is bool:  # bool("False") is True: a bool field is a --flag / --no-flag pair instead
        return {"action": argparse.BooleanOptionalAction}
    if typing.get_origin(kind) is tuple:  # comma-separated values
        item = typing.get_args(kind)[0]
        return {"type": lambda text: tuple(item(x) for x in text.split(",") if x.strip())}
    return {"type": kind}


def add_config_args(parser: argparse.ArgumentParser, cls: type) -> None:
    """Add ``--field-name`` for every field of dataclass ``cls`` (and of its nested configs), typed and documented."""
    for flag in _flags(cls):
        parser.add_argument(
            "--" + flag.name.replace("_", "-"), dest=flag.name, default=flag.default, **_parser_type(flag.kind),
            help=f"{flag.help} (default: {flag.default})".replace("%", "%%"),
        )


def config_from_args(cls: type, args: argparse.Namespace) -> Any:
    """The config ``cls`` that `add_config_args`' flags describe."""
    nested = nested_configs(cls)
    values = {}
    for f in dataclasses.fields(cls):
        if f.name in nested:
            default = _default(cls, f.name)
            values[f.name] = dataclasses.replace(default, **{s.name: getattr(args, s.name)
                                                             for s in dataclasses.fields(default)})
        else:
            values[f.name] = getattr(args, f.name)
    return cls(**values)
