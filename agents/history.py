"""Agent state: what a CLI keeps beside its login (transcripts, prompt history, checkpoints).

Each CLI folder (~/.claude ...) is a tmpfs because the login lives there; the agents table says
per folder what else the CLI writes there (catalog.StateLayout), and the stub keeps that on the
session's home volume (stub/ca_stub/state.py), so it outlives restarts. Here: the layout the stub
is given, history archives (a manifest with each file's SHA-256, then the files; never a login,
a file the launch writes, or a JSON file holding a token), and the host's copy of a removed
session's history that `--resume` starts from (docs/agent-state.md).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from datetime import UTC, datetime
from pathlib import Path

from agents import files, git, paths, runner
from agents.catalog import Agent, StateLayout
from agents.errors import AgentsError
from agents.records import record
from agents.session import naming

TYPE_CHECKING = False  # (not typing's: importing typing is ~4 ms of every start; checkers know the name)
if TYPE_CHECKING:
    import tarfile

FORMAT = "coding-agents-history"
VERSION = 1
MANIFEST = "manifest.json"
PREFIX = "state/"
DEFAULT_STATE_SIZE = 8 * 1024**3
# Keys that mark a JSON file as holding a login: such a file never leaves the tmpfs, whatever its
# name (a CLI's next version may keep a token somewhere the table does not know yet).
TOKEN_KEYS = ("access_token", "refresh_token", "id_token", "accessToken", "refreshToken", "idToken",
              "oauth_token", "oauthToken", "client_secret", "api_key", "apiKey", "copilotTokens", "authTokens",
              "customApiKeyResponses")
MAX_SCANNED_JSON = 1024 * 1024


def _entry(folder: str, container: str) -> str | None:
    """The top-level name in folder of a file given relative to the home (None: elsewhere)."""
    if not container.startswith(folder + "/"):
        return None
    return container[len(folder) + 1:].split("/", 1)[0]


def never_kept(agent: Agent, layout: StateLayout) -> tuple[str, ...]:
    """The folder's names that stay on the tmpfs: logins, what the launch writes at each start, secrets."""
    written = [login.container for login in agent.login_files] + list(agent.config_paths)
    written += [answer.container for answer in (*agent.first_run, *agent.told("full").settings,
                                                 *agent.told("ask").settings)]
    written += [approval.container for approval in agent.key_approvals]
    written += [setting.container for setting in agent.host_settings]
    # Your setup, carried in at each start (agents/host_setup.py): today's, never a stale copy.
    written += [entry.rstrip("/") for entry in agent.host_setup.carry]
    written += [agent.host_setup.settings] if agent.host_setup.settings else []
    names = {name for name in (_entry(layout.folder, path) for path in written) if name}
    return tuple(sorted(names | set(layout.secret)))


def layout_spec(agent: Agent, limit: int = DEFAULT_STATE_SIZE) -> dict | None:
    """What the stub is told (CODING_AGENTS_STATE): its folders, what is kept, what never is."""
    if not agent.state:
        return None
    return {
        "store": naming.STATE_STORE,
        "limit": limit,
        "token_keys": list(TOKEN_KEYS),
        "folders": [{"name": layout.folder, "path": f"{naming.HOME}/{layout.folder}", "kept": list(layout.kept),
                     "never": list(never_kept(agent, layout))} for layout in agent.state],
    }


def state_env(agent: Agent, limit: int = DEFAULT_STATE_SIZE) -> list[str]:
    spec = layout_spec(agent, limit)
    if spec is None:
        return []
    argv = ["--env", f"{naming.STATE_VAR}={json.dumps(spec, separators=(',', ':'))}"]
    for layout in agent.state:
        for variable, entry in layout.env:
            argv += ["--env", f"{variable}={naming.HOME}/{layout.folder}/{entry.rstrip('/')}"]
    return argv


def holds_token(value: object, depth: int = 0) -> bool:
    if depth > 6:
        return False
    if isinstance(value, dict):
        return any(key in TOKEN_KEYS for key in value) or any(holds_token(item, depth + 1) for item in value.values())
    if isinstance(value, list):
        return any(holds_token(item, depth + 1) for item in value)
    return False


def looks_secret(data: bytes) -> bool:
    if len(data) > MAX_SCANNED_JSON or data[:1] not in (b"{", b"["):
        return False
    try:
        return holds_token(json.loads(data.decode("utf-8", "replace")))
    except ValueError:
        return False


