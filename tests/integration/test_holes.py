"""Holes an agent could use from inside a session (issue 12, parts 4-7), each closed, each probed
from inside a real session driven through the zipapp, with a positive control that shows the probe
would have caught the hole.

  4  Copilot's config.json: only its login keys come back, merged into the host's file
  5  a returned login must be a refresh of the same account (no swapped account or key)
  6  the git credential bridge answers only the exact protocol, host and port of a remote
  7  our state files are 0600; the broker stops when no session needs it; the MCP socket folder
     is nosuid,nodev,noexec, and a setuid or device file in the volumes gives nothing

Homes, scripted agents and the git HTTPS server come from test_credentials.py; the MCP echo
server and the broker helpers from test_mcp.py.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import stat
import subprocess
import tempfile
import time
import urllib.parse
from pathlib import Path

import pytest

from tests.integration.conftest import (
    ENGINE,
    RUN_ID,
    TEST_LABEL,
    inside,
    launched_name,
    remove_sessions_under,
    wait_for,
    write_config,
)
from tests.integration.test_credentials import (  # noqa: F401 - make_home is a fixture
    AUTH,
    PROBE,
    Home,
    launch,
    make_home,
    new_repo,
    read_inside,
    refresh_inside,
    session_image,
    toml_value,
    write_login,
)
from tests.integration.test_mcp import SECRET, broker_pids, echo_server_table, stop_brokers

COPILOT_CONFIG = "/home/agent/.copilot/config.json"
HEADER = "// User settings belong in settings.json.\n// This file is managed automatically.\n"
OCTO = {"host": "https://github.com", "login": "octo"}


def write_copilot_config(home: Home, content: dict, mtime: float) -> Path:
    """The host's ~/.copilot/config.json as Copilot 1.0 writes it: a comment header, then JSON."""
    path = home.path / ".copilot" / "config.json"
    path.parent.mkdir(mode=0o700, exist_ok=True)
    path.write_text(HEADER + json.dumps(content, indent=2) + "\n")
    path.chmod(0o600)
    os.utime(path, (mtime, mtime))
    return path


def copilot_login(token: str, user: dict = OCTO) -> dict:
    key = f"{user['host']}:{user['login']}"
    return {"lastLoggedInUser": user, "loggedInUsers": [user], "copilotTokens": {key: token},
            "authTokens": {f"{key}:github": {"token": token}}}


