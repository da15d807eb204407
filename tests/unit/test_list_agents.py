"""agents/commands/list_agents.py: `list-agents --json` is shaped for programs (and the shell completion)."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path

from agents import cli, images
from agents.commands import list_agents
from agents.session import model

NAME = "claude-api-session-1"


def session(tmp_path: Path, **changes) -> model.SessionInfo:
    info = model.SessionInfo(
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


PS_ALL = ["docker", "ps", "--all", "--quiet", "--no-trunc", "--filter", "label=coding-agents.session"]


def inspected(name: str, status: str = "running", report: dict | None = None, **labels: str) -> dict:
    """A container as CONTAINER_FORMAT prints it; report: its newest health output (a current one)."""
    state = {"Status": status, "StartedAt": "2026-01-02T03:04:05Z"}
    if report is not None:
        state["Health"] = {"Log": [{"Start": "2026-01-02T03:05:00Z", "Output": json.dumps(report)}]}
    return {"Id": name + "-id", "State": state,
            "Config": {"Labels": {"coding-agents.session": name, "coding-agents.agent": "shell",
                                  "coding-agents.repo": "/nonexistent/repo", "coding-agents.branch": f"shell/{name}",
                                  "coding-agents.base": "b" * 40, "coding-agents.network": "restricted",
                                  "coding-agents.created": "2026-01-02T03:04:05Z", **labels}}}


def test_list_agents_is_one_ps_and_one_slim_inspect_whatever_the_number_of_sessions(fp, capsys):
    """The labels and the health report come from one `docker inspect --format` of all (a sixth of
    the full inspect's output); sessions with a current report cost no further call, and a session
    without one (just started) is asked once, by exec, without a second look at its state."""
    from agents.session.query import CONTAINER_FORMAT

    names = [f"s{index}" for index in range(20)]
    fp.register(PS_ALL, stdout="".join(name + "-id\n" for name in names + ["fresh"]))
    items = [inspected(name, report={"tip": "b" * 40, "ahead": 0, "dirty": False}) for name in names]
    items.append(inspected("fresh"))  # no health report yet
    fp.register(["docker", "inspect", "--format", CONTAINER_FORMAT, *[item["Id"] for item in items]],
                stdout="".join(json.dumps(item) + "\n" for item in items))
    health = ["docker", "exec", "--user", "1000", "fresh", "env", "CODING_AGENTS_BRANCH=shell/fresh",
              f"CODING_AGENTS_BASE={'b' * 40}", "ca-stub", "health"]
    fp.register(health, stdout=json.dumps({"tip": "c" * 40, "ahead": 2, "dirty": True}))

    assert cli.main(["list-agents", "--json"], prog="coding-agents") == 0

    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert len(rows) == 21 and rows["s3"]["unsynced"] == 0 and rows["fresh"]["unsynced"] == 2
    assert rows["fresh"]["dirty"] is True
    assert [list(call)[:2] for call in fp.calls] == [["docker", "ps"], ["docker", "inspect"], ["docker", "exec"]]
