"""A second Docker engine for tests: a `dockerd` in a container, sharing none of this machine's files.

Test-only (never offered to users): the image is our own base image plus Debian's docker.io
(Dockerfile and start-engine beside this file). The engine listens on tcp, published on this
machine's loopback only, and keeps its storage in a volume of its own, so a path of this machine
means nothing to it: a bind mount of one would be an empty folder there, which is what the
remote-engine tests look for. It runs with --debug, so its log holds the body of every request,
among them every container create our CLI made (helpers that are gone by now included).
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import tarfile
import tempfile
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
IMAGE_NAME = "coding-agents-test-engine"
PORT = 2375
# How far after its request line a create's body may be logged (other requests log in between).
BODY_WINDOW = 40
# This kind of host refuses --privileged ("unable to apply caps"); these are what dockerd needs of
# it (start-engine remounts /sys, /proc/sys and the cgroup hierarchies read-write).
RUN_FLAGS = (
    "--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE",
    "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
    "--security-opt", "systempaths=unconfined", "--device-cgroup-rule", "a *:* rwm",
)


def _docker(*args: str, env: dict[str, str] | None = None, input: bytes | None = None, check: bool = True,
            timeout: float = 600) -> subprocess.CompletedProcess:
    done = subprocess.run(["docker", *args], capture_output=True, input=input, timeout=timeout,
                          env={**os.environ, **(env or {})})
    if check and done.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed: {done.stderr.decode(errors='replace')}")
    return done


def build_image(version: str, ca_cert: str | None) -> str:
    """The engine's image, on top of coding-agents-base:VERSION (the layer cache makes reruns quick)."""
    ref = f"{IMAGE_NAME}:{version}"
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name in ("Dockerfile", "start-engine"):
            tar.add(HERE / name, arcname=name)
        data = Path(ca_cert).read_bytes() if ca_cert else b""
        info = tarfile.TarInfo("extra-ca.crt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    _docker("build", "--quiet", "--tag", ref, "--build-arg", f"BASE_IMAGE=coding-agents-base:{version}", "-",
            input=context.getvalue(), timeout=1800)
    return ref


@dataclass
class TestEngine:
    """A running second engine: its address, a docker context naming it, and what it cost to set up."""

    name: str  # the engine's container on this machine's engine
    volume: str  # its /var/lib/docker
    host: str  # tcp://127.0.0.1:PORT
    docker_config: str  # a DOCKER_CONFIG of its own, where the context lives (the user's stays untouched)
    context: str
    timings: dict[str, float] = field(default_factory=dict)

    __test__ = False  # not a test class, despite its name

    @property
    def host_env(self) -> dict[str, str]:
        """Reach it through DOCKER_HOST."""
        return {"DOCKER_HOST": self.host, "DOCKER_CONTEXT": ""}

    @property
    def context_env(self) -> dict[str, str]:
        """Reach it through the current context (`docker context use`) of a config of its own."""
        return {"DOCKER_HOST": "", "DOCKER_CONTEXT": "", "DOCKER_CONFIG": self.docker_config}

    def docker(self, *args: str, check: bool = True, input: bytes | None = None,
               timeout: float = 600) -> subprocess.CompletedProcess:
        """`docker ARGS` against this engine."""
        return _docker(*args, env=self.host_env, input=input, check=check, timeout=timeout)

    def text(self, *args: str) -> str:
        return self.docker(*args).stdout.decode().strip()

    def load(self, *refs: str) -> None:
        """Copy images from this machine's engine: `docker save | docker load`, timed."""
        started = time.monotonic()
        saver = subprocess.Popen(["docker", "save", *refs], stdout=subprocess.PIPE)
        try:
            loaded = subprocess.run(["docker", "load", "--quiet"], stdin=saver.stdout, capture_output=True,
                                    timeout=900, env={**os.environ, **self.host_env})
        finally:
            saver.stdout.close()
            saver.wait(timeout=60)
        assert saver.returncode == 0 and loaded.returncode == 0, loaded.stderr.decode(errors="replace")
        self.timings["load " + " ".join(refs)] = time.monotonic() - started

    def created_containers(self) -> list[tuple[str, dict | None]]:
        """Every container create the engine has served: (name, the request's JSON body as it logged
        it). dockerd logs bodies up to 4 KiB only, so a larger one is None: inspect that container
        while it exists (`mounts`)."""
        logs = _docker("logs", self.name, check=False)
        lines = (logs.stdout + logs.stderr).decode(errors="replace").splitlines()
        created = []
        claimed = set()  # a body belongs to one create
        for index, line in enumerate(lines):
            call = re.search(r'msg="Calling POST /v[\d.]+/containers/create(?:\?name=([^"&]*))?"', line)
            if call is None:
                continue
            # The body is logged after its request line, but a busy engine logs its other requests
            # in between: the first create body not yet taken (it has a HostConfig; an exec's,
            # a network's or a volume's has none).
            body = None
            for later in range(index + 1, min(index + BODY_WINDOW, len(lines))):
                if later in claimed or 'msg="form data: ' not in lines[later]:
                    continue
                raw = lines[later].split('msg="form data: ', 1)[1].rsplit('"', 1)[0]
                form = json.loads(json.loads(f'"{raw}"'))
                if isinstance(form, dict) and "HostConfig" in form:
                    claimed.add(later)
                    body = form
                    break
            created.append((urllib.parse.unquote(call.group(1) or ""), body))
        return created

    def mounts(self) -> dict[str, list[dict]]:
        """Each existing container's mounts, as the engine reports them (name -> .Mounts)."""
        ids = self.text("ps", "--all", "--quiet").split()
        if not ids:
            return {}
        found = json.loads(self.text("inspect", "--type", "container", *ids))
        return {entry["Name"].lstrip("/"): entry.get("Mounts") or [] for entry in found}

    def restart(self) -> None:
        """Restart the engine itself (its containers get SIGTERM, as in a host's reboot); the port
        on this machine may change, so the address and the context follow it."""
        _docker("restart", "--time", "30", self.name, timeout=120)
        self.host = "tcp://" + _docker("port", self.name, f"{PORT}/tcp").stdout.decode().split()[0]
        env = {"DOCKER_CONFIG": self.docker_config, "DOCKER_HOST": "", "DOCKER_CONTEXT": ""}
        _docker("context", "update", self.context, "--docker", f"host={self.host}", env=env)
        wait_until_up(self)

    def remove_sessions(self) -> None:
        """Everything our CLI made on this engine (all of it is ours: the engine is the test's)."""
        containers = self.text("ps", "--all", "--quiet").split()
        if containers:
            self.docker("rm", "--force", "--volumes", *containers, check=False)
        volumes = self.text("volume", "ls", "--quiet").split()
        if volumes:
            self.docker("volume", "rm", "--force", *volumes, check=False)
        self.docker("network", "prune", "--force", check=False)


