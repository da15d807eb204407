"""The executors of `land`, `diff` and `prune`: the git and docker calls behind land.py's decisions.

A land never touches the user's work tree, index or checked-out branch. The agent's commits come
home through `git fetch` (as `sync` brings them) into a hidden ref that is deleted again; the
target is integrated with them in a throwaway git sandbox (the sessions' hardening, no network),
which only runs git; the result's tree is tested in a second, fresh sandbox (no network unless
asked) that only runs the test; and the host's target branch moves only by compare-and-swap from
the commit the land started from, and only when no worktree has it checked out.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path

from agents import docker, git, land, paths, records, runner
from agents.errors import AgentsError
from agents.output import say

LAND_LABEL = "coding-agents.land"
LANDING_REF = "refs/coding-agents/landing/"  # a green result, for the moment it is fetched home
TESTED_REF = "refs/coding-agents/landed/"  # a green result the user fast-forwards to by hand
PIDS_LIMIT = 1024


def log_dir() -> Path:
    """land: a log of every land (the sandbox's git output and the test's)."""
    return paths.state_dir() / "land"


def base_image() -> str:
    from agents import images

    return images.image_ref("base")


def resolve_target(repo: Path, onto: str | None) -> tuple[str, str]:
    """The branch to land on (--onto, else the checked-out branch) and its commit."""
    branch = onto or git.current_branch(repo)
    if not branch:
        raise AgentsError(f"{repo} has no branch checked out (detached HEAD)", hint="name the branch: --onto BRANCH")
    git.validate_branch_name(branch)
    sha = git.branch_sha(repo, branch)
    if sha is None:
        raise AgentsError(f"{repo} has no branch {branch}", hint="name an existing branch with --onto BRANCH")
    return branch, sha


def session_item(info) -> land.Item:
    return land.Item(name=info.name, branch=info.branch, started=info.created, session=True, image=info.image,
                     base=info.base, dirty=bool(info.dirty))


def branch_items(repo: Path, target: str, target_sha: str, skip: set[str]) -> list[land.Item]:
    """Agent branches on the host (no session holds them) with commits the target lacks."""
    from agents import catalog
    from agents.config import load_config

    everything = git.local_branches(repo, "")
    found = []
    for branch in land.agent_branch_names(everything, catalog.agent_names(load_config().agents)):  # yours too
        if branch in skip or branch == target:
            continue
        tip = git.branch_sha(repo, branch)
        if not tip or git.is_ancestor(repo, tip, target_sha):
            continue
        first = git.git(repo, "log", "--reverse", "--format=%cI", f"{target_sha}..{tip}", check=False).stdout.split()
        started = _utc(first[0]) if first else ""
        found.append(land.Item(name=branch, branch=branch, started=started, session=False))
    return found


def _utc(iso: str) -> str:
    try:
        return datetime.fromisoformat(iso).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return iso


def new_log(item: land.Item) -> Path:
    folder = log_dir()
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in item.name)
    return folder / f"{stamp}-{safe}.log"


class GitSandbox:
    """A throwaway container that only runs git: the host pushes the target and the agent's tip
    into it, it integrates them (land.INTEGRATE_SCRIPT), and the host fetches the result."""

    def __init__(self, image: str):
        self.image = image
        self.name = f"coding-agents-land-{uuid.uuid4().hex[:10]}"
        self.started = False

    def __enter__(self) -> GitSandbox:
        from agents import hardening
        from agents.session import naming

        runner.run([
            runner.engine(), "run", "--detach", "--name", self.name, "--label", f"{LAND_LABEL}=git",
            "--network", "none", "--env", "HOME=/tmp", *hardening.hardening_args(PIDS_LIMIT),
            "--volume", naming.WORKSPACE, "--workdir", naming.WORKSPACE, "--entrypoint", "sleep", self.image, "infinity",
        ], hint="`coding-agents doctor` checks the engine and images")
        self.started = True
        self.exec("git", "init", "-q", "/workspace/repo")
        return self

    def __exit__(self, *exc) -> None:
        if self.started:
            runner.run(docker.remove_argv(self.name, volumes=True), check=False)

    def exec(self, *command: str, check: bool = True) -> runner.Result:
        from agents.session import naming

        return runner.run(naming.agent_exec(self.name, *command), check=check)

    def url(self) -> str:
        from agents.session import naming

        return "ext::" + " ".join([*naming.agent_exec(self.name, stdin=True), "%S", "/workspace/repo"])

    def push(self, repo: Path, commits: dict[str, str]) -> None:
        refspecs = [f"{sha}:refs/land/{ref}" for ref, sha in commits.items()]
        git.git(repo, "-c", "protocol.ext.allow=always", "push", "--quiet", "--force", self.url(), *refspecs)

    def fetch(self, repo: Path, ref: str) -> str | None:
        git.git(repo, "-c", "protocol.ext.allow=always", "fetch", "--quiet", "--no-tags", "--no-write-fetch-head",
                self.url(), f"+refs/land/result:{ref}")
        return git.ref_sha(repo, ref)


def scratch_repo(repo: Path, folder: str) -> Path:
    """A bare repository that sees the host's objects (an alternate) but adds none to them: the
    agent's commits and every result land here first, and reach the host repository only when
    they land. (A commit object the host has counts as synced for list-agents and remove-agent.)"""
    scratch = Path(folder) / "scratch.git"
    runner.run(["git", "init", "-q", "--bare", str(scratch)], env=git.git_env())
    common = git.git(repo, "rev-parse", "--path-format=absolute", "--git-common-dir").stdout.strip()
    (scratch / "objects" / "info" / "alternates").write_text(os.path.join(common, "objects") + "\n")
    return scratch


def fetch_session_tip(info, scratch: Path, ref: str) -> str | None:
    """The session's branch into ref of the scratch repository (not into the host's)."""
    from agents import workspace

    tip = workspace.fetch_tip(records.replace(info, repo=scratch), tracking=ref, update_shallow=True)
    # The workspace's shallow root is a commit of the host's, whose history the host has.
    (scratch / "shallow").unlink(missing_ok=True)
    return tip


def run_test(repo: Path, result: str, image: str, command: str, network: str, log: Path) -> bool:
    """The test command on the result's checkout in a fresh, hardened container; its output to log."""
    from agents import hardening
    from agents.session import naming

    argv = [runner.engine(), "run", "--rm", "-i", "--label", f"{LAND_LABEL}=test", "--network",
            "none" if network == "restricted" else "bridge", "--env", "HOME=/tmp",
            *hardening.hardening_args(PIDS_LIMIT), "--volume", naming.WORKSPACE, "--workdir", naming.WORKSPACE,
            "--entrypoint", "sh", image, "-c", land.TEST_SCRIPT, "land-test", result, command]
    with tempfile.TemporaryDirectory(prefix="coding-agents-land-") as tmp:
        objects = os.path.join(tmp, "objects")
        git.object_list_for_checkout(repo, [result], objects)
        try:
            done = runner.run_pipeline(["git", "-C", str(repo), "pack-objects", "--stdout", "-q"], argv,
                                       producer_stdin=objects, env=git.git_env())
        except runner.CommandFailed as error:
            done = error.result
    out, err = done.stdout, done.stderr
    with open(log, "a") as handle:
        handle.write(f"$ {command}\n{out}{err}")
    return done.ok


