"""Prerequisite checks. Each check reports; none changes anything.

`launch-agent` and friends reuse these to refuse early.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from agents import docker, engine, images, runner
from agents.errors import AgentsError
from agents.records import asdict, record

OK, WARN, FAIL = "ok", "warn", "fail"
MIN_FREE_BYTES = 2 * 1024**3
LOW_FREE_BYTES = 10 * 1024**3


@record(frozen=True)
class Check:
    name: str
    status: str
    detail: str
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def check_docker_cli() -> Check:
    """The engine's CLI (docker, or podman: runner.engine()) is installed."""
    program = runner.engine()
    kind = runner.engine_kind(program)
    path = runner.which(program)
    if path is None:
        return Check(f"{kind} CLI", FAIL, "not found on PATH", runner.INSTALL_HINTS[kind])
    if kind == "podman" and not os.path.basename(program).startswith("podman"):
        return Check(f"{kind} CLI", OK, f"{path} (runs Podman)")  # e.g. podman-docker's docker
    return Check(f"{kind} CLI", OK, path)


def check_engine_version(version: str, kind: str = "docker") -> Check:
    """Pure: judge an engine version string (docker's or podman's)."""
    parsed = docker.parse_version(version)
    minimum = docker.MIN_ENGINE_VERSIONS[kind]
    wanted = ".".join(map(str, minimum))
    name = f"{kind} engine"
    if not parsed:
        return Check(name, WARN, f"version {version!r} not understood", f"make sure it is >= {wanted}")
    if parsed[:2] < minimum:
        return Check(name, FAIL, f"version {version} is too old", f"upgrade {kind.capitalize()} to {wanted} or newer")
    return Check(name, OK, f"version {version}")


def check_engine() -> tuple[Check, bool]:
    """(check, reachable)."""
    try:
        version = docker.engine_version()
    except AgentsError as error:
        return Check(f"{runner.engine_kind()} engine", FAIL, error.message, error.hint or docker.ENGINE_HINT), False
    return check_engine_version(version, runner.engine_kind()), True


def check_endpoint(endpoint: engine.Endpoint) -> Check:
    """Pure: which engine the docker CLI talks to, and whether it runs on this machine."""
    if not endpoint.host:
        return Check("engine", WARN, endpoint.describe(), "check DOCKER_HOST/DOCKER_CONTEXT (`docker context ls`)")
    return Check("engine", OK, endpoint.describe())


def check_internal_networks(endpoint: engine.Endpoint) -> Check | None:
    """Pure: rootful Podman's internal networks give this machine an address on them (netavark has
    no inhibit_ipv4), so a squid session's agent can reach the machine's services there."""
    if engine.host_on_internal_networks(endpoint) is None:
        return None
    return Check("internal networks", WARN, "this machine has an address on each squid session's network "
                 "(Podman's gateway): its services listening on all addresses are reachable from the agent; "
                 "squid sessions are refused unless [network] allow_host_gateway = true",
                 "use --network-proxy restricted or rootless Podman, or accept it in the config (docs/podman.md)")


# Where Podman's packages put the init it runs for --init (containers.conf's init_path default).
PODMAN_INIT_PATHS = ("/usr/libexec/podman/catatonit", "/usr/lib/podman/catatonit")


def check_podman_init(endpoint: engine.Endpoint, exists=os.path.exists) -> Check | None:
    """Every container of a session has --init, which local Podman runs from catatonit: Debian's
    podman only recommends it, and without it every launch fails."""
    if runner.engine_kind(endpoint.program) != "podman" or not endpoint.local or endpoint.from_env:
        return None
    found = next((path for path in PODMAN_INIT_PATHS if exists(path)), None)
    if found is None:
        return Check("podman init", WARN, "catatonit not found: every container of a session is started with --init",
                     "apt-get install catatonit (or set init_path in containers.conf)")
    return Check("podman init", OK, found)


def check_git() -> list[Check]:
    if runner.which("git") is None:
        return [Check("git", FAIL, "not found on PATH", runner.INSTALL_HINTS["git"])]
    checks = [Check("git", OK, runner.which("git") or "git")]
    for key in ("user.name", "user.email"):
        value = runner.run(["git", "config", "--get", key], check=False).stdout.strip()
        if value:
            checks.append(Check(f"git {key}", OK, value))
        else:
            checks.append(
                Check(f"git {key}", WARN, "not set; agent commits need an author", f'git config --global {key} "..."')
            )
    return checks


