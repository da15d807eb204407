"""Talking to the Docker engine through the `docker` CLI (no SDK)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from agents import runner
from agents.errors import AgentsError
from agents.records import record

TYPE_CHECKING = False  # (not typing's: list-agents' path imports as little as it can)
if TYPE_CHECKING:
    from typing import Any

MIN_ENGINE_VERSION = (20, 10)
MIN_ENGINE_VERSIONS = {"docker": MIN_ENGINE_VERSION, "podman": (4, 3)}  # podman: Debian 12's, the oldest tested
MANAGED_LABEL = "coding-agents.managed"
IMAGE_LABEL = "coding-agents.image"
VERSION_LABEL = "coding-agents.version"

ENGINE_HINT = (
    "start the engine (`sudo systemctl start docker`, or `sudo dockerd &`), "
    "check DOCKER_HOST/DOCKER_CONTEXT, then run `coding-agents doctor`"
)

PODMAN_HINT = "check CONTAINER_HOST (`podman system connection list`) or unset it, then run `coding-agents doctor`"

_UNREACHABLE = (
    "cannot connect to the docker daemon",
    "cannot connect to podman",
    "error during connect",
    "is the docker daemon running",
    "connection refused",
    "no such host",
    "dial unix",
)


def docker_argv(*args: runner.Arg) -> list[runner.Arg]:
    return runner.engine_argv(*args)


def explain(error: runner.CommandFailed) -> AgentsError:
    """Turn a failed docker call into the most useful one-line error we can."""
    text = (error.result.stderr + error.result.stdout).lower()
    if "permission denied" in text and "docker" in text and ".sock" in text:
        return AgentsError(
            "permission denied talking to the Docker engine",
            hint="add yourself to the `docker` group (then log in again) or use rootless Docker",
        )
    if any(marker in text for marker in _UNREACHABLE):
        if runner.engine_kind() == "podman":
            return AgentsError("cannot reach the Podman engine", hint=PODMAN_HINT)
        return AgentsError("cannot reach the Docker engine", hint=ENGINE_HINT)
    return error


def run(*args: runner.Arg, **kwargs: Any) -> runner.Result:
    """Run `docker ARGS`, translating engine-level failures."""
    try:
        return runner.run(docker_argv(*args), **kwargs)
    except runner.CommandFailed as error:
        raise explain(error) from error


def run_json_lines(*args: runner.Arg, **kwargs: Any) -> list[Any]:
    try:
        return runner.run_json_lines(docker_argv(*args), **kwargs)
    except runner.CommandFailed as error:
        raise explain(error) from error


def engine_info() -> dict[str, Any]:
    """`docker info` as JSON (one engine query)."""
    try:
        found = runner.run_json([runner.engine(), "info", "--format", "{{json .}}"], timeout=60, hint=ENGINE_HINT)
    except runner.CommandFailed as error:
        raise explain(error) from error
    return found if isinstance(found, dict) else {}


def gpu_runtime(info: dict[str, Any]) -> str | None:
    """How an engine (its `docker info`) passes GPUs through: an nvidia runtime, or CDI GPU devices; None if not."""
    runtimes = sorted(name for name in (info.get("Runtimes") or {}) if "nvidia" in name.lower())
    if runtimes:
        return f"runtime {runtimes[0]}"
    devices = [device.get("ID", "") for device in info.get("DiscoveredDevices") or [] if isinstance(device, dict)]
    gpus = [device for device in devices if "gpu" in device.lower()]
    if gpus:
        return f"CDI device {gpus[0]}"
    return None


def parse_version(text: str) -> tuple[int, ...]:
    """'20.10.24+dfsg1' -> (20, 10, 24); unparseable -> ()."""
    match = re.match(r"\s*v?(\d+)\.(\d+)(?:\.(\d+))?", text)
    if not match:
        return ()
    return tuple(int(part) for part in match.groups() if part is not None)


def engine_version() -> str:
    """The server version; raises AgentsError when the engine can't be reached."""
    result = run("version", "--format", "{{.Server.Version}}", timeout=30, hint=ENGINE_HINT)
    return result.stdout.strip()


@record(frozen=True)
class ImageInfo:
    repository: str
    tag: str
    image_id: str
    size: str
    created: str

    @property
    def ref(self) -> str:
        return f"{self.repository}:{self.tag}"


PODMAN_LOCAL_PREFIX = "localhost/"


