"""`list-agents`: the agent sessions, with branch, state and unsynced commits."""

from __future__ import annotations

TYPE_CHECKING = False  # (not typing's: the fast path in agents/cli.py imports as little as it can)
if TYPE_CHECKING:
    import argparse

HELP = ("list agent sessions: name, agent, repo, branch, state, activity, network, age, unsynced commits, "
        "and the agent state kept against [sessions] state_size")


def add_parser(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser("list-agents", parents=[common], help=HELP, description=HELP + ".")
    parser.add_argument("--json", action="store_true",
                        help="print a JSON list, one object per session ([] for none); times in ISO 8601")
    parser.add_argument("--all", action="store_true", help="include stopped sessions")
    parser.set_defaults(handler=run)


# The words list-agents takes, each once: a run with only these needs no parser (argparse's import
# and the parser's build are a good part of a listing's time).
PLAIN_FLAGS = {"--json": "json", "--all": "all", "--debug": "debug"}


def plain_options(words: list[str]):
    """The options of `list-agents WORDS` when WORDS are only PLAIN_FLAGS, each at most once, as
    the parser would give them; None: anything else (--help, a mistake), for the parser to handle."""
    if len(set(words)) != len(words) or not set(words) <= PLAIN_FLAGS.keys():
        return None
    from types import SimpleNamespace

    return SimpleNamespace(handler=run, **{dest: flag in words for flag, dest in PLAIN_FLAGS.items()})


def run(args: argparse.Namespace) -> int:
    from agents.session import listing

    with listing.started(include_stopped=args.all):  # the engine answers while the rest is imported
        return _listing(args)


def _listing(args: argparse.Namespace) -> int:
    from agents import engine, state_size
    from agents.output import print_json, print_table
    from agents.session import activity, query

    infos = query.listed_with_reports(include_stopped=args.all)
    rows = query.session_rows(infos)
    doing = activity.activities(infos)  # what each agent's own screen says it is doing
    rows = [{**row, "activity": doing.get(row["name"])} for row in rows]
    kept = state_size.sizes(infos)  # the CLIs' transcripts and history, against [sessions] state_size
    if args.json:
        print_json([{**row, "history": kept[row["name"]].as_json() if row["name"] in kept else None}
                    for row in json_rows(infos, rows)])
        return 0
    endpoint = engine.current()
    if not endpoint.is_default:  # sessions live on one engine each: say which one this is
        print(f"engine: {endpoint.describe()}")
    if not rows:
        print("no agent sessions" + ("" if args.all else " running (--all shows stopped ones)"))
    else:
        print_table([{**row, "history": kept[row["name"]].shown if row["name"] in kept else None} for row in rows],
                    ["name", "agent", "branch", "state", "activity", "network", "age", "unsynced", "denied",
                     "history", "repo"])
    for name, size in kept.items():
        if size.over:
            state_size.warn(name, size)
    return 0


def json_rows(infos: list, rows: list[dict], now=None) -> list[dict]:
    """The table's rows for programs: docker's state alone, dirty apart (null until the first health
    report), and the age in seconds next to created."""
    from agents.session import model

    shaped = []
    for info, row in zip(infos, rows, strict=True):
        age = model.seconds_since(info.created, now)
        shaped.append({**{key: value for key, value in row.items() if key != "age"},
                       "state": info.state, "dirty": info.dirty, "age_seconds": age})
    return shaped
