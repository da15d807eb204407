"""`run-agent` / `launch-agent` on an https:// URL: our clone of it on the host, with the host's git,
credentials and network; the agent's work comes back to that clone, and the command says where.

The private HTTPS git server (tests/integration/gitserver.py) only answers with Basic auth; the
test user's own git config trusts its certificate and keeps its password in a credential store,
as a user's would. The session itself never talks to the server (restricted network).
"""

from __future__ import annotations

import os
import subprocess
import urllib.parse
from pathlib import Path

import pytest

from tests.integration.conftest import (
    CliResult,
    commit_inside,
    git,
    inside,
    launched_name,
    write_config,
)
from tests.integration.gitserver import GitServer


class User:
    """A HOME whose git trusts the server's certificate and has its password in a credential store."""

    def __init__(self, home: Path, pyz: Path, cli_env: dict[str, str], server: GitServer):
        self.home, self.pyz = home, pyz
        write_config(home)
        server_url = f"https://{server.ip}:{server.port}/"
        (home / ".gitconfig").write_text(
            "[user]\n\tname = Test User\n\temail = test@example.com\n"
            f"[credential]\n\thelper = store\n[http \"{server_url}\"]\n\tsslCAInfo = {server.cert_path}\n")
        store = home / ".git-credentials"
        user, password = (urllib.parse.quote(part, safe="") for part in (server.user, server.password))
        store.write_text(f"https://{user}:{password}@{server.ip}:{server.port}\n")
        store.chmod(0o600)
        self.env = {k: v for k, v in cli_env.items() if not k.startswith("GIT_") and k not in ("XDG_CACHE_HOME",)}
        self.env.update(HOME=str(home), XDG_STATE_HOME=str(home / "st"), GIT_TERMINAL_PROMPT="0")

    def cli(self, *args: str) -> CliResult:
        done = subprocess.run([str(self.pyz), *args], capture_output=True, text=True, env=self.env, timeout=900)
        return CliResult(done.returncode, done.stdout, done.stderr)

    def git(self, *args: str, cwd: Path | None = None) -> str:
        done = subprocess.run(["git", *args], capture_output=True, text=True, env=self.env, cwd=cwd, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def clone_of(self, server: GitServer, name: str) -> Path:
        # The cache folder: ~/.cache (no XDG_CACHE_HOME), the host with its port, the path without .git.
        return self.home / ".cache" / "coding-agents" / "repos" / f"{server.ip}_{server.port}" / name


@pytest.fixture
def user(pyz, cli_env, session_cleanup, tmp_path, git_server) -> User:
    home = tmp_path / "home"
    home.mkdir()
    return User(home, pyz, cli_env, git_server)


def push_commit(user: User, server: GitServer, tmp_path: Path, repo: str, text: str) -> str:
    """A new commit on the server's main, pushed from a clone of the user's own (their credentials)."""
    work = tmp_path / f"pusher-{text}"
    user.git("clone", "-q", server.repo_url(repo), str(work))
    (work / "news.txt").write_text(text + "\n")
    user.git("add", "news.txt", cwd=work)
    user.git("commit", "-q", "-m", text, cwd=work)
    user.git("push", "-q", "origin", "main", cwd=work)
    return user.git("rev-parse", "HEAD", cwd=work)


def test_launch_agent_on_an_https_url_works_in_our_clone_and_brings_the_work_back(user, git_server, tmp_path):
    url = git_server.repo_url("private.git")
    clone = user.clone_of(git_server, "private")

    first = user.cli("launch-agent", "shell", url, "--network-proxy", "restricted")

    name = launched_name(first)
    assert f"cloning {url} into {clone}" in first.stderr
    assert f"the agent works on {clone} (our clone of {url})" in first.stderr
    assert f"(syncs shell/session-1 into {clone})" in first.stdout  # where the work will be
    assert git(clone, "log", "-1", "--format=%s") == "initial commit"
    assert git(clone, "config", "--get", "remote.origin.url") == url
    assert inside(name, "cat /workspace/README.md").stdout == "a private repository\n"
    commit_inside(name, "agent.txt", "agent-work")
    removed = user.cli("remove-agent", name)
    assert removed.returncode == 0, removed.output
    assert git(clone, "log", "-1", "--format=%s", "shell/session-1") == "agent-work"

    # Later: the server moved on. The same clone is fetched and its branch fast-forwarded first.
    news = push_commit(user, git_server, tmp_path, "private.git", "news-from-the-team")
    second = user.cli("launch-agent", "shell", url, "--network-proxy", "restricted", "--branch", "next")
    name = launched_name(second)
    assert f"fetching {url} into {clone}" in second.stderr
    assert inside(name, "git -C /workspace rev-parse HEAD").stdout.strip() == news
    assert git(clone, "log", "-1", "--format=%s", "shell/session-1") == "agent-work"  # kept
    assert user.cli("remove-agent", name, "-y").returncode == 0


def test_run_agent_on_an_https_url_says_where_the_work_is(user, git_server):
    url = git_server.repo_url("private.git")
    clone = user.clone_of(git_server, "private")
    prompt = "echo from-a-url > f.txt && git add f.txt && git commit -q -m from-a-url"

    result = user.cli("run-agent", "shell", url, "--network-proxy", "restricted", "--branch", "u", "--prompt", prompt)

    assert result.returncode == 0, result.output
    assert git(clone, "log", "-1", "--format=%s", "shell/u") == "from-a-url"
    assert f"shell/u is in {clone}, our clone of {url}" in result.stdout


def test_a_url_the_host_cannot_clone_is_one_clean_error_and_leaves_no_folder(user, git_server):
    os.remove(user.home / ".git-credentials")  # the host has no password for it now
    url = git_server.repo_url("private.git")

    result = user.cli("launch-agent", "shell", url, "--network-proxy", "restricted")

    assert result.returncode == 1, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [f"error: could not clone {url}: git exited with 128"], result.stderr
    assert "hint: " in result.stderr and "Traceback" not in result.stderr
    parent = user.clone_of(git_server, "private").parent
    assert not parent.exists() or list(parent.iterdir()) == []
