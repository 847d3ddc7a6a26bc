"""The one cattrs converter: value classes (attrs or NamedTuple) to JSON-ready dicts with
camelCase keys, and back (the REST client's typed results)."""

from __future__ import annotations

from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from aft.models import JobState, LogLevel

_converter = cattrs.Converter()
T = TypeVar("T")

#: Field names the REST contract spells differently from the Python attribute.
_RENAMES: dict[str, dict[str, str]] = {"Job": {"id": "jobId", "state": "status"}}


def _renames(cls: type) -> dict[str, str]:
    """The renames of ``cls`` or of the nearest base that has some (a QueuedJob is a Job)."""
    for klass in cls.__mro__:
        if klass.__name__ in _RENAMES:
            return _RENAMES[klass.__name__]
    return {}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _unstructure_hook(cls: type) -> Any:
    renames = _renames(cls)
    attrs.resolve_types(cls)  # annotations are strings (PEP 563); cattrs dispatches on types
    overrides: dict[str, Any] = {
        f.name: override(rename=renames.get(f.name, _camel(f.name))) for f in attrs.fields(cls)
    }
    return make_dict_unstructure_fn(cls, _converter, **overrides)


_converter.register_unstructure_hook_factory(attrs.has, _unstructure_hook)
for _enum in (JobState, LogLevel):  # str-valued enums: named, else str's hook wins
    _converter.register_unstructure_hook(_enum, lambda e: e.value)


def _is_named_tuple(cls: Any) -> bool:
    return isinstance(cls, type) and issubclass(cls, tuple) and hasattr(cls, "_fields")


def _named_tuple_hook(cls: type) -> Any:
    renames = _renames(cls)
    return lambda value: {
        renames.get(k, _camel(k)): _converter.unstructure(v) for k, v in value._asdict().items()
    }


_converter.register_unstructure_hook_factory(_is_named_tuple, _named_tuple_hook)


def to_json(value: Any) -> Any:
    """``value`` (attrs instances, enums, lists, dicts) as plain JSON-ready data."""
    return _converter.unstructure(value)


def _structure_hook(cls: type) -> Any:
    renames = _renames(cls)
    attrs.resolve_types(cls)
    overrides: dict[str, Any] = {
        f.name: override(rename=renames.get(f.name, _camel(f.name))) for f in attrs.fields(cls)
    }
    return make_dict_structure_fn(cls, _converter, **overrides)


def _structure_named_tuple(cls: Any) -> Any:
    import typing

    hints = typing.get_type_hints(cls)
    renames = _renames(cls)
    keys = {name: renames.get(name, _camel(name)) for name in cls._fields}

    def structure(value: dict[str, Any], _: type) -> Any:
        return cls(
            **{
                name: _converter.structure(value[key], hints[name])
                for name, key in keys.items()
                if key in value
            }
        )

    return structure


_converter.register_structure_hook_factory(attrs.has, _structure_hook)
_converter.register_structure_hook_factory(_is_named_tuple, _structure_named_tuple)


def from_json(cls: type[T], data: Any) -> T:
    """The inverse of :func:`to_json`: ``data`` (camelCase keys) as an instance of ``cls``;
    keys ``cls`` does not know are left out."""
    return _converter.structure(data, cls)
