"""agents/netlog.py and the commands that read it (`logs --network`, `policy suggest`).

The proxy's `docker inspect`/`docker logs` are faked at the runner (pytest-subprocess); the log lives in tmp_path.
"""

from __future__ import annotations

import fcntl
import json
import tomllib

import pytest

from agents import cli, netlog, network
from tests.unit.ps_lines import ps_argv, ps_line, volume_ls_argv

NAME = "claude-api-session-1"
PROXY = f"{NAME}-proxy"
PS_ALL = ps_argv()
VOLUME_LS = volume_ls_argv()

ALLOWED = "1767225600.000 CONNECT api.anthropic.com:443 200 5120 TCP_TUNNEL 172.18.0.3"
DENIED = "1767225601.000 CONNECT evil.example:443 403 3900 TCP_DENIED 172.18.0.3"
PLAIN = "1767225602.000 GET http://deb.example:8080/a.deb 200 100 TCP_MISS 172.18.0.3"
PLAIN_80 = "1767225603.000 GET http://deb.example/a.deb 200 100 TCP_MISS 172.18.0.3"
PRIVATE_IP = "1767225604.000 CONNECT 10.1.2.3:443 403 3900 TCP_DENIED 172.18.0.3"
PROBE = "1767225599.000 - error:transaction-end-before-headers 0 0 NONE_NONE 127.0.0.1"


@pytest.fixture(autouse=True)
def state_dir(tmp_path, monkeypatch):
    path = tmp_path / "state"
    monkeypatch.setenv("XDG_STATE_HOME", str(path))
    return path


def register_proxy_output(fp, lines: list[str], proxy_id: str = "p" * 64) -> None:
    fp.register(["docker", "inspect", "--format", "{{.Id}}", PROXY], stdout=proxy_id + "\n")
    fp.register(["docker", "logs", PROXY], stdout="".join(line + "\n" for line in lines))


def write_log(*lines: str) -> None:
    """A host-side log as collect writes it, from squid lines."""
    path = netlog.log_path(NAME)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as log:
        for line in lines:
            log.write(json.dumps({"session": NAME, **network.parse_log_line(line).as_dict()}) + "\n")


def logged() -> list[dict]:
    return [json.loads(line) for line in netlog.log_path(NAME).read_text().splitlines()]


# --- where the log lives ----------------------------------------------------------------------


def test_log_path_is_under_xdg_state_home(state_dir):
    assert netlog.log_path(NAME) == state_dir / "coding-agents" / "network" / f"{NAME}.log"


# --- collect ------------------------------------------------------------------------------------


def test_collect_writes_decisions_as_json_lines_with_session(fp):
    register_proxy_output(fp, [PROBE, ALLOWED, "2026/01/01 00:00:00| junk from squid", DENIED])

    assert netlog.collect(NAME) == 2

    # Each entry says where it came from (the proxy container, the line of its output): the log is its own cursor.
    assert logged() == [
        {"session": NAME, "time": 1767225600.0, "method": "CONNECT", "host": "api.anthropic.com", "port": 443,
         "status": 200, "bytes": 5120, "result": "TCP_TUNNEL", "decision": "allowed", "proxy": "p" * 12, "line": 1},
        {"session": NAME, "time": 1767225601.0, "method": "CONNECT", "host": "evil.example", "port": 443,
         "status": 403, "bytes": 3900, "result": "TCP_DENIED", "decision": "denied", "proxy": "p" * 12, "line": 3},
    ]


def test_collect_appends_only_new_lines(fp):
    register_proxy_output(fp, [ALLOWED])
    register_proxy_output(fp, [ALLOWED, DENIED, PLAIN])  # docker logs repeats everything each time

    first = netlog.collect(NAME)
    second = netlog.collect(NAME)

    assert (first, second) == (1, 2)
    assert [entry["host"] for entry in logged()] == ["api.anthropic.com", "evil.example", "deb.example"]


def test_collect_nothing_new_adds_nothing(fp):
    register_proxy_output(fp, [ALLOWED, DENIED])
    register_proxy_output(fp, [ALLOWED, DENIED])

    netlog.collect(NAME)

    assert netlog.collect(NAME) == 0
    assert len(logged()) == 2


def test_collect_restarts_counting_for_a_recreated_proxy(fp):
    register_proxy_output(fp, [ALLOWED, DENIED], proxy_id="1" * 64)
    register_proxy_output(fp, [PLAIN], proxy_id="2" * 64)  # a new container: its log starts empty

    netlog.collect(NAME)

    assert netlog.collect(NAME) == 1
    assert [entry["host"] for entry in logged()] == ["api.anthropic.com", "evil.example", "deb.example"]


