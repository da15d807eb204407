"""The sandbox, checked from inside a real container launched through our CLI, and the config
check that refuses `docker_args` which would undo it."""

from __future__ import annotations

import json
import re

import pytest

from tests.integration.conftest import (
    assert_clean_error,
    docker,
    inside,
    launched_name,
    list_row,
    make_repo,
    remove_sessions_under,
    sessions_under,
)

# Files that would hold an agent's or the host's credentials, relative to the agent's home.
CREDENTIAL_PATHS = (
    ".claude/.credentials.json", ".claude.json", ".codex/auth.json", ".copilot/config.json",
    ".gemini/settings.json", ".git-credentials", ".netrc", ".ssh", ".docker/config.json",
    ".config/gh/hosts.yml",
)


@pytest.fixture(scope="module")
def hardened(docker_engine, built_images, cli, tmp_path_factory):
    """One shell session with network restricted and explicit limits (squid mode: test_network.py)."""
    base = tmp_path_factory.mktemp("hardening")
    repo = make_repo(base / "hardrepo")
    name = launched_name(
        cli("launch-agent", "shell", str(repo), "--network-proxy", "restricted", "--cpu", "1.5", "--memory", "512m")
    )
    yield name
    remove_sessions_under(base)


def agent_pid(name: str) -> str:
    """The agent's own process (the shell in the tmux pane), not a `docker exec` helper."""
    shown = inside(name, "tmux display-message -p -t agent '#{pane_pid}'")
    return shown.stdout.strip()


def test_hardening_runs_as_agent_user(hardened):
    assert inside(hardened, "id -u").stdout.strip() == "1000"
    pid = agent_pid(hardened)
    assert inside(hardened, f"stat -c %u /proc/{pid}").stdout.strip() == "1000"
    # Even a plain `docker exec` (no -u) lands as the agent user.
    assert docker("exec", hardened, "id", "-u").stdout.decode().strip() == "1000"


@pytest.mark.parametrize("process", ["self", "agent"])
def test_hardening_no_capabilities_no_new_privileges_seccomp(hardened, process):
    pid = "self" if process == "self" else agent_pid(hardened)
    status = inside(hardened, f"cat /proc/{pid}/status").stdout
    fields = dict(re.findall(r"^(\w+):\s+(\S+)", status, re.MULTILINE))
    assert fields["CapEff"] == "0000000000000000"
    assert fields["CapPrm"] == "0000000000000000"
    assert fields["CapBnd"] == "0000000000000000"
    assert fields["NoNewPrivs"] == "1"
    assert fields["Seccomp"] == "2"


def test_hardening_pids_and_resource_limits(hardened):
    limit = inside(hardened, "cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max")
    assert limit.stdout.strip().isdigit(), limit.stdout
    assert int(limit.stdout.strip()) == 1024
    host = json.loads(docker("inspect", "--format", "{{json .HostConfig}}", hardened).stdout)
    assert host["PidsLimit"] == 1024
    assert host["NanoCpus"] == 1_500_000_000
    assert host["Memory"] == 512 * 1024 * 1024
    assert host["Privileged"] is False
    assert host["CapDrop"] == ["ALL"] and not host["CapAdd"]
    assert host["ReadonlyRootfs"] is True


def test_hardening_read_only_root_with_writable_work_dirs(hardened):
    denied = inside(hardened, "touch /usr/local/x", check=False)
    assert denied.returncode != 0
    assert "Read-only file system" in denied.stderr
    inside(hardened, "touch /workspace/.probe /home/agent/.probe /tmp/.probe && rm /workspace/.probe")


def test_hardening_fork_works(hardened):
    done = inside(hardened, "sh -c 'for i in 1 2 3; do (true) & done; wait' && echo forked")
    assert done.stdout.strip() == "forked"


def test_hardening_no_docker_socket(hardened):
    found = inside(hardened, "ls /var/run/docker.sock /run/docker.sock", check=False)
    assert found.returncode != 0
    assert inside(hardened, "command -v docker || true").stdout.strip() == ""


