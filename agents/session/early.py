"""A launch's engine questions, asked before the launch's code is imported.

session/facts.py asks the engine about the repository's sessions, the images and the name; the
answers are what the checks wait for. Started here (runner.started_early) from the options alone,
they come while the rest of the launch is imported and git is asked; facts.gather's runs of the
very same argv take them. A question asked here that facts then does not ask (another name, a
different repository root) is dropped unread: nothing is decided from this module. Light on
purpose: runner, docker and listing only (the catalog and config are imported by the command).
"""

from __future__ import annotations

import contextlib

from agents import docker, runner
from agents.session import listing, naming

TYPE_CHECKING = False
if TYPE_CHECKING:
    from agents.config import Config
    from agents.session.options import LaunchOptions


def started(options: LaunchOptions, config: Config):
    """The block in which facts.gather takes the answers to questions(options, config)."""
    try:
        argvs = questions(options, config)
    except Exception:  # noqa: BLE001 - a mistake in the options is facts' and decide's to report
        argvs = []
    return runner.started_early(*argvs) if argvs else contextlib.nullcontext()


def questions(options: LaunchOptions, config: Config) -> list[list[runner.Arg]]:
    """facts.gather's engine questions, as far as the options tell them: this repository's sessions
    and volumes, the session's images, and with --name the name's container, volumes and proxy."""
    from agents import catalog, images, netmodes

    root = repository_root(options.path)
    if root is None:
        return []
    asked = [docker.docker_argv(*listing.ps_args(root)), docker.docker_argv(*listing.volume_args(root))]
    agent = catalog.get_agent(options.agent, config.agents)
    network_mode = options.network or config.sessions.network
    refs = (images.image_ref(agent.image_name), *((images.image_ref("proxy"),) if netmodes.is_proxied(network_mode)
                                                  else ()))
    asked.append(docker.docker_argv(*docker.image_ids_args(refs)))
    if options.name and not options.branch:  # else decide.name_known_early first checks the branch
        name = naming.validate_name(options.name)
        asked += [docker.docker_argv(*listing.owner_args(name)),
                  docker.docker_argv("volume", "inspect", *listing.session_volume_names(name))]
        if netmodes.is_proxied(network_mode):
            asked.append(docker.docker_argv(*listing.proxy_state_args(name)))
    return asked


def repository_root(path: str):
    """The work tree's top as git.repo_root finds it (None: not one; facts says why)."""
    from pathlib import Path

    target = Path(path).expanduser()
    if not target.exists():
        return None
    if not target.is_dir():
        target = target.parent
    found = runner.run(["git", "-C", str(target), "rev-parse", "--show-toplevel"], check=False)
    top = found.stdout.strip()
    return Path(top).resolve() if found.ok and top else None
