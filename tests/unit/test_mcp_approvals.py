"""agents/mcp/approvals.py: your approvals of a repository's MCP servers, one 0600 file."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from agents.errors import AgentsError
from agents.mcp import approvals


def approvals_file() -> Path:
    return Path(os.environ["XDG_CONFIG_HOME"]) / "coding-agents" / "mcp-approvals.json"


def test_load_without_a_file_is_empty(tmp_path):
    assert approvals.load(tmp_path / "repo") == {}


def test_save_load_revoke_round_trip(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"

    approvals.save(one, "keyed", "a" * 64)
    approvals.save(one, "other", "b" * 64)
    approvals.save(two, "keyed", "c" * 64)

    assert approvals.load(one) == {"keyed": "a" * 64, "other": "b" * 64}
    assert approvals.load(two) == {"keyed": "c" * 64}
    assert stat.S_IMODE(approvals_file().stat().st_mode) == 0o600
    assert json.loads(approvals_file().read_text()) == {
        str(one): {"keyed": "a" * 64, "other": "b" * 64}, str(two): {"keyed": "c" * 64}}

    approvals.save(one, "keyed", None)
    approvals.save(two, "keyed", None)

    assert approvals.load(one) == {"other": "b" * 64}
    assert approvals.load(two) == {}
    assert json.loads(approvals_file().read_text()) == {str(one): {"other": "b" * 64}}  # empty repos dropped
    assert stat.S_IMODE(approvals_file().stat().st_mode) == 0o600
    assert sorted(path.name for path in approvals_file().parent.iterdir()) == ["mcp-approvals.json"]


def test_save_replaces_an_older_digest(tmp_path):
    approvals.save(tmp_path, "keyed", "a" * 64)
    approvals.save(tmp_path, "keyed", "b" * 64)

    assert approvals.load(tmp_path) == {"keyed": "b" * 64}


def test_revoking_what_was_never_approved_is_harmless(tmp_path):
    approvals.save(tmp_path, "keyed", None)

    assert approvals.load(tmp_path) == {}
    assert json.loads(approvals_file().read_text()) == {}


def test_load_damaged_file(tmp_path):
    approvals_file().parent.mkdir(parents=True)
    approvals_file().write_text("{not json")

    with pytest.raises(AgentsError) as caught:
        approvals.load(tmp_path)

    assert caught.value.message.startswith(f"cannot read {approvals_file()}: ")
    assert caught.value.hint == "fix or remove it"


@pytest.mark.parametrize("text", ["[]", '{"REPO": ["x"]}', '"x"'])
def test_load_odd_shapes_are_no_approvals(tmp_path, text):
    approvals_file().parent.mkdir(parents=True)
    approvals_file().write_text(text.replace("REPO", str(tmp_path)))

    assert approvals.load(tmp_path) == {}


@pytest.mark.parametrize(("text", "message"), [("{not json", "cannot read"), ('{"REPO": ["x"]}', "is damaged")])
def test_save_over_a_damaged_file_is_an_agents_error(tmp_path, text, message):
    approvals_file().parent.mkdir(parents=True)
    approvals_file().write_text(text.replace("REPO", str(tmp_path)))

    with pytest.raises(AgentsError, match=message) as caught:
        approvals.save(tmp_path, "keyed", "a" * 64)

    assert caught.value.hint.startswith("fix or remove it")
    assert approvals_file().read_text() == text.replace("REPO", str(tmp_path))  # left as it was
