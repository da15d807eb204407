"""agents.records: the value classes that stand where dataclasses would (start-up time)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from agents import records
from agents.records import field, record

ROOT = Path(__file__).resolve().parents[2]


@record(frozen=True)
class Point:
    x: int
    y: int = 0
    tags: tuple[str, ...] = ()


@record
class Bag:
    name: str
    items: list[str] = field(default_factory=list)
    inner: Point | None = None


@record(frozen=True)
class Hidden:
    value: str

    def __repr__(self) -> str:
        return "Hidden(***)"


def test_fields_by_position_by_name_and_from_defaults():
    assert Point(1) == Point(x=1, y=0, tags=())
    assert Point(1, 2).y == 2
    assert Point(y=3, x=1) == Point(1, 3)
    assert records.field_names(Point) == ("x", "y", "tags")


def test_a_default_factory_makes_a_fresh_value_for_each_record():
    first, second = Bag("a"), Bag("b")
    first.items.append("x")
    assert second.items == []
    assert not hasattr(Bag, "items")  # the class holds no shared list


@pytest.mark.parametrize(("args", "kwargs", "message"), [
    ((), {}, "missing required argument: 'x'"),
    ((1, 2, (), 4), {}, "takes 3 positional arguments but 4 were given"),
    ((1,), {"x": 2}, "multiple values for argument 'x'"),
    ((1,), {"z": 2}, "unexpected keyword argument 'z'"),
])
def test_wrong_arguments_are_refused_as_a_call_would_be(args, kwargs, message):
    with pytest.raises(TypeError, match=message):
        Point(*args, **kwargs)


def test_a_field_without_default_after_one_with_is_refused():
    with pytest.raises(TypeError, match="'b' without a default follows one with a default"):
        @record
        class Wrong:
            a: int = 0
            b: int


def test_equality_is_same_class_and_same_fields():
    assert Point(1, 2) == Point(1, 2)
    assert Point(1, 2) != Point(2, 1)
    assert Point(1) != Hidden("1")
    assert Point(1).__eq__((1, 0, ())) is NotImplemented


def test_a_frozen_record_refuses_assignment_and_is_hashable_by_its_fields():
    point = Point(1)
    with pytest.raises(records.FrozenInstanceError):
        point.x = 2
    with pytest.raises(AttributeError):  # (FrozenInstanceError is one, as in dataclasses)
        del point.y
    assert point.x == 1
    assert {Point(1), Point(1), Point(2)} == {Point(1), Point(2)}


def test_a_mutable_record_can_change_and_is_not_hashable():
    bag = Bag("a")
    bag.name = "b"
    assert bag.name == "b"
    with pytest.raises(TypeError):
        hash(bag)


def test_repr_shows_the_fields_unless_the_class_has_its_own():
    assert repr(Point(1, tags=("a",))) == "Point(x=1, y=0, tags=('a',))"
    assert repr(Hidden("secret")) == "Hidden(***)"


def test_replace_changes_some_fields_and_refuses_unknown_ones():
    point = Point(1, 2, ("a",))
    assert records.replace(point, y=5) == Point(1, 5, ("a",))
    assert point.y == 2
    with pytest.raises(TypeError, match="no field 'z'"):
        records.replace(point, z=1)


def test_asdict_turns_records_inside_into_plain_data_too():
    bag = Bag("a", ["x"], Point(1, tags=("t",)))
    plain = records.asdict(bag)
    assert plain == {"name": "a", "items": ["x"], "inner": {"x": 1, "y": 0, "tags": ("t",)}}
    plain["items"].append("y")
    assert bag.items == ["x"]  # a copy


def test_match_by_position():
    match Point(1, 2):
        case Point(x, y):
            assert (x, y) == (1, 2)
        case _:
            pytest.fail("did not match")


def test_no_module_of_the_tool_uses_dataclasses():
    """One way to make a value class (the rule lives in agents/records.py)."""
    users = []
    for path in sorted((ROOT / "agents").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import) and any(alias.name == "dataclasses" for alias in node.names):
                users.append(str(path.relative_to(ROOT)))
            if isinstance(node, ast.ImportFrom) and node.module == "dataclasses":
                users.append(str(path.relative_to(ROOT)))
    assert users == []


@pytest.mark.parametrize("command", [
    "agents.commands.list_agents, agents.session.listing, agents.session.model",
    "agents.commands.launch, agents.commands.run_agent, agents.session.launch, agents.session.facts, "
    "agents.session.decide, agents.session.preview",
])
def test_the_session_commands_start_without_dataclasses_inspect_or_typing(command):
    """list-agents' and launch's paths import none of the three (each costs every start; `if
    TYPE_CHECKING:` blocks use a module-level TYPE_CHECKING = False, not typing's)."""
    probe = (f"import sys; sys.path.insert(0, {str(ROOT)!r}); import agents.cli, {command}; "
             "print([name for name in ('dataclasses', 'inspect', 'typing') if name in sys.modules])")
    done = subprocess.run([sys.executable, "-I", "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True)
    assert done.stdout.strip() == "[]"
