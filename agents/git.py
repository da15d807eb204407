"""Host-side git: finding the repo, choosing branches, and moving commits safely.

Nothing here ever changes the user's checked-out branch, index or working tree: refs are
created or fast-forwarded with compare-and-swap (`git update-ref NEW OLD`), and only when
no worktree has that branch checked out.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path

from agents import runner
from agents.errors import AgentsError, UsageError
from agents.records import record

# Set by hooks and some IDEs; they would point our git calls at the wrong repository.
_MISDIRECTING_VARIABLES = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_PREFIX")
SESSION_REF_PREFIX = "refs/coding-agents/sessions/"
FALLBACK_IDENTITY = ("coding-agents", "coding-agents@localhost")


def git_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _MISDIRECTING_VARIABLES}
    env.update(extra or {})
    return env


def git(repo: str | Path, *args: str, check: bool = True, env: dict[str, str] | None = None, **kwargs) -> runner.Result:
    return runner.run(["git", "-C", str(repo), *args], check=check, env=git_env(env), **kwargs)


def repo_root(path: str | Path) -> Path:
    """The top of the work tree containing path; a clear error for anything else."""
    text = str(path)
    if "://" in text or re.match(r"^[\w.-]+@[\w.-]+:", text):
        from agents.remote import SCHEMES, redact

        shown = redact(text)
        raise AgentsError(
            f"{shown} is a URL this command cannot use; only launch-agent and run-agent clone one "
            f"({', '.join(scheme + '://' for scheme in SCHEMES)} or user@host:path)",
            hint=f"clone it yourself: git clone {shown} && pass the folder",
        )
    target = Path(path).expanduser()
    if not target.exists():
        raise AgentsError(f"{path} does not exist", hint="pass a folder inside a git repository (default: .)")
    if not target.is_dir():
        target = target.parent
    result = git(target, "rev-parse", "--show-toplevel", check=False)
    if not result.ok or not result.stdout.strip():
        raise AgentsError(
            f"{target.resolve()} is not inside a git repository",
            hint="cd into a repository or pass its path; `git init && git commit` makes one",
        )
    return Path(result.stdout.strip()).resolve()


def head_commit(repo: Path) -> str:
    result = git(repo, "rev-parse", "--verify", "-q", "HEAD^{commit}", check=False)
    if not result.ok:
        raise AgentsError(f"{repo} has no commits yet", hint="make a first commit; agents start from a commit")
    return result.stdout.strip()


def current_branch(repo: Path) -> str | None:
    result = git(repo, "symbolic-ref", "--short", "-q", "HEAD", check=False)
    return result.stdout.strip() or None


def validate_branch_name(name: str) -> str:
    result = runner.run(["git", "check-ref-format", "--branch", name], check=False, env=git_env())
    if not result.ok or name.startswith("-"):
        raise UsageError(f"{name!r} is not a valid branch name", hint="use letters, digits, '-', '_', '.' and '/'")
    return name


def ref_sha(repo: Path, ref: str) -> str | None:
    result = git(repo, "rev-parse", "--verify", "-q", f"{ref}^{{commit}}", check=False)
    return result.stdout.strip() if result.ok else None


def branch_sha(repo: Path, branch: str) -> str | None:
    return ref_sha(repo, f"refs/heads/{branch}")


def is_ancestor(repo: Path, ancestor: str, descendant: str) -> bool:
    return git(repo, "merge-base", "--is-ancestor", ancestor, descendant, check=False).returncode == 0


def count_commits(repo: Path, since: str, until: str) -> int:
    result = git(repo, "rev-list", "--count", f"{since}..{until}", check=False)
    return int(result.stdout.strip()) if result.ok and result.stdout.strip() else 0


def local_branches(repo: Path, pattern: str) -> list[str]:
    result = git(repo, "for-each-ref", "--format=%(refname:short)", f"refs/heads/{pattern}")
    return [line for line in result.stdout.splitlines() if line]


def conflicting_branch(repo: Path, branch: str) -> str | None:
    """A host branch that makes `branch` impossible: a/b blocks a/b/c, and a/b/c blocks a/b."""
    parts = branch.split("/")
    for i in range(1, len(parts)):
        prefix = "/".join(parts[:i])
        if branch_sha(repo, prefix):
            return prefix
    below = git(repo, "for-each-ref", "--count=1", "--format=%(refname:short)", f"refs/heads/{branch}/").stdout.strip()
    return below or None


def checked_out_branches(repo: Path) -> set[str]:
    """Branches checked out in any worktree of repo (these we never move)."""
    result = git(repo, "worktree", "list", "--porcelain")
    prefix = "branch refs/heads/"
    return {line[len(prefix) :] for line in result.stdout.splitlines() if line.startswith(prefix)}


def update_ref(repo: Path, ref: str, new: str, old: str | None, message: str = "coding-agents sync") -> bool:
    """Compare-and-swap a ref: old=None means "must not exist yet". False when someone moved it."""
    result = git(repo, "update-ref", "-m", message, ref, new, old or "0" * 40, check=False)
    return result.ok


def identity(repo: Path) -> tuple[str, str]:
    """user.name and user.email as git would commit with them (the last value of each), in one call."""
    listed = git(repo, "config", "--null", "--get-regexp", r"^user\.(name|email)$", check=False).stdout
    values = dict(entry.partition("\n")[::2] for entry in listed.split("\0") if entry)  # later values win
    name, email = values.get("user.name", "").strip(), values.get("user.email", "").strip()
    return (name or FALLBACK_IDENTITY[0], email or FALLBACK_IDENTITY[1])


def next_session_number(existing_branches: list[str], agent: str) -> int:
    """Pure: 1 + the highest N among '<agent>/session-N' names."""
    numbers = [0]
    for name in existing_branches:
        match = re.fullmatch(rf"{re.escape(agent)}/session-(\d+)", name)
        if match:
            numbers.append(int(match.group(1)))
    return max(numbers) + 1


def has_uncommitted(repo: Path) -> bool:
    """Whether the work tree has tracked or untracked (not ignored) changes; writes nothing."""
    return bool(git(repo, "status", "--porcelain", "--untracked-files=all").stdout.strip())


def snapshot_uncommitted(repo: Path, base: str) -> str | None:
    """A commit (on no branch) holding the work tree's tracked and untracked changes, or None if clean.

    Uses a throwaway index, so the user's index is untouched.
    """
    import tempfile  # (not on list-agents' path)

    with tempfile.TemporaryDirectory(prefix="coding-agents-index-") as tmp:
        env = {"GIT_INDEX_FILE": os.path.join(tmp, "index")}
        git(repo, "read-tree", base, env=env)
        git(repo, "add", "-A", env=env)
        tree = git(repo, "write-tree", env=env).stdout.strip()
    if tree == git(repo, "rev-parse", f"{base}^{{tree}}").stdout.strip():
        return None
    name, email = identity(repo)
    ident = {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email, "GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": email}
    message = "coding-agents: uncommitted changes carried from the host"
    return git(repo, "commit-tree", tree, "-p", base, "-m", message, env=ident).stdout.strip()


def objects_for_checkout(repo: Path, commits: list[str]) -> str:
    """The objects of these commits' trees (no history), one per line, for pack-objects."""
    return git(repo, "rev-list", "--objects", "--no-walk", *commits).stdout