@records.record
class Target:
    """The branch being landed on, as the queue has moved it (host: what the host's ref holds)."""

    branch: str
    sha: str  # where the next item is integrated
    host: str  # what the host's ref was when we last looked or moved it
    checked_out: bool


def land_item(repo: Path, scratch: Path, item: land.Item, target: Target, sandbox: GitSandbox, mode: str,
              test: str | None, network: str, image: str | None, info=None) -> land.Outcome:
    """One item: fetch, integrate, test, move. Until it is green, everything happens in the scratch
    repository and the sandboxes: the host's refs and objects are as before."""
    log = new_log(item)
    tip_ref, result_ref = f"refs/tip/{item.name}", f"refs/result/{item.name}"
    try:
        tip = fetch_session_tip(info, scratch, tip_ref) if info is not None else git.branch_sha(repo, item.branch)
    except AgentsError as error:
        return land.Outcome(item, land.FAILED, error.message)
    if tip is None:
        return land.Outcome(item, land.NOTHING, f"{item.branch} has no commits yet")
    base_ok = bool(item.base) and git.ref_sha(scratch, item.base) is not None and git.is_ancestor(scratch, item.base, tip)
    meet = git.git(scratch, "merge-base", target.sha, tip, check=False).stdout.strip() or None
    base = land.choose_base(item.base, base_ok, meet)
    if land.nothing_to_land(tip, base, git.is_ancestor(scratch, tip, target.sha)):
        return land.Outcome(item, land.NOTHING, f"{target.branch} already has every commit of {item.branch}")
    if base is None:
        return land.Outcome(item, land.FAILED, f"{item.branch} and {target.branch} have no history in common")
    subjects = git.git(scratch, "log", "--reverse", "--format=%s", f"{base}..{tip}").stdout.splitlines()
    name, email = git.identity(repo)
    message = land.commit_message(mode, item, target.branch, subjects)
    sandbox.push(scratch, {"target": target.sha, "tip": tip, "base": base})
    done = sandbox.exec("sh", "-c", land.INTEGRATE_SCRIPT, "land", mode, target.sha, base, tip, name, email,
                        message, check=False)
    log.write_text(f"land {item.name} ({item.branch}, {len(subjects)} commit(s)) onto {target.branch} "
                   f"{target.sha[:10]} by {mode}\n{done.stdout}{done.stderr}")
    if done.returncode == land.CONFLICT_EXIT:
        files = land.parse_conflicts(done.stdout)
        return land.Outcome(item, land.CONFLICT, f"with {target.branch}", log=str(log), conflicts=files)
    if not done.ok:
        return land.Outcome(item, land.FAILED, f"the git sandbox failed: {runner.last_line(done.stderr)}",
                            log=str(log))
    sandbox.exec("git", "-C", "/workspace/repo", "update-ref", "refs/land/result", "HEAD")
    result = sandbox.fetch(scratch, result_ref)
    if result is None or result == target.sha:
        return land.Outcome(item, land.NOTHING, f"every change of {item.branch} is already on {target.branch}")
    if not git.is_ancestor(scratch, target.sha, result):
        return land.Outcome(item, land.FAILED, "the sandbox's result does not descend from the target", log=str(log))
    if test:
        say(f"==> testing {item.name} on {target.branch}: {test}")
        if not run_test(scratch, result, image or item.image or base_image(), test, network, log):
            return land.Outcome(item, land.TEST_FAILED, f"`{test}` failed", log=str(log))
    move = land.decide_move(target.branch, target.host, git.branch_sha(repo, target.branch), result,
                            target.checked_out)
    if move.action == "stale":
        return land.Outcome(item, land.FAILED, move.message, log=str(log))
    # Green: now the result's objects go into the host repository (a ref for the fetch, then the move).
    landing = LANDING_REF + land_ref_name(item.name)
    try:
        git.git(repo, "fetch", "--quiet", "--no-tags", "--no-write-fetch-head", str(scratch), f"+{result_ref}:{landing}")
        if move.action == "update":
            if not git.update_ref(repo, f"refs/heads/{target.branch}", result, target.host,
                                  message=f"coding-agents land {item.name}"):
                return land.Outcome(item, land.FAILED, f"{target.branch} moved on the host meanwhile; land again")
            target.host = result
        else:
            git.git(repo, "update-ref", TESTED_REF + target.branch, result)
    finally:
        git.git(repo, "update-ref", "-d", landing, check=False)
    target.sha = result
    if info is not None:
        bring_home(repo, scratch, info, tip_ref, tip)
    status = land.LANDED if move.action == "update" else land.TESTED
    detail = f"{target.branch} at {result[:10]} ({len(subjects)} commit(s), {mode})"
    return land.Outcome(item, status, detail, result=result, log=str(log))


