"""The host's copies of removed sessions' history (history.kept_path: one per repository and agent
branch, for --resume): what `history list` shows, what `history prune` and `prune` remove (after
asking), and the [sessions] history_size line remove-agent shows when they take too much
(docs/agent-state.md#the-hosts-copies-where-how-big-list-and-prune).
"""

from __future__ import annotations

import json
import re
import tarfile
from datetime import UTC, datetime
from pathlib import Path

from agents import git, paths
from agents.history import FORMAT, MANIFEST, repo_key
from agents.output import say
from agents.records import record, replace
from agents.session import model
from agents.state_size import short

DEFAULT_HISTORY_SIZE = 20 * 1024**3  # [sessions] history_size: all copies together, before remove-agent says so


@record(frozen=True)
class KeptCopy:
    """One branch's history on the host (kept_path), with what decides whether it may go."""
    path: Path
    key: str  # the repository's key: the folder it is in
    size: int
    saved: str  # when it was made, "2026-12-01T21:15:13Z"
    manifest: dict | None  # None: not a readable archive of ours
    session: str | None = None  # a session (running or stopped) on the same repository and branch
    session_state: str | None = None
    branch_there: bool | None = None  # None: its repository is not where it was saved (or unreadable)

    @property
    def repo(self) -> str:
        return str((self.manifest or {}).get("repo", ""))

    @property
    def branch(self) -> str:
        return str((self.manifest or {}).get("branch", ""))

    @property
    def agent(self) -> str:
        return str((self.manifest or {}).get("agent", ""))

    def age_days(self, now: datetime) -> float:
        then = model.utc_time(self.saved)
        if then is None:
            return 0.0
        return max((now - then).total_seconds(), 0.0) / 86400


def _manifest_of(path: Path) -> dict | None:
    """The archive's manifest (its first member: only the start of the file is read)."""
    try:
        with tarfile.open(path, mode="r:gz") as archive:
            first = archive.next()
            if first is None or first.name != MANIFEST or not first.isfile():
                return None
            manifest = json.loads(archive.extractfile(first).read())
    except (OSError, tarfile.TarError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) and manifest.get("format") == FORMAT else None


def kept_copies() -> list[KeptCopy]:
    """Every copy on the host, by repository and branch."""
    found = []
    for path in sorted(paths.history_dir().glob("*/*.tar.gz")):
        try:
            stat = path.stat()
        except OSError:  # removed meanwhile
            continue
        manifest = _manifest_of(path)
        saved = str((manifest or {}).get("created") or "")
        if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", saved):
            saved = datetime.fromtimestamp(stat.st_mtime, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        found.append(KeptCopy(path, path.parent.name, stat.st_size, saved, manifest))
    return sorted(found, key=lambda copy: (copy.repo, copy.branch, str(copy.path)))


def with_facts(copies: list[KeptCopy], sessions) -> list[KeptCopy]:
    """Each copy with the session that still works on its branch (if any) and whether its branch
    is still in its repository (a git call or two per repository, never per copy)."""
    keys: dict[Path, str] = {}

    def key_of(repo: Path) -> str:
        if repo not in keys:
            keys[repo] = repo_key(repo)
        return keys[repo]

    using = {(key_of(info.repo), info.branch): info for info in sessions}
    branches: dict[str, set[str] | None] = {}
    described = []
    for copy in copies:
        if copy.manifest is None:
            described.append(copy)
            continue
        if copy.repo not in branches:
            repo = Path(copy.repo)
            branches[copy.repo] = (set(git.local_branches(repo, "")) if copy.repo and repo.is_dir()
                                   and git.git(repo, "rev-parse", "--git-dir", check=False).ok
                                   and key_of(repo) == copy.key else None)
        there = branches[copy.repo]
        info = using.get((copy.key, copy.branch))
        described.append(replace(copy, session=info.name if info else None, session_state=info.state if info else None,
                                 branch_there=None if there is None else copy.branch in there))
    return described


def standing(copy: KeptCopy) -> str:
    """What `history list` says of a copy."""
    if copy.manifest is None:
        return "unreadable"
    if copy.session:
        return f"used by {copy.session} ({copy.session_state})"
    if copy.branch_there is None:
        return "repository not found"
    return "branch there" if copy.branch_there else "branch gone"


def matches_branch(copy: KeptCopy, branch: str) -> bool:
    """--branch: the whole name (claude/api), or the name after the agent (api: every agent's)."""
    return copy.branch == branch or copy.branch.split("/", 1)[-1] == branch


def prune_plan(copies: list[KeptCopy], now: datetime, older_than: float | None = None,
               branch: str | None = None) -> tuple[list[tuple[KeptCopy, str]], list[str]]:
    """What `history prune` removes, and why: with no filter, the copies no branch of their
    repository is left for (branch gone, repository not found, unreadable); with --older-than or
    --branch, every copy that matches them all. Never one a session still works on (its
    remove-agent replaces it). Returns ((copy, why) to remove, notes on what was kept)."""
    remove, notes = [], []
    for copy in copies:
        if branch is not None and not matches_branch(copy, branch):
            continue
        if older_than is not None and copy.age_days(now) <= older_than:
            continue
        if copy.session:
            notes.append(f"{copy.branch} ({copy.repo}): kept, session {copy.session} ({copy.session_state}) works on "
                         "that branch; its remove-agent replaces this copy")
            continue
        if copy.manifest is None:
            why = "not a readable history archive"
        elif copy.branch_there is None:
            why = f"its repository is not at {copy.repo} any more"
        elif not copy.branch_there:
            why = "its branch is gone"
        elif older_than is None and branch is None:
            continue  # the default keeps what a --resume of a branch that is there starts from
        else:
            why = "branch still there: --resume would start from this copy"
        remove.append((copy, why))
    return remove, notes


def pruned_with_branches(copies: list[KeptCopy], repo: Path, removed: set[str]) -> list[tuple[KeptCopy, str]]:
    """`prune`'s share of the copies (those of its repository, with_facts'd): the ones whose branch
    that prune removes in this clone, or whose branch is gone already; never one a session works on."""
    here = repo.resolve()
    share = []
    for copy in copies:
        if copy.session or copy.manifest is None:
            continue
        if copy.branch in removed and copy.repo and Path(copy.repo).resolve() == here:
            share.append((copy, "its branch is removed now"))
        elif copy.branch_there is False:
            share.append((copy, "its branch is gone"))
    return share


def remove_copy(copy: KeptCopy) -> bool:
    """Delete one copy (and its repository's folder once empty); False when it was gone already."""
    try:
        copy.path.unlink()
    except FileNotFoundError:
        return False
    try:
        copy.path.parent.rmdir()
    except OSError:  # other branches' copies are still there
        pass
    return True


def total_size() -> int:
    return sum(copy.size for copy in kept_copies())


def shown_size(count: int) -> str:
    """A copy's size in the units of the size settings: 394B, 12K, 1.5G."""
    return short(count) if count >= 1024 else f"{count}B"


def warn_if_over(limit: int) -> None:
    """After remove-agent kept a copy: say so when all copies together are past [sessions]
    history_size. Nothing is removed without asking, so this is a line, never a cut."""
    used = total_size()
    if used > limit:
        say(f"warning: the host keeps {shown_size(used)} of removed sessions' history in {paths.history_dir()}, over "
            f"[sessions] history_size ({shown_size(limit)}); nothing was removed")
        say("hint: see them with `coding-agents history list`, remove old ones with "
            "`coding-agents history prune --older-than DAYS`, or raise history_size in the config file")
