"""agents/commands/list_agents.py: `list-agents --json` is shaped for programs (and the shell completion)."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path

from agents import cli, images, sessions
from agents.commands import list_agents

NAME = "claude-api-session-1"


def session(tmp_path: Path, **changes) -> sessions.SessionInfo:
    info = sessions.SessionInfo(
        name=NAME, agent="claude", repo=tmp_path / "api", branch="claude/session-1", base="a" * 40,
        network="restricted", mode="launch", image=images.image_ref("claude"), no_push=False,
        created="2026-01-02T03:04:05Z", state="running", container_id="c" * 64,
    )
    return dataclasses.replace(info, **changes)


def test_json_rows_plain_state_dirty_apart_and_age_in_seconds(tmp_path):
    infos = [session(tmp_path), session(tmp_path, name="other", state="exited", dirty=True)]
    rows = [{**row, "unsynced": None, "denied": None} for row in (
        {"name": info.name, "state": info.state + (" (dirty)" if info.dirty else ""), "age": "5m",
         "created": info.created} for info in infos)]

    shaped = list_agents.json_rows(infos, rows, now=datetime(2026, 1, 2, 3, 9, 5, tzinfo=UTC))

    assert shaped[0] == {"name": NAME, "state": "running", "created": "2026-01-02T03:04:05Z", "unsynced": None,
                         "denied": None, "dirty": None, "age_seconds": 300}
    assert (shaped[1]["state"], shaped[1]["dirty"]) == ("exited", True)
    assert all("age" not in row for row in shaped)


def test_json_rows_unknown_creation_time_has_no_age(tmp_path):
    info = session(tmp_path, created="")

    assert list_agents.json_rows([info], [{"name": NAME, "age": ""}])[0]["age_seconds"] is None


def test_list_agents_json_is_a_list_even_when_empty(fp, capsys):
    fp.register(["docker", "ps", "--all", "--quiet", "--no-trunc", "--filter", "label=coding-agents.session"], stdout="")

    assert cli.main(["list-agents", "--json"], prog="coding-agents") == 0

    assert json.loads(capsys.readouterr().out) == []