def refusal(agent: Agent, path: str) -> str | None:
    """Why a path of an archive (FOLDER/...) may not be in it (None: it may)."""
    parts = path.split("/")
    if len(parts) < 2 or any(part in ("", ".", "..") for part in parts):
        return "not a plain relative path"
    layout = next((layout for layout in agent.state if layout.folder == parts[0]), None)
    if layout is None:
        return f"{parts[0]} is not a folder of {agent.title}"
    if any(parts[1] == name or parts[1].startswith(name + ".") for name in never_kept(agent, layout)):
        return "a login, secret or launch-written file"
    return None


# --- archives ------------------------------------------------------------------------------------


@record(frozen=True)
class Archive:
    manifest: dict
    path: Path

    @property
    def agent(self) -> str:
        return str(self.manifest.get("agent", ""))

    @property
    def branch(self) -> str:
        return str(self.manifest.get("branch", ""))

    @property
    def files(self) -> list[dict]:
        return list(self.manifest.get("files", []))


def write_archive(agent: Agent, members: list[tuple[str, bytes, int]], target: Path, meta: dict) -> Archive:
    """A history archive at target: manifest.json, then state/PATH for each (path, data, mtime)
    that may be in one. Written 0600 (transcripts are private), atomically."""
    kept, dropped = [], []
    for path, data, mtime in sorted(members):
        if refusal(agent, path) or looks_secret(data):
            dropped.append(path)
            continue
        kept.append((path, data, mtime))
    manifest = {
        "format": FORMAT, "version": VERSION, "agent": agent.base or agent.name, **meta,
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "files": [{"path": path, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
                  for path, data, _ in kept],
        "left_out": dropped,
    }
    import tarfile  # archives only: it and tempfile are ~4 ms of a launch's start (planner imports this module)

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        _add(archive, MANIFEST, json.dumps(manifest, indent=2).encode(), int(datetime.now(UTC).timestamp()))
        for path, data, mtime in kept:
            _add(archive, PREFIX + path, data, mtime)
    files.write_private(target, buffer.getvalue())
    return Archive(manifest, target)


def _add(archive: tarfile.TarFile, name: str, data: bytes, mtime: int) -> None:
    import tarfile

    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), mtime, 0o600
    archive.addfile(info, io.BytesIO(data))


def read_archive(path: Path, agent: Agent | None = None) -> Archive:
    """The archive's manifest, once every file in it matches its checksum and none may not be there."""
    import tarfile

    from agents import catalog

    def bad(why: str) -> AgentsError:
        return AgentsError(f"{path} is not a good history archive: {why}",
                           hint="export it again (coding-agents history export NAME FILE)")

    try:
        with tarfile.open(path, mode="r:gz") as archive:
            first = archive.next()
            if first is None or first.name != MANIFEST or not first.isfile():
                raise bad(f"it does not start with {MANIFEST}")
            manifest = json.loads(archive.extractfile(first).read())
            if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
                raise bad("its manifest is not one of ours")
            if manifest.get("version") != VERSION:
                raise bad(f"version {manifest.get('version')} (this coding-agents reads {VERSION})")
            row = agent or catalog.find_agent(str(manifest.get("agent", "")))
            if row is None or not row.state:
                raise bad(f"its agent {manifest.get('agent')!r} keeps no history here")
            expected = {item["path"]: item for item in manifest.get("files", []) if isinstance(item, dict)}
            seen = set()
            for member in archive:  # (from the start again: the manifest is skipped)
                if member.offset == first.offset:
                    continue
                if not member.name.startswith(PREFIX) or not member.isfile():
                    raise bad(f"{member.name} is not a plain file under {PREFIX}")
                relative = member.name[len(PREFIX):]
                why = refusal(row, relative)
                if why:
                    raise bad(f"{relative}: {why}")
                item = expected.get(relative)
                if item is None:
                    raise bad(f"{relative} is not in its manifest")
                digest = hashlib.sha256()
                source = archive.extractfile(member)
                while chunk := source.read(1 << 20):
                    digest.update(chunk)
                if digest.hexdigest() != item.get("sha256"):
                    raise bad(f"{relative} does not match its checksum")
                seen.add(relative)
            missing = sorted(set(expected) - seen)
            if missing:
                raise bad(f"{missing[0]} is in its manifest but not in it")
    except (OSError, tarfile.TarError, ValueError, KeyError, TypeError) as error:
        if isinstance(error, FileNotFoundError):
            raise AgentsError(f"no file {path}", hint="give the path of an archive from `history export`") from error
        raise bad(str(error)) from error
    return Archive(manifest, path)


