"""`--dry-run`: what a launch or a removal would do, as data, changing nothing.

The launch preview runs the same checks and the same planner as a launch (so it refuses what a
launch would refuse) but stops before the first step that changes anything: no image is built,
no snapshot commit is written, no URL is cloned. Secret values are shown as ***.
"""

from __future__ import annotations

import json
import re

from agents import bridges, docker, netmodes, records, remote
from agents import manifest as manifest_module
from agents.config import Config
from agents.errors import AgentsError
from agents.session import checks, model, naming, planner, query
from agents.session.options import LaunchOptions

TYPE_CHECKING = False  # (not typing's: importing typing is ~4 ms of every start; checkers know the name)
if TYPE_CHECKING:
    from typing import Any

MASK = "***"
UNCOMMITTED_SNAPSHOT = "<snapshot of the host's uncommitted changes, made at launch>"
# Names of variables whose values are secrets (API keys, tokens, passwords).
SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH", re.IGNORECASE)


def launch_steps(request: planner.SessionRequest, plan: planner.LaunchPlan) -> list[dict[str, Any]]:
    """Pure: each step of the launch, in order, with its argv (what --dry-run shows)."""
    steps: list[dict[str, Any]] = []
    if plan.proxy:
        steps += [{"step": "proxy network", "argv": list(argv)} for argv in plan.proxy.network_argvs]
        steps += [
            {"step": "proxy container", "argv": plan.proxy.create_argv_for(None),
             "note": "the egress network's gateway is added to the denied host addresses once it exists"},
            {"step": "proxy egress", "argv": list(plan.proxy.connect_argv)},
            {"step": "proxy start", "argv": list(plan.proxy.start_argv)},
        ]
    steps += [{"step": "volume", "argv": list(argv)} for argv in plan.volume_argvs]
    made_by_run = plan.volumes_made_by_run
    steps.append({"step": "agent container", "argv": list(plan.create_argv),
                  "note": (f"its run makes the volumes {', '.join(made_by_run)} (labelled); " if made_by_run else "")
                  + f"through the run's stdin its stub reads a git pack of {request.start_commit[:12]} (no history) "
                    "and checks it out before the CLI starts; the run's client is then ended",
                  "sends": json.loads(plan.fill_header)})
    if bridges.needs_helper(request.bridge):
        steps.append({"step": "host bridge", "argv": ["coding-agents", "_bridge", plan.name],
                      "serves": bridge_summary(request),
                      # the streams that carry the sockets in: no host path is mounted
                      "relay": [link.argv() for link in bridges.link_plans(request.bridge)]})
    if request.mcp_sidecar:
        steps.append({"step": "MCP sidecar", "argv": planner.sidecar_argv(request)})
    if plan.proxy:
        steps.append({"step": "network log collector", "argv": ["coding-agents", "_collect", plan.name]})
    return steps


def launch_preview(options: LaunchOptions, config: Config) -> dict[str, Any]:
    """The launch's plan: the checked request, each step's argv in order, and what is delivered."""
    options = _local_path(options)
    docker.engine_version()  # a clear "engine down" error first, as a launch gives
    request = checks.build_request(options, config, lambda repo: query.find_sessions(repo=repo))
    if request.include_uncommitted:
        request = records.replace(request, uncommitted_commit=UNCOMMITTED_SNAPSHOT)
    manifest = manifest_module.build(request, config)
    request = records.replace(request, manifest=manifest_module.digest_of(manifest),
                                  bridge=records.replace(request.bridge, manifest=manifest))
    plan = planner.plan_launch(request)
    steps = launch_steps(request, plan)
    wanted = [request.image] + ([request.proxy_image] if plan.proxy else [])
    preview = {
        "name": plan.name,
        "agent": request.agent.name,
        "repo": str(request.repo),
        "branch": request.branch,
        "start": request.start_commit,
        "network": request.network,
        "autonomy": request.autonomy,
        "images": {ref: "present" if docker.run("image", "inspect", ref, check=False).ok else "built at launch"
                   for ref in wanted},
        "volumes": list(plan.volumes),
        "networks": [plan.proxy.internal_network, plan.proxy.egress_network] if plan.proxy else [],
        "containers": [plan.name] + ([plan.proxy.container] if plan.proxy else [])
        + ([naming.sidecar_name(plan.name)] if request.mcp_sidecar else []),
        "delivered": delivered_summary(request),
        "steps": steps,
    }
    return mask_secrets(preview, secret_values(request, config))