def test_collect_without_proxy_container_is_zero_and_writes_nothing(fp, state_dir):
    fp.register(["docker", "inspect", "--format", "{{.Id}}", PROXY], returncode=1,
                stderr=f"Error: No such object: {PROXY}\n")

    assert netlog.collect(NAME) == 0
    assert fp.call_count(["docker", "logs", fp.any()]) == 0
    # Only the (empty) lock file collect takes first: no log, no cursor.
    network_dir = state_dir / "coding-agents" / "network"
    assert [path.name for path in network_dir.iterdir()] == [f"{NAME}.lock"]
    assert network_dir.joinpath(f"{NAME}.lock").read_text() == ""


def test_collect_holds_the_lock_next_to_the_cursor_while_collecting(fp, monkeypatch):
    register_proxy_output(fp, [ALLOWED])
    events = []

    def flock(file, operation):
        events.append(("flock", file.name, operation, len(fp.calls)))

    monkeypatch.setattr(fcntl, "flock", flock)

    assert netlog.collect(NAME) == 1

    lock_path = str(netlog.log_path(NAME).with_suffix(".lock"))
    assert events == [("flock", lock_path, fcntl.LOCK_EX, 0)]  # taken before the proxy is even looked up


def test_collect_ignores_a_garbled_cursor(fp):
    netlog.log_path(NAME).parent.mkdir(parents=True)
    netlog.log_path(NAME).with_suffix(".cursor").write_text("garbage")
    register_proxy_output(fp, [ALLOWED])

    assert netlog.collect(NAME) == 1


# --- reading ------------------------------------------------------------------------------------


def test_read_missing_log_is_empty():
    assert netlog.read(NAME) == []
    assert netlog.decisions(NAME) == []
    assert netlog.denied_count(NAME) == 0


def test_read_skips_lines_that_are_not_json():
    write_log(ALLOWED)
    with open(netlog.log_path(NAME), "a") as log:
        log.write("{half a line\n")
    write_log(DENIED)

    assert [entry["host"] for entry in netlog.read(NAME)] == ["api.anthropic.com", "evil.example"]


def test_decisions_round_trip_what_collect_wrote():
    write_log(ALLOWED, DENIED, PLAIN)

    assert netlog.decisions(NAME) == [network.parse_log_line(line) for line in (ALLOWED, DENIED, PLAIN)]


def test_denied_count():
    write_log(ALLOWED, DENIED, DENIED, PLAIN)

    assert netlog.denied_count(NAME) == 2


def test_denied_count_reads_no_line_yet_agrees_with_the_parsed_log():
    """Counted in the bytes (list-agents asks it of every squid session); a host name that spells
    the field out inside its string, and a line still being written, do not count."""
    write_log(ALLOWED, DENIED, PLAIN, DENIED)
    with open(netlog.log_path(NAME), "a", encoding="utf-8") as log:
        log.write(json.dumps({"session": NAME, "host": '"decision": "denied"', "decision": "allowed"}) + "\n")
        log.write(json.dumps({"session": NAME, "decision": "denied"}))  # no newline yet

    assert netlog.denied_count(NAME) == 2
    assert netlog.denied_count(NAME) == sum(entry.get("decision") == "denied" for entry in netlog.read(NAME))


def test_format_entry_is_one_aligned_line_in_utc():
    write_log(DENIED, PLAIN)

    assert [netlog.format_entry(entry) for entry in netlog.read(NAME)] == [
        "2026-01-01 00:00:01  denied   CONNECT evil.example:443  403  3900B  TCP_DENIED",
        "2026-01-01 00:00:02  allowed  GET     deb.example:8080  200  100B  TCP_MISS",
    ]


# --- `logs --network` ---------------------------------------------------------------------------


def no_sessions(fp) -> None:
    fp.register(PS_ALL, stdout="")
    fp.register(VOLUME_LS, stdout="")


def live_session(fp) -> None:
    labels = {"coding-agents.session": NAME, "coding-agents.network": "squid", "coding-agents.role": "agent"}
    fp.register(PS_ALL, stdout=ps_line("c" * 64, "running", labels))
    fp.register(VOLUME_LS, stdout="")


def test_logs_network_prints_every_decision(fp, capsys):
    no_sessions(fp)
    write_log(ALLOWED, DENIED)

    assert cli.main(["logs", NAME, "--network"], prog="coding-agents") == 0

    assert capsys.readouterr().out.splitlines() == [netlog.format_entry(entry) for entry in netlog.read(NAME)]


