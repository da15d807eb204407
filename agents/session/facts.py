"""What a launch needs to know, asked once: the repository, the engine, the secret store and the
host. `gather` only reads; deciding what to do with the answers is agents/session/decide.py's job.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

from agents import bridges, catalog, docker, endpoints, engine, git, netmodes, runner
from agents.config import Config
from agents.mcp import render, servers
from agents.records import record
from agents.session import decide, model, naming
from agents.session.options import LaunchOptions


@record(frozen=True)
class RepoFacts:
    root: Path
    head: str
    current_branch: str | None  # None: a detached HEAD
    branches: dict[str, str]  # every local branch and its commit
    identity: tuple[str, str]
    uncommitted: bool = False  # changes to carry in; only looked at with --include-uncommitted


@record(frozen=True)
class BridgeFacts:
    """What the session's host bridge could serve, as the host has it now."""

    login_files: tuple[tuple[str, str], ...] = ()  # (container path, host path)
    credential_hosts: tuple[str, ...] = ()  # the repository's http(s) remote hosts
    signing: bridges.Signing | None = None  # commit.gpgsign is on: how the host signs
    signer: str = ""  # the program that signs, as configured
    signer_installed: bool = True
    ssh_agent: str | None = None  # $SSH_AUTH_SOCK, when --ssh-agent asks for it ("" when unset)
    ssh_agent_is_socket: bool = False
    problem: str | None = None  # why no bridge can run here (remote engine, no socat)
    host_logins: bool = False  # the host's logins come along (config and --no-host-logins)


@record(frozen=True)
class LaunchFacts:
    agent: catalog.Agent
    repo: RepoFacts
    existing: tuple[model.SessionInfo, ...]  # this repository's sessions
    branch: str  # the agent branch the options name (decide.choose_branch, on these facts)
    invalid_branch: str | None  # a branch name git refuses (the one typed, or the agent's), if any
    name: str
    name_owner: str | None  # None: no container of that name; else its session label ("" if none)
    proxy_name_taken: bool  # something of the engine's has the name a squid session's proxy would get
    volume_owners: tuple[tuple[str, str], ...]  # (volume, its session label) of the name's volumes that exist
    endpoints: endpoints.Endpoints
    mcp: render.McpPlan
    mcp_refusal: Exception | None  # why the repository's MCP servers stop the launch
    secret_names: frozenset[str]  # read only when an MCP server needs a secret
    host_addresses: tuple[str, ...]  # the engine host's own addresses (squid mode)
    bridge: BridgeFacts
    gpu_runtime: str | None = None  # with --gpu: how the engine passes GPUs through (None: it cannot)
    engine_remote: str | None = None  # why the engine is not on this machine (None: it is)
    engine_kind: str = "docker"  # "docker" or "podman": which CLI's ways the engine's program has
    host_on_network: str | None = None  # why this machine is on a squid session's network (rootful Podman)
    image_ids: tuple[tuple[str, str | None], ...] = ()  # (ref, id) of the images it would use; None: missing
    resume_archive: str | None = None  # with --resume: the branch's kept history, if the host has one


