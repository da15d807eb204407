"""Launching a session, with rollback: whatever was created is undone if a later step fails.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator

from agents import (
    bridges,
    docker,
    engine,
    git,
    images,
    netmodes,
    records,
    runner,
    workspace,
)
from agents import manifest as manifest_module
from agents.config import Config
from agents.errors import AgentsError
from agents.output import say
from agents.records import record
from agents.session import checks, daemons, finish, model, planner, proxies, query, services
from agents.session.options import LaunchOptions


def launch(options: LaunchOptions, config: Config) -> model.SessionInfo:
    """Create the session; anything that stops it halfway (an error, Ctrl-C) removes what it made."""
    with launching(options, config) as info:
        return info


@contextlib.contextmanager
def launching(options: LaunchOptions, config: Config) -> Iterator[model.SessionInfo]:
    """launch, for a command with more to do before the launch counts as done (see the agent
    start, then report): a Ctrl-C inside its with-block also removes the new session. Ctrl-C
    is only noted while the launch runs, and acted on at safe points (runner.deferred_interrupts)."""
    options = checks.clone_if_url(options, config)
    with runner.deferred_interrupts():
        info, undo = _launch(options, config)
        try:
            yield info
            runner.check_interrupt()
        except KeyboardInterrupt:
            undo.run()
            raise KeyboardInterrupt(f"the launch of {info.name} is undone; nothing of it is left") from None


@record
class Undo:
    """What a launch has created, or is creating (noted before each step): removed again if it does
    not finish. No branch or commit exists yet, so nothing is lost."""

    name: str
    volumes: list[str] = records.field(default_factory=list)
    container: bool = False
    proxy: bool = False
    sidecar: bool = False
    helpers: list[int] = records.field(default_factory=list)  # detached _bridge/_collect (group leaders)

    def run(self) -> None:
        with runner.shielded():  # a second Ctrl-C must not leave half a rollback
            stop_helpers(self.helpers)
            finish.tear_down(self.name, container=self.container, volumes=self.volumes, proxy=self.proxy,
                             sidecar=self.sidecar)


def stop_helpers(pids: list[int]) -> None:
    """End detached helpers this launch started, with their children (each leads its own group)."""
    import signal

    for pid in pids:
        try:
            if pid > 1 and os.getpgid(pid) == pid and pid != os.getpgrp():
                os.killpg(pid, signal.SIGTERM)
        except OSError:
            pass  # already gone


def _launch(options: LaunchOptions, config: Config) -> tuple[model.SessionInfo, Undo]:
    def find_existing(repo) -> list[model.SessionInfo]:
        # This repo's sessions (only they: the cost does not grow with other sessions). When that
        # fails, the engine's version is asked: if the engine is down, its clear error is raised.
        try:
            return query.find_sessions(repo=repo)
        except AgentsError:
            docker.engine_version()
            raise

    request = checks.build_request(options, config, find_existing)
    for warning in request.warnings:
        say(f"==> {warning}")
    if request.include_uncommitted:
        request = records.replace(request, uncommitted_commit=git.snapshot_uncommitted(request.repo, request.start_commit))
    if netmodes.is_offline(request.network) and request.agent.npm_package:
        say(f"==> note: no network (restricted): {request.agent.title} cannot reach its model API in this session")
    image_ids = ensure_images(request, config)
    manifest = manifest_module.build(request, config, image_ids)
    request = records.replace(request, manifest=manifest_module.digest_of(manifest),
                                  bridge=records.replace(request.bridge, manifest=manifest))
    plan = planner.plan_launch(request)
    engine.refuse_host_mounts(plan.create_argv)
    undo = Undo(plan.name, sidecar=request.mcp_sidecar)
    stop_proxy = threading.Event()
    networks_ready = threading.Event()
    proxy_started = None
    released_early = released_before_its_proxy(request)
    try:
        if request.bridge:
            bridges.prepare(request.bridge)
        if plan.proxy:
            undo.proxy = True
            # The proxy (networks, container, squid's start) comes up while the workspace is filled.
            proxy_started = runner.in_background(proxies.start_proxy, plan.proxy, config.network.subnet_pool,
                                          stop=stop_proxy, networks_ready=networks_ready)
        undo.volumes += plan.volumes_made_first
        made = [runner.in_background(runner.run, list(argv)) for argv in plan.volume_argvs]  # side by side
        for volume_made in made:
            volume_made()
        if proxy_started is not None:  # the container starts while squid does
            wait_for_networks(networks_ready, proxy_started)
        runner.check_interrupt()
        commits = [request.start_commit] + ([request.uncommitted_commit] if request.uncommitted_commit else [])
        objects = runner.in_background(git.objects_for_checkout, request.repo, commits)  # while the container starts
        undo.container = True
        undo.volumes += plan.volumes_made_by_run
        # A --prompt task may be done within a second of its release, before its bridges' relay
        # could link to the running container: it is filled (released) once its services are up.
        fill_first = request.prompt is None
        with workspace.start_agent(plan) as run:  # its stub holds the CLI until the workspace is filled
            def send() -> None:
                say(f"==> copying {request.start_commit[:10]} of {request.repo} into {plan.workspace_volume}")
                workspace.send_fill(run, plan, request.repo, objects())

            sent_at_start = fill_first and (proxy_started is None or released_early)
            if sent_at_start:
                send()  # the stub takes it as soon as it runs
            workspace.started(run)
            if proxy_started is not None and not released_early:
                gateway, proxy_started = proxy_started(), None
                if request.bridge and request.bridge.host_ports:
                    request = records.replace(request, bridge=records.replace(request.bridge, host_gateway=gateway))
                    bridges.prepare(request.bridge)

            def fill() -> None:  # the stub's release: the CLI starts on the filled workspace
                if not sent_at_start:
                    send()
                workspace.filled(run, plan)

            if fill_first:
                fill()
            if proxy_started is not None:  # squid must accept connections before the logins go in
                proxy_started()
                proxy_started = None
            sidecar = planner.sidecar_argv(request) if request.mcp_sidecar \
                else None
            services.start_session_services(plan.name, request.agent, request.bridge, sidecar, request.autonomy,
                                            request.endpoints, helpers=undo.helpers, history_archive=request.resume)
            if not fill_first:
                fill()
        if plan.proxy:
            undo.helpers.append(daemons.spawn_collector(plan.name))
        if config.sessions.notify or config.sessions.bell:  # tells you when it waits or ends (docs/landing.md)
            undo.helpers.append(daemons.spawn_watcher(plan.name))
        return query.get_session(plan.name), undo
    except BaseException as error:
        if proxy_started is not None:  # the rollback waits for the proxy's start: it removes what that made
            stop_proxy.set()
            with runner.shielded(), contextlib.suppress(BaseException):
                proxy_started()
        undo.run()
        if isinstance(error, KeyboardInterrupt):
            raise KeyboardInterrupt(f"the launch of {plan.name} is undone; nothing of it is left") from None
        raise


def ensure_images(request, config: Config) -> dict[str, str | None]:
    """The session's images, built (or pulled) where the checks found them missing; their ids."""
    known = dict(request.image_ids)
    needed = [(request.agent.image_name, request.image)] + ([("proxy", request.proxy_image)] if request.policy else [])
    for name, ref in needed:
        if not known.get(ref):
            images.ensure_image(name, config.images)
            known[ref] = docker.image_id(ref)
    return known


def released_before_its_proxy(request) -> bool:
    """Whether a squid session's CLI may be released (its workspace filled) while squid is still
    starting (it is waited for before the logins are delivered): when nothing in it uses the
    network before then. That is so when the stub holds the CLI until its logins arrive, and for an
    interactive shell; not with host ports (their relay needs the proxy's gateway first). The
    container itself always starts as soon as its networks exist: its stub waits for the fill."""
    if request.policy is None or (request.bridge and request.bridge.host_ports):
        return False
    return planner.wants_logins(request.agent, request.endpoints) or (
        request.agent.name == "shell" and request.prompt is None)


def wait_for_networks(networks_ready: threading.Event, proxy_started) -> None:
    """Until the proxy's thread has made the session's networks; its error if it failed first."""
    while not networks_ready.wait(0.02):
        if proxy_started.done():
            proxy_started()  # raises what stopped it
            return
        runner.check_interrupt()
