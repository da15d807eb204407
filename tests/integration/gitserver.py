"""A private git repository over HTTPS with Basic auth, in a container a test starts.

    server = start_git_https_server(tmp_path, f"{TEST_LABEL}={RUN_ID}")
    try:
        git -c http.sslCAInfo=<server.cert_path> ls-remote <server.repo_url("private.git")>
    finally:
        server.stop()

The container sits on the engine's default bridge (the engine under test, conftest.ENGINE: Docker's
`bridge` or Podman's `podman`); its certificate names its bridge IP and the DNS names given
(gitserver.test by default), so a test may `docker network connect --alias gitserver.test` it to
another network. The server is the container's main process: `docker logs` (server.logs())
shows one `METHOD PATH STATUS USER` line per request.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

SERVER_SCRIPT = Path(__file__).resolve().parent / "servers" / "git_https_server.py"
PORT = 8443
# The engine under test's default network, which the host reaches.
DEFAULT_NETWORK = {"docker": "bridge", "podman": "podman"}
DEFAULT_NAMES = ("gitserver.test",)
_SRV = "/srv/git"  # in the container: server.py, cert.pem, key.pem, repos/


def _run(args: list[str], *, timeout: float = 120, env: dict[str, str] | None = None,
         cwd: Path | None = None) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd)
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def _host_git_env(home: Path) -> dict[str, str]:
    """Host git with no user or system config and a fixed identity, so the seed commit is reproducible."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update({
        "HOME": str(home),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_NAME": "Git Server",
        "GIT_AUTHOR_EMAIL": "gitserver@example.com",
        "GIT_COMMITTER_NAME": "Git Server",
        "GIT_COMMITTER_EMAIL": "gitserver@example.com",
    })
    return env


@dataclass
class GitServer:
    container: str
    ip: str
    port: int
    url_base: str  # https://<ip>:<port>, no credentials
    cert_path: Path  # host path of the self-signed certificate (PEM): pass as http.sslCAInfo
    user: str
    password: str
    names: tuple[str, ...] = DEFAULT_NAMES  # DNS names the certificate also covers
    engine: str = "docker"  # the program that runs its container

    def repo_url(self, name: str = "private.git", *, credentials: bool = False, host: str | None = None) -> str:
        """https://<ip>:<port>/<name>; with credentials=True, user:password@ in it; host= to use a DNS name."""
        netloc = f"{host or self.ip}:{self.port}"
        if credentials:
            netloc = f"{urllib.parse.quote(self.user, safe='')}:{urllib.parse.quote(self.password, safe='')}@{netloc}"
        return f"https://{netloc}/{name}"

    def logs(self) -> str:
        done = subprocess.run([self.engine, "logs", self.container], capture_output=True, text=True, timeout=60)
        return done.stdout + done.stderr

    def stop(self) -> None:
        subprocess.run([self.engine, "rm", "-f", self.container], capture_output=True, timeout=120)


def _seed_repo(work: Path, bare: Path, env: dict[str, str]) -> None:
    """A bare repo with one commit on main (HEAD -> main)."""
    _run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], env=env)
    _run(["git", "init", "-q", "-b", "main", str(work)], env=env)
    (work / "README.md").write_text("a private repository\n")
    _run(["git", "-C", str(work), "add", "README.md"], env=env)
    _run(["git", "-C", str(work), "commit", "-q", "-m", "initial commit"], env=env)
    _run(["git", "-C", str(work), "push", "-q", str(bare), "main:main"], env=env)


def _make_cert(cert: Path, key: Path, ip: str, names: tuple[str, ...]) -> None:
    san = ",".join([f"IP:{ip}", *(f"DNS:{name}" for name in names)])
    _run([
        "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-subj", f"/CN={names[0] if names else ip}",
        "-addext", f"subjectAltName={san}",
        "-keyout", str(key), "-out", str(cert),
    ])


def start_git_https_server(
    tmp_path: Path,
    label: str,
    image: str = "coding-agents-base:0.1.0",
    user: str = "tester",
    password: str | None = None,
    *,
    names: tuple[str, ...] = DEFAULT_NAMES,
    repos: tuple[str, ...] = ("private.git",),
    timeout: float = 60,
    engine: str = "docker",
) -> GitServer:
    """Start the server container (labelled `label`, e.g. "coding-agents.test-run=<id>") and return once
    it answers over TLS. Each of `repos` is a bare repo with one commit on main."""
    password = password or secrets.token_urlsafe(18)
    base = tmp_path / f"gitserver-{secrets.token_hex(4)}"
    stage = base / "srv"
    (stage / "repos").mkdir(parents=True)
    home = base / "home"
    home.mkdir()
    env = _host_git_env(home)
    for repo in repos:
        _seed_repo(base / "work" / repo, stage / "repos" / repo, env)
    shutil.copy(SERVER_SCRIPT, stage / "server.py")

    name = f"ca-test-gitserver-{secrets.token_hex(5)}"
    # The server waits for the go file: the certificate must name the container's IP, known only after start.
    command = (f"while [ ! -e {_SRV}/go ]; do sleep 0.1; done; "
               f"exec python3 -u {_SRV}/server.py --root {_SRV}/repos --cert {_SRV}/cert.pem "
               f"--key {_SRV}/key.pem --port {PORT}")
    _run([engine, "run", "-d", "--name", name, "--label", label, "--user", "root",
          "--network", DEFAULT_NETWORK[engine],
          "-e", f"GIT_SERVER_USER={user}", "-e", f"GIT_SERVER_PASSWORD={password}",
          "--entrypoint", "sh", image, "-c", command])
    try:
        ip = _run([engine, "inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
                   name]).strip()
        if not ip:
            raise AssertionError(f"container {name} has no address on the default bridge")
        _make_cert(stage / "cert.pem", stage / "key.pem", ip, names)
        _run([engine, "exec", name, "mkdir", "-p", _SRV])
        _run([engine, "cp", f"{stage}/.", f"{name}:{_SRV}"])
        _run([engine, "exec", name, "sh", "-c", f"chown -R root:root {_SRV} && touch {_SRV}/go"])
        server = GitServer(
            container=name, ip=ip, port=PORT, url_base=f"https://{ip}:{PORT}",
            cert_path=stage / "cert.pem", user=user, password=password, names=names, engine=engine,
        )
        _wait_ready(server, timeout)
        return server
    except BaseException:
        subprocess.run([engine, "rm", "-f", name], capture_output=True, timeout=120)
        raise


def _wait_ready(server: GitServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        state = subprocess.run([server.engine, "inspect", "--format", "{{.State.Running}}", server.container],
                               capture_output=True, text=True, timeout=60).stdout.strip()
        if state != "true":
            raise AssertionError(f"git server container {server.container} stopped:\n{server.logs()}")
        if "ready:" in server.logs():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"git server {server.container} not ready after {timeout:g}s:\n{server.logs()}")
        time.sleep(0.2)
