"""The isolation every agent container gets, and the check that config can't undo it."""

from __future__ import annotations

from agents.errors import AgentsError
from agents.session.naming import AGENT_UID  # noqa: E402  (one place for the uid)

# Extra `docker run` options a config may add. Anything else is refused: a list of what is
# safe cannot be bypassed by an option nobody thought of (--read-only=false, --volumes-from ...).
ALLOWED_EXTRA_OPTIONS = {
    "-e": "env", "--env": "env", "--env-file": "env",
    "-l": "label", "--label": "label",
    "--add-host": "dns", "--dns": "dns", "--dns-search": "dns", "--dns-option": "dns",
    "--shm-size": "limit", "--stop-timeout": "limit", "--memory-swap": "limit", "--cpu-shares": "limit",
    "--tmpfs": "tmpfs",
    "-v": "volume", "--volume": "volume", "--mount": "mount",
}


def read_only_args() -> list[str]:
    """A read-only root. Podman's --read-only also mounts writable tmpfs folders of no size on /run,
    /var/tmp and /tmp unless told not to: the same root as Docker's, then (docs/podman.md)."""
    from agents import runner

    return ["--read-only", *(["--read-only-tmpfs=false"] if runner.engine_kind() == "podman" else [])]


def hardening_args(pids_limit: int) -> list[str]:
    """`docker run` flags for the sandbox: unprivileged user, no capabilities, read-only root."""
    return [
        "--user", f"{AGENT_UID}:{AGENT_UID}",
        "--cap-drop", "ALL",
        "--security-opt", "no-new-privileges",
        "--pids-limit", str(pids_limit),
        *read_only_args(),
        "--tmpfs", "/tmp:rw,nosuid,nodev,size=2g",
        "--init",
        # Docker's default seccomp profile stays on: we pass no seccomp option at all.
    ]


def _split(args: list[str]) -> list[tuple[str, str]]:
    """[('--env', 'A=1'), ...] from either '--opt=value' or '--opt value' forms."""
    pairs = []
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("-"):
            pairs.append(("", arg))
        elif "=" in arg and arg.startswith("--"):
            option, value = arg.split("=", 1)
            pairs.append((option, value))
        elif i + 1 < len(args):
            pairs.append((arg, args[i + 1]))
            i += 1
        else:
            pairs.append((arg, ""))
        i += 1
    return pairs


def _named_volume_only(value: str) -> bool:
    """-v SOURCE:TARGET[:MODE] where SOURCE is a named volume, never a host path."""
    source = value.split(":", 1)[0]
    return ":" in value and bool(source) and not source.startswith((".", "/", "~")) and "docker.sock" not in value


_MOUNT_KEYS = {"type", "source", "src", "target", "dst", "destination", "readonly", "ro", "volume-nocopy",
               "tmpfs-size", "tmpfs-mode"}


def _mount_is_safe(value: str) -> bool:
    """--mount VALUE: a named volume or a tmpfs, with no driver or driver options (which can bind)."""
    import csv

    try:
        parts = next(csv.reader([value]))  # docker reads --mount as CSV, quotes included
    except (csv.Error, StopIteration):
        return False
    fields = {}
    for part in parts:
        key, _, field_value = part.partition("=")
        key = key.strip().lower()
        if key not in _MOUNT_KEYS:
            return False
        fields[key] = field_value.strip()
    kind = fields.get("type", "volume").lower()
    if kind == "tmpfs":
        return True
    source = fields.get("source", fields.get("src", ""))
    return kind == "volume" and not source.startswith((".", "/", "~"))


def check_extra_docker_args(args: list[str] | tuple[str, ...]) -> list[str]:
    """Return args unchanged, or refuse any that is not on the allowed list or would weaken isolation."""
    for option, value in _split(list(args)):
        kind = ALLOWED_EXTRA_OPTIONS.get(option)
        reason = None
        if kind is None:
            reason = "only these may be added: " + ", ".join(sorted(o for o in ALLOWED_EXTRA_OPTIONS if o.startswith("--")))
        elif kind == "volume" and not _named_volume_only(value):
            reason = "only named volumes may be mounted (no host paths, no Docker socket)"
        elif kind == "mount" and not _mount_is_safe(value):
            reason = "only type=volume (named, no driver options) or type=tmpfs mounts are allowed"
        elif kind == "label" and value.startswith("coding-agents."):
            reason = "coding-agents.* labels identify sessions and are set by the tool"
        if reason:
            shown = f"{option}={value}" if option and value else (option or value)
            raise AgentsError(
                f"refusing extra docker argument {shown}: {reason}",
                hint="remove it from [sessions] docker_args in your config",
            )
    return list(args)
