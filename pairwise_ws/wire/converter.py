"""The one cattrs converter of the wire, both directions, and the id type of client frames."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, NewType

import cattrs
from cattrs.gen import make_dict_unstructure_fn, override

from pairwise_ws.clock import format_time
from pairwise_ws.domain.validation import MAX_ID

WireId = NewType("WireId", int)


class _FieldError(ValueError):
    """A field of a client message has the wrong type or range."""


def _structure_id(value: object, _: object) -> WireId:
    # JSON has one number type: 2.0 is the integer 2, but 2.5, "2" and true are not ids.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _FieldError("expected an integer id")
    if isinstance(value, float) and not value.is_integer():
        raise _FieldError("expected an integer id, not a fraction")
    number = int(value)
    if not 1 <= number <= MAX_ID:
        raise _FieldError(f"expected an id between 1 and {MAX_ID}")
    return WireId(number)


def _structure_bool(value: object, _: object) -> bool:
    if not isinstance(value, bool):
        raise _FieldError("expected true or false")
    return value


converter = cattrs.Converter(forbid_extra_keys=True)
converter.register_structure_hook(WireId, _structure_id)
converter.register_structure_hook(bool, _structure_bool)
converter.register_unstructure_hook(datetime, format_time)


def omit_ref_if_none(cls: type, *also: str) -> None:
    """Unstructure `cls` without its `ref` (and `also` fields) when None: the key is left out."""
    omitted: dict[str, Any] = {name: override(omit_if_default=True) for name in ("ref", *also)}
    unstructure: Callable[[Any], dict[str, Any]] = make_dict_unstructure_fn(
        cls, converter, **omitted
    )
    converter.register_unstructure_hook(cls, unstructure)
