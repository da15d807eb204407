"""Sessions under Podman (`[engine] command = "podman"`), driven through our CLI like a user does.

Podman keeps its own image store and its own containers, networks and volumes: the images come
from Docker's store (conftest.load_into_podman), and everything a session makes must be Podman's,
never Docker's. The differences the core handles are in docs/podman.md; each test here crosses
some of them (label templates, internal networks and their DNS, tmpfs owners, the relay's exec).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

from tests.integration.conftest import (
    RUN_ID,
    TEST_LABEL,
    CliResult,
    git,
    launched_name,
    make_repo,
    remove_sessions_under,
    wait_for,
    write_config,
)

ENGINE_CONFIG = '[engine]\ncommand = "podman"'
SERVER_NAME = "allowed.test"


def podman(*args: str, check: bool = True, input: bytes | None = None) -> subprocess.CompletedProcess:
    done = subprocess.run(["podman", *args], capture_output=True, input=input, timeout=600)
    if check and done.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} failed: {done.stderr.decode(errors='replace')}")
    return done


def text(*args: str) -> str:
    return podman(*args).stdout.decode().strip()


def inside(name: str, script: str, check: bool = True) -> str:
    done = podman("exec", "-u", "1000", name, "sh", "-c", script, check=check)
    return done.stdout.decode().strip()


def state(name: str) -> str | None:
    done = podman("inspect", "--type", "container", "--format", "{{.State.Status}}", name, check=False)
    return done.stdout.decode().strip() if done.returncode == 0 else None


def docker_has(name: str) -> bool:
    """Whether Docker's engine has a container of that name (a podman session must not be there)."""
    return subprocess.run(["docker", "inspect", "--type", "container", name], capture_output=True).returncode == 0


