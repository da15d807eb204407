"""agents/session/activity.py: list-agents' ACTIVITY and the watcher's events, decided from the
agent's own screen (pure)."""

from __future__ import annotations

import pytest

from agents.session import activity


@pytest.mark.parametrize(("state", "interactive", "pane", "expected"), [
    ("running", True, "100 0 102", activity.WORKING),
    ("running", True, "100 0 105", activity.WAITING),
    ("running", True, "100 1 101", activity.EXITED),
    ("running", True, None, None),  # tmux did not answer
    ("running", True, "garbage", None),
    ("running", False, "100 0 101", None),  # a --prompt task has no screen
    ("exited", True, None, activity.EXITED),
    ("orphaned", True, None, activity.EXITED),
    ("stopped", True, None, activity.EXITED),  # Podman's, between a kill and its cleanup
    ("paused", True, None, None),
])
def test_activity_from_the_agents_own_screen(state, interactive, pane, expected):
    assert activity.activity(state, interactive, pane) == expected


def test_notify_events_only_on_the_way_to_waiting_or_out():
    assert activity.notify_events(activity.WORKING, activity.WAITING) == "waiting"
    assert activity.notify_events(activity.WAITING, activity.EXITED) == "exited"
    assert activity.notify_events(activity.WORKING, activity.EXITED) == "exited"
    assert activity.notify_events(activity.WAITING, activity.WAITING) is None
    assert activity.notify_events(None, activity.WAITING) is None  # first look: no change seen
    assert activity.notify_events(activity.WAITING, activity.WORKING) is None


def test_the_watcher_arms_at_the_first_wait_then_tells_each_wait_and_the_exit():
    looks = [None, activity.WORKING, activity.WAITING, activity.WORKING, None, activity.WAITING, activity.WAITING, activity.EXITED]
    armed, before, told = False, None, []
    for now in looks:
        armed, before, event = activity.watch_step(armed, before, now)
        told.append(event)
    assert told == [None, None, None, None, None, "waiting", None, "exited"]


def test_notify_argv_fills_in_the_session_and_event():
    assert activity.notify_argv(("notify-send", "{session} is {event}"), "s1", "waiting") == [
        "notify-send", "s1 is waiting"]


def test_activity_comes_from_the_health_report_with_no_engine_call():
    from agents.session import model

    inspect = {"Config": {"Labels": {"coding-agents.session": "s", "coding-agents.interactive": "true"}},
               "State": {"Status": "running", "StartedAt": "2026-12-01T10:00:00Z",
                         "Health": {"Log": [{"Start": "2026-12-01T10:00:05Z",
                                             "Output": '{"tip": null, "screen": "100 0 109"}'}]}}}
    info = model.session_from_inspect(inspect)
    assert info.screen == "100 0 109"
    assert activity.activities([info]) == {"s": activity.WAITING}
    assert model.screen_of({"screen": 5}) is None
