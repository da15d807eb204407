"""Moving git objects between the host repo and a session's workspace volume.

In: the objects of one commit's tree (no history) stream to the new agent container's stub (its
main process, through the container's own attached `docker run --interactive`), which builds a
shallow repository on the volume before the CLI starts. Out: the host fetches the agent's branch through a git `ext::` transport whose
stream is `docker exec` (or a throwaway container when the session is stopped). No host path is
mounted, so both work with a remote engine, and the host repository is never writable from inside.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from agents import docker, git, runner
from agents.errors import AgentsError
from agents.session import model, naming

TYPE_CHECKING = False  # (not typing's: list-agents' path imports as little as it can)
if TYPE_CHECKING:  # the planner (and what it imports) only where a container is made: list-agents does without
    from agents.session import planner


def start_agent(plan: planner.LaunchPlan) -> runner.Feed:
    """The agent container's run, attached: what the fill (send_fill) writes reaches its stub, and
    its output says when it runs (started) and how the fill went (filled). End it (a context
    manager): the container goes on."""
    return runner.Feed(plan.create_argv)


# How long a Ctrl-C waits for the run to say its container runs: the engine has made it by then,
# so the rollback finds what it removes (and a stub that never says so cannot hang the launch).
START_GRACE = 10.0


def started(run: runner.Feed) -> None:
    """Until the container runs (its stub waits for the fill), as `docker run --detach` returning
    would say; a Ctrl-C meanwhile waits START_GRACE for it before the launch is undone.
    CommandFailed: the run failed (its error)."""
    line = run.until(lambda line: line == naming.FILL_WAITING or _answered(line), grace=START_GRACE)
    if _answered(line):  # (a stub that says nothing before its answer): it is filled()'s to read
        run.put_back(line)


def send_fill(run: runner.Feed, plan: planner.LaunchPlan, repo: Path, objects: str) -> None:
    """The fill's header and a git pack of the commits' trees (objects: git.objects_for_checkout of
    them) on their way to the stub, in the background: the stub takes them once it runs."""
    import tempfile  # (not on list-agents' path)

    with tempfile.TemporaryDirectory(prefix="coding-agents-pack-") as folder:
        object_list = os.path.join(folder, "objects")  # (pack-objects holds it open: it may go at once)
        with open(object_list, "w", encoding="utf-8") as listed:
            listed.write(objects)
        run.send(plan.fill_header.encode() + b"\n", ["git", "-C", str(repo), "pack-objects", "--stdout", "-q"],
                 producer_stdin=object_list, env=git.git_env())


def filled(run: runner.Feed, plan: planner.LaunchPlan) -> None:
    """Until the stub has checked out what send_fill sent; the run's client is then ended (a Ctrl-C
    meanwhile stops the wait: the launch undoes it)."""
    try:
        answer = run.until(_answered, last=True)
    except runner.CommandFailed as error:
        raise _not_copied(plan.name, error.message) from error
    if answer != naming.FILL_DONE:
        raise _not_copied(plan.name, answer[len(naming.FILL_FAILED):])


def _answered(line: str) -> bool:
    return line == naming.FILL_DONE or line.startswith(naming.FILL_FAILED)


def _not_copied(name: str, why: str) -> AgentsError:
    return AgentsError(f"could not copy the repository into the workspace of {name}: {why}",
                       hint="run with --debug for details; `coding-agents doctor` checks the engine")


def session_state(name: str) -> str | None:
    result = docker.run("inspect", "--format", "{{.State.Status}}", name, check=False)
    return result.stdout.strip() if result.ok else None


def _in_workspace(info: model.SessionInfo, *command: str, state: str | None = None) -> runner.Result:
    """Run a ca-stub command on the workspace: in the container if it runs, else in a throwaway one.
    state: the container's state when the caller has just read it (one inspect less)."""
    if (state or session_state(info.name)) == "running":
        argv = naming.agent_exec(info.name, *command)
    else:
        from agents.session import planner

        argv = [*planner.helper_run_args(info.workspace_volume, info.image, 256), *command]
    return runner.run(argv, check=False)


in_workspace = _in_workspace  # for diff: git in the workspace, wherever it is


def health(info: model.SessionInfo, state: str | None = None) -> dict:
    """A fresh {"tip", "ahead", "dirty", "elsewhere"} report for the session branch (the agent's
    word: unsynced_commits decides from it what the host lacks). state: as _in_workspace."""
    import json

    result = _in_workspace(
        info, "env", f"CODING_AGENTS_BRANCH={info.branch}", f"CODING_AGENTS_BASE={info.base}", "ca-stub", "health",
        state=state,
    )
    try:
        report = json.loads(result.stdout)
        if not isinstance(report, dict):
            raise ValueError("not a JSON object")
        return model.checked_report(report)
    except ValueError as error:
        raise AgentsError(
            f"cannot read the workspace of {info.name}: {runner.last_line(result.stderr)}",
            hint="check `coding-agents doctor`; the volume is kept",
        ) from error


