"""agents/completion.py, `_complete`, and the bash and zsh scripts in shell/completion/."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from agents import catalog, cli, completion

REPO_ROOT = Path(__file__).resolve().parents[2]
BASH_SCRIPT = REPO_ROOT / "shell" / "completion" / "coding-agents.bash"
ZSH_SCRIPT = REPO_ROOT / "shell" / "completion" / "_coding-agents"
SESSIONS = ["claude-api-session-1", "codex-web-fix"]
# The source scripts name these; build_zipapp.write_shims adds every shim name (tests/unit/test_shims.py).
SOURCE_PROGRAMS = ["coding-agents", "coding-agents.pyz"]


def complete(*words: str, secrets=list) -> list[str]:
    return completion.candidates(cli.build_parser(), list(words), lambda: SESSIONS, lambda: ["claude", "mine"],
                                 secrets)


# --- what comes next -----------------------------------------------------------------------


def test_public_commands_leave_out_internal_ones():
    names = completion.public_commands(cli.build_parser())

    assert "run-agent" in names and "verify-prerequisites" in names
    assert not [name for name in names if name.startswith("_")]


def test_candidates_first_word_is_every_public_command():
    assert complete("coding-agents", "") == completion.public_commands(cli.build_parser())
    assert complete("coding-agents", "re") == ["remove-agent"]


@pytest.mark.parametrize(("words", "expected"), [
    (["coding-agents", "run-agent", ""], ["claude", "mine"]),
    (["coding-agents", "launch-agent", "c"], ["claude"]),
    (["run-agent", ""], ["claude", "mine"]),
    (["coding-agents", "images", ""], ["build", "list", "bootstrap-base", "export", "import", "scan"]),
    (["coding-agents", "images", "build", "claude", "pr"], ["proxy"]),
    (["coding-agents", "policy", ""], ["suggest"]),
    (["coding-agents", "run-agent", "--network-proxy", ""], ["restricted", "squid", "allow-all"]),
    (["run-claude", "--autonomy", ""], ["full", "ask"]),
    (["coding-agents", "--debug", "run-agent", "--branch", "x", ""], ["claude", "mine"]),
    (["coding-agents", "run-agent", "claude", "--memory", ""], []),
    (["run-claude", "--network-proxy", "=", "sq"], ["squid"]),
    (["run-claude", "--network-proxy", "=", "squid", "--name", "=", ""], []),
], ids=["agents", "agent-prefix", "shim-agents", "images-verbs", "image-targets", "policy-verbs", "option-choices",
        "shim-option-choices", "after-an-option-value", "free-value", "bash-split-equals", "after-split-equals"])
def test_candidates_after_the_command(words, expected):
    assert complete(*words) == expected


def test_candidates_of_history_its_verbs_and_prunes_options():
    assert complete("coding-agents", "history", "") == ["export", "import", "list", "prune"]
    assert {"--older-than", "--branch", "--repo", "-y", "--yes"} <= set(complete("coding-agents", "history", "prune", "-"))
    assert complete("coding-agents", "history", "list", "--repo", "") == [completion.FILES]


@pytest.mark.parametrize("command", completion.SESSION_COMMANDS)
def test_candidates_session_names_for_every_session_command(command):
    words = ["coding-agents", command, "suggest", ""] if command == "policy" else ["coding-agents", command, ""]

    assert complete(*words) == SESSIONS


@pytest.mark.parametrize("shim", ["connect-agent", "remove-agent"])
def test_candidates_session_names_through_a_shim(shim):
    assert complete(shim, "claude") == ["claude-api-session-1"]


def test_candidates_options_of_the_command_being_typed():
    found = complete("run-claude", "--n")

    assert found == ["--name", "--no-push", "--network-proxy", "--no-host-logins", "--no-host-setup"]
    assert "--json" in complete("coding-agents", "list-agents", "--")
    assert "--json" in complete("coding-agents", "secrets", "list", "--")


@pytest.mark.parametrize("words", [["coding-agents", "run-agent", "claude", ""],
                                   ["coding-agents", "images", "build", "--ca-cert", ""],
                                   ["coding-agents", "images", "import", ""], ["coding-agents", "mcp", "list", ""]],
                         ids=["repo-path", "ca-cert", "archive", "mcp-path"])
def test_candidates_files_where_a_path_goes(words):
    assert complete(*words) == [completion.FILES]


def test_candidates_secret_names_for_secrets_rm():
    assert complete("coding-agents", "secrets", "rm", "", secrets=lambda: ["API_KEY", "GITHUB_TOKEN"]) == [
        "API_KEY", "GITHUB_TOKEN"]


def test_candidates_never_internal_commands():
    assert complete("coding-agents", "_") == []


# --- the lookups and the internal command ----------------------------------------------------

PS_AGENTS = ["docker", "ps", "--all", "--filter", "label=coding-agents.role=agent", "--format", "{{.Names}}"]
VOLUME_SESSIONS = ["docker", "volume", "ls", "--filter", "label=coding-agents.session", "--format",
                   '{{.Label "coding-agents.session"}}']


def test_session_names_are_containers_and_orphaned_volumes_once(fp):
    fp.register(PS_AGENTS, stdout="claude-api-session-1\n")
    fp.register(VOLUME_SESSIONS, stdout="claude-api-session-1\nclaude-api-session-1\norphan-1\n\n")

    assert completion.session_names() == ["claude-api-session-1", "orphan-1"]


def test_session_names_with_the_engine_down_are_none(fp):
    fp.register(PS_AGENTS, returncode=1, stderr="Cannot connect to the Docker daemon\n")
    fp.register(VOLUME_SESSIONS, returncode=1, stderr="Cannot connect to the Docker daemon\n")

    assert completion.session_names() == []


def test_agent_names_include_the_users_own(tmp_path, monkeypatch):
    config_path = tmp_path / "config.toml"
    config_path.write_text('[agents.mine]\nbase = "codex"\n')
    monkeypatch.setenv("CODING_AGENTS_CONFIG", str(config_path))

    assert completion.agent_names() == [*catalog.agent_names(), "mine"]


def test_agent_names_with_a_broken_config_are_the_built_in_ones(tmp_path, monkeypatch):
    config_path = tmp_path / "config.toml"
    config_path.write_text("[agents\n")
    monkeypatch.setenv("CODING_AGENTS_CONFIG", str(config_path))

    assert completion.agent_names() == catalog.agent_names()


def test_complete_command_prints_one_candidate_a_line(fp, capsys):
    fp.register(PS_AGENTS, stdout="claude-api-session-1\n")
    fp.register(VOLUME_SESSIONS, stdout="")

    assert cli.main(["_complete", "--", "connect-agent", ""], prog="coding-agents") == 0

    assert capsys.readouterr().out == "claude-api-session-1\n"


def test_complete_command_takes_an_empty_word_and_options_as_words(capsys):
    assert cli.main(["_complete", "--", "coding-agents", "list-agents", "--j"], prog="coding-agents") == 0

    assert capsys.readouterr().out == "--json\n"


# --- the scripts -----------------------------------------------------------------------------


def bash_command_list() -> list[str]:
    match = re.search(r'^_coding_agents_commands="([^"]*)"$', BASH_SCRIPT.read_text(), re.MULTILINE)
    assert match, "no _coding_agents_commands=... line"
    return match.group(1).split()


def zsh_command_list() -> list[str]:
    return re.findall(r"^\s+'([a-z-]+):", ZSH_SCRIPT.read_text(), re.MULTILINE)


def test_bash_script_lists_every_public_command():
    assert bash_command_list() == completion.public_commands(cli.build_parser())


def test_zsh_script_lists_every_public_command():
    assert zsh_command_list() == completion.public_commands(cli.build_parser())


def test_bash_script_registers_one_line_that_build_zipapp_completes():
    registered = [line for line in BASH_SCRIPT.read_text().splitlines() if line.startswith("complete ")]

    assert registered == ["complete -F _coding_agents " + " ".join(SOURCE_PROGRAMS)]


def test_zsh_script_registers_a_compdef_line_that_build_zipapp_completes():
    first = ZSH_SCRIPT.read_text().splitlines()[0]

    assert first == "#compdef " + " ".join(SOURCE_PROGRAMS)


def test_bash_script_syntax():
    done = subprocess.run(["bash", "-n", str(BASH_SCRIPT)], capture_output=True, text=True, timeout=30)

    assert done.returncode == 0, done.stderr


def test_bash_script_passes_shellcheck():
    shellcheck = shutil.which("shellcheck") or str(Path(sys.executable).parent / "shellcheck")
    done = subprocess.run([shellcheck, "--shell=bash", str(BASH_SCRIPT)], capture_output=True, text=True, timeout=60)

    assert done.returncode == 0, done.stdout + done.stderr


def zsh() -> str:
    path = shutil.which("zsh")
    if path is None:
        pytest.fail("zsh is not installed (scripts/test.sh installs it): apt-get install zsh", pytrace=False)
    return path


def test_zsh_script_syntax():
    done = subprocess.run([zsh(), "-n", str(ZSH_SCRIPT)], capture_output=True, text=True, timeout=30)

    assert done.returncode == 0, done.stderr


@pytest.fixture
def cli_binary(tmp_path) -> Path:
    """The source tree's CLI as the scripts call it ($CODING_AGENTS), for scripts run in a real shell."""
    path = tmp_path / "coding-agents"
    path.write_text(f'#!/bin/sh\nPYTHONPATH={REPO_ROOT} exec {sys.executable} -m agents "$@"\n')
    path.chmod(0o755)
    return path


