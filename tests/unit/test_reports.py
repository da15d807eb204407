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
