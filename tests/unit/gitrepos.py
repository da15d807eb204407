"""Real git repositories for unit tests: isolated from the user's config, cheap to copy."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

# Identity for commits; no reflogs and no auto-maintenance, so each git call spawns and writes less.
REPO_CONFIG = (
    "[user]\n\tname = Test User\n\temail = test@example.com\n"
    "[core]\n\tlogAllRefUpdates = false\n[gc]\n\tauto = 0\n[maintenance]\n\tauto = false\n"
)


def clean_env() -> dict[str, str]:
    """No ambient GIT_* variables and no user or system git config."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    return {**env, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}


def run_git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, env=clean_env(), check=True)
    return done.stdout.strip()


def init_repo(path: Path, branch: str = "main") -> Path:
    """An empty repository on branch with a user identity (and no sample hooks, to keep copies cheap)."""
    path.mkdir(parents=True)
    run_git(path, "init", "-q", "--template=", "-b", branch)
    with open(path / ".git" / "config", "a") as config_file:
        config_file.write(REPO_CONFIG)
    return path


def commit_files(repo: Path, files: dict[str, str], message: str) -> str:
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    run_git(repo, "add", "-A")
    run_git(repo, "commit", "-q", "-m", message)
    return run_git(repo, "rev-parse", "HEAD")


def make_template(path: Path, branch: str = "main", message: str = "first") -> Path:
    """A repository with one commit (README.md), packed and trimmed: tests copy it instead of
    running git init and commit each time (git processes are the slow part)."""
    init_repo(path, branch)
    commit_files(path, {"README.md": "hello\n"}, message)
    run_git(path, "repack", "-adq")  # a pack instead of loose objects: fewer files per copy
    run_git(path, "prune-packed")
    for leftover in ("COMMIT_EDITMSG", "info", "objects/info", "refs/tags"):  # fewer entries to copy per test
        target = path / ".git" / leftover
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    return path