def gather(options: LaunchOptions, config: Config, find_existing: Callable[[Path], list[model.SessionInfo]]) -> LaunchFacts:
    """Everything decide.session_request needs, from git, the engine, the secret store and the host.
    Questions that do not depend on each other are asked side by side (each git or engine call is a
    process of its own: one after another they were most of a launch's checks); their answers are
    read in the order that decides which error a broken repository or engine reports first."""
    agent = catalog.get_agent(options.agent, config.agents)
    network_mode = options.network or config.sessions.network
    engine_remote = runner.in_background(engine.remote_reason)
    root = git.repo_root(options.path)
    repo_answer = repo_facts(root, options.include_uncommitted)
    existing_answer = runner.in_background(find_existing, root)
    # The bridge's and MCP's facts are about the agent and the repository only: asked meanwhile.
    bridge = runner.in_background(read_bridge, agent, root, options, config)
    mcp = runner.in_background(read_mcp, agent, root, config)
    # A name that --name or --branch gives is asked about at once (after its branch's check).
    early_name, early_branch = decide.name_known_early(options, agent, root), decide.early_branch(options, agent)
    early = runner.in_background(ask_if_valid, early_name, decide.branches_to_check(options, early_branch),
                                 agent, network_mode) if early_name else (lambda: None)
    repo = repo_answer()
    existing = tuple(existing_answer())
    branch = decide.choose_branch(options, agent, repo, existing)
    early_asked = early()
    if early_asked is not None and branch == early_branch:
        invalid = None  # git accepted both branches before the early questions went out
    else:
        invalid = next((name for name in decide.branches_to_check(options, branch) if not branch_name_ok(name)), None)
    name = decide.choose_name(options, agent, repo.root, branch)
    # Nothing is asked about a name the decision refuses anyway.
    asked = None if invalid else (early_asked if name == early_name else None) or ask_about(name, agent, network_mode)
    image_ids, owner, volumes, proxy_state = asked or ((lambda: {}), (lambda: None), (lambda: ()), (lambda: None))
    mcp_plan, mcp_refusal, secret_names = mcp()
    owned = owner()
    volumes_found = volumes()
    proxy_found = proxy_state()
    return LaunchFacts(
        agent=agent,
        repo=repo,
        existing=existing,
        branch=branch,
        invalid_branch=invalid,
        name=name,
        name_owner=owned.stdout.strip() if owned is not None and owned.ok else None,
        volume_owners=volumes_found,
        proxy_name_taken=proxy_found is not None and proxy_found.ok,
        endpoints=session_endpoints(agent, config),
        mcp=mcp_plan,
        mcp_refusal=mcp_refusal,
        secret_names=secret_names,
        host_addresses=engine_host_addresses() if netmodes.is_proxied(network_mode) else (),
        bridge=bridge(),
        gpu_runtime=docker.gpu_runtime(docker.engine_info()) if options.gpu else None,
        engine_remote=engine_remote(),
        engine_kind=runner.engine_kind(),
        host_on_network=engine.host_on_internal_networks() if netmodes.is_proxied(network_mode) else None,
        image_ids=tuple(image_ids().items()),
        resume_archive=kept_history(repo.root, branch) if options.resume else None,
    )


def ask_about(name: str, agent: catalog.Agent, network_mode: str) -> tuple[Callable, Callable, Callable, Callable]:
    """Side by side, what a launch asks the engine once its name is known: the images' ids (the
    manifest records them), the name's owner (a container's session label), its volumes and, in
    squid mode, whether its proxy's name is taken."""
    return (
        runner.in_background(docker.image_ids, session_images(agent, network_mode)),
        runner.in_background(docker.run, "inspect", "--type", "container", "--format",
                             "{{index .Config.Labels \"" + naming.SESSION + "\"}}", name, check=False),
        runner.in_background(volume_owners, name),
        runner.in_background(docker.run, "inspect", "--format", "{{.State.Status}}", naming.proxy_name(name),
                             check=False) if netmodes.is_proxied(network_mode) else (lambda: None),
    )


def ask_if_valid(name: str, branches: tuple[str, ...], agent: catalog.Agent,
                 network_mode: str) -> tuple[Callable, Callable, Callable, Callable] | None:
    """ask_about(name), unless a branch it comes with is one git refuses (None: nothing asked)."""
    if not all(branch_name_ok(branch) for branch in branches):
        return None
    return ask_about(name, agent, network_mode)


def volume_owners(name: str) -> tuple[tuple[str, str], ...]:
    """(volume, its session label or "") of the volumes a session of this name would make that
    exist already, in one query."""
    from agents.session import query

    wanted = (naming.workspace_volume(name), naming.home_volume(name), naming.mcp_volume(name))
    return tuple((str(volume.get("Name")), (volume.get("Labels") or {}).get(naming.SESSION) or "")
                 for volume in query.inspect_volumes(list(wanted)))


def kept_history(repo: Path, branch: str) -> str | None:
    from agents import history

    found = history.kept_path(repo, branch)
    return str(found) if found.is_file() else None


def session_images(agent: catalog.Agent, network_mode: str) -> tuple[str, ...]:
    """The images a session of this agent and network mode runs: the agent's, and squid's."""
    from agents import images

    return (images.image_ref(agent.image_name), *((images.image_ref("proxy"),) if netmodes.is_proxied(network_mode)
                                                  else ()))


