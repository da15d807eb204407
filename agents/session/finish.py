"""Finishing a session: sync its branch home, remove it, reap what is left.
"""

from __future__ import annotations

from agents import (
    bridges,
    docker,
    git,
    netmodes,
    records,
    runner,
    workspace,
)
from agents.errors import AgentsError
from agents.output import say
from agents.session import model, naming, proxies, query, services


def remove_if_untouched(info: model.SessionInfo) -> bool:
    """Remove a session whose agent never did anything (no commit, no change): nothing to lose."""
    report = workspace.health(info)
    if unsynced_now(info, report) or report.get("dirty") or report.get("elsewhere"):
        return False
    remove(info, no_push=True, yes=True, auto_commit=False)
    return True


def unsynced_now(info: model.SessionInfo, report: dict) -> int:
    """Commits the host lacks by a fresh health report, decided on the host (workspace.count_unsynced)."""
    current = records.replace(info, tip=report.get("tip"), ahead=report.get("ahead"))
    return workspace.unsynced_commits(current) or 0


def sync(info: model.SessionInfo) -> git.SyncOutcome:
    outcome = workspace.sync(info)
    say(f"==> {outcome.message}")
    return outcome


def remove(
    info: model.SessionInfo,
    no_push: bool = False,
    yes: bool = False,
    keep_branch: bool = False,
    auto_commit: bool = True,
) -> None:
    """Make the work safe (auto-commit, sync), then remove the container and its volumes.

    Refuses, removing nothing, when commits would be lost: a failed sync, or --no-push
    with commits the host lacks and no -y. (Auto-commit only touches the workspace.)
    """
    if auto_commit and workspace.autocommit(info):
        say(f"==> auto-committed uncommitted work in {info.name}")
    report = workspace.health(info)
    elsewhere = report.get("elsewhere") or []
    if elsewhere and not yes:
        places = ", ".join(f"{item['ref']} ({item['commits']} commit(s))" for item in elsewhere)
        raise AgentsError(
            f"{info.name} has commits outside {info.branch} that a sync would not bring home: {places}",
            hint=f"merge them into {info.branch} inside (connect-agent {info.name}), or add -y to discard them",
        )
    if no_push or info.no_push:
        unsynced = unsynced_now(info, report)
        if unsynced and not yes:
            raise AgentsError(
                f"{info.name} has {unsynced} commit(s) that are not on the host; removing it without syncing loses them",
                hint=f"sync first (coding-agents sync {info.name}), or add -y to discard them",
            )
    else:
        sync(info)
        if not keep_branch:
            delete_branch_if_merged(info)
    if info.repo.is_dir():
        git.git(info.repo, "update-ref", "-d", git.SESSION_REF_PREFIX + info.name, check=False)
    if netmodes.is_proxied(info.network):
        proxies.save_network_log(info)
    agent = query.session_agent(info)
    if agent is not None and agent.login_files and info.running:
        # A last copy-back of refreshed logins: `docker rm --force` gives the stub no time.
        runner.run(naming.agent_exec(info.name, "ca-stub", "logins-push"), check=False, timeout=60)
    if agent is not None:
        keep_history(info, agent)
    settings = bridges.find_settings(info.name)
    tear_down(info.name, container=True, volumes=(info.workspace_volume, info.home_volume),
              proxy=True, sidecar=settings is not None and bool(settings.mcp_sidecar))
    say(f"==> removed {info.name}")


def keep_history(info: model.SessionInfo, agent) -> None:
    """The agent's history, kept on the host for `launch-agent --resume` (a failure only warns:
    the work is safe by now, and the history is the CLI's, not the branch's)."""
    from agents import history

    try:
        kept = history.keep(info, agent)
    except AgentsError as error:
        say(f"==> warning: the history of {info.name} is not kept: {error.message}")
        return
    if kept is not None:
        from agents import history_copies
        from agents.config import load_config

        say(f"==> kept its history ({len(kept.files)} file(s)) for `--branch {info.branch} --resume`: {kept.path}")
        try:
            limit = load_config().sessions.history_size
        except AgentsError:  # a broken config file is reported by the commands that need it
            limit = history_copies.DEFAULT_HISTORY_SIZE
        history_copies.warn_if_over(limit)


def tear_down(name: str, container: bool, volumes: tuple[str, ...] | list[str], proxy: bool, sidecar: bool) -> None:
    """Remove what there is of a session, in the one order that works (a volume goes only once no
    container uses it): remove-agent and a launch's rollback both end here."""
    if container:
        runner.run(docker.remove_argv(name), check=False)
    if sidecar:
        services.remove_sidecar(name)  # its container, then the MCP socket volume
    bridges.remove(name)
    if proxy:
        proxies.remove_proxy(name)
    if volumes:
        runner.run([runner.engine(), "volume", "rm", "--force", *volumes], check=False)


def delete_branch_if_merged(info: model.SessionInfo) -> None:
    """Drop the agent branch only when the host's HEAD already contains all of it."""
    tip = git.branch_sha(info.repo, info.branch)
    head = git.ref_sha(info.repo, "HEAD")
    if not tip or not head or tip == info.base or info.branch in git.checked_out_branches(info.repo):
        return
    if git.is_ancestor(info.repo, tip, head) and git.git(
        info.repo, "update-ref", "-d", f"refs/heads/{info.branch}", tip, check=False
    ).ok:
        say(f"==> deleted {info.branch}: it is fully merged into HEAD")


def reap(name: str, auto_commit: bool = True) -> int:
    docker.run("wait", name, check=False)
    info = query.get_session(name)
    remove(info, no_push=info.no_push, yes=False, auto_commit=auto_commit)
    return 0
