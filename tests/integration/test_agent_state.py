"""What the CLI says about a running or stopped agent is the truth: its screen (`logs`), the network
log (`logs -f --network`, each entry once), connect-agent's exit status after the agent ends, and
STATE/UNSYNCED in `list-agents` after `docker stop`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

from tests.integration.conftest import (
    commit_inside,
    container_state,
    docker,
    inside,
    launched_name,
    list_row,
    wait_for,
)
from tests.integration.test_tmux import PROMPT, host_tmux  # noqa: F401 - host_tmux is a fixture


def type_into_agent(name: str, text: str) -> None:
    """Keys typed into the agent's terminal (its tmux pane in the container), then Enter."""
    inside(name, f"tmux send-keys -t agent {json.dumps(text)} Enter")


# --- logs: an interactive agent's screen ----------------------------------------------------------


def test_logs_shows_a_running_agents_screen_and_follows_it_to_the_end(cli, pyz, cli_env, repo):
    name = launched_name(cli("launch-agent", "shell", str(repo), "--network-proxy", "restricted"))
    wait_for(lambda: PROMPT in inside(name, "tmux capture-pane -p -t agent").stdout, 30, "the shell's prompt")
    type_into_agent(name, "echo screen-$((6*7))")
    wait_for(lambda: "screen-42" in cli("logs", name).stdout, 20, "`logs` to show the typed command's output")

    follow = subprocess.Popen([str(pyz), "logs", "-f", name], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=cli_env)
    time.sleep(2)
    type_into_agent(name, "echo later-$((1+1))")
    time.sleep(2.5)
    type_into_agent(name, "exit")
    stdout, stderr = follow.communicate(timeout=60)  # ends by itself once the agent has ended

    assert follow.returncode == 0, stderr
    assert "screen-42" in stdout and "later-2" in stdout
    assert f"--- {name} at " in stdout  # the screen was shown again when it changed
    assert stdout.rstrip().endswith("[ca-stub: the agent exited with status 0]")


def test_logs_follow_network_shows_each_entry_once(cli, pyz, cli_env, repo):
    name = launched_name(cli("launch-agent", "shell", str(repo), "--network-proxy", "squid"))
    follow = subprocess.Popen([str(pyz), "logs", "-f", "--network", "--json", name], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=cli_env)
    requests = 24
    try:
        for number in range(requests):
            inside(name, f"curl -s -o /dev/null --max-time 10 https://denied-{number}.invalid/ || true")
            if number == requests // 2:
                # Another reader collects at the same time (as the session's own collector does).
                assert cli("logs", "--network", name).returncode == 0
        wait_for(lambda: len([line for line in open(logged_path(cli_env, name))]) >= requests, 30,
                 "every request in the host-side log")
        time.sleep(3)  # a few more rounds of `logs -f`
    finally:
        follow.send_signal(signal.SIGINT)
        stdout, stderr = follow.communicate(timeout=60)
    assert follow.returncode == 0, stderr

    shown = [json.loads(line) for line in stdout.splitlines()]
    hosts = [entry["host"] for entry in shown]
    assert sorted(hosts) == sorted(f"denied-{number}.invalid" for number in range(requests)), hosts
    assert len({(entry["proxy"], entry["line"]) for entry in shown}) == len(shown)
    assert all(entry["decision"] == "denied" for entry in shown)


def logged_path(env: dict[str, str], name: str) -> str:
    state = env.get("XDG_STATE_HOME") or os.path.join(env["HOME"], ".local", "state")
    return os.path.join(state, "coding-agents", "network", f"{name}.log")


# --- connect-agent: the agent's exit status, not tmux's -------------------------------------------


def test_connect_agent_after_the_agent_exits_is_its_status(cli, pyz, new_repo, host_tmux):  # noqa: F811
    for typed, status in (("exit", 0), ("exit 3", 3)):
        name = launched_name(cli("launch-agent", "shell", str(new_repo()), "--network-proxy", "restricted"))
        pane = host_tmux.open(str(pyz), "connect-agent", name)
        host_tmux.wait_screen(pane, PROMPT)
        host_tmux.keys(pane, typed, "Enter")
        assert host_tmux.wait_exit(pane) == status, host_tmux.screen(pane)
        assert f"the agent in {name} exited with status {status}" in host_tmux.screen(pane)
        assert container_state(name) == "exited"


# --- list-agents after docker stop ------------------------------------------------------------------


def test_list_agents_after_docker_stop_is_not_the_last_health_check(cli, repo):
    name = launched_name(cli("launch-agent", "shell", str(repo), "--network-proxy", "restricted"))
    commit_inside(name, "a.txt", "one")
    inside(name, "echo draft > /workspace/draft.txt")  # uncommitted: the stub commits it when stopped
    wait_for(lambda: (list_row(cli, name) or {}).get("dirty") is True, 30, "a health check to see the uncommitted file")
    assert list_row(cli, name)["unsynced"] == 1

    docker("stop", "--time", "10", name)

    row = list_row(cli, name, "--all")
    # The last health check (1 commit, dirty) is stale: on the way out the stub auto-committed.
    assert (row["state"], row["dirty"], row["unsynced"]) == ("exited", False, 2), row
    table = cli("list-agents", "--all").stdout
    line = next(line for line in table.splitlines() if line.startswith(name))
    assert " exited " in line and "(dirty)" not in line
