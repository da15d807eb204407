"""Logins, git credentials, commit signing and the ssh-agent: what crosses into a session, and back.

Each test gives the CLI its own fake HOME (config, login files, git credential store, keys) with
scripted agents defined in that config ([agents.NAME]), so what runs inside is deterministic; the
CLI itself (dist/coding-agents.pyz) is driven as a user drives it, against the real engine.
`docker exec` / `docker inspect` / helper containers only *check* what the CLI did.

  probe    base "codex": codex's login file ~/.codex/auth.json, its folder ~/.codex a tmpfs
  sleeper  base "shell": nothing but `sleep infinity`, for the git and signing bridges
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import random
import secrets
import shutil
import stat
import subprocess
import tempfile
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.integration.conftest import (
    ENGINE,
    RUN_ID,
    TEST_LABEL,
    CliResult,
    assert_clean_error,
    commit_inside,
    container_state,
    docker,
    git,
    inside,
    launched_name,
    make_repo,
    remove_sessions_under,
    sessions_under,
    wait_for,
    write_config,
)
from tests.integration.gitserver import GitServer

AGENT_HOME = "/home/agent"
AUTH = f"{AGENT_HOME}/.codex/auth.json"
# The probe's first action: how its login file looked before the agent command did anything.
PROBE_STAT = "/tmp/probe-stat"
PROBE_AUTH = "/tmp/probe-auth"
PROBE_COMMAND = [
    "sh", "-c",
    f"stat -c '%a %U' {AUTH} > {PROBE_STAT} 2>&1; cat {AUTH} > {PROBE_AUTH} 2>&1; exec sleep infinity",
]
SLEEPER = {"base": "shell", "command": ["sleep", "infinity"], "prompt_command": ["sh", "-c", "{prompt}"]}
PROBE = {"base": "codex", "command": PROBE_COMMAND, "prompt_command": ["sh", "-c", "{prompt}"]}
# What the launch environment must not carry in from this machine: each test says what it wants.
_UNWANTED_ENV = ("SSH_AUTH_SOCK", "OPENAI_API_KEY", "CODEX_API_KEY", "CODEX_HOME", "GNUPGHOME", "XDG_STATE_HOME",
                 "XDG_CONFIG_HOME", "CODING_AGENTS_CONFIG")


# --- a fake HOME per test --------------------------------------------------------------------


@dataclass
class Home:
    """One user's home: their config, login files and state; `cli` runs the zipapp as them."""

    path: Path
    pyz: Path
    env: dict[str, str] = field(repr=False)

    def cli(self, *args: str, env: dict[str, str] | None = None, timeout: float = 600) -> CliResult:
        done = subprocess.run([str(self.pyz), *args], capture_output=True, text=True,
                              env={**self.env, **(env or {})}, timeout=timeout)
        return CliResult(done.returncode, done.stdout, done.stderr)

    @property
    def auth(self) -> Path:
        return self.path / ".codex" / "auth.json"

    @property
    def state(self) -> Path:
        return self.path / "st" / "coding-agents"

    def audit_log(self, name: str) -> Path:
        return self.state / "bridges" / f"{name}.log"

    def audit(self, name: str, kind: str | None = None) -> list[dict]:
        try:
            text = self.audit_log(name).read_text()
        except FileNotFoundError:
            return []
        events = [json.loads(line) for line in text.splitlines() if line.strip()]
        return [event for event in events if kind is None or event.get("kind") == kind]


def toml_value(value: object) -> str:
    # Strings and lists of strings: JSON's spelling is valid TOML for them.
    return json.dumps(value)


@pytest.fixture
def make_home(pyz, cli_env, session_cleanup, tmp_path):
    """make_home(extra_config="", agents=...) -> Home: a fresh HOME with a config file.

    Homes live in short folders under /tmp; their state (logins lock, audit logs, bridge settings)
    is in XDG_STATE_HOME inside them."""
    made: list[Path] = []

    def make(extra_config: str = "", agents: dict[str, dict] | None = None) -> Home:
        home = Path(tempfile.mkdtemp(prefix="cah-", dir="/tmp"))
        made.append(home)
        lines = [extra_config.strip(), ""]
        for name, table in (agents if agents is not None else {"probe": PROBE, "sleeper": SLEEPER}).items():
            lines.append(f"[agents.{name}]")
            lines += [f"{key} = {toml_value(value)}" for key, value in table.items()]
            lines.append("")
        write_config(home, "\n".join(lines))
        env = {k: v for k, v in cli_env.items() if k not in _UNWANTED_ENV}
        env["HOME"] = str(home)
        env["XDG_STATE_HOME"] = str(home / "st")  # shorter than ~/.local/state: room for the session name
        return Home(home, pyz, env)

    yield make
    remove_sessions_under(tmp_path)  # first, so no bridge still serves from these homes
    for home in made:
        shutil.rmtree(home, ignore_errors=True)


