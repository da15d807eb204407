"""The agent state a session keeps, against [sessions] state_size: list-agents and inspect measure it
on the real engine (in the running container; in a throwaway one on the home volume of a stopped
one) and say so past the limit, while nothing stops the CLI from writing."""

from __future__ import annotations

import json

from tests.integration.conftest import docker, inside, launched_name, write_config

# Gemini's folders with a CLI that only waits: the test writes what the CLI would, where it keeps it.
AGENT = """
[agents.waiting-gemini]
base = "gemini"
command = ["sleep", "infinity"]
"""


def history_of(cli, env: dict[str, str], name: str, *flags: str) -> dict | None:
    listed = cli("list-agents", "--json", *flags, env=env)
    assert listed.returncode == 0, listed.output
    return next(row for row in json.loads(listed.stdout) if row["name"] == name)["history"]


def test_the_kept_state_is_shown_against_the_limit_and_past_it_is_told_not_cut_off(cli, repo, tmp_path):
    home = tmp_path / "home"
    write_config(home, AGENT, '[sessions]\nstate_size = "1m"')
    env = {"HOME": str(home), "XDG_STATE_HOME": str(home / ".local" / "state"),
           "XDG_CACHE_HOME": str(home / ".cache")}
    name = launched_name(cli("launch-agent", "waiting-gemini", str(repo), "--network-proxy", "restricted", env=env))

    fresh = history_of(cli, env, name)
    assert fresh["limit"] == 1024**2 and not fresh["over"] and fresh["used"] < 1024**2, fresh
    assert fresh["free"] > 0

    # A long conversation's transcript, written through the kept folder onto the home volume: 2 MB.
    inside(name, "mkdir -p ~/.gemini/tmp/workspace/chats && "
                 "head -c 2097152 /dev/zero | tr '\\0' x > ~/.gemini/tmp/workspace/chats/session-1.json")
    inspected = cli("inspect", name, env=env)
    assert "history: 2M of 1M ([sessions] state_size)" in inspected.stdout, inspected.output
    assert f"warning: {name} keeps 2M of agent state" in inspected.stderr
    assert "hint: export it" in inspected.stderr
    # Not cut off: the CLI can still write past the limit.
    inside(name, "echo more >> ~/.gemini/tmp/workspace/chats/session-1.json")

    docker("stop", "--time", "10", name)
    stopped = history_of(cli, env, name, "--all")  # the last measure (inspect's): a listing starts no container
    assert stopped["over"] and stopped["used"] >= 2 * 1024**2, stopped
    table = cli("list-agents", "--all", env=env)
    assert table.returncode == 0, table.output
    assert "HISTORY" in table.stdout.splitlines()[0]
    assert "2M/1M (over)" in next(line for line in table.stdout.splitlines() if line.startswith(name))
    assert table.stderr.count(f"warning: {name} keeps 2M of agent state") == 1, table.stderr

    # A changed limit applies at once, to every session.
    write_config(home, AGENT, '[sessions]\nstate_size = "8g"')
    quiet = cli("list-agents", "--all", env=env)
    assert "2M/8G" in quiet.stdout and "warning:" not in quiet.stderr, quiet.output
    assert cli("remove-agent", name, "--no-push", "-y", env=env).returncode == 0
