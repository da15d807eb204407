"""Landing agents' work on a branch, as decisions only (pure): what to land, in which order, what
the sandbox runs, whether the host's branch may move, the summary, and what `prune` removes.

The executors are in land_run.py (git and docker); nothing here runs a program.
"""

from __future__ import annotations

import re

from agents.records import field, record

MODES = ("rebase", "merge", "squash")
DEFAULT_MODE = "rebase"

# What each land ends as, in the order the summary explains them.
LANDED = "landed"  # the target branch on the host now holds the work
TESTED = "tested"  # green, but the target is checked out: the user fast-forwards it (the command is said)
NOTHING = "nothing to land"  # no commits, or every change is already on the target
CONFLICT = "conflict"
TEST_FAILED = "test failed"
FAILED = "error"  # the sandbox or a fetch failed: nothing moved
FAILURES = (CONFLICT, TEST_FAILED, FAILED)

# Exit codes of INTEGRATE_SCRIPT (anything else: the sandbox itself failed).
CONFLICT_EXIT = 10
SAVED_ASIDE = re.compile(r"(?P<branch>.+)-\d{8}-\d{6}(-\d+)?")


@record(frozen=True)
class Item:
    """One piece of agent work: a session's branch, or an agent branch on the host with no session."""

    name: str  # the session's name, or the branch for a branch without a session
    branch: str
    started: str  # sortable (ISO 8601 UTC): a session's launch, a branch's first own commit
    session: bool = True
    image: str = ""  # the session's image (the test sandbox's default)
    base: str = ""  # a session's start commit (coding-agents.base); "" for a branch
    dirty: bool = False  # uncommitted work in the workspace (not landed)


def queue_order(items: list[Item]) -> list[Item]:
    """land --all's order: the work that started first lands first (then by name, for ties); each
    later item is integrated on the target as the earlier ones left it. A branch also held by a
    session is the session's (listed once)."""
    sessions = {item.branch for item in items if item.session}
    kept = [item for item in items if item.session or item.branch not in sessions]
    return sorted(kept, key=lambda item: (item.started, item.name))


def agent_branch_names(branches: list[str], agents: list[str]) -> list[str]:
    """The host branches that are agents' work: <agent>/..., and not a saved-aside copy."""
    prefixes = tuple(f"{agent}/" for agent in agents)
    return [branch for branch in branches if branch.startswith(prefixes) and not is_saved_aside(branch)]


def is_saved_aside(branch: str) -> bool:
    """<branch>-YYYYMMDD-HHMMSS[-N], which sync makes when the host's branch had moved, of an
    agent's branch (<agent>/...): a user's own release-20261201-101010 is not one."""
    match = SAVED_ASIDE.fullmatch(branch)
    return match is not None and "/" in match.group("branch")


def choose_base(session_base: str, base_is_ancestor: bool, merge_base: str | None) -> str | None:
    """Where the agent's own commits start: the session's start commit while the branch still
    contains it, else where it and the target meet (None: no history in common)."""
    if session_base and base_is_ancestor:
        return session_base
    return merge_base


def nothing_to_land(tip: str | None, base: str | None, tip_on_target: bool) -> bool:
    return tip is None or tip == base or tip_on_target


def commit_message(mode: str, item: Item, target: str, subjects: list[str]) -> str:
    """The message of a merge or squash commit (a rebase keeps the agent's own messages)."""
    who = f"{item.name} ({item.branch})" if item.session else item.branch
    if mode == "merge":
        return f"Merge {who} into {target}"
    body = "\n".join(f"* {subject}" for subject in subjects)
    return f"{item.branch}: {len(subjects)} commit(s) squashed\n\nLanded from {who}.\n\n{body}".rstrip()


# In the git sandbox, as the agent user, in the repository the host pushed into. Positional:
# $1 mode, $2 target commit, $3 base, $4 tip, $5 name, $6 email, $7 message. No hooks and no
# signing (the sandbox has no signer); prints the result commit last, or the conflicting files.
INTEGRATE_SCRIPT = f"""\
set -u
mode="$1"; target="$2"; base="$3"; tip="$4"; who="$5"; email="$6"; message="$7"
cd /workspace/repo
g() {{ git -c user.name="$who" -c user.email="$email" -c commit.gpgsign=false -c core.hooksPath=/dev/null \\
  -c advice.detachedHead=false "$@"; }}
conflict() {{ git diff --name-only --diff-filter=U | sed 's/^/conflict: /'; "$@" >/dev/null 2>&1; exit {CONFLICT_EXIT}; }}
g reset -q --hard >/dev/null 2>&1
g checkout -q --detach "$target" || exit 3
case "$mode" in
  rebase) g rebase -q --onto "$target" "$base" "$tip" || conflict g rebase --abort ;;
  merge) g merge -q --no-ff -m "$message" "$tip" || conflict g merge --abort ;;
  squash) g merge -q --squash "$tip" || conflict g reset -q --hard
          git diff --cached --quiet || g commit -q -m "$message" || exit 4 ;;
  *) echo "unknown mode $mode" >&2; exit 2 ;;
esac
git rev-parse HEAD
"""

