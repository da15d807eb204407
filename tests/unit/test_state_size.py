"""agents/state_size.py: the agent state a session keeps, measured on the engine and shown against
[sessions] state_size in list-agents, inspect and connect-agent. Docker is faked at the runner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agents import cli, images, paths, records, state_size
from agents.session import model, naming
from tests.unit.test_list_agents import REPORT, inspect_argv, inspected, register_listing

NAME = "gemini-api-session-1"
GIB = 1024**3
DU_DF = "{used}\n/dev/vda 270000000000 200000000000 {free} 75% /home/agent\n"


def session(**changes) -> model.SessionInfo:
    info = model.SessionInfo(
        name=NAME, agent="gemini", repo=Path("/nonexistent/api"), branch="gemini/session-1", base="a" * 40,
        network="restricted", mode="launch", image=images.image_ref("gemini"), no_push=False,
        created="2026-01-02T03:04:05Z", state="running", container_id="c" * 64,
    )
    return records.replace(info, **changes)


def exec_argv(name: str = NAME) -> list[str]:
    return ["docker", "exec", "--user", "1000", name, "sh", "-c", state_size.SCRIPT, "state-size",
            naming.STATE_STORE, naming.HOME]


def write_config(text: str) -> None:
    paths.config_file().parent.mkdir(parents=True, exist_ok=True)
    paths.config_file().write_text(text)


@pytest.mark.parametrize(("count", "shown"), [(0, "0"), (900, "900"), (12 * 1024, "12K"), (312 * 1024**2, "312M"),
                                              (int(1.5 * GIB), "1.5G"), (8 * GIB, "8G"), (2 * 1024**4, "2T")])
def test_sizes_are_shown_in_the_units_of_the_setting(count, shown):
    assert state_size.short(count) == shown


def test_the_measure_is_dus_bytes_and_dfs_free_space():
    assert state_size.parse(DU_DF.format(used=4096, free=70000000000), GIB) == state_size.StateSize(
        4096, GIB, 70000000000)
    assert state_size.parse("0\n", GIB) == state_size.StateSize(0, GIB, None)  # no df line: free unknown
    assert state_size.parse("du: cannot read\n", GIB) is None
    assert state_size.parse("", GIB) is None


def test_over_is_past_the_limit_not_at_it():
    assert not state_size.StateSize(GIB, GIB).over
    assert state_size.StateSize(GIB + 1, GIB).over
    assert state_size.StateSize(GIB + 1, GIB).shown == "1G/1G (over)"
    assert state_size.StateSize(300 * 1024**2, 8 * GIB).shown == "300M/8G"


def test_a_running_session_is_measured_inside_then_shown_from_the_copy_for_a_minute(fp):
    fp.register(exec_argv(), stdout=DU_DF.format(used=5 * 1024**2, free=10 * GIB), occurrences=2)
    info = session()

    first = state_size.sizes([info], GIB, now=1000.0)
    again = state_size.sizes([info], GIB, now=1000.0 + state_size.FRESH - 1)

    assert first == again == {NAME: state_size.StateSize(5 * 1024**2, GIB, 10 * GIB)}
    assert fp.call_count(exec_argv()) == 1
    state_size.sizes([info], GIB, now=1000.0 + state_size.FRESH + 1)
    assert fp.call_count(exec_argv()) == 2


def test_a_stopped_session_is_measured_in_a_throwaway_container_on_its_home_volume_read_only(fp):
    info = session(state="exited")
    argv = state_size.measure_argv(info)
    fp.register(argv, stdout="7\n")

    assert state_size.measure(info, GIB) == state_size.StateSize(7, GIB)  # as inspect and connect-agent do

    assert argv[:5] == ["docker", "run", "--rm", "--pull", "never"] and ["--network", "none"] == argv[5:7]
    assert f"{NAME}-home:{naming.HOME}:ro" in argv and "--read-only" in argv
    assert argv[argv.index(info.image) + 1:][:3] == ["sh", "-c", state_size.SCRIPT]
    # A listing shows that measure, however old (a stopped session's state does not change).
    assert state_size.sizes([info], GIB) == {NAME: state_size.StateSize(7, GIB)}
    assert fp.call_count(argv) == 1
    # Started again since: the copy was of another state, so it is measured again, inside.
    fp.register(exec_argv(), stdout="9\n")
    assert state_size.sizes([session()], GIB)[NAME].used == 9


def test_a_listing_starts_no_container_for_a_stopped_session_never_measured(fp):
    assert state_size.sizes([session(state="exited")], GIB) == {}
    assert not fp.calls  # (no fake registered: any call would have failed)


def test_a_running_sessions_last_measure_is_shown_once_it_stopped(fp):
    fp.register(exec_argv(), stdout="5\n")
    state_size.sizes([session()], GIB)

    assert state_size.sizes([session(state="exited")], GIB) == {NAME: state_size.StateSize(5, GIB)}
    assert fp.call_count(exec_argv()) == 1


def test_the_shell_an_orphaned_session_and_a_failed_measure_show_nothing(fp):
    fp.register(exec_argv(), returncode=1, stderr="Error response from daemon: container is paused\n")
    shell = session(name="shell-api-session-1", agent="shell")
    orphan = session(name="gemini-api-gone", container_id="", state="orphaned")

    assert state_size.sizes([shell, orphan, session()], GIB, now=1.0) == {}
    assert [list(call) for call in fp.calls] == [exec_argv()]  # neither the shell nor the orphan was asked


def test_list_agents_shows_the_state_against_the_limit_and_warns_past_it(fp, capsys):
    write_config('[sessions]\nstate_size = "2m"\n')
    labels = {naming.AGENT: "gemini", naming.IMAGE: images.image_ref("gemini")}
    items = [inspected("big", report=REPORT, **labels), inspected("small", report=REPORT, **labels),
             inspected("plain", report=REPORT)]
    register_listing(fp, items)
    fp.register(inspect_argv(items), stdout="".join(json.dumps(item) + "\n" for item in items), occurrences=2)
    fp.register(exec_argv("big"), stdout=DU_DF.format(used=3 * 1024**2, free=5 * GIB))
    fp.register(exec_argv("small"), stdout=DU_DF.format(used=1024**2, free=5 * GIB))

    assert cli.main(["list-agents", "--json"], prog="coding-agents") == 0
    captured = capsys.readouterr()
    rows = {row["name"]: row for row in json.loads(captured.out)}
    assert rows["big"]["history"] == {"used": 3 * 1024**2, "limit": 2 * 1024**2, "free": 5 * GIB, "over": True}
    assert rows["small"]["history"]["over"] is False
    assert rows["plain"]["history"] is None  # the shell keeps no CLI state

    register_listing(fp, items)
    assert cli.main(["list-agents"], prog="coding-agents") == 0  # measured a moment ago: from the copy
    captured = capsys.readouterr()
    header, *lines = captured.out.splitlines()
    assert "HISTORY" in header
    assert "3M/2M (over)" in next(line for line in lines if line.startswith("big "))
    assert "1M/2M" in next(line for line in lines if line.startswith("small "))
    assert captured.err.count("warning: ") == 1
    assert "warning: big keeps 3M of agent state (transcripts, history), over [sessions] state_size (2M)" in captured.err
    assert "hint: export it (coding-agents history export big FILE)" in captured.err
    assert fp.call_count(exec_argv("big")) == 1


def test_connect_agent_says_so_before_it_attaches_to_a_session_past_the_limit(fp, capsys, monkeypatch):
    from tests.unit import test_connect

    monkeypatch.setattr("sys.stdin.isatty", lambda: False)  # the full path
    monkeypatch.setenv("TERM", "xterm-256color")
    write_config('[sessions]\nstate_size = "1m"\n')
    labels = {"coding-agents.session": NAME, "coding-agents.agent": "gemini", "coding-agents.repo": "/home/me/api",
              "coding-agents.branch": "gemini/session-1", "coding-agents.network": "restricted",
              "coding-agents.mode": "launch", naming.IMAGE: images.image_ref("gemini")}
    by_name = [*test_connect.BY_NAME[:-2], NAME, f"{NAME}-proxy"]
    fp.register(by_name, returncode=1, stderr=f"Error: No such container: {NAME}-proxy\n",
                stdout=json.dumps({"Id": "c" * 64, "State": {"Status": "running"}, "Config": {"Labels": labels}}) + "\n")
    fp.register(exec_argv(), stdout=DU_DF.format(used=2 * 1024**2, free=GIB))
    attach = [*test_connect.ATTACH[:7], NAME, *test_connect.ATTACH[8:]]
    fp.register(attach, returncode=0)
    fp.register([*test_connect.HAS_SESSION[:4], NAME, *test_connect.HAS_SESSION[5:]], stdout="0\n")

    assert cli.main(["connect-agent", NAME], prog="coding-agents") == 0

    assert f"warning: {NAME} keeps 2M of agent state" in capsys.readouterr().err
    calls = [list(call) for call in fp.calls]
    assert calls.index(exec_argv()) < calls.index(attach)


def test_a_measure_that_does_not_finish_in_time_is_unknown(monkeypatch):
    from agents.errors import AgentsError

    def too_slow(argv, **options):
        assert options["timeout"] == state_size.MEASURE_TIMEOUT
        raise AgentsError("`docker exec ...` did not finish within 30s")  # what runner.run says then

    monkeypatch.setattr("agents.runner.run", too_slow)

    assert state_size.measure(session(), GIB) is None


def test_the_stateless_agents_are_those_of_the_table_without_a_cli_folder():
    from agents import catalog

    assert set(state_size.STATELESS) == {agent.name for agent in catalog.AGENTS if not agent.state}


def test_a_listing_of_shell_sessions_reads_neither_the_config_nor_the_engine(fp, monkeypatch):
    monkeypatch.setattr(state_size, "current_limit", lambda: pytest.fail("the config was read"))

    assert state_size.sizes([session(agent="shell"), session(name="two", agent="shell")]) == {}
    assert list(fp.calls) == []
