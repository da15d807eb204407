"""Integration fixtures: a real Docker engine, and our zipapp driven like a user drives it.

Without an engine these tests fail (not skip): a skipped integration test is a test not run.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# CODING_AGENTS_TEST_PYZ: another build to test (e.g. a private copy while the source changes).
PYZ = Path(os.environ.get("CODING_AGENTS_TEST_PYZ") or ROOT / "dist" / "coding-agents.pyz")
TEST_LABEL = "coding-agents.test-run"
RUN_ID = uuid.uuid4().hex[:10]
# CODING_AGENTS_TEST_ENGINE=podman runs the chosen files' sessions under Podman (docs/testing.md):
# the CLI is told through CODING_AGENTS_ENGINE, these helpers ask podman, and the images are
# built by Docker and copied into Podman's own store (load_into_podman).
ENGINE = os.environ.get("CODING_AGENTS_TEST_ENGINE") or "docker"
PODMAN_IMAGES = ("base", "proxy")  # what shell sessions need; a test wanting more loads them


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


def engine_version(program: str) -> str:
    """The version of the engine `program` drives; fails the test run when none answers."""
    try:
        done = subprocess.run([program, "version", "--format", "{{.Server.Version}}"], capture_output=True, text=True,
                              timeout=60)
    except FileNotFoundError:
        done = subprocess.CompletedProcess([program], 127, "", f"{program} is not installed")
    if done.returncode != 0:
        pytest.fail(
            f"no {program} engine answers (run the suite through scripts/test.sh, which sets them up): "
            + done.stderr.strip(),
            pytrace=False,
        )
    return done.stdout.strip()


@pytest.fixture(scope="session")
def docker_engine() -> str:
    """The engine's version (Docker builds the images even when sessions run under Podman)."""
    version = engine_version("docker")
    return engine_version(ENGINE) if ENGINE != "docker" else version


def load_into_podman(*refs: str) -> None:
    """Copy images from Docker's store into Podman's (`docker save | podman load`), each only when
    Podman lacks it or has another build of it (the ids are the same on both sides)."""
    wanted = []
    for ref in refs:
        ids = [subprocess.run([program, "image", "inspect", "--format", "{{.Id}}", ref], capture_output=True,
                              text=True, timeout=60).stdout.strip().removeprefix("sha256:")
               for program in ("docker", "podman")]
        assert ids[0], f"{ref} is not in Docker's store"
        if ids[0] != ids[1]:
            wanted.append(ref)
    if not wanted:
        return
    saver = subprocess.Popen(["docker", "save", *wanted], stdout=subprocess.PIPE)
    try:
        loaded = subprocess.run(["podman", "load", "--quiet"], stdin=saver.stdout, capture_output=True, timeout=900)
    finally:
        saver.stdout.close()
        saver.wait(timeout=60)
    assert saver.returncode == 0 and loaded.returncode == 0, loaded.stderr.decode(errors="replace")


def engine_has_images(version: str, *images: str) -> None:
    """For a test whose sessions need more of our images than PODMAN_IMAGES: under Podman, copy them
    into its store too (Docker's has every one, built_images)."""
    if ENGINE == "podman":
        load_into_podman(*(f"coding-agents-{image}:{version}" for image in images))


@pytest.fixture(scope="session")
def podman_engine(built_images, version) -> str:
    """Podman, with the images shell sessions need in its store; its version."""
    found = engine_version("podman")
    load_into_podman(*(f"coding-agents-{image}:{version}" for image in PODMAN_IMAGES))
    return found


@pytest.fixture(scope="session")
def pyz() -> Path:
    if not PYZ.is_file():
        pytest.fail(f"{PYZ} is missing: run `python3 build_zipapp.py` (scripts/test.sh does)", pytrace=False)
    return PYZ


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


# Under rootful Podman a squid session is refused unless the config accepts that this machine is on
# its network (docs/podman.md); the suite's sessions accept it, test_podman.py tests the refusal.
HOST_GATEWAY = "allow_host_gateway = true"