def remove_preview(info: model.SessionInfo, no_push: bool, keep_branch: bool) -> dict[str, Any]:
    """What remove-agent would do to a session: sync (or not), then what it removes."""
    squid = netmodes.is_proxied(info.network)
    from agents import bridges

    settings = bridges.find_settings(info.name)
    mcp = bool(settings is not None and settings.mcp_sidecar)
    sync = "no (--no-push)" if no_push or info.no_push else f"{info.branch} into {info.repo}"
    return {
        "name": info.name,
        "state": info.state,
        "sync": sync,
        "delete the branch when merged": not keep_branch and not (no_push or info.no_push),
        "containers": [name for name in (info.name, naming.proxy_name(info.name) if squid else None,
                                         naming.sidecar_name(info.name) if mcp else None) if name],
        "volumes": [info.workspace_volume, info.home_volume] + ([naming.mcp_volume(info.name)] if mcp else []),
        "networks": [naming.internal_network(info.name), naming.egress_network(info.name)] if squid else [],
    }


def _local_path(options: LaunchOptions) -> LaunchOptions:
    """A URL is previewed on our existing clone of it; cloning it would be a change."""
    found = remote.parse(options.path)
    if found is None:
        return options
    clone = remote.clone_path(found)
    if not clone.is_dir():
        raise AgentsError(f"--dry-run changes nothing, and {found.shown} is not cloned here yet",
                          hint="launch it once without --dry-run (that clones it), or clone it yourself and pass the folder")
    return records.replace(options, path=str(clone))


def bridge_summary(request: planner.SessionRequest) -> list[str]:
    bridge = request.bridge
    served = []
    if bridge.login_files:
        served.append("refreshed logins: " + ", ".join(container for container, _ in bridge.login_files))
    if bridge.credential_hosts:
        served.append("git credentials for " + ", ".join(bridge.credential_hosts))
    if bridge.signing:
        served.append("commit signing")
    if bridge.ssh_agent:
        served.append("the ssh-agent")
    if bridge.host_ports:
        served.append("host ports " + ", ".join(str(port) for port in bridge.host_ports))
    if bridge.mcp_sidecar:
        served.append("the secret broker, to the MCP sidecar")
    return served


def delivered_summary(request: planner.SessionRequest) -> dict[str, Any]:
    """What the stub receives before the agent starts (values of variables are listed, secrets masked)."""
    env = dict(request.endpoints.env) if request.endpoints else {}
    told = request.agent.told(request.autonomy)
    return {
        "command": planner.agent_command(request),
        "variables": env,
        "settings written": sorted({item.container for item in told.settings}),
    }


def secret_values(request: planner.SessionRequest, config: Config) -> set[str]:
    """Values to mask wherever they appear: the agent's configured variables that name a secret,
    and the host's login variables."""
    import os

    values = set()
    for key, value in config.env_for(request.agent).items():
        if SECRET_NAME.search(key):
            values.add(value)
    for key in request.agent.login_env:
        if os.environ.get(key):
            values.add(os.environ[key])
    for key, value in (request.endpoints.env if request.endpoints else ()):
        if SECRET_NAME.search(key):
            values.add(value)
    return {value for value in values if len(value) >= 4}


def mask_secrets(data: Any, values: set[str]) -> Any:
    """data with every secret value, and the value of every KEY=VALUE whose KEY names a secret, as ***."""
    if isinstance(data, dict):
        return {key: MASK if isinstance(value, str) and SECRET_NAME.search(str(key)) and value
                else mask_secrets(value, values) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [mask_secrets(item, values) for item in data]
    if isinstance(data, str):
        for value in sorted(values, key=len, reverse=True):
            data = data.replace(value, MASK)
        key, sep, value = data.partition("=")
        if sep and value and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key) and SECRET_NAME.search(key):
            return f"{key}={MASK}"
        return data
    return data


def render_text(preview: dict[str, Any]) -> str:
    """The preview for a terminal: a summary, then each step's argv (long values shortened)."""
    lines = ["dry run: nothing was changed"]
    for key, value in preview.items():
        if key == "steps":
            continue
        shown = json.dumps(value) if isinstance(value, dict | list) else str(value)
        lines.append(f"{key + ':':<10} {shown}")
    for number, step in enumerate(preview.get("steps", []), 1):
        lines.append(f"{number:>2}. {step['step']}")
        lines.append("    " + " ".join(_shell_word(part) for part in step["argv"]))
        for extra in ("note", "serves"):
            if step.get(extra):
                value = step[extra]
                lines.append(f"    ({', '.join(value) if isinstance(value, list) else value})")
    return "\n".join(lines)


def _shell_word(text: str) -> str:
    import shlex

    if len(text) > 160:
        key, sep, _ = text.partition("=")
        text = f"{key}=<{len(text) - len(key) - 1} characters>" if sep and len(key) < 40 else f"<{len(text)} characters>"
    return shlex.quote(text)
