"""A typed config dataclass is its own command-line schema: one flag per field."""

from __future__ import annotations

import argparse
import dataclasses
import re
import typing
from typing import Any


def _field_docs(cls: type) -> dict[str, str]:
    """Field descriptions from the ``Attributes:`` section of the class docstring."""
    doc = (cls.__doc__ or "").split("Attributes:", 1)[-1]
    return {m[1]: " ".join(m[2].split()) for m in re.finditer(r"^\s{8}(\w+): (.+?)(?=^\s{8}\w+: |\Z)", doc, re.M | re.S)}


def add_config_args(parser: argparse.ArgumentParser, cls: type) -> None:
    """Add ``--field-name`` for every field of dataclass ``cls``, typed and documented."""
    hints, docs = typing.get_type_hints(cls), _field_docs(cls)
    for f in dataclasses.fields(cls):
        kind = next((a for a in typing.get_args(hints[f.name]) if a is not type(None)), hints[f.name])
        # bool("False") is True: a bool field is a --flag / --no-flag pair instead of a typed value
        typed = {"action": argparse.BooleanOptionalAction} if kind is bool else {"type": kind}
        parser.add_argument(
            "--" + f.name.replace("_", "-"), dest=f.name, default=f.default, **typed,
            help=f"{docs.get(f.name, '')} (default: {f.default})".replace("%", "%%"),
        )


def config_from_args(cls: type, args: argparse.Namespace) -> Any:
    return cls(**{f.name: getattr(args, f.name) for f in dataclasses.fields(cls)})