def write_config(home: Path, *sections: str, host_gateway: bool | None = None) -> Path:
    """HOME/.config/coding-agents/config.toml: [images] (with the test CA bundle, if any), then
    sections; for sessions under Podman (host_gateway None: when the config or the suite names it),
    [network] allow_host_gateway too."""
    config_dir = home / ".config" / "coding-agents"
    config_dir.mkdir(parents=True, exist_ok=True)
    lines = ["[images]"]
    ca_cert = os.environ.get("CODING_AGENTS_TEST_CA_CERT")
    if ca_cert:
        lines.append(f"ca_cert = {json.dumps(ca_cert)}")
    if host_gateway is None:
        host_gateway = ENGINE == "podman" or any('command = "podman"' in section for section in sections)
    sections = tuple(section.strip() for section in sections)
    if host_gateway:
        table = re.compile(r"^\[network\]$", re.MULTILINE)
        at = next((index for index, section in enumerate(sections) if table.search(section)), None)
        sections = (*sections, f"[network]\n{HOST_GATEWAY}") if at is None else (
            *sections[:at], table.sub(f"[network]\n{HOST_GATEWAY}", sections[at], count=1), *sections[at + 1:])
    path = config_dir / "config.toml"
    path.write_text("\n".join(lines) + "\n" + "".join("\n" + section + "\n" for section in sections))
    return path


def agent_screen(name: str) -> str:
    """The agent's tmux pane while it runs; the last screen ca-stub logged once it has exited."""
    if container_state(name) == "running":
        shown = subprocess.run([ENGINE, "exec", "-u", "1000", name, "tmux", "capture-pane", "-p", "-t", "agent"],
                               capture_output=True, text=True, timeout=30)
        if shown.returncode == 0:
            return shown.stdout
    logs = docker("logs", name, check=False)
    return logs.stdout.decode(errors="replace") + logs.stderr.decode(errors="replace")


@pytest.fixture(scope="session")
def user_home(tmp_path_factory) -> Path:
    """A throwaway home with a config file, as a user of this machine would write it."""
    home = tmp_path_factory.mktemp("home")
    write_config(home)
    return home


@pytest.fixture(scope="session")
def cli_env(user_home) -> dict[str, str]:
    env = dict(os.environ)
    # Keep pex's unpacked venv cache where it was, so each run doesn't re-extract it.
    env.setdefault("PEX_ROOT", os.path.join(os.path.expanduser("~"), ".cache", "pex"))
    env["HOME"] = str(user_home)
    if ENGINE != "docker":
        env["CODING_AGENTS_ENGINE"] = ENGINE
    env.pop("XDG_CONFIG_HOME", None)
    env.pop("CODING_AGENTS_CONFIG", None)
    return env


@pytest.fixture(scope="session")
def cli(pyz, cli_env):
    """Run dist/coding-agents.pyz with arguments, the way a user would from a shell."""

    def run(*args: str, env: dict[str, str] | None = None, timeout: float = 1800, cwd=None) -> CliResult:
        done = subprocess.run(
            [str(pyz), *args],
            capture_output=True,
            text=True,
            env={**cli_env, **(env or {})},
            timeout=timeout,
            cwd=cwd,
        )
        return CliResult(done.returncode, done.stdout, done.stderr)

    return run


@pytest.fixture(scope="session")
def version(cli) -> str:
    return cli("--version").stdout.split()[-1]


@pytest.fixture(scope="session")
def built_images(docker_engine, cli, version):
    """Build every image through our CLI once per session (fast when the layer cache is warm), with
    Docker; under Podman, the ones its sessions need are then copied into its store."""
    result = cli("images", "build", "all", env={"CODING_AGENTS_ENGINE": "docker"})
    assert result.returncode == 0, result.output
    if ENGINE == "podman":
        load_into_podman(*(f"coding-agents-{image}:{version}" for image in PODMAN_IMAGES))
    return result