# --- a session's history ---------------------------------------------------------------------------


def session_members(name: str, running: bool) -> list[tuple[str, bytes, int]]:
    """The session's store (running or stopped: `docker cp` reads the home volume, never a tmpfs),
    after a running one has copied what is still only on its tmpfs."""
    if running:
        runner.run(naming.agent_exec(name, "ca-stub", "state-save"), check=False, timeout=120)
    import tarfile
    import tempfile

    with tempfile.TemporaryDirectory(prefix="coding-agents-history-") as folder:
        dumped = Path(folder) / "store.tar"
        try:  # to a file: run() captures text, which would mangle the tar
            runner.run_with_file([runner.engine(), "cp", f"{name}:{naming.STATE_STORE}/.", "-"], stdout_path=dumped)
        except runner.CommandFailed as error:
            if "Could not find" in error.result.stderr or "No such" in error.result.stderr:
                return []
            raise
        members = []
        with tarfile.open(dumped) as archive:
            for member in archive:
                if not member.isfile():
                    continue
                relative = member.name.removeprefix("./").lstrip("/")
                members.append((relative, archive.extractfile(member).read(), int(member.mtime)))
    return members


def repo_key(repo: Path) -> str:
    """The same project on any machine: its first commit (else its path)."""
    roots = git.git(repo, "rev-list", "--max-parents=0", "HEAD", check=False)
    found = sorted(roots.stdout.split()) if roots.ok else []
    seed = found[0] if found else str(repo.resolve())
    return hashlib.sha256(seed.encode()).hexdigest()[:16]


def kept_path(repo: Path, branch: str) -> Path:
    """Where the host keeps the history of an agent branch of a repository, for --resume."""
    return paths.history_dir() / repo_key(repo) / (naming.sanitize(branch.replace("/", "--")) + ".tar.gz")


def export(info, agent: Agent, target: Path) -> Archive:
    """A history archive of a session (running or stopped)."""
    if not agent.state:
        raise AgentsError(f"{agent.title} keeps no history in its session", hint="only the agents' CLIs do")
    members = session_members(info.name, info.running)
    meta = {"session": info.name, "branch": info.branch, "repo": str(info.repo), "repo_key": repo_key(info.repo)}
    return write_archive(agent, members, target, meta)


def keep(info, agent: Agent) -> Archive | None:
    """Before a session is removed: its history, kept on the host for `--resume` (replacing the
    branch's last one). Nothing when the CLI never wrote any."""
    if not agent.state or not info.repo.is_dir():
        return None
    members = session_members(info.name, info.running)
    if not members:
        return None
    meta = {"session": info.name, "branch": info.branch, "repo": str(info.repo), "repo_key": repo_key(info.repo)}
    return write_archive(agent, members, kept_path(info.repo, info.branch), meta)


def import_archive(source: Path, repo: Path, force: bool = False) -> tuple[Archive, Path]:
    """A checked archive into the host's history of its branch in this repository."""
    found = read_archive(source)
    if found.manifest.get("repo_key") != repo_key(repo) and not force:
        raise AgentsError(f"{source} is the history of another repository ({found.manifest.get('repo')})",
                          hint="run it inside that repository's clone (same first commit), or add --force")
    if not re.fullmatch(r"[A-Za-z0-9._/-]+", found.branch):
        raise AgentsError(f"{source} names no usable branch ({found.branch!r})", hint="export it again")
    target = kept_path(repo, found.branch)
    files.write_private(target, source.read_bytes())
    return found, target


def deliver(name: str, archive: Path) -> int:
    """Stream a history archive into a session's store before its CLI starts; the files written."""
    result = runner.run_with_file(naming.agent_exec(name, "ca-stub", "state-receive", stdin=True),
                                  stdin_path=archive, hint=f"see `coding-agents logs {name}`")
    try:
        return int(json.loads(result.stdout or "{}").get("files", 0))
    except ValueError:
        return 0
