"""agents/errors.py, and the rule the CLI keeps: every error comes with a hint."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from agents.errors import EXIT_ERROR, EXIT_USAGE, AgentsError, UsageError

AGENTS_DIR = Path(__file__).resolve().parents[2] / "agents"


def error_calls_without_a_hint() -> list[str]:
    """AgentsError(...) / UsageError(...) built in agents/ with no hint (keyword or second argument)."""
    found = []
    for path in sorted(AGENTS_DIR.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if name in ("AgentsError", "UsageError") and len(node.args) < 2 \
                    and "hint" not in {keyword.arg for keyword in node.keywords}:
                found.append(f"{path.relative_to(AGENTS_DIR.parent)}:{node.lineno}")
    return found


def test_errors_every_raise_in_agents_has_a_hint():
    assert error_calls_without_a_hint() == []


def test_usage_error_exits_2_and_is_an_agents_error():
    error = UsageError("--cpu 'abc' is not a number of cores", hint="e.g. --cpu 2")

    assert isinstance(error, AgentsError)
    assert (error.exit_code, error.message, error.hint) == (EXIT_USAGE, "--cpu 'abc' is not a number of cores",
                                                           "e.g. --cpu 2")


def test_agents_error_exits_1_by_default():
    assert AgentsError("engine down").exit_code == EXIT_ERROR


@pytest.mark.parametrize("argv", [["frobnicate"], ["run-agent"], ["run-agent", "claude", "--cpu", "x"]],
                         ids=["unknown-command", "missing-argument", "bad-type"])
def test_usage_errors_from_argparse_exit_2_through_main(capsys, argv):
    from agents import cli

    assert cli.main(argv, prog="coding-agents") == EXIT_USAGE

    lines = capsys.readouterr().err.splitlines()
    assert [line for line in lines if line.startswith("error: ")] and lines[-1].startswith("hint: ")