def short_ref(name: str) -> str:
    """Pure: an image name as we spell it: podman names images it built or loaded (no registry)
    localhost/NAME, and finds them by NAME too."""
    return name.removeprefix(PODMAN_LOCAL_PREFIX)


# One JSON object a line, field by field: podman's `{{json .}}` is the whole list at once.
IMAGES_FORMAT = ('{"Repository":{{json .Repository}},"Tag":{{json .Tag}},"ID":{{json .ID}},'
                 '"Size":{{json .Size}},"CreatedSince":{{json .CreatedSince}}}')


def list_managed_images() -> list[ImageInfo]:
    """Every image carrying our label, in one engine query."""
    rows = run_json_lines("images", "--filter", f"label={MANAGED_LABEL}=true", "--format", IMAGES_FORMAT)
    return [
        ImageInfo(
            repository=short_ref(row.get("Repository", "")),
            tag=row.get("Tag", ""),
            image_id=row.get("ID", ""),
            size=row.get("Size", ""),
            created=row.get("CreatedSince", ""),
        )
        for row in rows
        if row.get("Repository") and row.get("Repository") != "<none>"
    ]


def image_facts(refs: Sequence[str]) -> dict[str, tuple[int, str, str]]:
    """Each present image's size in bytes, creation time (UTC, ISO 8601) and full ID, in one engine query.

    `docker images` only has rounded, human sizes ("412MB") and ages ("2 days ago").
    """
    import json

    if not refs:
        return {}
    # An image removed between the listing and now makes inspect exit 1 but still print the rest.
    result = run("image", "inspect", *refs, check=False)
    if not result.ok and not result.stdout.strip().strip("[]").strip():
        if image_missing(result.stderr):
            return {}
        raise explain(runner.CommandFailed(result))
    try:
        items = json.loads(result.stdout or "[]")
    except ValueError as error:
        raise AgentsError(f"`docker image inspect` printed something unexpected: {error}",
                          hint="rerun with --debug to see it; `coding-agents doctor` checks the engine") from error
    facts = {}
    for item in items:
        for ref in item.get("RepoTags") or ():
            facts[short_ref(ref)] = (int(item.get("Size") or 0), iso_utc(item.get("Created") or ""), item.get("Id") or "")
    return facts


def iso_utc(text: str) -> str:
    """Docker's RFC 3339 time (nanoseconds, any offset) as 2026-01-01T10:00:00Z; '' stays ''."""
    from datetime import UTC, datetime

    try:
        return datetime.fromisoformat(text).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return ""


def image_ids(refs: tuple[str, ...]) -> dict[str, str | None]:
    """image_id of each ref: one call when all are present (the usual case), else one each."""
    if not refs:
        return {}
    result = run("image", "inspect", "--format", "{{.Id}}", *refs, check=False)
    found = result.stdout.split()
    if result.ok and len(found) == len(refs):
        return dict(zip(refs, found, strict=True))
    return {ref: image_id(ref) for ref in refs}


def image_id(ref: str) -> str | None:
    """The full ID of a local image, or None when it is not present."""
    result = run("image", "inspect", "--format", "{{.Id}}", ref, check=False)
    if result.ok:
        return result.stdout.strip()
    if image_missing(result.stderr):
        return None
    raise explain(runner.CommandFailed(result))


def image_missing(stderr: str) -> bool:
    """Pure: an image inspect's complaint says the image is not there (docker: "No such image",
    podman: "image not known")."""
    text = stderr.lower()
    return any(marker in text for marker in ("no such image", "no such object", "image not known"))


def pull(ref: str) -> bool:
    """Try to pull ref; False (not an exception) when no registry has it."""
    result = run("pull", "--quiet", ref, check=False, interruptible=True)  # Ctrl-C stops a download at once
    return result.ok


def tag(source: str, ref: str) -> None:
    run("tag", source, ref)


def remove_argv(*containers: str, volumes: bool = False) -> list[runner.Arg]:
    """`rm --force`: Docker kills at once; Podman first waits out the stop timeout (10 s, and
    squid's own shutdown takes 30), unless told --time 0."""
    return runner.engine_argv("rm", "--force", *(["--time", "0"] if runner.engine_kind() == "podman" else []),
                              *(["--volumes"] if volumes else []), *containers)


def remove_images(refs: Sequence[str]) -> None:
    if refs:
        run("rmi", "--force", *refs, check=False)