def autocommit(info: model.SessionInfo) -> bool:
    """Commit uncommitted work in the workspace (running or not). True when a commit was made.
    list-agents' copy of the session's reports is dropped (session.reports.touch) afterwards."""
    from agents.session import reports

    try:
        result = _in_workspace(info, "ca-stub", "autocommit")
    finally:
        reports.touch(info.name)
    return result.ok and result.stdout.strip() == "committed"


def fetch_tip(info: model.SessionInfo, tracking: str | None = None, update_shallow: bool = False) -> str | None:
    """Fetch the agent branch into refs/coding-agents/sessions/<name> (or tracking); return its commit.
    update_shallow: take the workspace's shallow root too (a repository that only borrows the host's
    objects, as land's scratch one, refuses the ref otherwise)."""
    from agents.session import planner

    running = session_state(info.name) == "running"
    url = planner.upload_pack_url(info.name, running, info.workspace_volume, info.image)
    tracking = tracking or git.SESSION_REF_PREFIX + info.name
    result = runner.run(
        [
            "git", "-C", str(info.repo), "-c", "protocol.ext.allow=always",
            "fetch", "--quiet", "--no-tags", "--no-write-fetch-head", *(["--update-shallow"] if update_shallow else []), url,
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


def sync(info: model.SessionInfo) -> git.SyncOutcome:
    if not info.repo.is_dir():
        raise AgentsError(
            f"the host repository {info.repo} of {info.name} is gone",
            hint="restore it (the agent's work is still in the container's volume), then sync again",
        )
    tip = fetch_tip(info)
    if tip is None:
        return git.SyncOutcome("no-commits", info.branch, "", f"{info.branch} does not exist in {info.name}")
    return git.land_commits(info.repo, info.branch, tip, base=info.base)


# A commit id as git prints it (SHA-1 or SHA-256). The tip comes from the agent's report, so it
# is never handed to git as a revision expression ("HEAD", "main~3", an option).
_COMMIT_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


def count_unsynced(tip: str | None, ahead: int | None, host_has_tip: bool, synced_ahead: int) -> int | None:
    """The one rule for how many commits of the agent branch the host lacks.

    tip and ahead (commits from the session's base to the tip) are the agent's report and only
    size the answer; whether anything is missing is the host's own fact, host_has_tip. A tip the
    host has brings its whole history, so nothing is missing. Otherwise at least the tip is:
    the commits on top of what the host synced (synced_ahead: base..its session ref, on the
    host), or, when that leaves none (the agent rewrote what was synced, e.g. a rebase), every
    commit since the base. None: the agent's branch is not there (nothing a sync would bring).
    """
    if tip is None:
        return None
    if host_has_tip:
        return 0
    if ahead is None:
        return 1
    on_top = ahead - synced_ahead
    return on_top if on_top > 0 else max(ahead, 1)


def needs_synced_ref(info: model.SessionInfo) -> bool:
    """Whether unsynced_commits reads the session's synced ref: for a reported tip that is not the
    base (the host made its base; a session that has not committed needs no ref)."""
    return info.tip is not None and info.tip != info.base


def unsynced_commits(info: model.SessionInfo, synced_refs: dict[str, str] | None = None) -> int | None:
    """count_unsynced for a session, with info.tip and info.ahead from its health report (the
    periodic one, or a fresh one the caller put in). synced_refs: the repo's
    refs/coding-agents/sessions/* as {ref: sha}, read once for many sessions."""
    tip = info.tip
    ahead = info.ahead if type(info.ahead) is int and info.ahead >= 0 else None
    if tip is None:
        return None
    if not info.repo.is_dir():
        return ahead  # nothing on this machine to compare with: the agent's count is all there is
    if not needs_synced_ref(info):  # the tip is the base: the host made it
        return count_unsynced(tip, ahead, True, 0)
    ref = git.SESSION_REF_PREFIX + info.name
    synced = synced_refs.get(ref) if synced_refs is not None else git.ref_sha(info.repo, ref)
    host_has_tip = tip == synced or (  # the host fetched it, or has it otherwise
        isinstance(tip, str) and _COMMIT_ID.fullmatch(tip) is not None and git.ref_sha(info.repo, tip) == tip)
    synced_ahead = git.count_commits(info.repo, info.base, synced) if synced and info.base and not host_has_tip else 0
    return count_unsynced(tip, ahead, host_has_tip, synced_ahead)
