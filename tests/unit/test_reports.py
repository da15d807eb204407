"""agents/session/reports.py: the host's copy of the sessions' health reports (list-agents only)."""

from __future__ import annotations

import json
import multiprocessing

from agents import paths
from agents.session import reports

REPORT = {"tip": "a" * 40, "ahead": 1, "dirty": False}


def test_a_running_report_holds_for_one_interval_by_the_engines_time():
    reports.save({reports.container_key("c"): reports.running_entry("s", REPORT, at=100.0, interval=5.0, now=101.0)})
    cache = reports.load()

    assert reports.running_report(cache, "c", None, now=104.9) == REPORT
    assert reports.running_report(cache, "c", None, now=105.1) is None  # the engine may have a newer one
    assert reports.running_report(cache, "c", 1.0, now=104.0) is None  # up 1 s: started again after we asked
    assert reports.running_report(cache, "c", 30.0, now=104.0) == REPORT
    assert reports.running_report(cache, "other", None, now=101.0) is None


def test_a_running_report_never_outlives_one_interval_since_we_asked():
    """A remote engine's clock ahead of ours makes reports look young: asking bounds it."""
    reports.save({reports.container_key("c"): reports.running_entry("s", REPORT, at=200.0, interval=5.0, now=100.0)})

    assert reports.running_report(reports.load(), "c", None, now=106.0) is None


def test_a_kept_report_holds_for_the_same_mark_only():
    mark = ["2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z"]
    reports.save({reports.container_key("c"): reports.kept_entry("s", REPORT, mark, asked=100.0)})
    cache = reports.load()

    assert reports.kept_report(cache, reports.container_key("c"), mark) == REPORT
    assert reports.kept_report(cache, reports.container_key("c"), [mark[0], "2026-01-01T02:00:00Z"]) is None
    assert reports.running_report(cache, "c", None) is None  # not a running container's


def test_touch_drops_the_sessions_reports_and_any_asked_before_it():
    import time

    asked = time.time()
    reports.save({reports.volume_key("s-workspace"): reports.kept_entry("s", REPORT, ["x"], asked)})
    reports.touch("s")
    assert reports.load()["entries"] == {}
    # A list-agents that asked the workspace before the touch, and writes after it: left out.
    reports.save({reports.volume_key("s-workspace"): reports.kept_entry("s", REPORT, ["x"], asked)})
    assert reports.load()["entries"] == {}
    later = time.time() + 1
    reports.save({reports.volume_key("s-workspace"): reports.kept_entry("s", REPORT, ["x"], later)})
    assert reports.kept_report(reports.load(), reports.volume_key("s-workspace"), ["x"]) == REPORT


def test_keep_drops_entries_of_containers_that_are_gone():
    reports.save({reports.container_key(name): reports.kept_entry(name, REPORT, [], 1.0) for name in "ab"})
    reports.save({}, keep={reports.container_key("a")})

    assert list(reports.load()["entries"]) == [reports.container_key("a")]


def test_unreadable_or_odd_files_are_an_empty_copy():
    paths.reports_file().parent.mkdir(parents=True)
    for text in ("", "{", "[]", '{"version": 99}', json.dumps({"version": 1, "entries": [], "touched": {"s": "x"}}),
                 json.dumps({"version": 1, "entries": {"container:c": {"session": ["not", "a", "name"]}}})):
        paths.reports_file().write_text(text)
        assert reports.load() == {"entries": {}, "touched": {}}
        assert reports.running_report(reports.load(), "c", None) is None
    reports.save({reports.container_key("c"): reports.kept_entry("s", REPORT, [], 1.0)})  # written again, whole
    assert reports.kept_report(reports.load(), reports.container_key("c"), []) == REPORT


def _write_many(worker: int) -> None:
    for index in range(20):
        reports.save({reports.container_key(f"{worker}-{index}"): reports.kept_entry("s", REPORT, [], 1.0)})


def test_concurrent_writers_lose_no_entry():
    """Each save is a read-merge-replace under the lock: processes writing at once add up."""
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_write_many, args=(worker,)) for worker in range(4)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(30)
        assert process.exitcode == 0

    assert len(reports.load()["entries"]) == 80


# --- reports pushed through the relay (receive, pushed_report) -------------------------------------

PUSHED = {"tip": "b" * 40, "ahead": 2, "dirty": True, "elsewhere": [{"ref": "topic", "commits": 1}],
          "screen": "100 0 101"}


def pushed(data: object) -> bytes:
    return json.dumps(data).encode()