def test_logs_network_denied_only(fp, capsys):
    no_sessions(fp)
    write_log(ALLOWED, DENIED, PLAIN)

    assert cli.main(["logs", NAME, "--network", "--denied"], prog="coding-agents") == 0

    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and "evil.example:443" in out[0] and "denied" in out[0]


def test_logs_network_json_lines(fp, capsys):
    no_sessions(fp)
    write_log(ALLOWED, DENIED)

    assert cli.main(["logs", NAME, "--network", "--json"], prog="coding-agents") == 0

    assert [json.loads(line) for line in capsys.readouterr().out.splitlines()] == netlog.read(NAME)


def test_logs_network_of_a_live_session_collects_first(fp, capsys):
    live_session(fp)
    register_proxy_output(fp, [ALLOWED, DENIED])

    assert cli.main(["logs", NAME, "--network", "--denied", "--json"], prog="coding-agents") == 0

    assert [json.loads(line)["host"] for line in capsys.readouterr().out.splitlines()] == ["evil.example"]
    assert len(logged()) == 2


def test_logs_network_follow_stops_quietly_on_ctrl_c(fp, capsys, monkeypatch):
    no_sessions(fp)
    write_log(ALLOWED)

    def interrupt(seconds):
        raise KeyboardInterrupt

    monkeypatch.setattr("time.sleep", interrupt)

    assert cli.main(["logs", NAME, "--network", "--follow"], prog="coding-agents") == 0
    assert "api.anthropic.com:443" in capsys.readouterr().out


def test_logs_network_unknown_session_without_log_is_an_error(fp, capsys):
    no_sessions(fp)

    assert cli.main(["logs", "nope", "--network"], prog="coding-agents") == 1

    assert capsys.readouterr().err == (
        "error: no network log for 'nope'\nhint: only --network-proxy squid sessions have one\n"
    )


@pytest.mark.parametrize("flag", ["--denied", "--json"])
def test_logs_network_only_flags_need_network(fp, capsys, flag):
    assert cli.main(["logs", NAME, flag], prog="coding-agents") == 2

    assert capsys.readouterr().err == (
        f"error: --denied and --json go with --network\nhint: coding-agents logs {NAME} --network\n"
    )
    assert list(fp.calls) == []


SESSION_LABEL = ["docker", "inspect", "--type", "container", "--format",
                 '{{index .Config.Labels "coding-agents.session"}}']


def no_screen(fp, name: str, occurrences: int = 1) -> None:
    """`docker exec ... tmux capture-pane` fails: a stopped agent, a --prompt task, a proxy."""
    fp.register(screen_argv(name), returncode=1, stderr="no server running on /tmp/tmux-1000/default\n",
                occurrences=occurrences)


def screen_argv(name: str) -> list[str]:
    return ["docker", "exec", "--user", "1000", name, "tmux", "capture-pane", "-p", "-t", "agent"]


def test_logs_without_network_streams_the_container_log(fp):
    fp.register([*SESSION_LABEL, NAME], stdout=NAME + "\n", occurrences=2)
    no_screen(fp, NAME, occurrences=2)
    fp.register(["docker", "logs", NAME])
    fp.register(["docker", "logs", "--follow", NAME])

    assert cli.main(["logs", NAME], prog="coding-agents") == 0
    assert cli.main(["logs", NAME, "-f"], prog="coding-agents") == 0

    assert [list(call) for call in fp.calls if "logs" in call] == [["docker", "logs", NAME],
                                                                  ["docker", "logs", "--follow", NAME]]


def test_logs_shows_a_sessions_proxy_too(fp):
    fp.register([*SESSION_LABEL, PROXY], stdout=NAME + "\n")
    no_screen(fp, PROXY)
    fp.register(["docker", "logs", PROXY])

    assert cli.main(["logs", PROXY], prog="coding-agents") == 0

    assert fp.call_count(["docker", "logs", PROXY]) == 1


@pytest.mark.parametrize(("answer", "returncode"), [("", 0), ("Error: No such container: nosuch\n", 1)],
                         ids=["not-ours", "no-such-container"])
def test_logs_of_an_unknown_name_is_our_error_not_dockers(fp, capsys, answer, returncode):
    fp.register([*SESSION_LABEL, "nosuch"], stdout="\n" if not returncode else "", stderr=answer,
                returncode=returncode)

    assert cli.main(["logs", "nosuch"], prog="coding-agents") == 1

    assert capsys.readouterr().err == (
        "error: no agent session named 'nosuch'\n"
        "hint: `list-agents --all` shows the sessions; `logs NAME --network` also reads a removed session's network log\n"
    )
    assert fp.call_count(["docker", "logs", fp.any()]) == 0