def object_list_for_checkout(repo: Path, commits: list[str], list_path: str) -> None:
    """Write objects_for_checkout to list_path."""
    Path(list_path).write_text(objects_for_checkout(repo, commits))


@record(frozen=True)
class SyncOutcome:
    status: str  # created | fast-forward | up-to-date | saved-aside | no-commits
    branch: str  # the host branch that now holds the agent's tip
    tip: str
    message: str


def timestamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S")


def land_commits(repo: Path, branch: str, tip: str, base: str | None = None) -> SyncOutcome:
    """Put tip on branch by fast-forward only; otherwise keep it under branch-<timestamp>."""
    if base and tip == base:
        return SyncOutcome("no-commits", branch, tip, f"no new commits on {branch}")
    ref = f"refs/heads/{branch}"
    old = branch_sha(repo, branch)
    if old is None:
        if update_ref(repo, ref, tip, None):
            return SyncOutcome("created", branch, tip, f"created {branch} at {tip[:10]}")
        old = branch_sha(repo, branch)
    if old == tip:
        return SyncOutcome("up-to-date", branch, tip, f"{branch} is up to date")
    if old and is_ancestor(repo, tip, old):
        return SyncOutcome("up-to-date", branch, old, f"{branch} already contains the agent's commits")
    checked_out = branch in checked_out_branches(repo)
    if old and not checked_out and is_ancestor(repo, old, tip) and update_ref(repo, ref, tip, old):
        return SyncOutcome("fast-forward", branch, tip, f"fast-forwarded {branch} to {tip[:10]}")
    # Already saved aside by an earlier sync? Then reuse that branch (fast-forward it if we can).
    for earlier in local_branches(repo, f"{branch}-*"):
        if not re.fullmatch(re.escape(branch) + r"-\d{8}-\d{6}(-\d+)?", earlier):
            continue  # a branch of the user's that merely starts with the same name
        earlier_sha = branch_sha(repo, earlier)
        if earlier_sha == tip:
            return SyncOutcome("up-to-date", earlier, tip, f"the agent's commits are already on {earlier}")
        if earlier_sha and is_ancestor(repo, earlier_sha, tip) and earlier not in checked_out_branches(repo):
            if update_ref(repo, f"refs/heads/{earlier}", tip, earlier_sha):
                return SyncOutcome("fast-forward", earlier, tip, f"fast-forwarded {earlier} to {tip[:10]}")
    aside = f"{branch}-{timestamp()}"
    for attempt in range(10):
        candidate = aside if attempt == 0 else f"{aside}-{attempt}"
        if update_ref(repo, f"refs/heads/{candidate}", tip, None):
            aside = candidate
            break
    else:
        raise AgentsError(
            f"could not create a branch next to {branch} for the agent's commits",
            hint=f"they are safe in {SESSION_REF_PREFIX}<session>; create a branch from it by hand",
        )
    why = "is checked out on the host" if checked_out else "has moved on the host"
    hint = f"merge it when ready: git merge --ff-only {aside}" if checked_out else f"compare: git log {branch}...{aside}"
    return SyncOutcome("saved-aside", aside, tip, f"{branch} {why}; the agent's commits are on {aside} ({hint})")