def check_optional_program(name: str, why: str) -> Check:
    path = runner.which(name)
    if path is None:
        return Check(name, WARN, f"not found; {why}", runner.INSTALL_HINTS.get(name, f"install {name}"))
    return Check(name, OK, path)


def check_cryptography() -> Check:
    """The secret store and broker need it (the zipapp carries it; a source checkout may not)."""
    try:
        import cryptography
    except ImportError:
        return Check("cryptography", WARN, "not importable; MCP servers with secrets cannot be used",
                     "use the zipapp, or pip install cryptography")
    return Check("cryptography", OK, f"{cryptography.__version__} (MCP secrets, broker)")


def check_logins(home: Path, environ: dict[str, str]) -> list[Check]:
    """Which agents have a host login that sessions will get (informational: none is fine)."""
    from agents import catalog, logins

    checks = []
    for agent in catalog.AGENTS:
        if not agent.login_files and not agent.login_env:
            continue
        found = [str(item.path) for item in logins.read_host_logins(agent, home, environ)
                 if item.data is not None and item.login.secret]
        found += [f"${name}" for name in agent.login_env if environ.get(name)]
        if found:
            checks.append(Check(f"{agent.name} login", OK, ", ".join(found)))
        else:
            wanted = logins.host_path(next(f for f in agent.login_files if f.secret), home, environ)
            checks.append(Check(f"{agent.name} login", OK, f"none; sessions show {agent.title}'s own login, "
                                f"and save it to {wanted}"))
    return checks


def judge_free_space(label: str, path: str, free: int) -> Check:
    """Pure: judge free bytes at path."""
    gib = free / 1024**3
    detail = f"{gib:.1f} GiB free at {path}"
    if free < MIN_FREE_BYTES:
        return Check(label, FAIL, detail, "free some space: remove finished sessions (`list-agents --all`, then "
                     "`remove-agent NAME`), old images (docker image prune), or other files")
    if free < LOW_FREE_BYTES:
        return Check(label, WARN, detail, "images need several GiB; consider freeing space")
    return Check(label, OK, detail)


def check_disk(engine_reachable: bool) -> list[Check]:
    checks = []
    home = os.path.expanduser("~")
    checks.append(judge_free_space("disk (home)", home, shutil.disk_usage(home).free))
    if engine_reachable and engine.current().local:
        root_format = "{{.Store.GraphRoot}}" if runner.engine_kind() == "podman" else "{{.DockerRootDir}}"
        root = docker.run("info", "--format", root_format, check=False).stdout.strip()
        if root and os.path.isdir(root):
            checks.append(judge_free_space(f"disk ({runner.engine_kind()})", root, shutil.disk_usage(root).free))
    return checks


def check_images(present_refs: set[str]) -> list[Check]:
    """Pure: which expected images are present."""
    checks = []
    for ref in images.expected_refs():
        if ref in present_refs:
            checks.append(Check(f"image {ref}", OK, "present"))
        else:
            checks.append(
                Check(f"image {ref}", WARN, "missing (built on first use)", "coding-agents images build all")
            )
    return checks


def run_checks() -> list[Check]:
    checks = [check_docker_cli()]
    reachable = False
    if checks[0].status != FAIL:
        endpoint = engine.current()
        checks.append(check_endpoint(endpoint))
        engine_check, reachable = check_engine()
        checks.append(engine_check)
        checks += [check for check in (check_podman_init(endpoint), check_internal_networks(endpoint))
                   if check is not None]
    checks += check_git()
    checks.append(check_optional_program("socat", "needed for credential and signing bridges"))
    checks.append(check_cryptography())
    try:
        checks += check_logins(Path(os.environ.get("HOME") or Path.home()), dict(os.environ))
    except AgentsError as error:  # an unreadable login file: say so, do not stop the other checks
        checks.append(Check("logins", WARN, error.message, error.hint or ""))
    checks.append(check_optional_program("tmux", "useful on the host; agents use tmux inside containers"))
    checks.append(check_optional_program("trivy", "images are tagged without a secret scan"))
    checks += check_disk(reachable)
    if reachable:
        try:
            present = {image.ref for image in docker.list_managed_images()}
        except AgentsError as error:
            checks.append(Check("images", FAIL, error.message, error.hint or ""))
        else:
            checks += check_images(present)
    return checks


def can_launch(checks: list[Check]) -> bool:
    return all(check.status != FAIL for check in checks)