def rewrite_inside(name: str, path: str, data: bytes, mtime: int) -> None:
    """A CLI's rewrite of one of its files: a temporary file, its mtime, then a rename."""
    done = subprocess.run(
        [ENGINE, "exec", "-i", "-u", "1000", name, "sh", "-c",
         f"cat > {path}.new && touch -d @{mtime} {path}.new && mv {path}.new {path}"],
        input=data, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode(errors="replace")


def login_decisions(home: Home, name: str) -> list[str]:
    return [event["decision"] for event in home.audit(name, "login")]


def wait_for_decisions(home: Home, name: str, count: int) -> list[str]:
    wait_for(lambda: len(login_decisions(home, name)) >= count, 30, f"{count} login decision(s) of {name}")
    return login_decisions(home, name)


# --- 4. Copilot's config.json: only the login keys come back --------------------------------


def test_copilot_first_start_leaves_the_hosts_config_json_untouched(make_home, tmp_path):
    """The real Copilot CLI rewrites its config.json at its first start (firstLaunchAt, the
    header, the trusted folder we answered): none of that may reach the host's file."""
    home = make_home()
    token = "gho_" + secrets.token_hex(16)
    host_file = write_copilot_config(home, {**copilot_login(token), "trustedFolders": ["/home/me/src"],
                                            "askedSetupTerminals": True}, time.time() - 3600)
    before, mtime_before = host_file.read_bytes(), host_file.stat().st_mtime_ns

    name, result = launch(home, "copilot", new_repo(tmp_path))
    assert f"==> logins from the host: {host_file}" in result.stderr, result.output

    # Positive control: the CLI did rewrite its file inside, so the watcher sent it back.
    inside_now = wait_for(lambda: (read_inside(name, COPILOT_CONFIG) or "").count("firstLaunchAt") and
                          read_inside(name, COPILOT_CONFIG), 90, "Copilot's first start to rewrite config.json")
    assert '"/workspace"' in inside_now
    assert set(wait_for_decisions(home, name, 1)) == {"unchanged"}
    assert home.cli("remove-agent", name, "-y").returncode == 0  # its last look changes nothing either
    assert set(login_decisions(home, name)) == {"unchanged"}
    assert host_file.read_bytes() == before
    assert host_file.stat().st_mtime_ns == mtime_before


COPILOT_PROBE = {"base": "copilot", "command": ["sleep", "infinity"], "prompt_command": ["sh", "-c", "{prompt}"]}


def test_copilot_copy_back_merges_only_the_token_keys_and_never_another_user(make_home, tmp_path):
    home = make_home(agents={"cp-probe": COPILOT_PROBE})
    base = int(time.time()) - 3600
    host_config = {"trustedFolders": ["/home/me/src"], **copilot_login("gho_host"), "askedSetupTerminals": True}
    host_file = write_copilot_config(home, host_config, base)
    name, _ = launch(home, "cp-probe", new_repo(tmp_path))
    seeded = json.loads(wait_for(lambda: read_inside(name, COPILOT_CONFIG), 30, "the seeded config.json"))
    assert seeded["trustedFolders"] == ["/home/me/src", "/workspace"]  # our first-run answer, inside only

    # What an agent may write into the file besides a refreshed token: settings, its own keys.
    refreshed = {**seeded, **copilot_login("gho_refreshed"), "trustedFolders": ["/"], "trusted_folders": ["/"],
                 "staff": True, "firstLaunchAt": "2026-01-01T00:00:00.000Z"}
    rewrite_inside(name, COPILOT_CONFIG, json.dumps(refreshed).encode(), base + 60)
    assert wait_for_decisions(home, name, 1) == ["saved"]  # positive control: the copy-back happened
    text = host_file.read_text()
    assert text.startswith(HEADER)
    saved = json.loads(text.removeprefix(HEADER))
    assert saved == {**host_config, **copilot_login("gho_refreshed")}
    assert list(saved) == list(host_config)  # the host's own order; nothing else added
    assert stat.S_IMODE(host_file.stat().st_mode) == 0o600

    # Another user's login in the same file: refused, audited, the host's file as it was.
    eve = {"host": "https://github.com", "login": "eve"}
    rewrite_inside(name, COPILOT_CONFIG, json.dumps({**refreshed, **copilot_login("gho_eve", eve)}).encode(),
                   base + 120)
    assert wait_for_decisions(home, name, 2)[1] == "refused: another account (lastLoggedInUser.login is not the host's)"
    assert json.loads(host_file.read_text().removeprefix(HEADER)) == saved


# --- 5. a returned login is a refresh of the same account -------------------------------------


def jwt(claims: dict) -> str:
    part = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"eyJhbGciOiJSUzI1NiJ9.{part}.c2ln"


def codex_login(account: str, user: str, generation: str) -> dict:
    """A ChatGPT login of Codex: its tokens name the account (unsigned here; the shape is Codex's)."""
    return {"OPENAI_API_KEY": None, "last_refresh": generation, "tokens": {
        "id_token": jwt({"sub": user, "email": f"{user}@example.com"}),
        "access_token": jwt({"sub": user, "https://api.openai.com/auth": {"chatgpt_account_id": account},
                             "jti": generation}),
        "refresh_token": f"rt-{generation}-{secrets.token_hex(8)}", "account_id": account}}


def test_returned_login_of_another_account_or_key_is_refused_and_audited(make_home, tmp_path):
    home = make_home()
    base = int(time.time()) - 3600
    host_login = codex_login("acct-host", "user-host", "g1")
    original = write_login(home, host_login, mtime=base)
    name, _ = launch(home, "probe", new_repo(tmp_path))
    wait_for(lambda: read_inside(name, AUTH) == original.decode(), 30, "the login inside")

    swaps = [
        # The probe: the same file with another account's API key, newest of all.
        ({**host_login, "OPENAI_API_KEY": "sk-ATTACKER-" + secrets.token_hex(8)},
         "refused: another key (OPENAI_API_KEY is not the host's)"),
        (codex_login("acct-attacker", "user-attacker", "g9"),
         "refused: another account (tokens.account_id is not the host's)"),
    ]
    for number, (login, expected) in enumerate(swaps, start=1):
        refresh_inside(name, json.dumps(login).encode(), base + 100 * number)
        assert wait_for_decisions(home, name, number)[-1] == expected
        assert home.auth.read_bytes() == original
    assert "ATTACKER" not in home.audit_log(name).read_text()

    # Positive control: a genuine refresh of the same account (new tokens, same ids) is taken.
    genuine = json.dumps(codex_login("acct-host", "user-host", "g2")).encode()
    refresh_inside(name, genuine, base + 1000)
    assert wait_for_decisions(home, name, 3)[-1] == "saved"
    assert home.auth.read_bytes() == genuine


def test_an_api_key_login_is_never_replaced_by_another_key(make_home, tmp_path):
    home = make_home()
    base = int(time.time()) - 3600
    original = write_login(home, {"OPENAI_API_KEY": "sk-host-" + secrets.token_hex(8), "tokens": None}, mtime=base)
    name, _ = launch(home, "probe", new_repo(tmp_path))
    wait_for(lambda: read_inside(name, AUTH) == original.decode(), 30, "the login inside")

    refresh_inside(name, json.dumps({"OPENAI_API_KEY": "sk-other", "tokens": None}).encode(), base + 60)
    assert wait_for_decisions(home, name, 1) == ["refused: another key (OPENAI_API_KEY is not the host's)"]
    assert home.auth.read_bytes() == original

    # Positive control: the same key, rewritten (a CLI adding a field), still comes back.
    same_key = json.dumps({**json.loads(original), "last_refresh": "now"}).encode()
    refresh_inside(name, same_key, base + 120)
    assert wait_for_decisions(home, name, 2)[-1] == "saved"
    assert home.auth.read_bytes() == same_key


# --- 6. git credentials: the exact protocol, host and port of a remote ------------------------


def credential_request(name: str, text: str) -> str:
    """What the container's helper gets back for a raw request (as any process inside may send)."""
    done = subprocess.run([ENGINE, "exec", "-i", "-u", "1000", name, "ca-stub", "git-credential", "get"],
                          input=text, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_git_credential_bridge_answers_only_the_exact_remote(make_home, tmp_path, git_server):
    dns = git_server.names[0]
    home = make_home()
    # The host's store has a password for the remote over https, and the same over plain http and
    # under another name of the server: only the first may ever reach the container.
    (home.path / ".gitconfig").write_text("[credential]\n\thelper = store\n")
    user, password = (urllib.parse.quote(part, safe="") for part in (git_server.user, git_server.password))
    remote = f"{git_server.ip}:{git_server.port}"
    store = home.path / ".git-credentials"
    store.write_text(f"https://{user}:{password}@{remote}\nhttp://{user}:{password}@{remote}\n"
                     f"https://{user}:{password}@{dns}:{git_server.port}\n")
    store.chmod(0o600)
    repo = new_repo(tmp_path)
    subprocess.run(["git", "-C", str(repo), "remote", "add", "origin", git_server.repo_url()], check=True)
    name, _ = launch(home, "sleeper", repo)

    probes = [
        (f"protocol=http\nhost={remote}\n", "host not in the allowlist"),
        (f"protocol=https\nhost={dns}:{git_server.port}\nhost={remote}\n", "malformed request: host given twice"),
        (f"protocol=https\nhost={remote}\nhost={dns}:{git_server.port}\n", "malformed request: host given twice"),
        (f"protocol=https\nhost={remote}\nurl=http://{remote}/\n",
         "malformed request: an attribute git does not send (url)"),
        (f"protocol=https\nhost={git_server.ip}\n", "host not in the allowlist"),  # no port: another service
    ]
    for text, reason in probes:
        assert credential_request(name, text) == "", text
        event = home.audit(name, "git-credential")[-1]
        assert (event["decision"], event["reason"]) == ("denied", reason), (text, event)

    # Positive control: the remote itself, exactly, is answered from the host's store.
    answer = credential_request(name, f"protocol=https\nhost={remote}\npath=private.git\n")
    assert f"password={git_server.password}\n" in answer
    assert home.audit(name, "git-credential")[-1]["decision"] == "granted"
    assert git_server.password not in home.audit_log(name).read_text()


# --- 7. state files, the broker's end, mount options ------------------------------------------


@pytest.fixture(scope="module")
def mcp_home(pyz, cli_env, built_images):
    """A HOME with its own runtime folder (the broker's), a secret and an MCP server that needs it."""
    path = Path(tempfile.mkdtemp(prefix="cah7-", dir="/tmp"))
    (path / "run").mkdir(mode=0o700)
    lines = [echo_server_table("echo", "${" + SECRET + "}"),
             "[agents.probe]", *(f"{key} = {toml_value(value)}" for key, value in PROBE.items()), ""]
    write_config(path, "\n".join(lines))
    env = {k: v for k, v in cli_env.items() if not k.startswith(("XDG_", "OPENAI", "CODEX", "SSH_AUTH"))}
    env.update(HOME=str(path), XDG_STATE_HOME=str(path / "st"), XDG_RUNTIME_DIR=str(path / "run"),
               CODING_AGENTS_BROKER_IDLE_SECONDS="4")
    home = Home(path, pyz, env)
    stored = subprocess.run([str(pyz), "secrets", "set", SECRET], input="canary-" + secrets.token_hex(8) + "\n",
                            capture_output=True, text=True, env=env, timeout=120)
    assert stored.returncode == 0, stored.stderr
    try:
        yield home
    finally:
        remove_sessions_under(path)
        stop_brokers(home)
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def mcp_session(mcp_home):
    """One session with a login bridge and an MCP sidecar (so a broker), launched under umask 022."""
    write_login(mcp_home, {"tokens": {"access_token": "t-" + secrets.token_hex(8)}}, mtime=time.time() - 3600)
    old = os.umask(0o022)  # the CLI inherits it: without our care its files would be 0644
    try:
        result = mcp_home.cli("launch-agent", "probe", str(new_repo(mcp_home.path)), "--network-proxy", "restricted")
    finally:
        os.umask(old)
    name = launched_name(result)
    assert f"==> MCP sidecar {name}-mcp serves: echo" in result.stderr, result.output
    refresh_inside(name, b'{"tokens": {"access_token": "refreshed"}}', int(time.time()))  # a logins.lock too
    wait_for(lambda: mcp_home.audit(name, "login"), 30, "the refresh's decision")
    return name


def regular_files(*folders: Path) -> dict[str, int]:
    return {str(path): stat.S_IMODE(path.lstat().st_mode) for folder in folders for path in folder.rglob("*")
            if stat.S_ISREG(path.lstat().st_mode)}


def test_state_and_runtime_files_are_private(mcp_home, mcp_session):
    state, runtime = mcp_home.path / "st" / "coding-agents", mcp_home.path / "run" / "coding-agents"
    found = regular_files(state, runtime)

    names = {Path(path).name for path in found}
    # Positive control: the probe sees the files the issue named, and the ones next to them.
    assert {"broker.pid", "spawn.lock", "broker.lock", "bridge.pid", "logins.lock", "audit.log", "settings.json",
            f"{mcp_session}.log", "broker-broker.log", f"bridge-{mcp_session}.log"} <= names, sorted(names)
    assert {path: mode for path, mode in found.items() if mode != 0o600} == {}
    # ...and under that umask a file made without care is world-readable (what the probe looks for).
    careless = state / "careless-probe"
    old = os.umask(0o022)
    try:
        careless.write_text("x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(careless.stat().st_mode) == 0o644
    careless.unlink()


def mount_options(name: str, target: str) -> set[str]:
    """The per-mount options of target in the container's /proc/self/mountinfo."""
    for line in inside(name, "cat /proc/self/mountinfo").stdout.splitlines():
        fields = line.split()
        if fields[4] == target:
            return set(fields[5].split(","))
    raise AssertionError(f"{target} is not a mount point in {name}")


def test_mcp_socket_folder_is_mounted_nosuid_nodev_noexec(mcp_session):
    for container in (mcp_session, f"{mcp_session}-mcp"):
        assert {"nosuid", "nodev", "noexec"} <= mount_options(container, "/run/coding-agents-mcp"), container
    # Positive control: the probe reads real options (a tmpfs of ours has them, a plain volume not).
    assert {"nosuid", "nodev"} <= mount_options(mcp_session, "/tmp")
    assert "nosuid" not in mount_options(mcp_session, "/workspace")
    # And the relay still reaches the sidecar's socket there.
    assert inside(mcp_session, "ls /run/coding-agents-mcp").stdout.split() == ["echo.sock"]


def test_relay_folders_are_tmpfs_of_the_relays_uid_mounted_nosuid_nodev_noexec(mcp_session):
    """Where the host relay's container end listens (agents/relay.py): not a host path, not the agent's."""
    for container, folder in ((mcp_session, "/run/coding-agents"), (f"{mcp_session}-mcp", "/run/coding-agents-broker")):
        assert {"nosuid", "nodev", "noexec"} <= mount_options(container, folder), container
        owner = subprocess.run([ENGINE, "exec", "-u", "1000", container, "stat", "-c", "%u %a", folder],
                               capture_output=True, text=True, timeout=60)
        assert owner.stdout.split() == ["1001", "755"], (container, owner.stdout, owner.stderr)


def helper(volume: str, image: str, script: str, *flags: str) -> subprocess.CompletedProcess:
    """A throwaway container on one of the session's volumes (the engine's defaults, plus flags)."""
    return subprocess.run([ENGINE, "run", "--rm", "--network", "none", "--label", f"{TEST_LABEL}={RUN_ID}",
                           *flags, "-v", f"{volume}:/v", "--entrypoint", "sh", image, "-c", script],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(("volume", "target"), [("workspace", "/workspace"), ("home", "/home/agent")])
def test_setuid_or_device_files_in_the_volumes_give_nothing(mcp_session, volume, target):
    """Docker cannot mount a writable named volume nosuid,nodev (its local driver remounts only
    read-only binds); no-new-privileges, no capabilities and the device cgroup are the walls."""
    image, source = session_image(mcp_session), f"{mcp_session}-{volume}"
    disk = next(line.split()[2] for line in inside(mcp_session, "cat /proc/self/mountinfo").stdout.splitlines()
                if line.split()[4] == target)  # the engine's disk under the volume, major:minor
    major, minor = disk.split(":")
    planted = helper(source, image, "cp /usr/bin/id /v/.suid-id && chmod 4755 /v/.suid-id && "
                     f"mknod -m 666 /v/.disk b {major} {minor} && mknod -m 666 /v/.null c 1 3", "--user", "0")
    assert planted.returncode == 0, planted.stderr
    try:
        # Positive control: without the session's walls, the planted file makes uid 1000 root.
        assert helper(source, image, "/v/.suid-id -u", "--user", "1000").stdout.strip() == "0"
        # In the session: no privilege from it, no device node made, the host's disk not opened.
        assert inside(mcp_session, f"{target}/.suid-id -u").stdout.strip() == "1000"
        made = inside(mcp_session, f"mknod {target}/.made c 1 3", check=False)
        assert made.returncode != 0 and "Operation not permitted" in made.stderr, made
        opened = inside(mcp_session, f"head -c 1 {target}/.disk > /dev/null", check=False)
        assert opened.returncode != 0 and "Operation not permitted" in opened.stderr, opened
        # ...while a harmless node there opens: the probe can open device files on this volume.
        assert inside(mcp_session, f"head -c 1 {target}/.null | wc -c").stdout.strip() == "0"
    finally:
        helper(source, image, "rm -f /v/.suid-id /v/.disk /v/.null", "--user", "0")


# setuid/setgid files (any owner) and device nodes under a folder, one per line.
FIND_PRIVILEGED = "find {0} -xdev \\( -perm -4000 -o -perm -2000 -o -type b -o -type c \\) -print"


@pytest.mark.parametrize(("volume", "target"), [("workspace", "/workspace"), ("home", "/home/agent")])
def test_no_setuid_root_or_device_file_can_get_into_the_volumes(mcp_session, volume, target):
    """Why the walls above suffice without nosuid,nodev: nothing of the session puts such a file
    there (the image's copy, the fill, the login delivery), and the agent cannot make one."""
    image, source = session_image(mcp_session), f"{mcp_session}-{volume}"
    assert inside(mcp_session, FIND_PRIVILEGED.format(target)).stdout.strip() == ""
    # The agent's own tries: a file of root's, a setuid bit on a file of root's, a device node.
    script = (f"cd {target} && cp /usr/bin/id .try && chmod 4755 .try; "
              "chown 0:0 .try 2>&1; chmod u+s /usr/bin/id 2>&1; mknod .dev c 1 3 2>&1; stat -c '%u %a' .try")
    tried = inside(mcp_session, script, check=False).stdout
    assert tried.count("Operation not permitted") + tried.count("Read-only file system") >= 3, tried
    assert tried.strip().endswith("1000 4755"), tried  # setuid to itself only: no more than it is
    try:
        assert inside(mcp_session, f"{target}/.try -u").stdout.strip() == "1000"
        # Positive control: the same find sees a planted setuid-root file and device node.
        planted = helper(source, image, "cp /usr/bin/id /v/.planted && chmod 4755 /v/.planted && "
                         "mknod /v/.planted-dev c 1 3", "--user", "0")
        assert planted.returncode == 0, planted.stderr
        seen = set(inside(mcp_session, FIND_PRIVILEGED.format(target)).stdout.split())
        assert {f"{target}/.planted", f"{target}/.planted-dev", f"{target}/.try"} <= seen, seen
    finally:
        helper(source, image, "rm -f /v/.planted /v/.planted-dev /v/.try", "--user", "0")


def test_broker_stops_when_the_last_session_that_needed_it_is_gone(mcp_home, mcp_session):
    pids = broker_pids(mcp_home)
    assert len(pids) == 1, pids
    control = next((mcp_home.path / "run" / "coding-agents").glob("broker-*")) / "control.sock"
    # Positive control: longer than its grace period (4 s here), it stays while the session needs it.
    time.sleep(6)
    assert broker_pids(mcp_home) == pids and control.exists()

    assert mcp_home.cli("remove-agent", mcp_session, "-y").returncode == 0
    wait_for(lambda: not broker_pids(mcp_home), 30, "the broker to stop after its grace period")
    assert not control.exists()
    assert not list(control.parent.glob("*/broker.sock"))  # no session socket left behind
    events = [json.loads(line)["event"] for line in
              (mcp_home.path / "st" / "coding-agents" / "broker" / "audit.log").read_text().splitlines()]
    assert events[-3:] == ["revoke", "idle", "stop"], events
