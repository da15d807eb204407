"""Repositories given as a URL: our own clone of it on the host, where the agent's work comes back.

`launch-agent claude https://git.example.com/team/app.git` clones with the host's git (its
credential helpers, network and terminal for prompts) into
~/.cache/coding-agents/repos/git.example.com/team/app, or fetches into the clone made last
time, and then runs as on any local repository: the agent's branch lands in that clone.
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
import urllib.parse
from pathlib import Path

from agents import git, paths, runner
from agents.errors import AgentsError
from agents.records import record

SCHEMES = ("https", "http", "ssh", "git")
_SCP_LIKE = re.compile(r"^(?:(?P<user>[\w.+-]+)@)?(?P<host>[\w.-]+\.[\w.-]+|localhost):(?!//)(?P<path>[^\\]+)$")
_PART_OK = re.compile(r"[^A-Za-z0-9._-]+")


@record(frozen=True)
class RemoteRepo:
    url: str  # as given: what git is told (it may hold user:password)
    shown: str  # for messages: no password
    stored: str  # the clone's origin: no password either
    host: str  # folder name of the host (and port)
    path: tuple[str, ...]  # folders under it, e.g. ("team", "app")

    @property
    def argv_url(self) -> runner.Arg:
        return runner.Secret(self.url) if self.url != self.stored else self.url


def parse(text: str) -> RemoteRepo | None:
    """A git URL (https://, http://, ssh://, git://, or scp-like user@host:path), else None.

    An existing folder is never a URL, whatever it is called.
    """
    if not text or Path(text).expanduser().exists():
        return None
    scheme, sep, _ = text.partition("://")
    if sep:
        if scheme.lower() not in SCHEMES:
            return None
        return _from_url(text)
    match = _SCP_LIKE.match(text)
    if match is None:
        return None
    return RemoteRepo(text, text, text, _folder(match["host"]), _folders(match["path"], text))


def _from_url(text: str) -> RemoteRepo:
    parts = urllib.parse.urlsplit(text)
    try:
        port = parts.port
    except ValueError as error:
        raise AgentsError(f"{redact(text)} has a port that is not a number", hint="check the URL") from error
    if not parts.hostname:
        raise AgentsError(f"{redact(text)} names no host", hint="e.g. https://github.com/ORG/REPO.git")
    netloc = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    netloc += f":{port}" if port else ""
    user = f"{parts.username}@" if parts.username else ""
    stored = urllib.parse.urlunsplit((parts.scheme, user + netloc, parts.path, parts.query, ""))
    host = _folder(parts.hostname + (f"_{port}" if port else ""))
    return RemoteRepo(text, stored, stored, host, _folders(parts.path, text))


def _folder(text: str) -> str:
    return _PART_OK.sub("-", text).strip("-.") or "x"


def _folders(path: str, url: str) -> tuple[str, ...]:
    parts = [part for part in urllib.parse.unquote(path).split("/") if part and part != "."]
    if parts and parts[-1].endswith(".git"):
        parts[-1] = parts[-1][: -len(".git")]
    if not parts or ".." in parts:
        raise AgentsError(f"{redact(url)} names no repository path", hint="e.g. https://github.com/ORG/REPO.git")
    return tuple(_folder(part) for part in parts)


def redact(text: str) -> str:
    """A URL with its password (if any) as ***: for messages and errors."""
    return re.sub(r"(://[^/@:]*:)[^/@]*@", r"\1***@", text)


def clone_path(remote: RemoteRepo) -> Path:
    return paths.repos_dir() / remote.host / Path(*remote.path)


def origin_of(folder: Path) -> str | None:
    """The URL a clone in our cache was made from, or None for any other folder."""
    try:
        inside = Path(folder).resolve().relative_to(paths.repos_dir().resolve())
    except ValueError:
        return None
    if not inside.parts:
        return None
    found = git.git(folder, "config", "--get", "remote.origin.url", check=False)
    return found.stdout.strip() if found.ok else None


def ensure_clone(remote: RemoteRepo) -> Path:
    """Our clone of remote, made now or brought up to date (fetch, then a fast-forward of its branch)."""
    target = clone_path(remote)
    if target.exists():
        update(remote, target)
    else:
        clone(remote, target)
    return target


def clone(remote: RemoteRepo, target: Path) -> None:
    _say(f"==> cloning {remote.shown} into {target} (the host's git and credentials)")
    target.parent.mkdir(parents=True, exist_ok=True)
    # Into a folder of its own first: an interrupted or failed clone leaves nothing half made.
    partial = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
    try:
        _git_network(["git", "clone", "--origin", "origin", remote.argv_url, str(partial)], remote, "clone")
        if remote.url != remote.stored:
            git.git(partial, "remote", "set-url", "origin", remote.stored)  # no password at rest
        partial.rename(target)
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def update(remote: RemoteRepo, target: Path) -> None:
    origin = git.git(target, "config", "--get", "remote.origin.url", check=False).stdout.strip() \
        if (target / ".git").exists() else ""
    if origin != remote.stored:
        raise AgentsError(f"{target} is not our clone of {remote.shown}" + (f" (it is one of {redact(origin)})"
                                                                            if origin else ""),
                          hint=f"move or remove that folder, then try again (it is only a cache: {paths.repos_dir()})")
    _say(f"==> fetching {remote.shown} into {target}")
    _git_network(["git", "-C", str(target), "fetch", "--prune", remote.argv_url,
                  "+refs/heads/*:refs/remotes/origin/*"], remote, "fetch")
    branch = git.current_branch(target)
    if branch and git.ref_sha(target, f"refs/remotes/origin/{branch}"):
        forward = git.git(target, "merge", "--ff-only", "-q", f"refs/remotes/origin/{branch}", check=False)
        if not forward.ok:
            _say(f"==> warning: {branch} in {target} has commits of its own, so it was not moved to "
                 f"{remote.shown}'s; the session starts from it")


def _git_network(argv: list[runner.Arg], remote: RemoteRepo, verb: str) -> None:
    # Streamed: git shows its progress and asks for a password on this terminal, as it would itself.
    try:
        runner.run(argv, env=git.git_env(), stream=True)
    except runner.CommandFailed as error:
        raise AgentsError(f"could not {verb} {remote.shown}: git exited with {error.result.returncode}",
                          hint=f"see git's message above; `git clone {remote.shown}` in this shell must work "
                          "(the host's git, credentials and network are used)") from error


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