@pytest.mark.parametrize("argv", [["logs", "../../etc/passwd", "--network"], ["logs", "a/b"],
                                  ["policy", "suggest", "../x"]], ids=["logs-network", "logs", "policy-suggest"])
def test_a_name_that_is_not_a_session_name_never_becomes_a_path(fp, capsys, argv):
    assert cli.main(argv, prog="coding-agents") == 2

    assert "is not a valid container name" in capsys.readouterr().err
    assert list(fp.calls) == []


def test_logs_with_the_engine_down_says_so(fp, capsys):
    fp.register([*SESSION_LABEL, NAME], returncode=1,
                stderr="Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n")

    assert cli.main(["logs", NAME], prog="coding-agents") == 1

    assert capsys.readouterr().err.startswith("error: cannot reach the Docker engine\nhint: start the engine")


# --- `policy suggest` ---------------------------------------------------------------------------


def suggested_allow(out: str) -> list[str]:
    """The printed snippet is TOML a user can paste (the comment line included)."""
    return tomllib.loads(out)["network"]["allow"]


def test_policy_suggest_prints_a_network_snippet(fp, capsys):
    no_sessions(fp)
    write_log(ALLOWED, DENIED, PLAIN, ALLOWED)

    assert cli.main(["policy", "suggest", NAME], prog="coding-agents") == 0

    out = capsys.readouterr().out
    assert out.splitlines()[0] == (
        f"# 4 requests seen by {NAME}; add to ~/.config/coding-agents/config.toml"
    )
    # deb.example was asked on port 8080, which the proxy never lets through: no rule would help.
    assert suggested_allow(out) == ["api.anthropic.com", "evil.example"]
    assert "#   deb.example:8080  port 8080: only 80 passes for plain HTTP" in out.splitlines()


def test_policy_suggest_collects_from_a_live_session_first(fp, capsys):
    live_session(fp)
    register_proxy_output(fp, [PROBE, PLAIN_80])

    assert cli.main(["policy", "suggest", NAME], prog="coding-agents") == 0

    assert suggested_allow(capsys.readouterr().out) == ["deb.example"]


def test_policy_suggest_leaves_out_a_private_address_and_says_why(fp, capsys):
    no_sessions(fp)
    write_log(ALLOWED, PRIVATE_IP)

    assert cli.main(["policy", "suggest", NAME], prog="coding-agents") == 0

    out = capsys.readouterr().out
    assert suggested_allow(out) == ["api.anthropic.com"]
    assert "#   10.1.2.3:443  a private address, denied while [network] block_private is on" in out.splitlines()


def test_policy_suggest_keeps_a_private_address_when_block_private_is_off(fp, capsys, isolated_home, tmp_path):
    config_path = tmp_path / "xdg-config" / "coding-agents" / "config.toml"
    config_path.parent.mkdir(parents=True)
    config_path.write_text("[network]\nblock_private = false\n")
    no_sessions(fp)
    write_log(PRIVATE_IP)

    assert cli.main(["policy", "suggest", NAME], prog="coding-agents") == 0

    assert suggested_allow(capsys.readouterr().out) == ["10.1.2.3"]


def test_policy_suggest_json_is_one_document(fp, capsys):
    no_sessions(fp)
    write_log(ALLOWED, DENIED, PLAIN, PRIVATE_IP, ALLOWED)

    assert cli.main(["policy", "suggest", NAME, "--json"], prog="coding-agents") == 0

    assert json.loads(capsys.readouterr().out) == {
        "session": NAME, "requests": 5, "allow": ["api.anthropic.com", "evil.example"],
        "skipped": [{"host": "10.1.2.3", "port": 443,
                     "reason": "a private address, denied while [network] block_private is on"},
                    {"host": "deb.example", "port": 8080, "reason": "port 8080: only 80 passes for plain HTTP"}],
    }


def test_policy_suggest_without_requests_is_an_error(fp, capsys):
    no_sessions(fp)

    assert cli.main(["policy", "suggest", NAME], prog="coding-agents") == 1

    err = capsys.readouterr().err
    assert err.startswith(f"error: no requests recorded for '{NAME}'\n")
    assert "--network-proxy squid --learn" in err


# --- never twice, never half (collect and `logs -f --network`) ------------------------------------


def test_collect_after_an_interrupted_one_never_appends_a_line_twice(fp):
    # The collector appended, then was stopped before any separate cursor could be written: the
    # log's own last entry says how far it got.
    register_proxy_output(fp, [ALLOWED, DENIED])
    register_proxy_output(fp, [ALLOWED, DENIED, PLAIN])
    netlog.collect(NAME)
    netlog.log_path(NAME).with_suffix(".cursor").unlink(missing_ok=True)

    assert netlog.collect(NAME) == 1
    assert [entry["host"] for entry in logged()] == ["api.anthropic.com", "evil.example", "deb.example"]