def write_login(home: Home, content: dict, mtime: float | None = None) -> bytes:
    data = json.dumps(content, indent=2).encode()
    home.auth.parent.mkdir(mode=0o700, exist_ok=True)
    home.auth.write_bytes(data)
    home.auth.chmod(0o600)
    if mtime is not None:
        os.utime(home.auth, (mtime, mtime))
    return data


def new_repo(tmp_path: Path, stem: str = "r") -> Path:
    return make_repo(tmp_path / f"{stem}-{secrets.token_hex(3)}")


def launch(home: Home, agent: str, repo: Path, *args: str, env: dict[str, str] | None = None,
           network: str = "restricted") -> tuple[str, CliResult]:
    result = home.cli("launch-agent", agent, str(repo), "--network-proxy", network, *args, env=env)
    return launched_name(result), result


def read_inside(name: str, path: str) -> str | None:
    done = subprocess.run([ENGINE, "exec", "-u", "1000", name, "cat", path], capture_output=True, text=True,
                          timeout=60)
    return done.stdout if done.returncode == 0 else None


def probe_record(name: str) -> tuple[str, str]:
    """(stat line, content) the probe wrote as its first action; waits until both are there."""
    first = wait_for(lambda: read_inside(name, PROBE_STAT), 30, f"the probe's record in {name}")
    content = wait_for(lambda: read_inside(name, PROBE_AUTH) is not None and read_inside(name, PROBE_AUTH),
                       10, f"the probe's copy in {name}")
    return first.strip(), content