def docker(*args: str, check: bool = True, input: bytes | None = None, timeout: float = 600, engine: str = ""):
    """`docker ARGS` (or the ENGINE the sessions run under, or the one given)."""
    program = engine or ENGINE
    done = subprocess.run([program, *args], capture_output=True, input=input, timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(f"{program} {' '.join(args)} failed: {done.stderr.decode(errors='replace')}")
    return done


def image_id(ref: str) -> str | None:
    done = docker("image", "inspect", "--format", "{{.Id}}", ref, check=False)
    return done.stdout.decode().strip() if done.returncode == 0 else None


@pytest.fixture
def throwaway_images():
    """Refs a test creates; removed afterwards along with anything carrying this run's label."""
    refs: list[str] = []
    yield refs
    if refs:
        docker("rmi", "--force", *refs, check=False)
    leftover = docker("images", "--quiet", "--filter", f"label={TEST_LABEL}={RUN_ID}", check=False)
    ids = leftover.stdout.decode().split()
    if ids:
        docker("rmi", "--force", *ids, check=False)


# --- agent sessions: real git repos in tmp_path, and cleanup of what the sessions created ----

SESSION_LABEL = "coding-agents.session"
REPO_LABEL = "coding-agents.repo"


def git(repo: Path, *args: str, check: bool = True) -> str:
    """Real git on a host repo; stdout without the trailing newline."""
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=120)
    if check and done.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {done.stderr}")
    return done.stdout.rstrip("\n")


def make_repo(path: Path) -> Path:
    """A repo with an identity and two commits (so HEAD has a parent the workspace must not need)."""
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.name", "Test User")
    git(path, "config", "user.email", "test@example.com")
    (path / "README.md").write_text("hello\n")
    git(path, "add", "README.md")
    git(path, "commit", "-q", "-m", "first")
    (path / "app.py").write_text("print('v1')\n")
    git(path, "add", "app.py")
    git(path, "commit", "-q", "-m", "second")
    return path


def wait_for(check, timeout: float, what: str, interval: float = 0.5):
    """Poll check() until it returns something truthy; fail naming `what` after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


def container_state(name: str) -> str | None:
    done = docker("inspect", "--type", "container", "--format", "{{.State.Status}}", name, check=False)
    return done.stdout.decode().strip() if done.returncode == 0 else None


def volume_exists(name: str, engine: str = "") -> bool:
    return docker("volume", "inspect", name, check=False, engine=engine).returncode == 0


def inside(name: str, script: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run a shell script in a session container as the agent user."""
    done = subprocess.run(
        [ENGINE, "exec", "-u", "1000", name, "sh", "-c", script], capture_output=True, text=True, timeout=120
    )
    if check and done.returncode != 0:
        raise AssertionError(f"in {name}: {script!r} failed ({done.returncode}): {done.stderr}")
    return done


def sessions_under(path: Path, engine: str = "") -> tuple[set[str], set[str]]:
    """(containers, volumes) whose coding-agents.repo label points into path."""
    prefix = str(path.resolve())
    found: list[set[str]] = []
    # Podman's templates have no .Label; its .Labels is a map (docker's is one "k=v,..." string).
    label = ('{{index .Labels "' if (engine or ENGINE) == "podman" else '{{.Label "') + REPO_LABEL + '"}}'
    for kind, field in ((["ps", "--all"], "{{.Names}}"), (["volume", "ls"], "{{.Name}}")):
        listed = docker(*kind, "--filter", f"label={SESSION_LABEL}", "--format", field + "\t" + label, check=False,
                        engine=engine)
        names = set()
        for line in listed.stdout.decode().splitlines():
            name, _, repo = line.partition("\t")
            if repo == prefix or repo.startswith(prefix + "/"):
                names.add(name)
        found.append(names)
    return found[0], found[1]


def remove_sessions_under(path: Path, engine: str = "") -> None:
    def run(*args: str):
        return docker(*args, check=False, engine=engine)

    containers, volumes = sessions_under(path, engine)
    if containers:
        run("rm", "--force", *containers)
        volumes |= {f"{name}-{kind}" for name in containers for kind in ("workspace", "home")}
    leftover = run("volume", "ls", "--quiet", "--filter", f"label={TEST_LABEL}={RUN_ID}")
    volumes |= set(leftover.stdout.decode().split())
    existing = [name for name in volumes if volume_exists(name, engine)]
    if existing:
        run("volume", "rm", "--force", *existing)
    # Squid sessions also have two networks each; leaking them exhausts the engine's address pools.
    listed = run("network", "ls", "--format", "{{.Name}}", "--filter", "label=coding-agents.session")
    for network in listed.stdout.decode().split():
        labels = run("network", "inspect", "--format", '{{index .Labels "coding-agents.repo"}}', network)
        if labels.stdout.decode().strip().startswith(str(path)):
            if (engine or ENGINE) == "podman":  # (its network inspect lists no containers)
                members = run("ps", "--all", "--filter", f"network={network}", "--format", "{{.Names}}")
            else:
                members = run("network", "inspect", "--format", "{{range .Containers}}{{.Name}} {{end}}", network)
            for member in members.stdout.decode().split():
                run("network", "disconnect", "--force", network, member)
            run("network", "rm", network)


