"""The session manifest: what a session is made of, recorded at launch, and checked later.

Its SHA-256 is the container label coding-agents.manifest; the broker's capabilities are bound
to it, and `coding-agents inspect NAME` compares the running session with it.
"""

from __future__ import annotations

import os
from pathlib import Path

from agents import bridges, docker, records, runner, workspace
from agents.mcp import render, servers
from agents.session import model, naming, planner

TYPE_CHECKING = False  # (not typing's: importing typing is ~4 ms of every start; checkers know the name)
if TYPE_CHECKING:
    from typing import Any

    from agents.config import Config


def build(request: planner.SessionRequest, config: Config, image_ids: dict[str, str | None] | None = None) -> dict:
    """What this session is made of; its SHA-256 becomes a label, and capabilities are bound to it.
    image_ids: the images' ids when the caller has just asked the engine (else they are asked here)."""
    import hashlib

    def file_digest(path: str | os.PathLike | None) -> str | None:
        try:
            return hashlib.sha256(Path(path).read_bytes()).hexdigest() if path else None
        except OSError:
            return None

    tool = os.environ.get("PEX")
    sources = {}
    if config.path:
        sources[str(config.path)] = file_digest(config.path)
    repo_file = request.repo / servers.REPO_CONFIG
    if repo_file.exists():
        sources[str(repo_file)] = file_digest(repo_file)
    bridge = request.bridge
    rendered = {}
    if bridge and bridge.mcp_rendered:
        chosen = render.Rendered(**bridge.mcp_rendered)
        rendered[chosen.container] = render.rendered_digest(chosen, chosen.content)
    known = image_ids or {}
    images_used = {ref: known[ref] if known.get(ref) else docker.image_id(ref)
                   for ref in (request.image, *((request.proxy_image,) if request.policy is not None else ()))}
    return {
        "version": 1,
        "session": request.name,
        "tool": {"path": tool or "source", "sha256": file_digest(tool) if tool else None},
        "config_sources": sources,
        "rendered_mcp": rendered,
        "mcp_servers": {name: servers.definition_digest(definition)
                        for name, definition in ((bridge.mcp_sidecar or {}) if bridge else {}).items()},
        "images": images_used,
        "network": request.network,
        "allow": list(request.policy.allow) if request.policy else [],
        "host_ports": list(request.policy.host_ports) if request.policy else [],
        "agent": told(request),
    }


def digest_of(document: dict[str, Any]) -> str:
    """The manifest's SHA-256: the label coding-agents.manifest, and what capabilities are bound to."""
    import hashlib
    import json

    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


# How inspect shows a prompt-rules file (its program list is the container's, made at launch).
PROMPT_RULES_SHOWN = {"prompt_before": "every program on the container's PATH (by name and path) and every shell builtin"}


def told(request: planner.SessionRequest) -> dict:
    """What the agent's CLI was told: its command, variables (names only where they may be
    keys), and the settings forced into its files."""
    import json

    agent = request.agent
    said = agent.told(request.autonomy)
    plan = request.endpoints
    return {
        "name": agent.name,
        "autonomy": request.autonomy,
        "command": planner.agent_command(records.replace(request, prompt="PROMPT" if request.prompt else None)),
        "env": dict((*agent.env, *said.env)),
        "settings": {item.container: json.loads(item.content) if item.format == "json" else PROMPT_RULES_SHOWN
                     for item in said.settings},
        "endpoint_env": list(plan.env_names) if plan else [],
        "endpoint_hosts": list(plan.hosts) if plan else [],
        "host_settings": {container: sorted(chosen) for container, _, chosen in plan.settings} if plan else {},
    }



def verify(info: model.SessionInfo) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    settings = bridges.load_settings(info.name)
    document = settings.manifest or {}
    checks: list[dict[str, Any]] = []

    def check(what: str, ok: bool, detail: str) -> None:
        checks.append({"what": what, "ok": ok, "detail": detail})

    label = info.labels.get(naming.MANIFEST, "")
    digest = digest_of(document)
    check("manifest label", label == digest, f"sha256 {digest}" if label == digest else
          f"label {label or '(none)'} but the recorded manifest hashes to {digest}")
    for ref, recorded in (document.get("images") or {}).items():
        if ref == info.image:
            running = docker.run("inspect", "--format", "{{.Image}}", info.name, check=False).stdout.strip()
            check(f"image {ref}", running == recorded, running if running == recorded else
                  f"the container runs {running}, the manifest says {recorded}")
    if settings.mcp_rendered:
        rendered = render.Rendered(**settings.mcp_rendered)
        recorded = (document.get("rendered_mcp") or {}).get(rendered.container)
        if workspace.session_state(info.name) != "running":
            check(f"MCP servers in {rendered.container}", True, "not checked: the session is not running")
        else:
            shown = runner.run(naming.agent_exec(info.name, "cat", f"{naming.HOME}/{rendered.container}"),
                               check=False)
            try:
                found = render.rendered_digest(rendered, shown.stdout) if shown.ok else None
            except ValueError:
                found = None
            check(f"MCP servers in {rendered.container}", found == recorded,
                  "as rendered" if found == recorded else "changed inside the container (or unreadable)")
    return document, checks