def refresh_inside(name: str, data: bytes, mtime: int) -> None:
    """Rewrite the login file the way CLIs do: a temporary file, its mtime, then a rename."""
    done = subprocess.run(
        [ENGINE, "exec", "-i", "-u", "1000", name, "sh", "-c",
         f"cat > {AUTH}.refresh && touch -d @{mtime} {AUTH}.refresh && mv {AUTH}.refresh {AUTH}"],
        input=data, capture_output=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")


def session_image(name: str) -> str:
    return docker("inspect", "--format", "{{.Config.Image}}", name).stdout.decode().strip()


def grep_inside(name: str, patterns: list[str], *paths: str, user: str = "1000") -> str:
    """Files under paths holding any of patterns (patterns go in on stdin, never on a command line)."""
    done = subprocess.run(
        [ENGINE, "exec", "-i", "-u", user, name, "grep", "-rlsF", "-D", "skip",
         "--exclude-dir=proc", "--exclude-dir=sys", "-f", "/dev/stdin", *paths],
        input="\n".join(patterns) + "\n", capture_output=True, text=True, timeout=300,
    )
    assert done.returncode in (0, 1, 2), done.stderr
    return done.stdout


def grep_volumes(name: str, patterns: list[str]) -> str:
    """Files in the session's workspace and home volumes holding any of patterns, read by a helper
    container as root: the home volume as it is on disk, without the tmpfs folders mounted over it."""
    done = subprocess.run(
        [ENGINE, "run", "--rm", "-i", "--network", "none", "--user", "0", "--label", f"{TEST_LABEL}={RUN_ID}",
         "-v", f"{name}-home:/v/home:ro", "-v", f"{name}-workspace:/v/workspace:ro",
         "--entrypoint", "grep", session_image(name), "-rlsF", "-D", "skip", "-f", "/dev/stdin", "/v"],
        input="\n".join(patterns) + "\n", capture_output=True, text=True, timeout=300,
    )
    assert done.returncode in (0, 1), done.stderr
    return done.stdout


def host_env(**extra: str) -> dict[str, str]:
    """Host git with no GIT_* variables (GIT_SSL_CAINFO here would override http.sslCAInfo)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_") and k != "GNUPGHOME"}
    env.update(extra)
    return env


def host_run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True, env=env or host_env(), cwd=cwd, timeout=120)


def middle_lines(armored: str, count: int = 1) -> list[str]:
    """Lines from the middle of a PEM-like block's base64 body (distinctive: neither header nor padding)."""
    body = [line for line in armored.splitlines()
            if line and not line.startswith(("-----", "=")) and ":" not in line]
    assert len(body) >= 3, armored[:80]
    mid = len(body) // 2
    return body[mid : mid + count]


# --- 1. logins arrive before the agent, on tmpfs, and nowhere else ---------------------------


def test_login_is_on_tmpfs_before_the_agent_starts_and_nowhere_else(make_home, tmp_path):
    home = make_home()
    canary = "canary-" + secrets.token_hex(16)
    data = write_login(home, {"auth_mode": "chatgpt", "tokens": {"access_token": canary, "account_id": "acct-1"}})
    repo = new_repo(tmp_path)

    name, result = launch(home, "probe", repo)
    assert f"==> logins from the host: {home.auth}" in result.stderr, result.output

    # The probe's first action saw the file, private and the agent's: it was there before the agent ran.
    first, content = probe_record(name)
    assert first == "600 agent"
    assert content == data.decode()
    mounts = [line.split() for line in inside(name, "cat /proc/mounts").stdout.splitlines()]
    assert any(m[1] == f"{AGENT_HOME}/.codex" and m[2] == "tmpfs" for m in mounts), mounts

    # Nowhere else: the engine's records of the container, its volumes and its image...
    image = session_image(name)
    for args in (["inspect", name], ["volume", "inspect", f"{name}-workspace", f"{name}-home"],
                 ["history", "--no-trunc", image], ["image", "inspect", image], ["logs", name]):
        done = docker(*args)
        assert canary not in (done.stdout + done.stderr).decode(errors="replace"), f"canary in docker {args}"

    # ...any process's command line or environment inside (the agent's own ones readable)...
    listing = inside(name, r"""for f in /proc/[0-9]*/cmdline /proc/[0-9]*/environ; do
        if cat "$f" > /dev/null 2>&1; then printf '== %s\n' "$f"; tr '\0' '\n' < "$f"; echo; fi; done""").stdout
    assert canary not in listing
    blocks = {}
    for block in listing.split("== ")[1:]:
        path, _, text = block.partition("\n")
        blocks[path] = text
    sleepers = [path.split("/")[2] for path, text in blocks.items()
                if path.endswith("/cmdline") and text.startswith("sleep\ninfinity")]
    assert sleepers, f"the agent's process is not among {sorted(blocks)}"
    for pid in sleepers:
        assert f"HOME={AGENT_HOME}" in blocks.get(f"/proc/{pid}/environ", ""), f"environ of {pid} was not read"
    assert "/proc/1/environ" in blocks  # the stub's

    # ...the workspace, the home volume on disk (outside the tmpfs), and the host's audit log.
    assert grep_inside(name, [canary], f"{AGENT_HOME}/.codex") == f"{AUTH}\n"  # the search does find it
    assert grep_inside(name, [canary], "/workspace") == ""
    assert grep_volumes(name, ["print('v1')"]) == "/v/workspace/app.py\n"  # and this one reads the volumes
    assert grep_volumes(name, [canary]) == ""
    assert canary not in "".join(p.read_text() for p in home.audit_log(name).parent.glob("*.log"))


# --- 2. ten sessions refresh the same login at once: the newest wins ---------------------------


def test_concurrent_refreshes_keep_the_newest_login(make_home, tmp_path):
    home = make_home()
    base = int(time.time()) - 3600
    write_login(home, {"tokens": {"access_token": "original"}}, mtime=base - 3600)
    repos = [new_repo(tmp_path, f"r{i}") for i in range(10)]

    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        names = list(pool.map(lambda repo: launch(home, "probe", repo)[0], repos))
    assert len(set(names)) == 10

    # Session 5 (mid launch order) refreshes last in time; the rest get older, shuffled mtimes.
    rng = random.Random(RUN_ID)
    ranks = list(range(9))
    rng.shuffle(ranks)
    ranks.insert(5, 9)
    tokens = {name: {"tokens": {"access_token": f"refreshed-{rank}-{secrets.token_hex(8)}"}, "rank": rank}
              for name, rank in zip(names, ranks, strict=True)}
    order = list(names)
    rng.shuffle(order)
    with concurrent.futures.ThreadPoolExecutor(max_workers=10) as pool:
        list(pool.map(lambda name: refresh_inside(name, json.dumps(tokens[name]).encode(),
                                                  base + tokens[name]["rank"]), order))

    def handed_a_newer_one() -> set[str]:
        """Sessions that another's saved refresh reached first (one login for many agents): their
        own, older refresh was overwritten here before their stub sent it, so it is never sent."""
        return {event["to"] for name in names for event in home.audit(name, "login-shared")
                if event.get("decision") == "refreshed"}

    def all_decided():
        shared = handed_a_newer_one()
        return all(home.audit(name, "login") or name in shared for name in names)

    # What the product promises: each stub looks every 2 s (LoginWatcher) and waits up to 60 s for
    # the host's decision (bridge_call), however slowly the ten handlers start; a loaded two-core
    # machine takes about 4 s. A session that got a newer login from another first sends nothing.
    wait_for(all_decided, 2 + 60, "a login decision (or a newer shared login) for every session")
    allowed = {"saved", "kept the host's copy: it is as new or newer"}
    for name in names:
        decisions = [event["decision"] for event in home.audit(name, "login")]
        assert len(decisions) <= 1 and set(decisions) <= allowed, (name, decisions)
        assert decisions or name in handed_a_newer_one(), name
    newest = names[5]
    assert home.audit(newest, "login")[0]["decision"] == "saved"  # nothing newer could reach it first

    assert json.loads(home.auth.read_text()) == tokens[newest]
    info = home.auth.stat()
    assert info.st_mtime_ns == (base + 9) * 1_000_000_000
    assert stat.S_IMODE(info.st_mode) == 0o600
    assert sorted(os.listdir(home.auth.parent)) == ["auth.json"]  # no temporary file left

    # remove-agent's last push changes nothing: every session's file is as old or older now.
    for name in names[:3]:
        assert home.cli("remove-agent", name, "-y").returncode == 0
    assert json.loads(home.auth.read_text()) == tokens[newest]
    assert home.auth.stat().st_mtime_ns == (base + 9) * 1_000_000_000


# --- 3. a login made inside, when the host has none ---------------------------------------


@pytest.mark.parametrize("save_new_logins", [True, False])
def test_login_made_inside_is_saved_to_a_host_without_one(make_home, tmp_path, save_new_logins):
    token = "new-login-" + secrets.token_hex(12)
    login = json.dumps({"tokens": {"access_token": token}})
    maker = {**PROBE, "command": [
        "sh", "-c",
        f"umask 077; printf '%s' '{login}' > {AUTH}.new && mv {AUTH}.new {AUTH}; exec sleep infinity",
    ]}
    extra = "" if save_new_logins else "[credentials]\nsave_new_logins = false\n"
    home = make_home(extra, agents={"maker": maker})
    assert not home.auth.exists()

    name, result = launch(home, "maker", new_repo(tmp_path))
    assert "no host login for" in result.stderr, result.output
    wait_for(lambda: home.audit(name, "login"), 30, "the login decision in the audit log")

    decisions = [event["decision"] for event in home.audit(name, "login")]
    if save_new_logins:
        assert decisions == ["saved (new login)"]
        assert home.auth.read_text() == login
        assert stat.S_IMODE(home.auth.stat().st_mode) == 0o600
        assert sorted(os.listdir(home.auth.parent)) == ["auth.json"]
    else:
        assert decisions == ["kept inside: [credentials] save_new_logins is off"]
        assert not home.auth.exists()
        assert read_inside(name, AUTH) == login  # the login itself works inside
        assert home.cli("remove-agent", name, "-y").returncode == 0
        assert not home.auth.exists()
    assert token not in home.audit_log(name).read_text()


# --- 4. git credentials: the host answers for allowlisted hosts only ------------------------


def test_git_credentials_granted_for_the_remote_host_only(make_home, tmp_path, git_server: GitServer):
    dns = git_server.names[0]
    home = make_home(f'[sessions]\ndocker_args = ["--add-host", "{dns}:{git_server.ip}"]\n')
    # The host's own git keeps a credential for both names of the server; only the remote's is allowlisted.
    (home.path / ".gitconfig").write_text("[credential]\n\thelper = store\n")
    user, password = (urllib.parse.quote(part, safe="") for part in (git_server.user, git_server.password))
    store = home.path / ".git-credentials"
    store.write_text(f"https://{user}:{password}@{dns}:{git_server.port}\n"
                     f"https://{user}:{password}@{git_server.ip}:{git_server.port}\n")
    store.chmod(0o600)
    repo = new_repo(tmp_path)
    git(repo, "remote", "add", "origin", git_server.repo_url())

    name, _ = launch(home, "sleeper", repo, network="allow-all")
    subprocess.run([ENGINE, "exec", "-i", "-u", "1000", name, "sh", "-c", "cat > /tmp/ca.pem"],
                   input=git_server.cert_path.read_bytes(), check=True, timeout=60)
    ls_remote = "GIT_TERMINAL_PROMPT=0 git -c http.sslCAInfo=/tmp/ca.pem ls-remote {url}"

    # Not allowlisted: the host has a credential for it, but the container gets nothing.
    log_before = git_server.logs().splitlines()
    denied = inside(name, ls_remote.format(url=git_server.repo_url(host=dns)), check=False)
    assert denied.returncode != 0, denied.stdout
    new_lines = [line for line in git_server.logs().splitlines()[len(log_before):] if line.startswith("GET ")]
    assert new_lines, "the denied request never reached the server"
    assert all(line.endswith(" 401 -") for line in new_lines), new_lines
    events = home.audit(name, "git-credential")
    assert [(e["decision"], e["host"]) for e in events] == [("denied", f"{dns}:{git_server.port}")], events

    # The repo's remote host: the host's `git credential fill` answers, and the fetch authenticates.
    granted = inside(name, ls_remote.format(url=git_server.repo_url()), check=False)
    assert granted.returncode == 0, granted.stderr
    assert "refs/heads/main" in granted.stdout
    served_main = granted.stdout.split()[0]
    fetched = inside(name, "cd /workspace && GIT_TERMINAL_PROMPT=0 git -c http.sslCAInfo=/tmp/ca.pem fetch -q "
                     f"{git_server.repo_url()} main && git rev-parse FETCH_HEAD", check=False)
    assert fetched.returncode == 0, fetched.stderr
    assert fetched.stdout.strip() == served_main  # the private repo's objects are in the workspace now
    assert f" 200 {git_server.user}" in git_server.logs()
    events = home.audit(name, "git-credential")
    assert ("granted", f"{git_server.ip}:{git_server.port}", git_server.user) in {
        (e["decision"], e["host"], e.get("username")) for e in events}, events

    # The secret went to git in memory only: not in the log, the container's records or its disks.
    assert git_server.password not in home.audit_log(name).read_text()
    assert git_server.password not in docker("inspect", name).stdout.decode()
    assert grep_inside(name, [git_server.password], AGENT_HOME, "/workspace", "/tmp") == ""
    assert grep_volumes(name, [git_server.password]) == ""


# --- 5, 6. commit signing: the host signs, its key stays on the host ------------------------


@pytest.fixture
def gnupg_home():
    """A throwaway GNUPGHOME with a fresh signing key (short path: gpg-agent's socket lives in it)."""
    folder = Path(tempfile.mkdtemp(prefix="ca-gpg-", dir="/tmp"))
    folder.chmod(0o700)
    env = host_env(GNUPGHOME=str(folder))
    made = host_run("gpg", "--batch", "--passphrase", "", "--quick-gen-key",
                    "Test Signer <signer@example.test>", "ed25519", "sign", "1d", env=env)
    assert made.returncode == 0, made.stderr
    listed = host_run("gpg", "--list-secret-keys", "--with-colons", env=env).stdout
    fingerprint = next(line.split(":")[9] for line in listed.splitlines() if line.startswith("fpr:"))
    try:
        yield folder, fingerprint, env
    finally:
        host_run("gpgconf", "--kill", "all", env=env)
        shutil.rmtree(folder, ignore_errors=True)


def test_gpg_signed_commit_verifies_on_host_and_key_stays_out(make_home, tmp_path, gnupg_home):
    folder, fingerprint, gpg_env = gnupg_home
    home = make_home()
    repo = new_repo(tmp_path)
    git(repo, "config", "user.signingkey", fingerprint)
    git(repo, "config", "commit.gpgsign", "true")

    name, _ = launch(home, "sleeper", repo, env={"GNUPGHOME": str(folder)})
    assert inside(name, "git -C /workspace config --get gpg.program").stdout.strip() == "ca-gpg"
    tip = commit_inside(name, "signed.txt", "signed-work")
    assert "-----BEGIN PGP SIGNATURE-----" in inside(name, "git -C /workspace cat-file commit HEAD").stdout
    events = home.audit(name, "sign")
    assert [e["decision"] for e in events] == ["signed"], events

    # The key: no secret key inside, and its armored material nowhere in the container or its volumes.
    keys = inside(name, "command -v gpg > /dev/null || exit 0; gpg --list-secret-keys --with-colons", check=False)
    assert "sec:" not in keys.stdout
    exported = host_run("gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase", "", "--armor",
                        "--export-secret-keys", fingerprint, env=gpg_env)
    assert "PRIVATE KEY BLOCK" in exported.stdout, exported.stderr
    secret = middle_lines(exported.stdout, 2)
    assert "/workspace/signed.txt\n" in grep_inside(name, ["signed-work"], "/", user="0")  # the search works
    assert grep_inside(name, secret, "/", user="0") == ""
    assert grep_volumes(name, secret) == ""

    assert home.cli("remove-agent", name).returncode == 0
    assert git(repo, "rev-parse", "sleeper/session-1") == tip
    verified = host_run("git", "-C", str(repo), "verify-commit", "-v", "sleeper/session-1", env=gpg_env)
    assert verified.returncode == 0, verified.stderr
    assert "Good signature" in verified.stderr
    assert fingerprint in host_run("git", "-C", str(repo), "log", "-1", "--format=%GF", "sleeper/session-1",
                                   env=gpg_env).stdout


def ssh_key(folder: Path, comment: str = "signer@example.test") -> Path:
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = folder / "id_test"
    made = host_run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(key))
    assert made.returncode == 0, made.stderr
    return key