@pytest.fixture
def session_cleanup(docker_engine, built_images, tmp_path):
    """After the test: remove every session container and volume of a repo in tmp_path."""
    yield tmp_path
    remove_sessions_under(tmp_path)


@pytest.fixture
def new_repo(session_cleanup, tmp_path):
    """Make a fresh repo in tmp_path; its unique folder name keeps container names unique."""

    def make(stem: str = "repo") -> Path:
        return make_repo(tmp_path / f"{stem}-{uuid.uuid4().hex[:6]}")

    return make


@pytest.fixture
def repo(new_repo) -> Path:
    return new_repo()


def launched_name(result: CliResult) -> str:
    """The session name from launch-agent's `connect:  connect-agent NAME` line."""
    assert result.returncode == 0, result.output
    for line in result.stdout.splitlines():
        if line.startswith("connect:"):
            return line.split()[-1]
    raise AssertionError(f"no connect: line in {result.stdout!r}")


def host_state(repo: Path) -> dict[str, object]:
    """Everything a sync must not touch: HEAD, index, work tree (tracked and untracked)."""
    files = {
        str(p.relative_to(repo)): p.read_bytes()
        for p in sorted(repo.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(repo).parts
    }
    return {
        "head": git(repo, "rev-parse", "HEAD"),
        "head_ref": git(repo, "symbolic-ref", "-q", "HEAD", check=False),
        "status": git(repo, "status", "--porcelain=v1", "-uall"),
        "index": git(repo, "ls-files", "--stage"),
        "staged": git(repo, "diff", "--cached"),
        "files": files,
    }


def list_row(cli, name: str, *flags: str) -> dict | None:
    result = cli("list-agents", "--json", *flags)
    assert result.returncode == 0, result.output
    return next((row for row in json.loads(result.stdout) if row["name"] == name), None)


COMMIT_INSIDE = "cd /workspace && echo {text} > {file} && git add {file} && git commit -q -m {text}"


def commit_inside(name: str, file: str, text: str) -> str:
    """Commit a new file in the session's workspace; return the new commit."""
    inside(name, COMMIT_INSIDE.format(file=file, text=text))
    return inside(name, "git -C /workspace rev-parse HEAD").stdout.strip()


def assert_gone(name: str) -> None:
    assert container_state(name) is None, f"container {name} still exists"
    for volume in (f"{name}-workspace", f"{name}-home"):
        assert not volume_exists(volume), f"volume {volume} still exists"


def assert_clean_error(result, fragment: str) -> None:
    """One `error:` line containing fragment, then a `hint:` line; non-zero exit; no traceback."""
    assert result.returncode != 0, result.output
    lines = result.stderr.splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    assert fragment in errors[0], result.stderr
    after = lines[lines.index(errors[0]) + 1 :]
    assert after and after[0].startswith("hint: "), result.stderr
    assert "Traceback" not in result.output


@pytest.fixture(scope="module")
def git_server(docker_engine, built_images, tmp_path_factory):
    """A private git repository over HTTPS with Basic auth, in a container of the engine under test
    (one per test module)."""
    from tests.integration.gitserver import start_git_https_server

    server = start_git_https_server(tmp_path_factory.mktemp("gitserver"), f"{TEST_LABEL}={RUN_ID}", engine=ENGINE)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def test_engine(built_images, version):
    """A second Docker engine that shares none of this machine's files (tests/integration/engines),
    with the base and proxy images loaded; reached through `.host_env` (DOCKER_HOST) or
    `.context_env` (a docker context in a DOCKER_CONFIG of its own). Removed after the run."""
    from tests.integration import engines

    engine = engines.start(version, f"{TEST_LABEL}={RUN_ID}", os.environ.get("CODING_AGENTS_TEST_CA_CERT"),
                           (f"coding-agents-base:{version}", f"coding-agents-proxy:{version}"))
    print(f"\ntest engine {engine.host}: " + ", ".join(f"{step} {seconds:.1f} s"
                                                     for step, seconds in engine.timings.items()))
    try:
        yield engine
    finally:
        engines.stop(engine)
