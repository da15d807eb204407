"""agents/session/listing.py: the engine's listing of sessions, and how a repository filters it."""

from __future__ import annotations

import csv
from pathlib import Path

from agents import runner
from agents.session import listing

ODD = Path('/home/me/a,b "c"')


def test_a_repository_filter_is_passed_as_is_to_docker():
    assert listing.filters(ODD) == ["--filter", "label=coding-agents.session",
                                    "--filter", 'label=coding-agents.repo=/home/me/a,b "c"']


def test_podman_gets_a_repository_filter_as_one_csv_field(monkeypatch):
    # Podman reads each --filter value as a CSV record: unquoted, the comma would make two filters.
    monkeypatch.setattr(runner, "_engine_kinds", {"docker": "podman"})

    value = listing.filters(ODD)[-1]

    assert next(csv.reader([value])) == ['label=coding-agents.repo=/home/me/a,b "c"']
    assert listing.filters(Path("/home/me/api"))[-1] == "label=coding-agents.repo=/home/me/api"  # as it was


def test_csv_field_quotes_only_what_needs_it():
    assert runner.csv_field("type=volume") == "type=volume"
    for text in ("a,b", 'say "hi"', 'both, "of them"'):
        assert next(csv.reader([runner.csv_field(text)])) == [text]