def ssh_signing_repo(tmp_path) -> tuple[Path, Path]:
    """A repository that signs its commits with a new ssh key (and verifies them): (repo, key)."""
    key = ssh_key(tmp_path / "keys")
    public = Path(str(key) + ".pub").read_text().strip()
    signers = tmp_path / "allowed_signers"
    signers.write_text(f'test@example.com namespaces="git" {public}\n')
    repo = new_repo(tmp_path)
    for setting, value in (("gpg.format", "ssh"), ("user.signingkey", str(key)), ("commit.gpgsign", "true"),
                           ("gpg.ssh.allowedSignersFile", str(signers))):
        git(repo, "config", setting, value)
    return repo, key


def test_ssh_signed_commit_verifies_on_host_and_key_stays_out(make_home, tmp_path):
    home = make_home()
    repo, key = ssh_signing_repo(tmp_path)
    public = Path(str(key) + ".pub").read_text().strip()

    name, _ = launch(home, "sleeper", repo)
    assert inside(name, "git -C /workspace config --get gpg.ssh.program").stdout.strip() == "ca-ssh-keygen"
    assert inside(name, "git -C /workspace config --get user.signingkey").stdout.strip() == "key::" + public
    tip = commit_inside(name, "signed.txt", "ssh-signed-work")
    assert "-----BEGIN SSH SIGNATURE-----" in inside(name, "git -C /workspace cat-file commit HEAD").stdout
    assert [e["decision"] for e in home.audit(name, "sign")] == ["signed"]

    secret = middle_lines(key.read_text(), 2)
    assert "/workspace/signed.txt\n" in grep_inside(name, ["ssh-signed-work"], "/", user="0")  # the search works
    assert grep_inside(name, secret, "/", user="0") == ""
    assert grep_volumes(name, secret) == ""

    assert home.cli("remove-agent", name).returncode == 0
    assert git(repo, "rev-parse", "sleeper/session-1") == tip
    verified = host_run("git", "-C", str(repo), "verify-commit", "-v", "sleeper/session-1")
    assert verified.returncode == 0, verified.stderr
    assert 'Good "git" signature for test@example.com' in verified.stderr