def test_receive_keeps_the_report_as_the_links_session_with_its_container_and_arrival(state_home):
    """The payload cannot choose whose entry it is: a "session" or "container" in it is refused."""
    assert reports.receive("s", "c" * 64, pushed(PUSHED), now=100.0) is None

    assert reports.load_pushed("s") == {"container": "c" * 64, "arrived": 100.0, "report": PUSHED}
    assert reports.receive("s", "c" * 64, pushed({**PUSHED, "session": "other", "container": "d" * 64})) == \
        "not a health report"
    assert reports.load_pushed("s")["report"] == PUSHED  # the kept one is left as it was
    assert reports.load_pushed("other") is None


def test_receive_writes_atomically_a_private_file(state_home):
    import stat

    reports.receive("s", "c", pushed(PUSHED))
    reports.receive("s", "c", pushed({**PUSHED, "ahead": 3}))

    folder = paths.pushed_reports_dir()
    assert [path.name for path in folder.iterdir()] == ["s.json"]  # no temporary file left beside it
    assert stat.S_IMODE((folder / "s.json").stat().st_mode) == 0o600
    assert reports.load_pushed("s")["report"]["ahead"] == 3


def test_receive_refuses_what_is_not_a_health_report_of_its_size(state_home):
    big = pushed({**PUSHED, "screen": "x" * reports.MAX_PUSHED})
    assert reports.receive("s", "c", big) == f"a report over {reports.MAX_PUSHED} bytes"
    for bad in (b"not json", b"\xff\xfe", pushed([PUSHED]), pushed({**PUSHED, "extra": 1}),
                pushed({**PUSHED, "elsewhere": [{"ref": "x", "commits": "1"}]}), pushed({**PUSHED, "screen": 3}),
                pushed({**PUSHED, "filling": False})):
        assert reports.receive("s", "c", bad) == "not a health report", bad
    assert reports.receive("s", "", pushed(PUSHED)) == "the link's container id is unknown"
    assert reports.load_pushed("s") is None


def test_receive_checks_the_facts_like_the_engines_report(state_home):
    reports.receive("s", "c", pushed({**PUSHED, "tip": "main", "ahead": -1, "dirty": "yes"}))

    assert reports.load_pushed("s")["report"] == {**PUSHED, "tip": None, "ahead": None, "dirty": None}


def entry(arrived: float = 100.0, container: str = "c") -> dict:
    return {"container": container, "arrived": arrived, "report": PUSHED}


def test_a_pushed_report_holds_for_one_interval_and_the_slack_by_this_clock():
    limit = 100.0 + 5.0 + reports.PUSH_SLACK

    assert reports.pushed_report(entry(), "c", None, now=101.0) == PUSHED
    assert reports.pushed_report(entry(), "c", None, now=limit) == PUSHED
    assert reports.pushed_report(entry(), "c", None, now=limit + 0.01) is None  # the relay is dead, or slow
    assert reports.pushed_report(entry(), "c", None, now=99.0) is None  # from the future: not ours to trust
    assert reports.pushed_report(None, "c", None, now=101.0) is None


def test_a_pushed_report_is_of_the_container_ps_shows_only():
    assert reports.pushed_report(entry(container="old"), "new", None, now=101.0) is None
    assert reports.pushed_report(entry(container=""), "", None, now=101.0) is None


def test_a_pushed_report_from_before_the_containers_current_start_is_not_used():
    """ps's "Up N seconds" is truncated: the start was at now - N or earlier."""
    assert reports.pushed_report(entry(arrived=100.0), "c", 3.0, now=103.5) is None  # restarted after the push
    assert reports.pushed_report(entry(arrived=100.0), "c", 3.0, now=103.0) == PUSHED  # the boundary
    assert reports.pushed_report(entry(arrived=100.0), "c", 4.0, now=103.5) == PUSHED


def test_a_pushed_report_from_before_a_touch_of_ours_is_not_used():
    assert reports.pushed_report(entry(arrived=100.0), "c", None, touched=100.0, now=101.0) is None
    assert reports.pushed_report(entry(arrived=100.0), "c", None, touched=99.0, now=101.0) == PUSHED


def test_a_pushed_report_changed_on_disk_is_checked_again():
    assert reports.pushed_report({**entry(), "report": {**PUSHED, "evil": 1}}, "c", None, now=101.0) is None
    assert reports.pushed_report({**entry(), "arrived": "100"}, "c", None, now=101.0) is None