def land_ref_name(name: str) -> str:
    return name.replace("/", "-")


def bring_home(repo: Path, scratch: Path, info, tip_ref: str, tip: str) -> None:
    """After a land, the session's branch comes home as `sync` brings it, so list-agents counts
    nothing unsynced and prune can tell it is landed."""
    git.git(repo, "fetch", "--quiet", "--no-tags", "--no-write-fetch-head", str(scratch),
            f"+{tip_ref}:{git.SESSION_REF_PREFIX}{info.name}")
    outcome = git.land_commits(repo, info.branch, tip, base=info.base)
    if outcome.status not in ("up-to-date", "no-commits"):
        say(f"==> {outcome.message}")


def land_queue(repo: Path, items: list[tuple[land.Item, object]], target_branch: str, mode: str,
               test: str | None, network: str, image: str | None) -> tuple[list[land.Outcome], Target]:
    """Each item in turn on the target as the earlier ones left it."""
    _, sha = resolve_target(repo, target_branch)
    target = Target(target_branch, sha, sha, target_branch in git.checked_out_branches(repo))
    outcomes: list[land.Outcome] = []
    with tempfile.TemporaryDirectory(prefix="coding-agents-land-") as folder, GitSandbox(image_for_git(items)) as sandbox:
        scratch = scratch_repo(repo, folder)
        for item, info in items:
            say(f"==> landing {item.name} ({item.branch}) on {target.branch}")
            if item.dirty:
                say(f"==> note: {item.name} has uncommitted changes; only its commits are landed")
            outcome = land_item(repo, scratch, item, target, sandbox, mode, test, network, image, info)
            say(f"==> {item.name}: {outcome.status}" + (f" {outcome.detail}" if outcome.detail else ""))
            outcomes.append(outcome)
    return outcomes, target


