"""Checking a launch request before anything is created: the user's input, the repo, clashes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from agents import (
    bridges,
    catalog,
    records,
)
from agents.config import Config
from agents.mcp import render
from agents.output import say
from agents.session import decide, facts, model, planner
from agents.session.options import LaunchOptions


def build_request(
    options: LaunchOptions, config: Config, find_existing: Callable[[Path], list[model.SessionInfo]]
) -> planner.SessionRequest:
    """Check everything that can be checked before anything is created: the user's input first
    (before anything is asked), then the facts of the repo, the engine and the host, asked once
    (find_existing gives the repo's sessions), then the pure decision on them."""
    decide.check_input(options, config)
    return decide.session_request(options, config, facts.gather(options, config, find_existing))


def build_mcp(agent: catalog.Agent, repo: Path, config: Config) -> render.McpPlan:
    """The session's MCP servers, as a launch in repo would get them (or its refusal)."""
    return decide.mcp_request(*facts.read_mcp(agent, repo, config))


def build_bridge(
    name: str, agent: catalog.Agent, repo: Path, options: LaunchOptions, config: Config,
    host_ports: tuple[int, ...] = (),
) -> bridges.BridgeSettings:
    """What the session's host-side bridges will serve, as a launch would decide it now."""
    settings, warnings = decide.bridge_request(name, agent, repo, facts.read_bridge(agent, repo, options, config),
                                               config, host_ports)
    for warning in warnings:
        say(f"==> {warning}")
    return settings


def clone_if_url(options: LaunchOptions, config: Config) -> LaunchOptions:
    """A git URL instead of a folder: our clone of it on the host (made or fetched now) becomes the
    folder. Before any Ctrl-C deferral, as git may ask for a password on this terminal."""
    from agents import remote

    found = remote.parse(options.path)
    if found is None:
        return options
    catalog.get_agent(options.agent, config.agents)  # a typo is refused before any download
    clone = remote.ensure_clone(found)
    say(f"==> the agent works on {clone} (our clone of {found.shown}); its branch comes back there")
    return records.replace(options, path=str(clone))


def clone_note(info: model.SessionInfo) -> str | None:
    """Where the work is when the session's repository is our clone of a URL (None otherwise)."""
    from agents import remote

    origin = remote.origin_of(info.repo) if info.repo.is_dir() else None
    if origin is None:
        return None
    return f"{info.branch} is in {info.repo}, our clone of {remote.redact(origin)}: push or merge it from there"
