"""model.utc_time: the one parser of our labels' times."""

from __future__ import annotations

import pytest

from agents.session import model


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-11-27T03:12:28Z", 1795749148.0), ("2026-11-27T03:12:28", 1795749148.0),
    ("2026-11-27", None), ("2026-11-27T03:12:28.5Z", None), ("2026-13-27T03:12:28Z", None), ("", None), (None, None),
])
def test_utc_time_takes_our_labels_times_only(text, expected):
    found = model.utc_time(text)
    assert (found.timestamp() if found else None) == expected
