"""The isolation every agent container gets, and the check that config can't undo it."""

from __future__ import annotations

from agents.errors import AgentsError

AGENT_UID = 1000

# Ways `docker run` arguments could undo the sandbox. Matched against each argument and,
# for two-part options, against "option=value".
_REFUSED_FLAGS = ("--privileged", "--cap-add", "--device", "--security-opt", "--userns", "--cgroupns", "--user", "-u")
_HOST_NAMESPACE_FLAGS = ("--pid", "--ipc", "--uts", "--network", "--net")
_MOUNT_FLAGS = ("-v", "--volume", "--mount")


def hardening_args(pids_limit: int) -> list[str]:
    """`docker run` flags for the sandbox: unprivileged user, no capabilities, read-only root."""
    return [
        "--user", f"{AGENT_UID}:{AGENT_UID}",
        "--cap-drop", "ALL",
        "--security-opt", "no-new-privileges",
        "--pids-limit", str(pids_limit),
        "--read-only",
        "--tmpfs", "/tmp:rw,nosuid,nodev,size=2g",
        "--init",
        # Docker's default seccomp profile stays on: we pass no seccomp option at all.
    ]


def _split(args: list[str]) -> list[tuple[str, str]]:
    """[('--cap-add', 'SYS_ADMIN'), ...] from either '--opt=value' or '--opt value' forms."""
    pairs = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg.startswith("-") and "=" in arg:
            option, value = arg.split("=", 1)
            pairs.append((option, value))
        elif arg.startswith("-") and i + 1 < len(args) and not args[i + 1].startswith("-"):
            pairs.append((arg, args[i + 1]))
            i += 1
        else:
            pairs.append((arg, ""))
        i += 1
    return pairs


def check_extra_docker_args(args: list[str] | tuple[str, ...]) -> list[str]:
    """Return args unchanged, or refuse the ones that would weaken isolation."""
    for option, value in _split(list(args)):
        reason = None
        if option in _REFUSED_FLAGS:
            reason = "it changes privileges, devices or the security profile"
        elif option in _HOST_NAMESPACE_FLAGS and value in ("host",) or value.startswith("container:"):
            reason = "it shares a host or container namespace"
        elif option in _HOST_NAMESPACE_FLAGS:
            reason = "the network is set by --network-proxy"
        elif option in _MOUNT_FLAGS and "docker.sock" in value:
            reason = "it exposes the Docker socket (root on the host)"
        elif option in _MOUNT_FLAGS and (value.startswith("/:") or value in ("/", "source=/,target=/host")):
            reason = "it mounts the host's root file system"
        if reason:
            shown = f"{option}={value}" if value else option
            raise AgentsError(
                f"refusing extra docker argument {shown}: {reason}",
                hint="remove it from [sessions] docker_args in your config",
            )
    return list(args)
