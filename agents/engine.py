"""Which Docker engine the `docker` CLI talks to, and whether it shares this machine's files.

The docker CLI picks its endpoint as follows (and so do we, since every call goes through it):
DOCKER_HOST, else the context DOCKER_CONTEXT names, else the config file's current context
(`docker context use`), else the default socket. `docker context inspect` with no argument
answers for all of them, DOCKER_HOST included, so we ask it once per process unless DOCKER_HOST
already says.

An engine on a Unix socket (or a Windows named pipe) runs on this machine: a path here is a path
there, and the engine's networks have their gateways here. Any other scheme (tcp://, ssh://,
fd://...) is remote: a bind mount of a host path would name a path on the engine's machine (Docker
makes it an empty folder, or refuses), and a listener on a network gateway would have no such
address to bind here. What needs the engine's machine to be this one asks `remote_reason`.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Mapping, Sequence

from agents import runner
from agents.errors import AgentsError
from agents.records import record

LOCAL_SCHEMES = ("unix", "npipe")
DEFAULT_CONTEXT = "default"


@record(frozen=True)
class Endpoint:
    host: str  # "unix:///var/run/docker.sock", "tcp://10.0.0.5:2376", "ssh://build-box"; "" when unknown
    context: str = DEFAULT_CONTEXT  # the docker context in use ("default" with DOCKER_HOST)
    from_env: bool = False  # DOCKER_HOST named it
    error: str = ""  # why the endpoint is unknown
    program: str = "docker"  # the engine's CLI (runner.engine()); podman's endpoints: podman_endpoint
    rootless: bool = False  # podman run by a user other than root (its own store, user namespace)

    @property
    def scheme(self) -> str:
        return self.host.partition("://")[0].lower() if "://" in self.host else ""

    @property
    def local(self) -> bool:
        """The engine runs on this machine and sees its files."""
        return self.scheme in LOCAL_SCHEMES

    @property
    def is_default(self) -> bool:
        """This machine's own Docker engine, not picked by a named context: nothing worth pointing out."""
        return self.local and self.context == DEFAULT_CONTEXT and runner.engine_kind(self.program) == "docker"

    @property
    def source(self) -> str:
        if runner.engine_kind(self.program) == "podman":
            return "CONTAINER_HOST" if self.from_env else "podman"
        if self.from_env:
            return "DOCKER_HOST"
        return f"docker context {self.context}"

    def describe(self) -> str:
        """For doctor and list-agents: 'tcp://10.0.0.5:2376 (remote, docker context build)'."""
        if not self.host:
            return f"unknown ({self.error or 'docker context inspect said nothing'})"
        where = "local" if self.local else "remote"
        if runner.engine_kind(self.program) == "podman" and not self.from_env:
            return f"podman {self.host} ({where}, {'rootless' if self.rootless else 'rootful'})"
        if self.from_env:
            return f"{self.host} ({where}, {self.source})"
        if self.context != DEFAULT_CONTEXT:
            return f"{self.host} ({where}, docker context {self.context})"
        return f"{self.host} ({where})"


def resolve(environ: Mapping[str, str], inspected: str | None, error: str = "") -> Endpoint:
    """Pure: the endpoint from the environment and `docker context inspect`'s JSON (None: not asked
    or it failed, with error saying why)."""
    host = environ.get("DOCKER_HOST", "")
    if host:
        return Endpoint(host, DEFAULT_CONTEXT, from_env=True)
    wanted = environ.get("DOCKER_CONTEXT", "") or DEFAULT_CONTEXT
    if inspected is None:
        return Endpoint("", wanted, error=error)
    try:
        found = json.loads(inspected)
    except ValueError:
        return Endpoint("", wanted, error="docker context inspect printed no JSON")
    entry = found[0] if isinstance(found, list) and found else found
    if not isinstance(entry, dict):
        return Endpoint("", wanted, error="docker context inspect printed no context")
    docker_endpoint = (entry.get("Endpoints") or {}).get("docker") or {}
    return Endpoint(str(docker_endpoint.get("Host") or ""), str(entry.get("Name") or wanted),
                    error="" if docker_endpoint.get("Host") else "the context has no docker endpoint")


DEFAULT_SOCKET = "unix:///var/run/docker.sock"


def configured_context(docker_config: str) -> str:
    """The docker CLI config's currentContext (`docker context use`); "" when none or unreadable
    (then the CLI itself is asked)."""
    folder = docker_config or os.path.join(os.path.expanduser("~"), ".docker")
    try:
        with open(os.path.join(folder, "config.json"), encoding="utf-8") as config:
            found = json.load(config)
    except FileNotFoundError:
        return DEFAULT_CONTEXT  # no config at all: the CLI uses its default context
    except (OSError, ValueError):
        return "?"  # unreadable: let the CLI say
    name = found.get("currentContext") if isinstance(found, dict) else None
    return name if isinstance(name, str) and name else DEFAULT_CONTEXT


def podman_endpoint(environ: Mapping[str, str], program: str, uid: int) -> Endpoint:
    """Pure: where podman runs its containers. Without CONTAINER_HOST it runs them itself, on this
    machine (no daemon; the socket named is where its API service would listen): as root in the
    system's store, else rootless in the user's own."""
    host = environ.get("CONTAINER_HOST", "")
    if host:
        return Endpoint(host, from_env=True, program=program, rootless=uid != 0)
    socket = "/run/podman/podman.sock" if uid == 0 else \
        f"{environ.get('XDG_RUNTIME_DIR') or f'/run/user/{uid}'}/podman/podman.sock"
    return Endpoint(f"unix://{socket}", program=program, rootless=uid != 0)


