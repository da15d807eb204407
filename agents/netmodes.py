"""The network modes of a session, as one table: what each gives the agent and what it needs.

Kept import-free (stdlib only) so the argument parser can list the modes cheaply.
"""

from __future__ import annotations

from agents.records import record


@record(frozen=True)
class NetworkMode:
    name: str
    summary: str
    reaches_anything: bool  # False: the agent has no network at all
    proxied: bool  # a per-session squid proxy, an internal and an egress network
    docker_network: str | None  # what `docker run --network` gets; None: the session's internal network


MODES: dict[str, NetworkMode] = {mode.name: mode for mode in (
    NetworkMode("squid", "only allowlisted hosts, through a logged proxy", reaches_anything=True, proxied=True,
                docker_network=None),
    NetworkMode("restricted", "no network", reaches_anything=False, proxied=False, docker_network="none"),
    NetworkMode("allow-all", "the engine's plain bridge network", reaches_anything=True, proxied=False,
                docker_network="bridge"),
)}
NAMES: tuple[str, ...] = ("restricted", "squid", "allow-all")  # in the order help texts list them
DEFAULT = "squid"


def is_proxied(name: str) -> bool:
    """Whether a session in this mode has a proxy (False for a mode this version does not know)."""
    mode = MODES.get(name)
    return mode is not None and mode.proxied


def is_offline(name: str) -> bool:
    """Whether a session in this mode reaches nothing at all."""
    mode = MODES.get(name)
    return mode is not None and not mode.reaches_anything
