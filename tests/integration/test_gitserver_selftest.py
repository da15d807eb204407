"""The private HTTPS git server the credential tests rely on: it serves fetch and push to the one
account it knows and refuses everyone else."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.integration.conftest import RUN_ID, TEST_LABEL
from tests.integration.gitserver import GitServer, start_git_https_server


@pytest.fixture
def git_server(docker_engine, tmp_path):
    server = start_git_https_server(tmp_path, f"{TEST_LABEL}={RUN_ID}")
    try:
        yield server
    finally:
        server.stop()


def host_git(server: GitServer, home: Path, *args: str, cwd: Path | None = None,
             trust: bool = True) -> subprocess.CompletedProcess:
    """Host git with no credential helper, no prompts and no user config: only what the URL carries.
    All GIT_* variables go: GIT_SSL_CAINFO, often set on CI machines, would override http.sslCAInfo.
    trust=False leaves out the server's certificate (git then trusts only the system's CAs)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "SSH_ASKPASS"))}
    env.update({
        "HOME": str(home),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ASKPASS": "",
        "GIT_AUTHOR_NAME": "Tester", "GIT_AUTHOR_EMAIL": "tester@example.com",
        "GIT_COMMITTER_NAME": "Tester", "GIT_COMMITTER_EMAIL": "tester@example.com",
    })
    trusted = ["-c", f"http.sslCAInfo={server.cert_path}"] if trust else []
    return subprocess.run(
        ["git", "-c", "credential.helper=", *trusted, *args],
        capture_output=True, text=True, env=env, cwd=cwd, timeout=120,
    )


def test_git_server_serves_only_its_account(git_server: GitServer, tmp_path):
    home = tmp_path / "empty-home"
    home.mkdir()
    url = git_server.repo_url("private.git")
    assert url == f"{git_server.url_base}/private.git"

    good = host_git(git_server, home, "ls-remote", git_server.repo_url("private.git", credentials=True))
    assert good.returncode == 0, good.stderr
    assert "refs/heads/main" in good.stdout
    assert "HEAD" in good.stdout

    anonymous = host_git(git_server, home, "ls-remote", url)
    assert anonymous.returncode != 0
    assert "could not read Username" in anonymous.stderr, anonymous.stderr

    wrong = host_git(git_server, home, "ls-remote", f"https://{git_server.user}:wrong-{git_server.password}@"
                     f"{git_server.ip}:{git_server.port}/private.git")
    assert wrong.returncode != 0
    assert "Authentication failed" in wrong.stderr, wrong.stderr

    # The certificate is what makes TLS verify: without it, git refuses the server.
    untrusted = host_git(git_server, home, "ls-remote", git_server.repo_url(credentials=True), trust=False)
    assert untrusted.returncode != 0
    assert "certificate" in untrusted.stderr.lower(), untrusted.stderr

    log = git_server.logs()
    assert "GET /private.git/info/refs?service=git-upload-pack 401 -" in log, log
    assert f"GET /private.git/info/refs?service=git-upload-pack 200 {git_server.user}" in log, log


def test_git_server_clone_and_push(git_server: GitServer, tmp_path):
    home = tmp_path / "empty-home"
    home.mkdir()
    authed = git_server.repo_url("private.git", credentials=True)
    clone = tmp_path / "clone"

    done = host_git(git_server, home, "clone", "-q", authed, str(clone))
    assert done.returncode == 0, done.stderr
    assert (clone / "README.md").read_text() == "a private repository\n"

    # Enough data that git's POST bodies go chunked (over http.postBuffer) and its requests gzip.
    (clone / "big.bin").write_bytes(os.urandom(3 * 1024 * 1024))
    (clone / "notes.txt").write_text("pushed from the host\n")
    for args in (["add", "."], ["commit", "-q", "-m", "second commit"]):
        done = host_git(git_server, home, *args, cwd=clone)
        assert done.returncode == 0, done.stderr
    pushed = host_git(git_server, home, "push", "-q", "origin", "main", cwd=clone)
    assert pushed.returncode == 0, pushed.stderr
    head = host_git(git_server, home, "rev-parse", "HEAD", cwd=clone).stdout.strip()

    remote = host_git(git_server, home, "ls-remote", authed, "refs/heads/main")
    assert remote.returncode == 0, remote.stderr
    assert remote.stdout.split()[0] == head

    # A second clone sees the push; protocol v2 and v0 both work.
    for version in ("2", "0"):
        again = tmp_path / f"again-v{version}"
        done = host_git(git_server, home, "-c", f"protocol.version={version}", "clone", "-q", authed, str(again))
        assert done.returncode == 0, done.stderr
        assert (again / "notes.txt").read_text() == "pushed from the host\n"

    assert f"POST /private.git/git-receive-pack 200 {git_server.user}" in git_server.logs()