def test_hardening_only_named_volumes_and_tmpfs(hardened):
    facts = json.loads(docker("inspect", hardened).stdout)[0]
    mounts = {(m["Type"], m.get("Name"), m["Destination"]) for m in facts["Mounts"]}
    assert mounts == {
        ("volume", f"{hardened}-workspace", "/workspace"),
        ("volume", f"{hardened}-home", "/home/agent"),
    }
    assert all(not bind.startswith("/") for bind in facts["HostConfig"]["Binds"] or [])
    # Docker's run makes the two volumes from its --mount flags (Podman's gets them made first).
    assert {(m["Type"], m["Source"], m["Target"]) for m in facts["HostConfig"].get("Mounts") or []} <= {
        ("volume", f"{hardened}-workspace", "/workspace"),
        ("volume", f"{hardened}-home", "/home/agent"),
    }
    # /run/coding-agents: the relay's folder (every session's link carries its health reports).
    assert set(facts["HostConfig"]["Tmpfs"]) == {"/tmp", "/run/coding-agents"}
    assert "noexec" in facts["HostConfig"]["Tmpfs"]["/run/coding-agents"]


def test_hardening_no_remote_and_no_credentials(hardened):
    assert inside(hardened, "git -C /workspace remote").stdout.strip() == ""
    config = inside(hardened, "git -C /workspace config --list --show-origin").stdout
    assert "credential" not in config and "insteadof" not in config.lower()
    present = inside(hardened, "cd /home/agent && ls -d " + " ".join(CREDENTIAL_PATHS) + " 2>/dev/null", check=False)
    assert present.stdout.strip() == ""
    names = inside(hardened, "env").stdout
    assert not re.search(r"^\w*(TOKEN|API_KEY|SECRET|PASSWORD)\w*=", names, re.MULTILINE | re.IGNORECASE)


def test_hardening_restricted_network_has_only_loopback(hardened):
    lines = inside(hardened, "cat /proc/net/dev").stdout.splitlines()[2:]
    interfaces = {line.split(":")[0].strip() for line in lines if ":" in line}
    assert interfaces == {"lo"}
    facts = json.loads(docker("inspect", "--format", "{{json .HostConfig.NetworkMode}}", hardened).stdout)
    assert facts == "none"


@pytest.mark.parametrize(
    "docker_args",
    [
        ["--privileged"],
        ["--cap-add=SYS_ADMIN"],
        ["-v=/var/run/docker.sock:/var/run/docker.sock"],
        ["--pid=host"],
        ["--network", "host"],
        ["--security-opt", "seccomp=unconfined"],
        # The same escapes, spelled differently:
        ["-v", "/var/run:/hostrun"],  # the socket's folder is the socket (with --group-add <docker gid>)
        ["--mount", "type=bind,src=/,dst=/host"],
        ["--read-only=false"],  # docker honours the last --read-only
        ["--pids-limit=-1"],  # ... and the last --pids-limit
        ["--volumes-from", "some-other-container"],
        ["--mount", "type=volume,src=x,dst=/h,volume-opt=type=none,volume-opt=o=bind,volume-opt=device=/var/run"],
        ["--group-add", "docker"],
    ],
    ids=lambda args: " ".join(args),
)
def test_hardening_config_cannot_weaken_the_sandbox(cli, new_repo, tmp_path, docker_args):
    repo = new_repo()
    config = tmp_path / "config.toml"
    config.write_text(f"[sessions]\ndocker_args = {json.dumps(docker_args)}\n")
    result = cli("launch-agent", "shell", str(repo), env={"CODING_AGENTS_CONFIG": str(config)})
    assert_clean_error(result, "refusing extra docker argument")
    assert docker_args[0].split("=")[0] in result.stderr
    assert sessions_under(tmp_path) == (set(), set())


def test_hardening_config_may_add_harmless_docker_args(cli, new_repo, tmp_path):
    repo = new_repo()
    config = tmp_path / "config.toml"
    config.write_text('[sessions]\ndocker_args = ["--env", "FROM_CONFIG=yes"]\n')
    name = launched_name(cli("launch-agent", "shell", str(repo), env={"CODING_AGENTS_CONFIG": str(config)}))
    assert inside(name, "echo $FROM_CONFIG").stdout.strip() == "yes"
    assert inside(name, "cat /proc/self/status | grep CapEff").stdout.split() == ["CapEff:", "0000000000000000"]


def test_hardening_allow_all_network_has_an_interface(cli, new_repo):
    repo = new_repo()
    name = launched_name(cli("launch-agent", "shell", str(repo), "--network-proxy", "allow-all"))
    lines = inside(name, "cat /proc/net/dev").stdout.splitlines()[2:]
    interfaces = {line.split(":")[0].strip() for line in lines if ":" in line}
    assert "lo" in interfaces and len(interfaces) > 1
    assert list_row(cli, name)["network"] == "allow-all"
    # Everything else stays locked down.
    assert inside(name, "grep NoNewPrivs /proc/self/status").stdout.split() == ["NoNewPrivs:", "1"]
