"""The engine's listing of sessions: the `docker ps` and `docker volume ls` that list-agents (and
every lookup of sessions in query) makes, with the formats query parses. Light on purpose (runner
and naming only): list-agents starts these queries first and imports the rest while the engine
answers (started).
"""

from __future__ import annotations

from agents import runner
from agents.session import naming

TYPE_CHECKING = False  # (not typing's: pathlib's import would come before the early ps)
if TYPE_CHECKING:
    from pathlib import Path

# What `docker ps` prints of a container, one JSON object a line: the id, the state, the status
# ("Up 3 seconds (healthy)") and each of our labels by name, "" when it has none. (ps's .Labels is
# one "k=v,k=v" string, and values hold commas; per-label fields cannot be misread.)
PS_FORMAT = ('{"Id":{{json .ID}},"State":{{json .State}},"Status":{{json .Status}},"Labels":['
             + ",".join(f'{{{{json (.Label "{label}")}}}}' for label in naming.LABELS) + "]}")


# The same for `docker volume ls`: a volume's name and our labels (an orphaned session's facts).
VOLUME_FORMAT = ('{"Name":{{json .Name}},"Labels":['
                 + ",".join(f'{{{{json (.Label "{label}")}}}}' for label in naming.LABELS) + "]}")

# Podman's templates have no .Label function, but their .Labels is a map (JSON), and its ps's
# .State is the human status ("Up 6 seconds ago"): the state word is .ListContainer.State.
PODMAN_PS_FORMAT = ('{"Id":{{json .ID}},"State":{{json .ListContainer.State}},"Status":{{json .Status}},'
                    '"Labels":{{json .Labels}}}')
PODMAN_VOLUME_FORMAT = '{"Name":{{json .Name}},"Labels":{{json .Labels}}}'


def ps_format() -> str:
    return PODMAN_PS_FORMAT if runner.engine_kind() == "podman" else PS_FORMAT


def volume_format() -> str:
    return PODMAN_VOLUME_FORMAT if runner.engine_kind() == "podman" else VOLUME_FORMAT


def filters(repo: Path | None = None) -> list[str]:
    """Our containers or volumes; with repo, only that repository's (the engine does the choosing).
    Podman reads each --filter value as a CSV record (a path's comma would split it in two)."""
    if repo is None:
        return ["--filter", f"label={naming.SESSION}"]
    by_repo = f"label={naming.REPO}={repo}"
    return ["--filter", f"label={naming.SESSION}",
            "--filter", runner.csv_field(by_repo) if runner.engine_kind() == "podman" else by_repo]


def ps_args(repo: Path | None = None) -> list[str]:
    # --all even for running sessions only: a stopped proxy of a running session must be seen.
    return ["ps", "--all", "--no-trunc", *filters(repo), "--format", ps_format()]


def volume_args(repo: Path | None = None) -> list[str]:
    return ["volume", "ls", *filters(repo), "--format", volume_format()]


def started(include_stopped: bool):
    """The whole listing's queries, started now for the block (runner.started_early): query's own
    runs of them take the answers."""
    return runner.started_early(runner.engine_argv(*ps_args()),
                                *([runner.engine_argv(*volume_args())] if include_stopped else []))