# --- 7. --ssh-agent ----------------------------------------------------------------------------


@pytest.fixture
def ssh_agent(tmp_path):
    """A host ssh-agent holding one key: (SSH_AUTH_SOCK, the key's fingerprint)."""
    folder = Path(tempfile.mkdtemp(prefix="ca-ssh-", dir="/tmp"))
    sock = folder / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        wait_for(sock.exists, 10, "the ssh-agent's socket")
        key = ssh_key(tmp_path / "agent-key", comment="forwarded@example.test")
        added = host_run("ssh-add", str(key), env=host_env(SSH_AUTH_SOCK=str(sock)))
        assert added.returncode == 0, added.stderr
        fingerprint = host_run("ssh-keygen", "-lf", str(key) + ".pub").stdout.split()[1]
        yield str(sock), fingerprint
    finally:
        agent.terminate()
        agent.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)


def test_ssh_agent_is_forwarded(make_home, tmp_path, ssh_agent):
    sock, fingerprint = ssh_agent
    home = make_home()
    name, _ = launch(home, "sleeper", new_repo(tmp_path), "--ssh-agent", env={"SSH_AUTH_SOCK": sock})
    listed = inside(name, "ssh-add -l")
    assert fingerprint in listed.stdout
    assert "forwarded@example.test" in listed.stdout
    assert inside(name, 'echo "$SSH_AUTH_SOCK"').stdout.strip() == "/run/coding-agents/ssh-agent.sock"


