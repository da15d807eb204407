"""agents/toml_text.py: TOML written for the config values carried into sessions; tomllib reads it back."""

from __future__ import annotations

import datetime
import tomllib

import pytest

from agents import toml_text
from agents.errors import AgentsError


def round_trip(data: dict) -> dict:
    return tomllib.loads(toml_text.dumps(data))


# --- key ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["model", "model_provider", "base-url", "A1", "0"])
def test_key_bare_names_stay_bare(name):
    assert toml_text.key(name) == name


@pytest.mark.parametrize(("name", "expected"), [
    ("/workspace", '"/workspace"'),
    ("a.b", '"a.b"'),
    ("with space", '"with space"'),
    ("", '""'),
    ('say "hi"', '"say \\"hi\\""'),
])
def test_key_other_names_are_quoted(name, expected):
    assert toml_text.key(name) == expected


@pytest.mark.parametrize("name", ["/workspace", "a.b", "with space", "", 'say "hi"', "back\\slash", "ünï", "tab\there"])
def test_key_quoted_names_read_back_as_themselves(name):
    assert tomllib.loads(f"{toml_text.key(name)} = 1\n") == {name: 1}


# --- value -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("item", "expected"), [
    (True, "true"),
    (False, "false"),
    (0, "0"),
    (-42, "-42"),
    (1.5, "1.5"),
    ("o3", '"o3"'),
    ([], "[]"),
    ([1, "a", False], '[1, "a", false]'),
    ({}, "{}"),
    ({"name": "x", "n": 2}, '{name = "x", n = 2}'),
])
def test_value_writes_inline_toml(item, expected):
    assert toml_text.value(item) == expected


def test_value_bool_is_not_written_as_an_int():
    # bool is a subclass of int: True must not become 1
    assert tomllib.loads(f"v = {toml_text.value(True)}\n") == {"v": True}


@pytest.mark.parametrize("text", [
    'say "hi"',
    "C:\\Users\\me",
    "two\nlines\r\n",
    "tab\tend",
    "ünïcödé ✓ 日本 🦙",
    "control \x01 \x1f",
    "",
], ids=["quotes", "backslashes", "newlines", "tab", "unicode", "control", "empty"])
def test_value_strings_read_back_unchanged(text):
    assert tomllib.loads(f"v = {toml_text.value(text)}\n") == {"v": text}


def test_value_string_with_delete_character_reads_back():
    text = "a\x7fb"

    assert tomllib.loads(f"v = {toml_text.value(text)}\n") == {"v": text}


@pytest.mark.parametrize("number", [0.1, -2.5, 1e300, 1e-7, 123456789012345678])
def test_value_numbers_read_back_unchanged(number):
    assert tomllib.loads(f"v = {toml_text.value(number)}\n") == {"v": number}


@pytest.mark.parametrize("item", [None, (1, 2), {1, 2}, b"bytes", datetime.date(2026, 1, 2), object()],
                         ids=["none", "tuple", "set", "bytes", "date", "object"])
def test_value_unsupported_types_are_refused(item):
    with pytest.raises(AgentsError) as caught:
        toml_text.value(item)

    assert caught.value.message == f"cannot write {type(item).__name__} values as TOML"


def test_value_unsupported_type_inside_a_list_is_refused():
    with pytest.raises(AgentsError, match="cannot write NoneType values as TOML"):
        toml_text.value(["ok", None])


def test_value_unsupported_type_inside_an_inline_table_is_refused():
    with pytest.raises(AgentsError, match="cannot write tuple values as TOML"):
        toml_text.value({"ok": 1, "bad": (1,)})


# --- dumps -------------------------------------------------------------------------------------


def test_dumps_empty_is_empty():
    assert toml_text.dumps({}) == ""


def test_dumps_plain_keys_only():
    assert toml_text.dumps({"model": "o3", "model_reasoning_effort": "high"}) == (
        'model = "o3"\nmodel_reasoning_effort = "high"\n')


def test_dumps_plain_keys_come_before_tables_whatever_the_order():
    data = {"model_providers": {"local": {"base_url": "http://x"}}, "model": "o3", "model_provider": "local"}

    text = toml_text.dumps(data)

    assert text == ('model = "o3"\nmodel_provider = "local"\n\n'
                    '[model_providers.local]\nbase_url = "http://x"\n')
    assert tomllib.loads(text) == data


def test_dumps_table_of_only_tables_has_no_header_of_its_own():
    text = toml_text.dumps({"a": {"b": {"c": 1}}})

    assert text == "[a.b]\nc = 1\n"


def test_dumps_nested_tables_round_trip():
    data = {
        "model": "llama3",
        "model_providers": {
            "ollama": {"name": "Ollama", "base_url": "http://host.coding-agents.internal:11434/v1",
                       "query_params": {"api-version": "2025-01-01"}},
            "corp": {"base_url": "https://llm.example.com/v1", "env_key": "CORP_KEY", "retries": 3},
        },
    }

    assert round_trip(data) == data


def test_dumps_quoted_table_and_key_names_round_trip():
    data = {"projects": {"/workspace": {"trust_level": "trusted"}, "a.b c": {"x y": True}}}

    text = toml_text.dumps(data)

    assert '[projects."/workspace"]' in text.splitlines()
    assert tomllib.loads(text) == data


def test_dumps_every_kind_of_value_round_trips():
    data = {
        "text": 'quote " backslash \\ newline \n unicode ✓',
        "yes": True,
        "no": False,
        "count": 7,
        "ratio": 0.25,
        "names": ["a", "b"],
        "mixed": [1, [2, 3], {"k": "v"}],
        "inline": {"list": [{"a": 1}, {"b": {"c": False}}]},
        "table": {"x": 1, "deeper": {"y": "z"}},
    }

    assert round_trip(data) == data


def test_dumps_lists_of_tables_stay_inline():
    data = {"providers": [{"name": "a"}, {"name": "b"}]}

    assert toml_text.dumps(data) == 'providers = [{name = "a"}, {name = "b"}]\n'


def test_dumps_unsupported_value_is_refused():
    with pytest.raises(AgentsError, match="cannot write NoneType values as TOML"):
        toml_text.dumps({"table": {"value": None}})


def test_dumps_empty_table_round_trips():
    assert round_trip({"model_providers": {"local": {}}}) == {"model_providers": {"local": {}}}
