"""agents/hardening.py: the sandbox flags, and refusing config that would undo them."""

from __future__ import annotations

import pytest

from agents import hardening
from agents.errors import AgentsError


def test_hardening_args_contents():
    args = hardening.hardening_args(256)

    assert args == [
        "--user", "1000:1000",
        "--cap-drop", "ALL",
        "--security-opt", "no-new-privileges",
        "--pids-limit", "256",
        "--read-only",
        "--tmpfs", "/tmp:rw,nosuid,nodev,size=2g",
        "--init",
    ]


def test_hardening_args_keep_default_seccomp():
    args = hardening.hardening_args(1024)

    assert not any("seccomp" in arg or "apparmor" in arg for arg in args)
    assert "--privileged" not in args and "--cap-add" not in args


@pytest.mark.parametrize(
    "args",
    [
        ["--privileged"],
        ["--privileged=true"],
        ["--cap-add", "SYS_ADMIN"],
        ["--cap-add=NET_ADMIN"],
        ["--device", "/dev/kvm"],
        ["--device=/dev/sda"],
        ["--security-opt", "seccomp=unconfined"],
        ["--security-opt=apparmor=unconfined"],
        ["--pid=host"],
        ["--pid", "host"],
        ["--network", "host"],
        ["--network", "none"],
        ["--net=bridge"],
        ["--ipc=host"],
        ["--uts", "host"],
        ["--userns=host"],
        ["--user", "0"],
        ["-u", "root"],
        ["-u0"],
        ["--read-only=false"],
        ["--volumes-from", "some-container"],
        ["--ulimit", "nofile=1048576:1048576"],
        ["-v", "/var/run/docker.sock:/x"],
        ["--volume", "/run/docker.sock:/var/run/docker.sock:ro"],
        ["-v", "/var/run:/hostrun"],
        ["-v", "/run:/hostrun"],
        ["-v", "./src:/src"],
        ["-v", "~/.ssh:/home/agent/.ssh"],
        ["-v", "/cache"],
        ["-v/:/host"],
        ["-v=/:/host"],
        ["--volume=/:/host"],
        ["-v", "/:/host:ro"],
        ["--mount", "type=bind,source=/var/run/docker.sock,target=/var/run/docker.sock"],
        ["--mount", "type=bind,source=/,target=/host"],
        ["--mount=type=bind,src=/,dst=/host"],
        ["--mount", "type=BIND,source=/srv,target=/srv"],
        ["--mount", "type=volume,source=/etc,target=/etc2"],
        ["--env", "FOO=1", "--cap-add", "ALL"],
        ["stray-value"],
    ],
    ids=lambda args: " ".join(args),
)
def test_check_extra_docker_args_refuses(args):
    with pytest.raises(AgentsError, match="^refusing extra docker argument ") as caught:
        hardening.check_extra_docker_args(args)

    assert "[sessions] docker_args" in caught.value.hint


def test_check_extra_docker_args_unknown_option_lists_allowed_ones():
    with pytest.raises(AgentsError) as caught:
        hardening.check_extra_docker_args(["--privileged"])

    assert caught.value.message.startswith("refusing extra docker argument --privileged: only these may be added: ")
    assert "--env" in caught.value.message and "--mount" in caught.value.message


def test_check_extra_docker_args_names_option_and_reason():
    with pytest.raises(AgentsError) as caught:
        hardening.check_extra_docker_args(["-v", "/var/run/docker.sock:/x"])

    assert caught.value.message.startswith("refusing extra docker argument -v=/var/run/docker.sock:/x: ")
    assert "Docker socket" in caught.value.message


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--env", "FOO=1"],
        ["-e", "FOO=1"],
        ["--label", "x=y"],
        ["-l", "team=infra"],
        ["-v", "cache:/cache"],
        ["-v", "cache:/cache:ro"],
        ["--volume=npm-cache:/home/agent/.npm"],
        ["--mount", "type=volume,source=cache,target=/cache"],
        ["--mount", "target=/scratch"],
        ["--mount", "type=tmpfs,target=/scratch,tmpfs-size=64m"],
        ["--shm-size", "1g"],
        ["--tmpfs", "/scratch"],
        ["--add-host", "container:10.0.0.1"],
        ["--dns", "10.0.0.53", "--stop-timeout", "30"],
    ],
    ids=lambda args: " ".join(args) or "empty",
)
def test_check_extra_docker_args_allows(args):
    assert hardening.check_extra_docker_args(args) == args


def test_check_extra_docker_args_accepts_tuple_and_returns_list():
    assert hardening.check_extra_docker_args(("--env", "A=1")) == ["--env", "A=1"]


# Ways to bind-mount the host's root through an allowed --mount (agents/hardening.py, _mount_is_safe, lines 61-67).
@pytest.mark.parametrize(
    "args",
    [
        # The local volume driver makes a bind mount out of these options.
        ["--mount", "type=volume,target=/h,volume-opt=type=none,volume-opt=o=bind,volume-opt=device=/"],
        ["--mount", "type=volume,source=v,target=/h,volume-driver=some-plugin"],
        # docker reads --mount as CSV, so quoted fields hide type/source from a split on ','.
        ["--mount", '"type=bind","source=/",target=/host'],
    ],
    ids=["local-driver-bind", "volume-driver", "csv-quoted-fields"],
)
def test_check_extra_docker_args_refuses_mount_bypasses(args):
    with pytest.raises(AgentsError, match="^refusing extra docker argument "):
        hardening.check_extra_docker_args(args)