def start(version: str, label: str, ca_cert: str | None, images: tuple[str, ...]) -> TestEngine:
    """Build (if needed) and start the engine, wait for it, make its context and load images into it."""
    started = time.monotonic()
    ref = build_image(version, ca_cert)
    built = time.monotonic()
    suffix = label.rpartition("=")[2]
    name = f"coding-agents-test-engine-{suffix}"
    volume = f"{name}-data"
    _docker("volume", "create", "--label", label, volume)
    _docker("run", "--detach", "--name", name, "--label", label, *RUN_FLAGS,
            "--volume", f"{volume}:/var/lib/docker", "--publish", f"127.0.0.1::{PORT}", ref, "--debug")
    address = _docker("port", name, f"{PORT}/tcp").stdout.decode().split()[0]
    engine = TestEngine(name, volume, f"tcp://{address}", tempfile.mkdtemp(prefix="ca-test-docker-config-"),
                        f"ca-test-{suffix}")
    try:
        wait_until_up(engine)
        engine.timings["build"] = built - started
        engine.timings["start"] = time.monotonic() - built
        env = {"DOCKER_CONFIG": engine.docker_config, "DOCKER_HOST": "", "DOCKER_CONTEXT": ""}
        _docker("context", "create", engine.context, "--docker", f"host={engine.host}", env=env)
        _docker("context", "use", engine.context, env=env)
        engine.load(*images)
    except BaseException:
        stop(engine)
        raise
    return engine


def wait_until_up(engine: TestEngine, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while _docker("info", "--format", "{{.ServerVersion}}", env=engine.host_env, check=False,
                  timeout=30).returncode != 0:
        if time.monotonic() > deadline:
            logs = _docker("logs", "--tail", "20", engine.name, check=False)
            raise AssertionError("the test engine did not answer: " + logs.stderr.decode(errors="replace"))
        time.sleep(0.25)


def stop(engine: TestEngine) -> None:
    """Remove the engine's container, its storage and its docker config (the image stays, as a cache)."""
    _docker("rm", "--force", engine.name, check=False)
    _docker("volume", "rm", "--force", engine.volume, check=False)
    import shutil

    shutil.rmtree(engine.docker_config, ignore_errors=True)
