"""Value classes: `@record` (and `@record(frozen=True)`) where the standard library has `@dataclass`.

Why not dataclasses: every command starts a new Python, and `dataclasses` costs it twice, once to
import (it imports `inspect`, with `ast`, `dis` and `tokenize`: ~7 to 14 ms here) and once per
class (it compiles each class's methods with `exec`: ~0.6 to 1.5 ms a class; the tool has sixty).
list-agents, connect-agent and launch pay both before their first useful step (docs/performance.md,
eleventh round). A record is what the tool used of a dataclass, built without either:

- the fields are the class's annotations, in order; a class attribute is the field's default, and
  `field(default_factory=list)` a fresh one for each instance;
- `__init__` (positional or by keyword), `__repr__`, `__eq__` (same class, same fields), each
  unless the class has its own; frozen: assigning raises `FrozenInstanceError` and the record is
  hashable by its fields;
- `replace(record, **changes)`, `asdict(record)` (records, lists, tuples and dicts inside are
  turned into plain data too) and `field_names(cls)`.
"""

from __future__ import annotations

_MISSING = object()
_FIELDS = "__record_fields__"  # a record class's field names, in order


class FrozenInstanceError(AttributeError):
    """Raised on assigning to (or deleting) a field of a frozen record."""


class _Factory:
    __slots__ = ("make",)

    def __init__(self, make) -> None:
        self.make = make


def field(*, default_factory):
    """A field whose default is made anew for each record (a list, a dict, another record)."""
    return _Factory(default_factory)


def record(cls=None, /, *, frozen: bool = False):
    """The class decorator; `@record` or `@record(frozen=True)`."""

    def make(cls):
        names = tuple(vars(cls).get("__annotations__") or getattr(cls, "__annotations__", {}))
        defaults = {name: cls.__dict__[name] for name in names if name in cls.__dict__}
        for name, default in defaults.items():
            if isinstance(default, _Factory):
                delattr(cls, name)  # as dataclasses does: the class has no such attribute
        seen_default = False
        for name in names:
            if name in defaults:
                seen_default = True
            elif seen_default:
                raise TypeError(f"{cls.__name__}: field {name!r} without a default follows one with a default")
        setattr(cls, _FIELDS, names)
        own = vars(cls)  # what the class defines itself stays (as with dataclasses)
        if "__init__" not in own:
            cls.__init__ = _init(cls.__name__, names, defaults)
        if "__repr__" not in own:
            cls.__repr__ = _repr
        if "__eq__" not in own:
            cls.__eq__ = _eq
        cls.__match_args__ = names
        if frozen:
            cls.__setattr__ = _refuse_assignment
            cls.__delattr__ = _refuse_assignment
            cls.__hash__ = _hash
        else:
            cls.__hash__ = None  # mutable and compared by value: not hashable (as dataclasses)
        return cls

    return make if cls is None else make(cls)


def _init(class_name: str, names: tuple[str, ...], defaults: dict):
    known = frozenset(names)

    def __init__(self, *args, **kwargs) -> None:
        if len(args) > len(names):
            raise TypeError(f"{class_name}() takes {len(names)} positional arguments but {len(args)} were given")
        values = dict(zip(names, args, strict=False))  # (fewer arguments than fields: the rest by name or default)
        for name, value in kwargs.items():
            if name not in known:
                raise TypeError(f"{class_name}() got an unexpected keyword argument {name!r}")
            if name in values:
                raise TypeError(f"{class_name}() got multiple values for argument {name!r}")
            values[name] = value
        put = self.__dict__
        for name in names:
            value = values.get(name, _MISSING)
            if value is _MISSING:
                value = defaults.get(name, _MISSING)
                if value is _MISSING:
                    raise TypeError(f"{class_name}() missing required argument: {name!r}")
                if isinstance(value, _Factory):
                    value = value.make()
            put[name] = value  # straight into the instance: a frozen record's __setattr__ refuses

    return __init__


def _values(item) -> tuple:
    return tuple(item.__dict__[name] for name in getattr(item, _FIELDS))


def _repr(self) -> str:
    shown = ", ".join(f"{name}={self.__dict__[name]!r}" for name in getattr(self, _FIELDS))
    return f"{type(self).__qualname__}({shown})"


def _eq(self, other):
    if other.__class__ is not self.__class__:
        return NotImplemented
    return _values(self) == _values(other)


def _hash(self) -> int:
    return hash(_values(self))


def _refuse_assignment(self, name, value=None):
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def is_record(item) -> bool:
    return hasattr(type(item), _FIELDS) if not isinstance(item, type) else hasattr(item, _FIELDS)


def field_names(cls) -> tuple[str, ...]:
    return getattr(cls, _FIELDS)


def replace(item, **changes):
    """A copy of the record with some fields changed (the others as they are)."""
    fields = getattr(type(item), _FIELDS)
    unknown = set(changes) - set(fields)
    if unknown:
        raise TypeError(f"{type(item).__name__} has no field {sorted(unknown)[0]!r}")
    return type(item)(**{name: changes.get(name, item.__dict__[name]) for name in fields})


def asdict(item) -> dict:
    """The record as plain data, records inside it too (other values are copied deeply)."""
    return {name: _plain(item.__dict__[name]) for name in getattr(type(item), _FIELDS)}


def _plain(value):
    if is_record(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(element) for element in value)
    if isinstance(value, dict):
        return type(value)((_plain(key), _plain(element)) for key, element in value.items())
    import copy  # (only asdict needs it)

    return copy.deepcopy(value)