def test_collect_waits_for_a_line_squid_is_still_writing(fp):
    fp.register(["docker", "inspect", "--format", "{{.Id}}", PROXY], stdout="p" * 64 + "\n", occurrences=2)
    fp.register(["docker", "logs", PROXY], stdout=ALLOWED + "\n" + DENIED[:30])  # no newline yet
    fp.register(["docker", "logs", PROXY], stdout=ALLOWED + "\n" + DENIED + "\n")

    assert netlog.collect(NAME) == 1
    assert netlog.collect(NAME) == 1
    assert [entry["host"] for entry in logged()] == ["api.anthropic.com", "evil.example"]


def test_collect_continues_a_log_written_before_entries_said_where_they_came_from(fp):
    write_log(ALLOWED)  # the old format: no proxy, no line
    netlog.log_path(NAME).with_suffix(".cursor").write_text("p" * 64 + " 1")
    register_proxy_output(fp, [ALLOWED, DENIED])

    assert netlog.collect(NAME) == 1
    assert [entry["host"] for entry in logged()] == ["api.anthropic.com", "evil.example"]


def test_read_new_reads_on_from_an_offset_and_leaves_a_half_written_line(state_dir):
    write_log(ALLOWED)
    first, offset = netlog.read_new(NAME)
    with open(netlog.log_path(NAME), "a") as log:
        log.write('{"session": "x", "host": "half')

    again, same = netlog.read_new(NAME, offset)

    assert [entry["host"] for entry in first] == ["api.anthropic.com"]
    assert (again, same) == ([], offset)


def test_logs_network_follow_shows_what_the_collector_appends_once(fp, capsys, monkeypatch):
    # The session's own collector (another process) wins every race: this command still shows each entry once.
    no_sessions(fp)
    write_log(ALLOWED)
    fp.register(["docker", "inspect", "--format", "{{.Id}}", PROXY], returncode=1, stderr="No such object\n",
                occurrences=10)
    looks = iter([lambda: write_log(DENIED), lambda: None, lambda: write_log(PLAIN), lambda: None])

    def sleep(seconds):
        step = next(looks, None)
        if step is None:
            raise KeyboardInterrupt
        step()

    monkeypatch.setattr("time.sleep", sleep)

    assert cli.main(["logs", NAME, "--network", "--follow", "--json"], prog="coding-agents") == 0

    hosts = [json.loads(line)["host"] for line in capsys.readouterr().out.splitlines()]
    assert hosts == ["api.anthropic.com", "evil.example", "deb.example"]


# --- an interactive agent's screen ------------------------------------------------------------------


def test_logs_of_a_running_interactive_agent_shows_its_screen(fp, capsys):
    fp.register([*SESSION_LABEL, NAME], stdout=NAME + "\n")
    fp.register(screen_argv(NAME), stdout="$ make test\nall 12 tests passed\n$ \n\n\n\n")
    fp.register(["docker", "logs", NAME], stdout="")

    assert cli.main(["logs", NAME], prog="coding-agents") == 0

    assert capsys.readouterr().out == "$ make test\nall 12 tests passed\n$\n"  # the empty rows below: gone
    assert fp.call_count(["docker", "logs", "--follow", NAME]) == 0


def test_logs_follow_of_an_interactive_agent_shows_each_new_screen_until_it_exits(fp, capsys, monkeypatch):
    fp.register([*SESSION_LABEL, NAME], stdout=NAME + "\n")
    fp.register(screen_argv(NAME), stdout="working\n")
    fp.register(screen_argv(NAME), stdout="working\n")  # unchanged: not printed again
    fp.register(screen_argv(NAME), stdout="done\n")
    no_screen(fp, NAME)  # the agent has ended
    fp.register(["docker", "logs", NAME], stdout="")
    fp.register(["docker", "inspect", "--format", "{{.State.Status}}", NAME], stdout="exited\n")
    fp.register(["docker", "logs", "--tail", "5", NAME], stdout="done\n[ca-stub: the agent exited with status 0]\n")
    monkeypatch.setattr("time.sleep", lambda seconds: None)

    assert cli.main(["logs", NAME, "-f"], prog="coding-agents") == 0

    out = capsys.readouterr().out.splitlines()
    assert out[0] == "working"
    assert out[1].startswith(f"--- {NAME} at ")
    assert out[2:] == ["done", "[ca-stub: the agent exited with status 0]"]