def repo_facts(root: Path, include_uncommitted: bool) -> Callable[[], RepoFacts]:
    """The repository's facts, its git calls side by side; the returned callable waits for them."""
    listed = runner.in_background(git.git, root, "for-each-ref", "--format=%(refname:short) %(objectname)",
                                  "refs/heads/")
    head = runner.in_background(git.head_commit, root)
    current = runner.in_background(git.current_branch, root)
    identity = runner.in_background(git.identity, root)
    uncommitted = runner.in_background(git.has_uncommitted, root) if include_uncommitted else (lambda: False)

    def answer() -> RepoFacts:
        branches = dict(line.rsplit(" ", 1) for line in listed().stdout.splitlines() if " " in line)
        return RepoFacts(root=root, head=head(), current_branch=current(), branches=branches,
                         identity=identity(), uncommitted=uncommitted())

    return answer


def branch_name_ok(name: str) -> bool:
    """What git accepts as a branch name (and no leading '-', which would read as an option)."""
    done = runner.run(["git", "check-ref-format", "--branch", name], check=False, env=git.git_env())
    return done.ok and not name.startswith("-")


def read_mcp(agent: catalog.Agent, repo: Path,
             config: Config) -> tuple[render.McpPlan, Exception | None, frozenset[str]]:
    """The servers the session would get (the same rule as `mcp list`), why the repository's own
    servers stop the launch (if they do), and, only when a server needs a secret, the secret
    store's names. (The broker reaches any engine's sidecar through the relay, agents/relay.py.)"""
    if not agent.mcp_format:
        return render.McpPlan(), None, frozenset()  # this agent reads no MCP config
    selection = servers.for_repo(repo, config)
    planned = render.plan(agent.mcp_format, selection)
    if not planned.sidecar_servers:
        return planned, selection.refusal(repo), frozenset()
    return planned, selection.refusal(repo), frozenset(read_secret_names())


def read_secret_names() -> list[str]:
    from agents import secrets

    return secrets.names()


def read_bridge(agent: catalog.Agent, repo: Path, options: LaunchOptions, config: Config) -> BridgeFacts:
    from agents import credentials, logins, signing

    wanted = config.credentials
    home = Path(os.environ.get("HOME") or Path.home())
    signed = runner.in_background(signing.host_signing, repo) if wanted.signing else (lambda: None)  # meanwhile
    hosts: tuple[str, ...] = ()
    if wanted.git_credentials:
        extra = tuple(credentials.normalize_host(rule) for rule in wanted.git_hosts)
        hosts = tuple(dict.fromkeys(credentials.remote_hosts(repo) + extra))
    signer = signed()
    program = ""
    if signer is not None:
        default = "gpg" if signer.format == "openpgp" else "ssh-keygen"
        program = signing.program(str(repo), "gpg.program" if default == "gpg" else "gpg.ssh.program", default)
    ssh_agent = None
    if options.ssh_agent or wanted.ssh_agent:
        ssh_agent = os.environ.get("SSH_AUTH_SOCK") or ""
    use_logins = wanted.logins and options.host_logins
    return BridgeFacts(
        login_files=logins.returned_files(agent, home, dict(os.environ)) if use_logins else (),
        credential_hosts=hosts,
        signing=signer,
        signer=program,
        signer_installed=bool(program) and runner.which(program) is not None,
        ssh_agent=ssh_agent,
        ssh_agent_is_socket=bool(ssh_agent) and _is_socket(ssh_agent),
        problem=bridges.unavailable_reason(),
        host_logins=use_logins,
    )


def _is_socket(path: str) -> bool:
    try:
        return stat.S_ISSOCK(os.stat(path).st_mode)
    except OSError:
        return False


def session_endpoints(agent: catalog.Agent, config: Config) -> endpoints.Endpoints:
    home = Path(os.environ.get("HOME") or Path.home())
    return endpoints.plan(agent, config.env_for(agent), dict(os.environ), home)


def engine_host_addresses() -> tuple[str, ...]:
    """The engine host's own addresses as known without a probe (agents/engine_host.py): this
    machine's for a local engine, a remote one's cached answer; the proxy's start adds the rest."""
    from agents import engine_host

    return engine_host.known()
