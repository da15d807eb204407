"""agents/commands/list_agents.py: `list-agents --json` is shaped for programs (and the shell completion)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agents import cli, images, paths, records
from agents.commands import list_agents
from agents.session import model, naming
from tests.unit.probes import fresh_python
from tests.unit.ps_lines import ps_argv, ps_line, volume_ls_argv

NAME = "claude-api-session-1"


def session(tmp_path: Path, **changes) -> model.SessionInfo:
    info = model.SessionInfo(
        name=NAME, agent="claude", repo=tmp_path / "api", branch="claude/session-1", base="a" * 40,
        network="restricted", mode="launch", image=images.image_ref("claude"), no_push=False,
        created="2026-01-02T03:04:05Z", state="running", container_id="c" * 64,
    )
    return records.replace(info, **changes)


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
    fp.register(ps_argv(), stdout="")

    assert cli.main(["list-agents", "--json"], prog="coding-agents") == 0

    assert json.loads(capsys.readouterr().out) == []


REPORT = {"tip": "b" * 40, "ahead": 0, "dirty": False}


def engine_time(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def inspected(name: str, status: str = "running", report: dict | None = None, checked: float | None = None,
              started: float | None = None, finished: str = "0001-01-01T00:00:00Z", **labels: str) -> dict:
    """A container as CONTAINER_FORMAT prints it; report: its newest health output, `checked` seconds
    since the epoch (the engine's time of that check; default: a second ago)."""
    now = time.time()
    started = now - 3600 if started is None else started
    state = {"Status": status, "StartedAt": engine_time(started), "FinishedAt": finished}
    if report is not None:
        state["Health"] = {"Log": [{"Start": engine_time(now - 1 if checked is None else checked),
                                    "Output": json.dumps(report)}]}
    return {"Id": name + "-id", "State": state,
            "Config": {"Labels": {"coding-agents.session": name, "coding-agents.agent": "shell",
                                  "coding-agents.repo": "/nonexistent/repo", "coding-agents.branch": f"shell/{name}",
                                  "coding-agents.base": "b" * 40, "coding-agents.network": "restricted",
                                  "coding-agents.created": "2026-01-02T03:04:05Z", **labels},
                       "Healthcheck": {"Test": ["CMD-SHELL", "ca-stub health"], "Interval": 5_000_000_000}}}


def inspect_argv(items: list[dict]) -> list[str]:
    from agents.session.query import CONTAINER_FORMAT

    return ["docker", "inspect", "--format", CONTAINER_FORMAT, *[item["Id"] for item in items]]


def register_listing(fp, items: list[dict], status: dict[str, str] | None = None) -> None:
    fp.register(ps_argv(), stdout="".join(
        ps_line(item["Id"], item["State"]["Status"], item["Config"]["Labels"], (status or {}).get(item["Id"]))
        for item in items))


def health_argv(name: str) -> list[str]:
    return ["docker", "exec", "--user", "1000", name, "env", f"CODING_AGENTS_BRANCH=shell/{name}",
            f"CODING_AGENTS_BASE={'b' * 40}", "ca-stub", "health"]


def listed(capsys, *flags: str) -> dict[str, dict]:
    assert cli.main(["list-agents", "--json", *flags], prog="coding-agents") == 0
    return {row["name"]: row for row in json.loads(capsys.readouterr().out)}


def test_list_agents_cold_is_one_ps_and_one_slim_inspect_whatever_the_number_of_sessions(fp, capsys):
    """Without the host's copy: the labels and states come from one `docker ps`, the health reports
    from one `docker inspect --format` of all; a session without a report yet (just started) is
    asked once, by exec, without a second look at its state."""
    names = [f"s{index}" for index in range(20)]
    items = [inspected(name, report=REPORT) for name in names]
    items.append(inspected("fresh"))  # no health report yet
    register_listing(fp, items)
    fp.register(inspect_argv(items), stdout="".join(json.dumps(item) + "\n" for item in items))
    fp.register(health_argv("fresh"), stdout=json.dumps({"tip": "c" * 40, "ahead": 2, "dirty": True}))

    rows = listed(capsys)

    assert len(rows) == 21 and rows["s3"]["unsynced"] == 0 and rows["fresh"]["unsynced"] == 2
    assert rows["fresh"]["dirty"] is True
    assert [list(call)[:2] for call in fp.calls] == [["docker", "ps"], ["docker", "inspect"], ["docker", "exec"]]


def test_list_agents_warm_is_exactly_one_engine_call(fp, capsys):
    """With every running session's copy current (its report at most one health interval old), the
    `docker ps` is the only engine call; the rows are the same as the cold run's."""
    items = [inspected(f"s{index}", report=REPORT) for index in range(20)]
    register_listing(fp, items)
    fp.register(inspect_argv(items), stdout="".join(json.dumps(item) + "\n" for item in items))
    cold = listed(capsys)
    before = len(fp.calls)
    register_listing(fp, items)

    warm = listed(capsys)

    assert [list(call)[:2] for call in list(fp.calls)[before:]] == [["docker", "ps"]]
    assert warm == cold


def push(item: dict, report: dict, ago: float = 1.0) -> None:
    """What the session's relay link keeps of a report its stub pushed, `ago` seconds ago."""
    from agents.session import reports

    name = item["Config"]["Labels"]["coding-agents.session"]
    assert reports.receive(name, item["Id"], json.dumps(report).encode(), now=time.time() - ago) is None


def test_list_agents_warm_with_every_report_pushed_is_exactly_one_engine_call(fp, capsys, state_home):
    """The stubs pushed their reports through the relay: no copy needed, cold or warm, the `docker
    ps` is the only engine call, and the rows show the pushed facts."""
    items = [inspected(f"s{index}", report=REPORT) for index in range(20)]
    for item in items:
        push(item, {**REPORT, "ahead": 3, "dirty": True})
    register_listing(fp, items)

    cold = listed(capsys)
    register_listing(fp, items)
    warm = listed(capsys)

    assert [list(call)[:2] for call in fp.calls] == [["docker", "ps"], ["docker", "ps"]]
    assert warm == cold and cold["s7"]["dirty"] is True and cold["s7"]["unsynced"] == 3


def test_list_agents_does_not_use_a_push_from_before_a_restart_or_of_another_container(fp, capsys, state_home):
    """ps says "Up 1 second" (the push came 3 s ago: an earlier run); another container of the
    same name (made again); a relay that died (the last push is older than the interval and the
    slack): each is asked of the engine, in the one inspect, beside a session whose push holds."""
    from agents.session import reports

    restarted, remade, dead, fine = (inspected(name, report={**REPORT, "ahead": 1})
                                     for name in ("restarted", "remade", "dead", "fine"))
    push(restarted, REPORT, ago=3.0)
    push(dead, REPORT, ago=5.0 + reports.PUSH_SLACK + 1.0)
    push(fine, {**REPORT, "ahead": 2})
    push(remade, REPORT)
    remade = {**remade, "Id": "another-id"}
    register_listing(fp, [restarted, remade, dead, fine], status={restarted["Id"]: "Up 1 second (healthy)"})
    asked = [restarted, remade, dead]
    fp.register(inspect_argv(asked), stdout="".join(json.dumps(item) + "\n" for item in asked))

    rows = listed(capsys)

    assert {name: row["unsynced"] for name, row in rows.items()} == {"restarted": 1, "remade": 1, "dead": 1, "fine": 2}
    assert [list(call)[:2] for call in fp.calls] == [["docker", "ps"], ["docker", "inspect"]]


def test_a_push_is_expected_at_the_cadence_its_container_keeps(state_home):
    """On a busy engine the checks run late (the next starts one interval after the last ended):
    a push is current for the gap seen between its container's last two, at least one interval,
    at most MAX_CADENCE_INTERVALS; a gap to another container's push does not count."""
    from agents.session import naming, reports

    now = time.time()
    interval = naming.HEALTH_INTERVAL
    late = interval + 3.5  # as 50 sessions on two cores push
    assert reports.receive("busy", "c1", json.dumps(REPORT).encode(), now=now - 2 * late) is None
    assert reports.receive("busy", "c1", json.dumps(REPORT).encode(), now=now - late) is None
    entry = reports.load_pushed("busy")
    assert reports.expected_gap(entry) == late
    assert reports.pushed_report(entry, "c1", None, now=now) is not None
    assert reports.pushed_report(entry, "c1", None, now=now + reports.PUSH_SLACK + 0.5) is None

    assert reports.expected_gap({"gap": 1.0}) == interval  # never under one interval
    capped = reports.MAX_CADENCE_INTERVALS * interval
    assert reports.expected_gap({"gap": 10 * capped}) == capped
    assert reports.pushed_report({"container": "c1", "arrived": now - capped - reports.PUSH_SLACK - 1,
                                  "gap": 10 * capped, "report": REPORT}, "c1", None, now=now) is None

    assert reports.receive("busy", "c2", json.dumps(REPORT).encode(), now=now) is None  # made again
    assert "gap" not in reports.load_pushed("busy")


def test_list_agents_asks_again_for_reports_older_than_one_interval(fp, capsys):
    """The copy never hides a report the engine has had for longer than one interval: only the
    stale sessions are inspected, in one call."""
    old, new = inspected("old", report=REPORT, checked=time.time() - 4.5), inspected("new", report=REPORT)
    register_listing(fp, [old, new])
    fp.register(inspect_argv([old, new]), stdout=json.dumps(old) + "\n" + json.dumps(new) + "\n")
    listed(capsys)
    time.sleep(0.6)  # "old"'s report is now more than 5 s old; "new"'s is not
    committed = inspected("old", report={**REPORT, "tip": "c" * 40, "ahead": 1}, checked=time.time())
    register_listing(fp, [old, new])
    fp.register(inspect_argv([old]), stdout=json.dumps(committed) + "\n")

    rows = listed(capsys)

    assert rows["old"]["unsynced"] == 1 and rows["new"]["unsynced"] == 0


def test_list_agents_asks_again_after_a_restart(fp, capsys):
    """`docker ps` says a container is up for fewer seconds than ago we asked: the copy is of an
    earlier run."""
    item = inspected("s", report=REPORT)
    register_listing(fp, [item])
    fp.register(inspect_argv([item]), stdout=json.dumps(item) + "\n")
    listed(capsys)
    reports_file = paths.reports_file()
    cache = json.loads(reports_file.read_text())
    for entry in cache["entries"].values():
        entry["seen"] -= 3  # we asked 3 s ago...
    reports_file.write_text(json.dumps(cache))
    register_listing(fp, [item], status={item["Id"]: "Up 1 second (health: starting)"})  # ...it started since
    fp.register(inspect_argv([item]), stdout=json.dumps(inspected("s")) + "\n")
    fp.register(health_argv("s"), stdout=json.dumps({**REPORT, "dirty": True}))

    assert listed(capsys)["s"]["dirty"] is True


def stopped(name: str, finished: str) -> dict:
    return inspected(name, status="exited", report=REPORT, finished=finished)


def helper_argv(fp, name: str) -> list:
    """A throwaway container on the session's workspace (it is stopped)."""
    return ["docker", "run", "--rm", "-i", fp.any(), "--volume", f"{name}-workspace:/workspace", fp.any()]


def test_list_agents_all_keeps_a_stopped_sessions_report_for_the_same_stop(fp, capsys):
    """A stopped session's report comes from a throwaway container once; then, while its
    FinishedAt is the same (asked beside the others in the one inspect), from the copy."""
    item = stopped("s", "2026-01-02T04:00:00.5Z")
    register_listing(fp, [item])
    fp.register(volume_ls_argv(), stdout="",
                occurrences=3)
    fp.register(inspect_argv([item]), stdout=json.dumps(item) + "\n", occurrences=2)
    fp.register(helper_argv(fp, "s"), stdout=json.dumps({**REPORT, "ahead": 0, "dirty": True}) + "\n")
    assert listed(capsys, "--all")["s"]["dirty"] is True
    register_listing(fp, [item])

    assert listed(capsys, "--all")["s"]["dirty"] is True
    assert fp.call_count(helper_argv(fp, "s")) == 1

    again = stopped("s", "2026-01-02T05:00:00.5Z")  # it ran again, and stopped again
    register_listing(fp, [again])
    fp.register(inspect_argv([again]), stdout=json.dumps(again) + "\n")
    fp.register(helper_argv(fp, "s"), stdout=json.dumps({**REPORT, "dirty": False}) + "\n")
    assert listed(capsys, "--all")["s"]["dirty"] is False


def test_an_autocommit_drops_the_copy_of_that_session(fp, capsys):
    from agents import workspace

    item = stopped("s", "2026-01-02T04:00:00.5Z")
    register_listing(fp, [item])
    fp.register(volume_ls_argv(), stdout="",
                occurrences=2)
    fp.register(inspect_argv([item]), stdout=json.dumps(item) + "\n", occurrences=2)
    fp.register(helper_argv(fp, "s"), stdout=json.dumps({**REPORT, "dirty": True}) + "\n")
    assert listed(capsys, "--all")["s"]["dirty"] is True
    fp.register(["docker", "inspect", "--format", "{{.State.Status}}", "s"], stdout="exited\n")
    fp.register(helper_argv(fp, "s"), stdout="committed\n")

    assert workspace.autocommit(model.session_from_inspect(item)) is True

    register_listing(fp, [item])

    fp.register(helper_argv(fp, "s"), stdout=json.dumps({**REPORT, "ahead": 1, "tip": "c" * 40}) + "\n")
    assert listed(capsys, "--all")["s"]["unsynced"] == 1


def test_list_agents_with_a_corrupt_copy_asks_the_engine(fp, capsys):
    paths.reports_file().parent.mkdir(parents=True)
    paths.reports_file().write_text('{"version": 1, "entries": {"container:s-id": [1, 2]}, "touched": "x"')
    item = inspected("s", report=REPORT)
    register_listing(fp, [item])
    fp.register(inspect_argv([item]), stdout=json.dumps(item) + "\n")

    assert listed(capsys)["s"]["unsynced"] == 0
    assert json.loads(paths.reports_file().read_text())["entries"]  # written again, whole


def test_parse_ps_reads_labels_by_name_so_commas_cannot_split_them():
    from agents.session import query

    allow = "a.example,b.example c.example"
    (item,) = query._parse_ps(ps_line("c" * 64, "running", {"coding-agents.session": "s", "coding-agents.allow": allow,
                                                              "coding-agents.role": "agent"}))

    assert item["Config"]["Labels"] == {"coding-agents.session": "s", "coding-agents.allow": allow,
                                        "coding-agents.role": "agent"}  # labels without a value are left out
    info = model.session_from_inspect(item)  # the one parser, as for inspect data
    assert (info.name, info.state, info.container_id, info.labels[naming.ALLOW]) == ("s", "running", "c" * 64, allow)


def test_every_label_of_ours_is_asked_of_ps():
    values = {value for key, value in vars(naming).items() if key.isupper() and isinstance(value, str)
              and value.startswith(naming.LABEL + ".")}

    assert set(naming.LABELS) == values and len(naming.LABELS) == len(values)


@pytest.mark.parametrize(("status", "seconds"), [
    ("Up Less than a second", 0.0), ("Up 1 second (health: starting)", 1.0), ("Up 59 seconds (healthy)", 59.0),
    ("Up About a minute", None), ("Up 2 hours (unhealthy)", None), ("Exited (0) 3 seconds ago", None)])
def test_uptime_only_when_ps_says_it_to_the_second(status, seconds):
    from agents.session import query

    assert query._uptime(status) == seconds


@pytest.mark.parametrize(("docker_host", "first_line"), [
    ("ssh://build-box", "engine: ssh://build-box (remote, DOCKER_HOST)"),
    (None, "no agent sessions running (--all shows stopped ones)"),  # this machine's socket: nothing to say
])
def test_list_agents_names_an_engine_that_is_not_the_local_default(monkeypatch, capsys, docker_host, first_line):
    from agents.session import query

    if docker_host:
        monkeypatch.setenv("DOCKER_HOST", docker_host)
    monkeypatch.setattr(query, "listed_with_reports", lambda include_stopped=False: [], raising=False)

    assert cli.main(["list-agents"], prog="coding-agents") == 0
    assert capsys.readouterr().out.splitlines()[0] == first_line


def test_list_agents_starts_its_engine_queries_before_the_listing_code_is_imported():
    """The ps (and for --all the volume ls) runs while query, model and the rest are imported
    (pathlib among them; shutil, which a which() once pulled in, not at all)."""
    probe = ("import contextlib, sys\n"
             "from agents import runner\n"
             "runner.set_engine('docker')\n"
             "@contextlib.contextmanager\n"
             "def fake(*argvs):\n"
             "    loaded = [m for m in ('agents.session.query', 'agents.session.model', 'agents.state_size', 'pathlib',\n"
             "                          'shutil') if m in sys.modules]\n"
             "    print([argv[1:3] for argv in argvs], loaded)\n"
             "    raise SystemExit(0)\n"
             "    yield\n"
             "runner.started_early = fake\n"
             "from agents import cli\n"
             "cli.main(sys.argv[1:], prog='coding-agents')\n")
    shown = [fresh_python(probe, *argv) for argv in (["list-agents"], ["list-agents", "--all"])]
    assert shown == ["[['ps', '--all']] []", "[['ps', '--all'], ['volume', 'ls']] []"]
