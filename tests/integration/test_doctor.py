"""`coding-agents doctor` on a healthy setup and on broken ones."""

from __future__ import annotations

import json
import os
import shutil

from tests.integration.conftest import ENGINE

# What doctor calls the engine under test (CODING_AGENTS_TEST_ENGINE), its address variable, its package.
TITLE, HOST_VARIABLE, PACKAGE = {"docker": ("Docker", "DOCKER_HOST", "docker.io"),
                                 "podman": ("Podman", "CONTAINER_HOST", "podman")}[ENGINE]


def test_doctor_healthy_engine_exits_zero(docker_engine, cli):
    result = cli("doctor")
    assert result.returncode == 0, result.output
    assert "ready: agents can be launched" in result.stdout
    assert f"version {docker_engine}" in result.stdout


def test_doctor_alias_verify_prerequisites_json(docker_engine, cli):
    result = cli("verify-prerequisites", "--json")
    assert result.returncode == 0, result.output
    report = json.loads(result.stdout)
    assert report["ready"] is True
    names = {check["name"] for check in report["checks"]}
    assert {f"{ENGINE} CLI", f"{ENGINE} engine", "git", "socat", "tmux"} <= names


def test_doctor_engine_unreachable_fails_with_fix(docker_engine, cli, tmp_path):
    result = cli("doctor", env={HOST_VARIABLE: f"unix://{tmp_path}/nowhere.sock"})
    assert result.returncode == 1, result.output
    line = next(line for line in result.stdout.splitlines() if f"{ENGINE} engine" in line)
    assert line.startswith("FAIL")
    assert f"cannot reach the {TITLE} engine" in line
    assert HOST_VARIABLE in line  # the fix mentions where to look
    assert "not ready" in result.stdout
    assert "Traceback" not in result.output


def test_doctor_without_docker_cli_fails(docker_engine, cli, tmp_path):
    # A PATH with git and python but no engine's program.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for program in ("git", "python3", "sh", "tmux", "socat"):
        found = shutil.which(program)
        if found:
            os.symlink(found, bin_dir / program)
    result = cli("doctor", "--json", env={"PATH": str(bin_dir)})
    assert result.returncode == 1, result.output
    report = json.loads(result.stdout)
    engine_cli = next(check for check in report["checks"] if check["name"] == f"{ENGINE} CLI")
    assert engine_cli["status"] == "fail"
    assert f"apt-get install {PACKAGE}" in engine_cli["fix"]


def test_doctor_missing_git_identity_warns(docker_engine, cli, tmp_path):
    empty_home = tmp_path / "home"
    empty_home.mkdir()
    result = cli("doctor", "--json", env={"HOME": str(empty_home), "GIT_CONFIG_NOSYSTEM": "1"})
    report = json.loads(result.stdout)
    identity = next(check for check in report["checks"] if check["name"] == "git user.email")
    assert identity["status"] == "warn"
    assert "git config --global user.email" in identity["fix"]


def test_doctor_shows_the_host_logins_sessions_will_get(docker_engine, cli, tmp_path):
    from tests.integration.conftest import write_config

    home = tmp_path / "home"
    write_config(home)
    (home / ".codex").mkdir()
    (home / ".codex" / "auth.json").write_text('{"tokens": {}}')

    result = cli("doctor", "--json", env={"HOME": str(home), "CLAUDE_CODE_OAUTH_TOKEN": "not-a-token"})

    rows = {check["name"]: check for check in json.loads(result.stdout)["checks"]}
    assert rows["codex login"] == {"name": "codex login", "status": "ok", "detail": str(home / ".codex" / "auth.json"),
                                   "fix": ""}
    assert rows["claude login"]["detail"] == "$CLAUDE_CODE_OAUTH_TOKEN"  # the name only, never the value
    assert "not-a-token" not in result.stdout
    assert rows["gemini login"]["detail"].startswith("none; sessions show Gemini CLI's own login")