def image_for_git(items: list[tuple[land.Item, object]]) -> str:
    """Any image of ours has git; the first session's is there for sure (base otherwise)."""
    for item, _ in items:
        if item.image:
            return item.image
    return base_image()


def checked_out_hint(target: Target) -> str:
    return (f"{target.branch} is checked out here, so it was not moved; to take the tested result: "
            f"git merge --ff-only {target.sha[:12]} (kept as {TESTED_REF}{target.branch})")


# --- diff ----------------------------------------------------------------------------------------

# In the workspace (the running container, or a throwaway one on a stopped session's volume), as
# the agent user: the work since the start commit, committed and not, untracked files included,
# through a temporary index (the agent's own index is never touched). $1 base, $2 branch,
# $3 "committed" or "all", then git diff's own options.
DIFF_SCRIPT = """\
set -eu
cd /workspace
base="$1"; branch="$2"; what="$3"; shift 3
if [ "$what" = committed ]; then exec git diff "$@" "$base" "refs/heads/$branch" --; fi
GIT_INDEX_FILE=$(mktemp /tmp/coding-agents-diff.XXXXXX); export GIT_INDEX_FILE
trap 'rm -f "$GIT_INDEX_FILE"' EXIT
git read-tree HEAD
git add -A
git diff --cached "$@" "$base" --
"""


def diff(info, stat: bool, committed: bool, color: bool) -> runner.Result:
    from agents import workspace

    options = [*(["--stat"] if stat else []), "--color=always" if color else "--no-color"]
    return workspace.in_workspace(info, "sh", "-c", DIFF_SCRIPT, "diff", info.base, info.branch,
                                  "committed" if committed else "all", *options)


# --- prune ---------------------------------------------------------------------------------------


def landed_branches(repo: Path, branches: list[str], target_sha: str) -> set[str]:
    """Branches whose every change is on the target: merging them in would change nothing (so a
    rebased or squashed land counts as landed, not only a merge)."""
    found = set()
    for branch in branches:
        tip = git.branch_sha(repo, branch)
        if not tip:
            continue
        if git.is_ancestor(repo, tip, target_sha):
            found.add(branch)
            continue
        merged = git.git(repo, "merge-tree", "--write-tree", target_sha, tip, check=False)
        tree = merged.stdout.split("\n", 1)[0].strip()
        if merged.ok and tree and tree == git.git(repo, "rev-parse", f"{target_sha}^{{tree}}").stdout.strip():
            found.add(branch)
    return found


def unlanded_count(repo: Path, branch: str, target_sha: str) -> int:
    """Commits of branch whose change is not on the target (git cherry's '+' lines)."""
    shown = git.git(repo, "cherry", target_sha, f"refs/heads/{branch}", check=False).stdout
    return sum(1 for line in shown.splitlines() if line.startswith("+"))


def forget_taken_results(repo: Path) -> None:
    """Drop refs/coding-agents/landed/BRANCH once BRANCH contains it (the user took the result)."""
    listed = git.git(repo, "for-each-ref", "--format=%(refname) %(objectname)", TESTED_REF, check=False).stdout
    for line in listed.splitlines():
        ref, _, sha = line.partition(" ")
        branch_tip = git.branch_sha(repo, ref[len(TESTED_REF):])
        if branch_tip and git.is_ancestor(repo, sha, branch_tip):
            git.git(repo, "update-ref", "-d", ref, sha, check=False)