def test_ssh_agent_without_an_agent_is_a_clear_error_and_creates_nothing(make_home, tmp_path):
    home = make_home()
    repo = new_repo(tmp_path)
    assert "SSH_AUTH_SOCK" not in home.env
    result = home.cli("launch-agent", "sleeper", str(repo), "--ssh-agent")
    assert_clean_error(result, "--ssh-agent needs a running ssh-agent, but SSH_AUTH_SOCK is not set")
    assert result.returncode == 1
    assert sessions_under(tmp_path) == (set(), set())
    assert container_state(f"sleeper-{repo.name}-session-1") is None
    bridges_dir = home.state / "bridges"
    assert not bridges_dir.exists() or not any(bridges_dir.iterdir())


# --- 8. a restarted session gets its logins again ----------------------------------------------


def path_without_code() -> str:
    return os.pathsep.join(d for d in os.environ.get("PATH", "").split(os.pathsep)
                           if d and not os.access(os.path.join(d, "code"), os.X_OK))


def test_restart_delivers_logins_again_and_copy_back_still_works(make_home, tmp_path):
    home = make_home()
    base = int(time.time()) - 3600
    data = write_login(home, {"tokens": {"access_token": "before-restart-" + secrets.token_hex(8)}}, mtime=base)
    name, _ = launch(home, "probe", new_repo(tmp_path))
    assert probe_record(name) == ("600 agent", data.decode())

    docker("stop", "--time", "5", name)
    assert container_state(name) == "exited"
    result = home.cli("code", name, env={"PATH": path_without_code()})
    assert result.returncode == 0, result.output
    assert "starting it again" in result.stderr, result.output
    assert f"==> logins from the host: {home.auth}" in result.stderr, result.output
    assert container_state(name) == "running"
    assert probe_record(name) == ("600 agent", data.decode())  # /tmp was emptied: this is the new run's

    # The bridge came back too: a refresh inside reaches the host.
    refreshed = json.dumps({"tokens": {"access_token": "after-restart-" + secrets.token_hex(8)}}).encode()
    refresh_inside(name, refreshed, base + 60)
    wait_for(lambda: home.audit(name, "login"), 30, "the refresh's decision in the audit log")
    assert [e["decision"] for e in home.audit(name, "login")] == ["saved"]
    assert home.auth.read_bytes() == refreshed
    assert home.auth.stat().st_mtime_ns == (base + 60) * 1_000_000_000


