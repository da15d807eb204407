"""Options shared by run-agent and launch-agent, and the not-yet-implemented refusal."""

from __future__ import annotations

import argparse

from agents import catalog, netmodes
from agents.commands import _values


def add_agent_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("agent", metavar="AGENT", help="which agent: " + ", ".join(catalog.agent_names()))


def add_session_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", nargs="?", default=".", metavar="PATH",
                        help="any folder inside the git repo (default: .), or a git URL (https://..., ssh://..., "
                        "user@host:path): cloned with the host's git into ~/.cache/coding-agents/repos/HOST/PATH "
                        "(fetched when it is there), where the agent's branch then comes back")
    start = parser.add_mutually_exclusive_group()
    start.add_argument("--branch", metavar="B", help="work on <agent>/B (default: a fresh <agent>/session-N)")
    start.add_argument("--use-current-branch", action="store_true", help="start from the branch checked out on the host")
    parser.add_argument("--name", metavar="N", help="container name (default <agent>-<repo>-<branch>)")
    parser.add_argument("--no-push", action="store_true", help="do not sync the agent's branch back to the host repo")
    parser.add_argument("--prompt", metavar="TEXT", help="non-interactive: run the agent's print/exec mode with TEXT")
    parser.add_argument("--cpu", metavar="N", type=_values.cores("--cpu"), help="CPU limit in cores, e.g. 2 or 0.5")
    parser.add_argument("--memory", metavar="SIZE", type=_values.memory("--memory"),
                        help="memory limit, e.g. 4g or 512m (at least 6m)")
    parser.add_argument("--include-uncommitted", action="store_true", help="carry uncommitted host changes into the session")
    parser.add_argument(
        "--network-proxy", choices=netmodes.NAMES, metavar="MODE",
        help="squid (default: only allowlisted hosts, through a logged proxy), restricted (no network) "
        "or allow-all (plain bridge); the default comes from [sessions] network",
    )
    parser.add_argument(
        "--allow-domain", action="append", default=[], metavar="D", type=_values.allow_rule("--allow-domain"),
        help="squid mode: also allow D for this session (example.com, or .example.com / *.example.com "
        "for it and its subdomains); repeatable",
    )
    parser.add_argument(
        "--learn", action="store_true",
        help="squid mode: allow everything but record it; then `coding-agents policy suggest NAME`",
    )
    parser.add_argument(
        "--allow-host-port", action="append", default=[], metavar="PORT", type=_values.port("--allow-host-port"),
        help="squid mode: let the session reach PORT on this machine's loopback (e.g. a local model "
        f"server on 11434) as http://{endpoints_alias()}:PORT, and nothing else on this machine; repeatable",
    )
    autonomy = parser.add_mutually_exclusive_group()
    autonomy.add_argument(
        "--autonomy", choices=catalog.AUTONOMY_MODES, metavar="MODE",
        help="full: the agent's CLI runs commands without asking (the container is the boundary); "
        "ask: it keeps its own approval prompts. Never the CLI's own inner sandbox, which cannot work "
        "in the container. Default from [sessions] autonomy (full)",
    )
    autonomy.add_argument("--ask", dest="autonomy", action="store_const", const="ask",
                          help="the same as --autonomy ask")
    parser.add_argument(
        "--ssh-agent", action="store_true",
        help="forward the host's ssh-agent into the session (off by default: anything inside can then "
        "use your loaded keys while the session runs)",
    )
    parser.add_argument(
        "--no-host-logins", action="store_true",
        help="do not bring the host's agent login into the session (log in inside instead)",
    )
    parser.add_argument(
        "--gpu", action="store_true",
        help="pass the engine's GPUs through to the agent (docker --gpus all); refused when the engine "
        "has no GPU runtime (NVIDIA Container Toolkit)",
    )
    parser.add_argument(
        "--no-host-setup", action="store_true",
        help="do not bring your agent setup (CLAUDE.md/AGENTS.md/GEMINI.md, custom commands, agents, skills, "
        "non-secret settings; [agents.NAME] carry) into the session",
    )
    parser.add_argument(
        "--resume", action="store_true",
        help="start from the history (transcripts) the branch's last session left when it was removed, or that "
        "`coding-agents history import` brought; the CLI continues its last conversation",
    )
    add_dry_run(parser, "the launch")
    parser.add_argument(
        "-y", "--yes", action="store_true",
        help="run-agent: when the agent exits with --no-push, discard unsynced commits without refusing; "
        "launch-agent never asks, so it has no effect there",
    )


def add_dry_run(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--dry-run", action="store_true",
                        help=f"print {what}'s plan (names, mounts, networks, every docker argv; secrets as ***) "
                        "and change nothing")
    parser.add_argument("--json", action="store_true", help="with --dry-run: the plan as JSON")


def print_preview(preview: dict, as_json: bool) -> int:
    from agents import output
    from agents.session import preview as preview_module

    if as_json:
        output.print_json(preview)
    else:
        print(preview_module.render_text(preview))
    return 0


def dry_run(args: argparse.Namespace, mode: str) -> int | None:
    """The preview when --dry-run was given (None otherwise); --json alone is refused."""
    from agents.errors import UsageError

    if args.json and not args.dry_run:
        raise UsageError("--json only goes with --dry-run here", hint="add --dry-run, or leave out --json")
    if not args.dry_run:
        return None
    from agents.config import load_config
    from agents.session import preview

    return print_preview(preview.launch_preview(launch_options(args, mode), load_config()), args.json)


def launch_options(args: argparse.Namespace, mode: str):
    """The Namespace as plain launch options (handlers pass values, not Namespaces, inward)."""
    from agents.session.options import LaunchOptions

    return LaunchOptions(
        agent=args.agent,
        path=args.path,
        branch=args.branch,
        use_current_branch=args.use_current_branch,
        name=args.name,
        no_push=args.no_push,
        prompt=args.prompt,
        cpus=args.cpu,
        memory=args.memory,
        include_uncommitted=args.include_uncommitted,
        network=args.network_proxy,
        mode=mode,
        allow_domains=tuple(args.allow_domain),
        learn=args.learn,
        ssh_agent=args.ssh_agent,
        host_logins=not args.no_host_logins,
        autonomy=args.autonomy,
        host_ports=tuple(args.allow_host_port),
        gpu=args.gpu,
        resume=args.resume,
        host_setup=not args.no_host_setup,
    )


def endpoints_alias() -> str:
    from agents.network import HOST_ALIAS

    return HOST_ALIAS
