"""Moving git objects between the host repo and a session's workspace volume.

In: the objects of one commit's tree (no history) stream into a throwaway container that
builds a shallow repository on the volume. Out: the host fetches the agent's branch through
a git `ext::` transport whose stream is `docker exec` (or a throwaway container when the
session is stopped). No host path is mounted, so both work with a remote engine, and the
host repository is never writable from inside.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from agents import docker, git, runner, sessions
from agents.errors import AgentsError


def populate(plan: sessions.LaunchPlan, repo: Path, commits: list[str]) -> None:
    """Fill the (new, empty) workspace volume with a checkout of commits[0] (+ host changes)."""
    with tempfile.TemporaryDirectory(prefix="coding-agents-pack-") as tmp:
        object_list = os.path.join(tmp, "objects")
        git.object_list_for_checkout(repo, commits, object_list)
        try:
            runner.run_pipeline(
                ["git", "-C", str(repo), "pack-objects", "--stdout", "-q"],
                list(plan.populate_argv),
                producer_stdin=object_list,
                env=git.git_env(),
            )
        except runner.CommandFailed as error:
            raise AgentsError(
                f"could not copy the repository into the workspace of {plan.name}: {error.message}",
                hint="run with --debug for details; `coding-agents doctor` checks the engine",
            ) from error


def session_state(name: str) -> str | None:
    result = docker.run("inspect", "--format", "{{.State.Status}}", name, check=False)
    return result.stdout.strip() if result.ok else None


def _in_workspace(info: sessions.SessionInfo, *command: str) -> runner.Result:
    """Run a ca-stub command on the workspace: in the container if it runs, else in a throwaway one."""
    if session_state(info.name) == "running":
        argv = ["docker", "exec", "--user", "1000", info.name, *command]
    else:
        argv = [*sessions.helper_run_args(info.workspace_volume, info.image, 256), *command]
    return runner.run(argv, check=False)


def health(info: sessions.SessionInfo) -> dict:
    """A fresh {"tip", "ahead", "dirty"} report for the session branch."""
    import json

    synced = git.ref_sha(info.repo, git.SESSION_REF_PREFIX + info.name) if info.repo.is_dir() else None
    result = _in_workspace(
        info, "env", f"CODING_AGENTS_BRANCH={info.branch}", f"CODING_AGENTS_BASE={info.base}",
        f"CODING_AGENTS_SYNCED={synced or ''}", "ca-stub", "health",
    )
    try:
        return json.loads(result.stdout)
    except ValueError as error:
        raise AgentsError(
            f"cannot read the workspace of {info.name}: {runner.last_line(result.stderr)}",
            hint="check `coding-agents doctor`; the volume is kept",
        ) from error


def autocommit(info: sessions.SessionInfo) -> bool:
    """Commit uncommitted work in the workspace (running or not). True when a commit was made."""
    result = _in_workspace(info, "ca-stub", "autocommit")
    return result.ok and result.stdout.strip() == "committed"


def fetch_tip(info: sessions.SessionInfo) -> str | None:
    """Fetch the agent branch into refs/coding-agents/sessions/<name>; return its commit."""
    running = session_state(info.name) == "running"
    url = sessions.upload_pack_url(info.name, running, info.workspace_volume, info.image)
    tracking = git.SESSION_REF_PREFIX + info.name
    result = runner.run(
        [
            "git", "-C", str(info.repo), "-c", "protocol.ext.allow=always",
            "fetch", "--quiet", "--no-tags", "--no-write-fetch-head", url,
            f"+refs/heads/{info.branch}:{tracking}",
        ],
        check=False,
        env=git.git_env(),
    )
    if not result.ok:
        if "couldn't find remote ref" in result.stderr:
            return None
        raise AgentsError(
            f"could not fetch {info.branch} from {info.name}: {runner.last_line(result.stderr)}",
            hint="the workspace volume is kept; try again, or check `coding-agents doctor`",
        )
    return git.ref_sha(info.repo, tracking)


def sync(info: sessions.SessionInfo) -> git.SyncOutcome:
    if not info.repo.is_dir():
        raise AgentsError(
            f"the host repository {info.repo} of {info.name} is gone",
            hint="restore it (the agent's work is still in the container's volume), then sync again",
        )
    tip = fetch_tip(info)
    if tip is None:
        return git.SyncOutcome("no-commits", info.branch, "", f"{info.branch} does not exist in {info.name}")
    return git.land_commits(info.repo, info.branch, tip, base=info.base)


def unsynced_commits(info: sessions.SessionInfo) -> int | None:
    """Commits on the agent branch that the host does not have yet (from the last health report)."""
    if info.tip is None or info.ahead is None:
        return None
    if not info.repo.is_dir():
        return info.ahead
    synced = git.ref_sha(info.repo, git.SESSION_REF_PREFIX + info.name)
    if synced is None:
        return info.ahead
    if synced == info.tip:
        return 0
    host_has = git.count_commits(info.repo, info.base, synced) if info.base else 0
    return max(info.ahead - host_has, 0)