def test_a_refreshed_login_gets_back_after_docker_restart(make_home, tmp_path):
    """`docker restart NAME` outside the tool: the exec of the relay dies with the old run; the
    session's `_bridge` process runs a new one, and delivers the logins to the emptied tmpfs."""
    home = make_home()
    base = int(time.time()) - 3600
    data = write_login(home, {"tokens": {"access_token": "before-docker-restart-" + secrets.token_hex(8)}},
                       mtime=base)
    name, _ = launch(home, "probe", new_repo(tmp_path))
    assert probe_record(name) == ("600 agent", data.decode())
    first_run = docker("inspect", "--format", "{{.State.StartedAt}}", name).stdout

    docker("restart", "--time", "5", name)

    assert docker("inspect", "--format", "{{.State.StartedAt}}", name).stdout != first_run
    try:
        again = probe_record(name)  # the new run's: /tmp was emptied
    except AssertionError as error:  # what the session's helper saw and did meanwhile
        raise AssertionError(f"{error}\n{(home.state / f'bridge-{name}.log').read_text()}") from None
    assert again == ("600 agent", data.decode())
    refreshed = json.dumps({"tokens": {"access_token": "after-docker-restart-" + secrets.token_hex(8)}}).encode()
    refresh_inside(name, refreshed, base + 60)
    wait_for(lambda: home.audit(name, "login"), 30, "the refresh's decision in the audit log")
    assert [e["decision"] for e in home.audit(name, "login")] == ["saved"]
    assert home.auth.read_bytes() == refreshed
    log = (home.state / f"bridge-{name}.log").read_text()
    assert "started again from outside: delivering its logins" in log
    # A relay for each run of the container (one more when the bridge's retry reached the old run
    # while it was stopping: that one ends with it), and the last one listens in the new run.
    # (Every session's link also carries report.sock: its health reports.)
    listening = f"relay {name}: listening: logins.sock, report.sock"
    assert log.count(listening) >= 2, log
    relays = [line for line in log.splitlines() if f"relay {name}: " in line]
    assert relays[-1].endswith(listening), log