class User:
    """A home whose config says [engine] command = "podman"; `cli` runs our zipapp as that user."""

    def __init__(self, pyz: Path, cli_env: dict[str, str], *sections: str, host_gateway: bool | None = None):
        self.path = Path(tempfile.mkdtemp(prefix="cap-", dir="/tmp"))  # short: socket paths live under it
        write_config(self.path, *sections, host_gateway=host_gateway)
        self.env = {key: value for key, value in cli_env.items()
                    if key not in ("CODING_AGENTS_ENGINE", "SSH_AUTH_SOCK", "XDG_STATE_HOME")}
        self.env.update(HOME=str(self.path), XDG_STATE_HOME=str(self.path / "st"))
        self.pyz = pyz

    def cli(self, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> CliResult:
        done = subprocess.run([str(self.pyz), *args], capture_output=True, text=True, timeout=900,
                              env={**self.env, **(env or {})}, cwd=cwd)
        return CliResult(done.returncode, done.stdout, done.stderr)

    def audit(self, name: str, kind: str) -> list[dict]:
        log = self.path / "st" / "coding-agents" / "bridges" / f"{name}.log"
        lines = log.read_text().splitlines() if log.exists() else []
        return [event for line in lines if line.strip() for event in [json.loads(line)] if event.get("kind") == kind]


@pytest.fixture
def user(pyz, cli_env, podman_engine, tmp_path):
    made: list[User] = []

    def make(*sections: str, host_gateway: bool | None = None) -> User:
        made.append(User(pyz, cli_env, ENGINE_CONFIG, *sections, host_gateway=host_gateway))
        return made[-1]

    yield make
    remove_sessions_under(tmp_path, engine="podman")
    for home in made:
        shutil.rmtree(home.path, ignore_errors=True)


@pytest.fixture
def repo(tmp_path) -> Path:
    return make_repo(tmp_path / f"repo-{uuid.uuid4().hex[:6]}")


@pytest.fixture
def web_server(podman_engine, version):
    """A web server container under Podman (the base image's python), to be joined to a session's
    egress network under SERVER_NAME; removed after the test."""
    name = f"ca-podman-web-{RUN_ID}-{uuid.uuid4().hex[:6]}"
    # Port 80: the proxy passes plain HTTP to port 80 only.
    podman("run", "--detach", "--name", name, "--label", f"{TEST_LABEL}={RUN_ID}", "--user", "0", "--cap-drop", "ALL",
           "--cap-add", "NET_BIND_SERVICE", "--workdir", "/tmp", f"coding-agents-base:{version}",
           "python3", "-m", "http.server", "80")
    try:
        yield name
    finally:
        podman("rm", "--force", "--time", "0", name, check=False)


# --- the engine is named ------------------------------------------------------------------------


def test_doctor_names_podman_and_finds_its_images(user, version):
    result = user().cli("doctor", "--json")

    assert result.returncode == 0, result.output
    checks = {check["name"]: check for check in json.loads(result.stdout)["checks"]}
    assert checks["podman CLI"]["status"] == "ok"
    assert checks["podman CLI"]["detail"] == shutil.which("podman")
    where = "rootful" if os.geteuid() == 0 else "rootless"
    assert checks["engine"]["detail"].startswith("podman unix://") and checks["engine"]["detail"].endswith(
        f"(local, {where})"), checks["engine"]
    assert checks["podman engine"]["status"] == "ok"
    assert "docker engine" not in checks
    assert checks["podman init"]["status"] == "ok", checks["podman init"]  # catatonit, for --init
    # Rootful Podman's internal networks have this machine on their gateway: said, not hidden.
    assert checks.get("internal networks", {}).get("status") == ("warn" if where == "rootful" else None), checks
    # Podman calls them localhost/coding-agents-...: found under our names all the same.
    for image in ("base", "proxy"):
        assert checks[f"image coding-agents-{image}:{version}"]["status"] == "ok", checks


def test_only_podman_installed_is_found_without_a_config(user, tmp_path):
    """No [engine] table and no docker on PATH: podman is the engine."""
    tools = tmp_path / "bin"
    tools.mkdir()
    for program in ("podman", "git", "python3", "socat", "tmux"):
        found = shutil.which(program)
        assert found, f"{program} is not installed"
        (tools / program).symlink_to(found)
    home = user()
    write_config(home.path)  # the same user without [engine]

    result = home.cli("doctor", "--json", env={"PATH": str(tools)})

    checks = {check["name"]: check for check in json.loads(result.stdout)["checks"]}
    assert checks["podman CLI"] == {"name": "podman CLI", "status": "ok", "detail": str(tools / "podman"), "fix": ""}
    assert checks["podman engine"]["status"] == "ok", checks
    assert "docker CLI" not in checks


def test_a_docker_that_runs_podman_is_taken_for_podman(user, tmp_path):
    """podman-docker's `docker` (a script that execs podman) with no [engine] table: Podman's ways,
    and doctor says so; beside it, Docker's own CLI on the same PATH is still Docker."""
    tools = tmp_path / "bin"
    tools.mkdir()
    for program in ("podman", "git", "python3", "socat", "tmux"):
        (tools / program).symlink_to(shutil.which(program))
    (tools / "docker").write_text(f'#!/bin/sh\nexec {shutil.which("podman")} "$@"\n')  # as podman-docker's
    (tools / "docker").chmod(0o755)
    home = user()
    write_config(home.path)  # no [engine]: docker is on PATH, so it is the engine's program

    result = home.cli("doctor", "--json", env={"PATH": str(tools)})

    checks = {check["name"]: check for check in json.loads(result.stdout)["checks"]}
    assert checks["podman CLI"]["status"] == "ok" and checks["podman CLI"]["detail"].startswith(
        f"{tools / 'docker'} (runs Podman"), checks
    assert checks["podman engine"]["status"] == "ok", checks
    assert checks["engine"]["detail"].startswith("podman unix://"), checks  # Podman's own socket, not Docker's
    assert "docker CLI" not in checks and "docker engine" not in checks
    # The positive control: Docker's own CLI in the same place is Docker.
    (tools / "docker").unlink()
    (tools / "docker").symlink_to(shutil.which("docker"))
    again = home.cli("doctor", "--json", env={"PATH": str(tools)})
    checks = {check["name"]: check for check in json.loads(again.stdout)["checks"]}
    assert checks["docker CLI"] == {"name": "docker CLI", "status": "ok", "detail": str(tools / "docker"), "fix": ""}


# --- a session: launch, commit inside, sync, remove -------------------------------------------------


def test_launch_commit_sync_remove_under_podman(user, repo):
    home = user()

    name = launched_name(home.cli("launch-agent", "shell", str(repo), "--network-proxy", "restricted"))

    assert state(name) == "running" and not docker_has(name)
    assert inside(name, "git -C /workspace rev-parse HEAD") == git(repo, "rev-parse", "HEAD")
    # The workspace volume is the agent's own (Podman copies the image folder's owner as Docker does).
    assert inside(name, "stat -c %u:%g /workspace /workspace/.git") == "1000:1000\n1000:1000"
    # restricted: no network at all, loopback only.
    assert [line.split(":")[0].strip() for line in inside(name, "cat /proc/net/dev").splitlines()[2:]] == ["lo"]
    listed = home.cli("list-agents")
    assert listed.returncode == 0, listed.output
    assert listed.stdout.splitlines()[0].startswith("engine: podman unix://")
    assert name in listed.stdout
    inside(name, "cd /workspace && echo podman > podman.txt && git add podman.txt && git commit -q -m podman")
    tip = inside(name, "git -C /workspace rev-parse HEAD")

    synced = home.cli("sync", name)

    assert synced.returncode == 0, synced.output
    row = next(row for row in json.loads(home.cli("list-agents", "--json").stdout) if row["name"] == name)
    assert git(repo, "rev-parse", row["branch"]) == tip
    assert git(repo, "show", f"{row['branch']}:podman.txt") == "podman"
    inside(name, "cd /workspace && echo uncommitted > later.txt")

    removed = home.cli("remove-agent", name)

    assert removed.returncode == 0, removed.output
    assert "auto-committed" in removed.output
    assert git(repo, "show", f"{row['branch']}:later.txt") == "uncommitted"
    assert state(name) is None
    assert text("volume", "ls", "--quiet", "--filter", f"name={name}") == ""
    listed = home.cli("list-agents", "--all")  # (other tests' sessions may share this Podman)
    assert listed.returncode == 0 and name not in listed.stdout, listed.output


def test_a_stopped_session_syncs_through_a_helper_container(user, repo):
    home = user()
    name = launched_name(home.cli("launch-agent", "shell", str(repo), "--network-proxy", "restricted"))
    inside(name, "cd /workspace && echo x > x.txt && git add x.txt && git commit -q -m x")
    tip = inside(name, "git -C /workspace rev-parse HEAD")
    branch = json.loads(home.cli("list-agents", "--json").stdout)[0]["branch"]
    podman("stop", "--time", "1", name)

    synced = home.cli("sync", name)

    assert synced.returncode == 0, synced.output
    assert git(repo, "rev-parse", branch) == tip
    assert state(name) == "exited"  # the helper container read the volume; the session stays stopped


# --- squid: the proxy on the session's internal network, by name ----------------------------------


def test_squid_allows_an_allowed_name_and_denies_another(user, repo, web_server):
    # block_private off: the web server has a private address, as every container does.
    home = user("[network]\nblock_private = false")

    name = launched_name(home.cli("launch-agent", "shell", str(repo), "--allow-domain", SERVER_NAME))

    assert state(name) == "running" and state(f"{name}-proxy") == "running"
    networks = text("inspect", "--format", "{{range $net, $_ := .NetworkSettings.Networks}}{{$net}} {{end}}", name)
    assert networks.split() == [f"{name}-internal"]  # the agent's only network: the proxy's way out
    podman("network", "connect", "--alias", SERVER_NAME, f"{name}-egress", web_server)
    def fetch(url: str) -> str:
        return inside(name, f"curl -s -o /dev/null -w '%{{http_code}}' {url} || true")

    allowed = wait_for(lambda: fetch(f"http://{SERVER_NAME}/") == "200", 30,
                       "the allowed name to be served through the proxy")
    assert allowed
    assert fetch("http://denied.invalid/") == "403"
    # The agent cannot go around the proxy: nothing resolves but the proxy, nothing routes out.
    assert inside(name, f"getent hosts {SERVER_NAME} || echo unresolved") == "unresolved"
    decisions = home.cli("logs", name, "--network", "--json")
    assert decisions.returncode == 0, decisions.output
    seen = {(entry["host"], entry["decision"]) for line in decisions.stdout.splitlines()
            for entry in [json.loads(line)]}
    assert (SERVER_NAME, "allowed") in seen and ("denied.invalid", "denied") in seen, seen
    assert json.loads(home.cli("list-agents", "--json").stdout)[0]["network"] == "squid"
    podman("network", "disconnect", "--force", f"{name}-egress", web_server)

    removed = home.cli("remove-agent", name)

    assert removed.returncode == 0, removed.output
    assert state(f"{name}-proxy") is None
    assert text("network", "ls", "--quiet", "--filter", f"name={name}") == ""


def test_squid_is_refused_under_rootful_podman_unless_the_config_accepts_the_gateway(user, repo):
    # Rootful Podman puts this machine on the session's internal network (its gateway): refused
    # before anything is made, unless [network] allow_host_gateway says so (the other tests do).
    home = user(host_gateway=False)

    refused = home.cli("launch-agent", "shell", str(repo), "--branch", "gw")

    assert refused.returncode == 1, refused.output
    error, hint = refused.stderr.strip().splitlines()[-2:]
    assert error.startswith("error: --network-proxy squid: under rootful Podman this machine has an address"), error
    assert hint.startswith("hint: use --network-proxy restricted") and "allow_host_gateway = true" in hint, hint
    assert state(f"shell-{repo.name}-gw") is None and state(f"shell-{repo.name}-gw-proxy") is None
    doctor = home.cli("doctor")
    assert "internal networks" in doctor.stdout and "allow_host_gateway" in doctor.stdout, doctor.output
    offline = home.cli("launch-agent", "shell", str(repo), "--branch", "gw", "--network-proxy", "restricted")
    assert offline.returncode == 0, offline.output
    assert home.cli("remove-agent", launched_name(offline), "-y").returncode == 0


# --- a bridge through the relay ---------------------------------------------------------------------


def test_git_credentials_reach_the_session_through_the_relay(user, repo):
    home = user()
    (home.path / ".gitconfig").write_text("[credential]\n\thelper = store\n")
    password = "podman-" + uuid.uuid4().hex
    store = home.path / ".git-credentials"
    store.write_text(f"https://bob:{password}@git.example.invalid\n")
    store.chmod(0o600)
    git(repo, "remote", "add", "origin", "https://git.example.invalid/team/app.git")

    name = launched_name(home.cli("launch-agent", "shell", str(repo), "--network-proxy", "restricted"))

    # The relay's folder is its own uid's (Podman refuses a tmpfs uid=: handed over by one exec).
    assert inside(name, "stat -c '%u %a' /run/coding-agents") == "1001 755"
    ask = "printf 'protocol=https\\nhost={host}\\n\\n' | GIT_TERMINAL_PROMPT=0 git credential fill 2>&1; true"
    answered = wait_for(lambda: f"password={password}" in inside(name, ask.format(host="git.example.invalid")), 30,
                        "the credential bridge to answer")
    assert answered
    assert password not in inside(name, ask.format(host="other.example.invalid"))
    events = {(event["decision"], event["host"]) for event in home.audit(name, "git-credential")}
    assert ("granted", "git.example.invalid") in events and ("denied", "other.example.invalid") in events, events
    # Nothing of this machine is mounted: volumes and tmpfs only.
    mounts = json.loads(text("inspect", "--format", "{{json .Mounts}}", name))
    assert {mount["Type"] for mount in mounts} <= {"volume", "tmpfs"}, mounts

    assert home.cli("remove-agent", name).returncode == 0
    assert state(name) is None


# --- rootless: the same sessions in an unprivileged user's own Podman ------------------------------


class RootlessUser:
    """An unprivileged user (made by scripts/test.sh: subordinate uids, a runtime folder) with its
    own Podman store; `cli` runs our zipapp as that user, `podman` its Podman."""

    def __init__(self, name: str, pyz: Path):
        import pwd

        entry = pwd.getpwnam(name)
        self.uid = entry.pw_uid
        self.folder = Path(tempfile.mkdtemp(prefix="car-", dir="/tmp"))  # home, repos: theirs
        os.chown(self.folder, entry.pw_uid, entry.pw_gid)
        self.gid = entry.pw_gid
        self.env = {"HOME": str(self.folder), "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                    "XDG_RUNTIME_DIR": f"/run/user/{self.uid}", "PEX_ROOT": f"{entry.pw_dir}/.cache/pex",
                    "LANG": "C.UTF-8", "USER": name, "LOGNAME": name}
        self.name = name
        self.pyz = pyz
        write_config(self.folder, ENGINE_CONFIG)
        self.own(self.folder)

    def own(self, path: Path) -> None:
        subprocess.run(["chown", "-R", f"{self.uid}:{self.gid}", str(path)], check=True)

    def run(self, *argv: str, input: bytes | None = None, timeout: float = 900) -> subprocess.CompletedProcess:
        as_user = ["runuser", "-u", self.name, "--"] if os.geteuid() == 0 else []
        return subprocess.run([*as_user, "env", "-i", *(f"{k}={v}" for k, v in self.env.items()), *argv],
                              capture_output=True, input=input, timeout=timeout, cwd=self.folder)

    def cli(self, *args: str) -> CliResult:
        done = self.run(str(self.pyz), *args)
        return CliResult(done.returncode, done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace"))

    def podman(self, *args: str, input: bytes | None = None) -> str:
        done = self.run("podman", *args, input=input)
        assert done.returncode == 0, f"podman {' '.join(args)}: {done.stderr.decode(errors='replace')}"
        return done.stdout.decode().strip()

    def load(self, *refs: str) -> None:
        """Docker's images into this user's store (only those it lacks in that build)."""
        ours = {ref: self.run("podman", "image", "inspect", "--format", "{{.Id}}", ref).stdout.decode().strip()
                for ref in refs}
        wanted = [ref for ref in refs if ours[ref] != subprocess.run(
            ["docker", "image", "inspect", "--format", "{{.Id}}", ref], capture_output=True, text=True,
        ).stdout.strip().removeprefix("sha256:")]
        if wanted:
            archive = subprocess.run(["docker", "save", *wanted], capture_output=True, check=True, timeout=900).stdout
            self.podman("load", "--quiet", input=archive)

    def remove_everything(self) -> None:
        for kind, listing in (("container", ["ps", "--all", "--quiet"]), ("volume", ["volume", "ls", "--quiet"])):
            names = self.run("podman", *listing, "--filter", "label=coding-agents.session").stdout.decode().split()
            if names:
                self.run("podman", *(["rm", "--force", "--time", "0"] if kind == "container"
                                     else ["volume", "rm", "--force"]), *names)
        networks = self.run("podman", "network", "ls", "--quiet", "--filter", "label=coding-agents.session")
        for network in networks.stdout.decode().split():
            self.run("podman", "network", "rm", "--force", network)
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture(scope="module")
def rootless(pyz, podman_engine, version):
    import pwd

    # As root, the user scripts/test.sh made; otherwise the suite's own user is rootless already.
    name = (os.environ.get("CODING_AGENTS_TEST_ROOTLESS_USER", "ca-rootless") if os.geteuid() == 0
            else pwd.getpwuid(os.geteuid()).pw_name)
    try:
        pwd.getpwnam(name)
    except KeyError:
        pytest.fail(f"no user {name} for the rootless Podman tests (scripts/test.sh makes it)", pytrace=False)
    user = RootlessUser(name, pyz)
    user.load(*(f"coding-agents-{image}:{version}" for image in ("base", "proxy")))
    try:
        yield user
    finally:
        user.remove_everything()


def test_rootless_podman_runs_the_same_sessions(rootless):
    doctor = rootless.cli("doctor", "--json")
    checks = {check["name"]: check for check in json.loads(doctor.stdout)["checks"]}
    assert checks["engine"]["detail"] == f"podman unix:///run/user/{rootless.uid}/podman/podman.sock (local, rootless)"
    assert "internal networks" not in checks  # (rootful Podman's gateway warning)
    repo = make_repo(rootless.folder / f"repo-{uuid.uuid4().hex[:6]}")
    rootless.own(repo)

    offline = launched_name(rootless.cli("launch-agent", "shell", str(repo), "--branch", "offline",
                                         "--network-proxy", "restricted"))
    squid = launched_name(rootless.cli("launch-agent", "shell", str(repo), "--branch", "squid"))

    # The agent is uid 1000 inside; on the host, a subordinate uid of the user (never root, never them).
    assert rootless.podman("exec", "-u", "1000", offline, "stat", "-c", "%u", "/workspace") == "1000"
    assert not docker_has(offline) and state(offline) is None  # neither Docker's nor root's Podman's
    rootless.podman("exec", "-u", "1000", offline, "sh", "-c",
                    "cd /workspace && echo r > r.txt && git add r.txt && git commit -q -m rootless")
    tip = rootless.podman("exec", "-u", "1000", offline, "git", "-C", "/workspace", "rev-parse", "HEAD")
    assert rootless.cli("sync", offline).returncode == 0
    # (as the user: git refuses a repository of another owner)
    assert rootless.run("git", "-C", str(repo), "rev-parse", "shell/offline").stdout.decode().strip() == tip
    denied = rootless.podman("exec", "-u", "1000", squid, "sh", "-c",
                             "curl -s -o /dev/null -w '%{http_code}' http://denied.invalid/ || true")
    assert denied == "403"  # the proxy answers on the session's network, inside the user's network namespace

    for name in (offline, squid):
        removed = rootless.cli("remove-agent", name)
        assert removed.returncode == 0, removed.output
    assert rootless.podman("ps", "--all", "--quiet", "--filter", "label=coding-agents.session") == ""