BASH_DRIVER = """
source "$1"; shift
COMP_WORDS=("$@"); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); COMPREPLY=()
_coding_agents
printf '%s\\n' "${COMPREPLY[@]}"
"""


def run_bash_completion(binary: Path, *words: str) -> list[str]:
    env = {**os.environ, "CODING_AGENTS": str(binary), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(["bash", "-c", BASH_DRIVER, "driver", str(BASH_SCRIPT), *words], capture_output=True,
                          text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    return [line for line in done.stdout.splitlines() if line]


def test_bash_script_completes_commands_without_running_anything(tmp_path):
    missing = tmp_path / "not-there"

    assert run_bash_completion(missing, "coding-agents", "l") == ["launch-agent", "list-agents", "land", "logs"]


def test_bash_script_asks_the_cli_for_the_rest(cli_binary):
    assert run_bash_completion(cli_binary, "run-claude", "--network-proxy", "") == ["restricted", "squid", "allow-all"]
    assert run_bash_completion(cli_binary, "coding-agents", "run-agent", "co") == ["copilot", "codex"]


def test_bash_script_completes_files_where_a_path_goes(cli_binary, tmp_path):
    (tmp_path / "bundle.pem").write_text("")

    assert run_bash_completion(cli_binary, "coding-agents", "images", "build", "--ca-cert", f"{tmp_path}/bun") == [
        f"{tmp_path}/bundle.pem"]


ZSH_DRIVER = """
compadd() { shift $(( $# - 1 )); print -rl -- "${(@P)1}"; }
_describe() { print -rl -- "${(@)${(@P)4}%%:*}"; }
_files() { print -r -- ":files asked"; }
script=$1; service=$2; shift 2
words=("$@"); CURRENT=$#words; PREFIX=${words[CURRENT]}
source $script
"""


def run_zsh_completion(binary: Path, *words: str) -> list[str]:
    env = {**os.environ, "CODING_AGENTS": str(binary), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([zsh(), "-f", "-c", ZSH_DRIVER, "driver", str(ZSH_SCRIPT), words[0], *words],
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    return [line for line in done.stdout.splitlines() if line]


def test_zsh_script_describes_the_commands(tmp_path):
    assert run_zsh_completion(tmp_path / "not-there", "coding-agents", "") == completion.public_commands(
        cli.build_parser())


def test_zsh_script_asks_the_cli_for_the_rest(cli_binary):
    assert run_zsh_completion(cli_binary, "run-claude", "--autonomy", "") == ["full", "ask"]
    assert run_zsh_completion(cli_binary, "coding-agents", "images", "build", "--ca-cert", "") == [":files asked"]
    assert run_zsh_completion(cli_binary, "coding-agents", "images", "nosuch") == []