# --- a long session name: bridges must work, or the launch says why not -----------------------


def test_long_session_name_gets_working_bridges_or_a_clear_error(make_home, tmp_path):
    """Unix socket paths are limited to 107 bytes; the session's sockets live under its name.
    A user with a long repository or branch name must not get an opaque failure."""
    home = make_home()
    write_login(home, {"tokens": {"access_token": "long-name-" + secrets.token_hex(8)}}, mtime=time.time() - 3600)
    repo = new_repo(tmp_path)
    name = "probe-customer-portal-frontend-feature-authentication-refactor"
    result = home.cli("launch-agent", "probe", str(repo), "--network-proxy", "restricted", "--name", name)
    if result.returncode != 0:
        assert_clean_error(result, "too long")
        assert sessions_under(tmp_path) == (set(), set())
        return
    assert launched_name(result) == name
    assert probe_record(name)[0] == "600 agent"
    refreshed = json.dumps({"tokens": {"access_token": "refreshed-long"}}).encode()
    refresh_inside(name, refreshed, int(time.time()))
    wait_for(lambda: home.audit(name, "login"), 30, "the refresh's decision in the audit log")
    assert home.auth.read_bytes() == refreshed


# --- a login file stamped in the future must not pin the host's copy ---------------------------


def test_future_mtime_from_inside_does_not_block_later_refreshes(make_home, tmp_path):
    """Newest wins by mtime, and the mtime comes from inside: an agent that stamps its login file
    in the year 2100 must not make every later, genuine refresh lose to it."""
    home = make_home()
    write_login(home, {"tokens": {"access_token": "host-" + secrets.token_hex(8)}}, mtime=time.time() - 3600)
    name, _ = launch(home, "probe", new_repo(tmp_path))
    probe_record(name)

    stamped = json.dumps({"tokens": {"access_token": "stamped-2100"}}).encode()
    refresh_inside(name, stamped, 4102444800)  # 2100-01-01
    wait_for(lambda: home.audit(name, "login"), 30, "the stamped file's decision")
    assert home.auth.stat().st_mtime <= time.time() + 60, "the host's login now claims to be from the future"

    time.sleep(1.1)
    genuine = json.dumps({"tokens": {"access_token": "genuine-" + secrets.token_hex(8)}}).encode()
    subprocess.run([ENGINE, "exec", "-i", "-u", "1000", name, "sh", "-c",
                    f"cat > {AUTH}.new && mv {AUTH}.new {AUTH}"], input=genuine, check=True, timeout=60)
    wait_for(lambda: len(home.audit(name, "login")) >= 2, 30, "the genuine refresh's decision")
    assert home.auth.read_bytes() == genuine, home.audit(name, "login")


def test_bridged_session_mounts_no_host_path_and_the_agent_cannot_replace_a_socket(make_home, tmp_path):
    """The bridge sockets reach the container through the relay (a `docker exec -i` stream), in a
    tmpfs folder the relay's uid owns: the agent's user can use a socket, not replace it."""
    home = make_home()
    write_login(home, {"tokens": {"access_token": "x"}})
    name, _ = launch(home, "probe", new_repo(tmp_path))

    facts = json.loads(docker("inspect", name).stdout)[0]
    assert [m for m in facts["Mounts"] if m["Type"] == "bind"] == []
    assert "/run/coding-agents" in facts["HostConfig"]["Tmpfs"]
    listing = subprocess.run([ENGINE, "exec", "-u", "1000", name, "sh", "-c",
                              "ls -A /run/coding-agents; stat -c '%u %a' /run/coding-agents; "
                              "touch /run/coding-agents/x; rm -f /run/coding-agents/logins.sock; "
                              "ls -A /run/coding-agents"],
                             capture_output=True, text=True, timeout=60)
    # report.sock: every session's health reports (served in the host relay's own process).
    assert listing.stdout.split() == ["logins.sock", "report.sock", "1001", "755", "logins.sock", "report.sock"], listing
    assert listing.stderr.count("Permission denied") == 2, listing.stderr