# In a fresh test sandbox (never the git one, so a test cannot touch what lands next), as the
# agent user, with a pack of the result's tree on stdin: a checkout like a session's own
# workspace (a shallow repository at the result), then the test command. $1 the result, $2 the command.
TEST_SCRIPT = """\
set -eu
mkdir -p /workspace/land && cd /workspace/land
git init -q
git index-pack --stdin >/dev/null
printf '%s\\n' "$1" > .git/shallow
git update-ref refs/heads/landing "$1"
git symbolic-ref HEAD refs/heads/landing
git reset -q --hard
set +e
sh -c "$2" 2>&1
status=$?
echo "coding-agents: test exited with status $status"
exit $status
"""


@record(frozen=True)
class Move:
    """What to do with the target branch after a green test."""

    action: str  # "update" (compare-and-swap old -> new) | "tell" (checked out: the user runs it) | "stale"
    message: str


def decide_move(target: str, old: str | None, current: str | None, result: str, checked_out: bool) -> Move:
    """Move the host's target only by fast-forward from what the land started from (old), never
    when a worktree has it checked out, and never when it moved meanwhile (current != old)."""
    if current != old:
        return Move("stale", f"{target} moved on the host while {result[:10]} was tested; land again")
    if checked_out:
        return Move("tell", f"{target} is checked out here, so it was not moved: git merge --ff-only {result[:10]}")
    return Move("update", f"{target} fast-forwarded to {result[:10]}")


@record
class Outcome:
    item: Item
    status: str
    detail: str = ""
    result: str | None = None
    log: str | None = None
    conflicts: list[str] = field(default_factory=list)


def summary_rows(outcomes: list[Outcome]) -> list[dict[str, str]]:
    """land --all's table: one row per item, in the order they were tried."""
    rows = []
    for outcome in outcomes:
        if outcome.status == CONFLICT:
            detail = "in " + ", ".join(outcome.conflicts) if outcome.conflicts else outcome.detail
        else:
            detail = outcome.detail
        rows.append({"name": outcome.item.name, "branch": outcome.item.branch, "result": outcome.status,
                     "detail": detail + (f" (log: {outcome.log})" if outcome.log and outcome.status in FAILURES else "")})
    return rows


def summary_line(outcomes: list[Outcome]) -> str:
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    order = (LANDED, TESTED, NOTHING, CONFLICT, TEST_FAILED, FAILED)
    return ", ".join(f"{counts[status]} {status}" for status in order if counts.get(status)) or "nothing to land"


def parse_conflicts(stdout: str) -> list[str]:
    return [line[len("conflict: "):] for line in stdout.splitlines() if line.startswith("conflict: ")]


# --- prune ---------------------------------------------------------------------------------------


@record(frozen=True)
class Prunable:
    branch: str
    sha: str
    why: str


def prune_plan(branches: dict[str, str], agent_branches: list[str], landed: set[str], live: set[str],
               checked_out: set[str], target: str, unlanded_counts: dict[str, int]) -> tuple[list[Prunable], list[str]]:
    """What `prune` removes: saved-aside copies (<branch>-<timestamp>) and agent branches whose
    every change is on the target (landed). Never a branch checked out in a worktree, nor one a
    session still syncs into (live). branches: every host branch -> its commit. Returns
    (to remove, notes on what was kept and why)."""
    remove: list[Prunable] = []
    notes: list[str] = []
    for branch in sorted(branches):
        aside = is_saved_aside(branch)
        if not aside and branch not in agent_branches:
            continue
        if branch in checked_out:
            notes.append(f"{branch}: kept, it is checked out")
            continue
        if not aside and branch in live:
            if branch in landed:
                notes.append(f"{branch}: kept, a session still works on it")
            continue
        if aside:
            left = unlanded_counts.get(branch, 0)
            why = "saved aside" + (f"; {left} commit(s) not on {target}" if left else f"; landed on {target}")
            remove.append(Prunable(branch, branches[branch], why))
        elif branch in landed:
            remove.append(Prunable(branch, branches[branch], f"landed on {target}"))
    return remove, notes