# What picks an engine: a process given all of these reaches the same one whatever its own are.
REACHING_VARIABLES = (runner.ENGINE_VARIABLE, "DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_CONFIG", "CONTAINER_HOST")


def reaching(endpoint: Endpoint, environ: Mapping[str, str]) -> dict[str, str]:
    """Pure: each of REACHING_VARIABLES ("" to unset it) for a long-lived process of this user that
    serves sessions of several engines (the secret broker): it asks each session's own engine."""
    found = dict.fromkeys(REACHING_VARIABLES, "")
    found[runner.ENGINE_VARIABLE] = endpoint.program
    if runner.engine_kind(endpoint.program) == "podman":
        found["CONTAINER_HOST"] = endpoint.host if endpoint.from_env else ""
        return found
    found["DOCKER_CONFIG"] = environ.get("DOCKER_CONFIG", "")  # where the contexts are kept
    if endpoint.from_env:
        found["DOCKER_HOST"] = endpoint.host
    else:  # the named context, or the default one (a config's current context changed later must not count)
        found["DOCKER_CONTEXT"] = endpoint.context or DEFAULT_CONTEXT
    return found


def reaching_environment(reach: Mapping[str, str], environ: Mapping[str, str]) -> dict[str, str]:
    """Pure: environ with reach's engine in place of its own."""
    kept = {key: value for key, value in environ.items() if key not in REACHING_VARIABLES}
    return {**kept, **{key: value for key, value in reach.items() if key in REACHING_VARIABLES and value}}


def current() -> Endpoint:
    """The endpoint the engine's CLI uses now (asked once per process for each environment)."""
    program = runner.engine()
    if runner.engine_kind(program) == "podman":
        return podman_endpoint(os.environ, program, os.geteuid())
    return _current(os.environ.get("DOCKER_HOST", ""), os.environ.get("DOCKER_CONTEXT", ""),
                    os.environ.get("DOCKER_CONFIG", ""))


@functools.lru_cache(maxsize=8)
def _current(docker_host: str, docker_context: str, docker_config: str) -> Endpoint:
    environ = {"DOCKER_HOST": docker_host, "DOCKER_CONTEXT": docker_context}
    if docker_host:
        return resolve(environ, None)
    if (docker_context or configured_context(docker_config)) in ("", DEFAULT_CONTEXT):
        # The CLI's default context is its default socket: nothing to ask (a command saved).
        return Endpoint(DEFAULT_SOCKET, DEFAULT_CONTEXT)
    try:
        done = runner.run(runner.engine_argv("context", "inspect"), check=False, timeout=30)
    except AgentsError as error:  # no docker CLI at all
        return resolve(environ, None, error.message)
    if not done.ok:
        return resolve(environ, None, runner.last_line(done.stderr or done.stdout) or "docker context inspect failed")
    return resolve(environ, done.stdout)


def host_on_internal_networks(endpoint: Endpoint | None = None) -> str | None:
    """Why this machine has an address on a squid session's internal network (None: it has none).
    Docker's networks leave it off (inhibit_ipv4); rootful Podman's netavark has no such option,
    so the bridge holds the gateway, where this machine's services listening on all addresses
    answer the agent. Rootless Podman's networks live in the user's own namespace."""
    endpoint = endpoint or current()
    if runner.engine_kind(endpoint.program) != "podman" or endpoint.rootless or not endpoint.local:
        return None
    return ("under rootful Podman this machine has an address on each squid session's network (its gateway), "
            "so the agent can reach this machine's services that listen on all addresses")


def remote_reason(endpoint: Endpoint | None = None) -> str | None:
    """Why the engine cannot be taken to run on this machine (None: it does). The one rule for
    whatever needs the engine's machine to be this one: a host path mounted into a container, a
    relay listening on the engine's network gateway (--allow-host-port)."""
    endpoint = endpoint or current()
    if endpoint.local:
        return None
    if not endpoint.host:
        return f"the engine's endpoint is unknown ({endpoint.error})"
    shown = f"{endpoint.source}={endpoint.host}" if endpoint.from_env else f"docker context {endpoint.context}: {endpoint.host}"
    return f"the engine is remote ({shown})"


def host_mounts(argv: Sequence[runner.Arg]) -> list[str]:
    """Pure: the host paths a `docker run`/`create` argv mounts (bind mounts, `--volume /path:...`)."""
    found = []
    args = [str(arg) for arg in argv]
    for index, arg in enumerate(args):
        flag, eq, inline = arg.partition("=")
        if flag in ("--mount", "--volume", "-v") and not eq:
            value = args[index + 1] if index + 1 < len(args) else ""
        elif flag in ("--mount", "--volume") and eq:
            value = inline
        else:
            continue
        if flag == "--mount":
            import csv  # --mount's value is one CSV record, as the engine reads it (a quoted field may hold commas)

            fields = dict(part.partition("=")[::2] for part in next(csv.reader([value]), []))
            if fields.get("type") == "bind":
                found.append(fields.get("source") or fields.get("src") or "")
        elif value.startswith(("/", "~", ".")):
            found.append(value.split(":", 1)[0])
    return found


def refuse_host_mounts(argv: Sequence[runner.Arg], endpoint: Endpoint | None = None) -> None:
    """The last guard before a container is made: no host path goes to an engine that cannot see it
    (the launch refuses each feature earlier, with its own hint; this catches anything new)."""
    mounted = host_mounts(argv)
    if not mounted:
        return
    problem = remote_reason(endpoint)
    if problem:
        raise AgentsError(f"cannot mount {mounted[0]} of this machine into a container: {problem} "
                          "and sees none of this machine's files",
                          hint="use a local engine (unset DOCKER_HOST, `docker context use default`) for this session")
