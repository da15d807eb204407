"""Agent logins: the host's login state goes into the container before the agent starts, and
tokens the CLI refreshes come back, newest wins.

In: a JSON bundle through `docker exec -i ... ca-stub logins-receive` (so never on a command
line, in `docker inspect` or an image), written 0600 onto tmpfs folders of the agent's home.
Back: the stub notices a rewritten login file and sends it over the session's logins socket;
`accept_returned` replaces the host file only when the container's copy is newer and a refresh of
the same account (the agents table says which fields name it), under a lock, atomically, so
concurrent sessions can neither corrupt nor roll back the host's login, and an agent cannot swap
in another account. A file that also holds settings (Copilot's) gives back only its login keys.
"""

from __future__ import annotations

import base64
import json
import os
import re
import time
from pathlib import Path

from agents import bridges, files, host_setup, paths, runner, toml_text
from agents.catalog import DEFAULT_AUTONOMY, Account, Agent, FirstRun, LoginFile
from agents.endpoints import Endpoints
from agents.errors import AgentsError
from agents.mcp import render
from agents.records import record
from agents.session import naming

MAX_LOGIN_BYTES = 1024 * 1024


def host_path(login: LoginFile, home: Path, environ: dict[str, str]) -> Path:
    """Where the host keeps this file: ~/.codex/auth.json, or $CODEX_HOME/auth.json when set."""
    if login.host_moved_by and environ.get(login.host_moved_by[0]):
        return Path(environ[login.host_moved_by[0]]) / login.host_moved_by[1]
    return home / login.host


def container_path(relative: str) -> str:
    return f"{naming.HOME}/{relative}"


def tmpfs_args(agent: Agent) -> list[str]:
    """Each login folder is a tmpfs owned by the agent user: nothing in it reaches a disk."""
    # Podman refuses uid= and gid= there; its U gives the tmpfs to the container's user, the agent's.
    owner = "U" if runner.engine_kind() == "podman" else f"uid={naming.AGENT_UID},gid={naming.AGENT_UID}"
    args = []
    for folder in agent.login_dirs:
        args += ["--tmpfs", f"{container_path(folder)}:rw,nosuid,nodev,size=64m,{owner},mode=0700"]
    return args


def deep_merge(base: dict, answers: dict) -> dict:
    """answers win, except that lists are joined (the user's trusted folders stay trusted)."""
    merged = dict(base)
    for key, value in answers.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        elif isinstance(value, list) and isinstance(merged.get(key), list):
            merged[key] = merged[key] + [item for item in value if item not in merged[key]]
        else:
            merged[key] = value
    return merged


def load_json_object(data: bytes | None) -> dict | None:
    """A CLI's JSON config; Copilot's starts with // comment lines. None when it is not an object."""
    if not data:
        return None
    text = data.decode("utf-8", "replace")
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("//")]
    try:
        found = json.loads("\n".join(lines))
    except ValueError:
        return None
    return found if isinstance(found, dict) else None


def approve_key(existing: bytes | None, approval, key: str) -> bytes:
    """The CLI's JSON file with this key's tail among the approved ones, and out of the rejected
    ones: you gave the key to this session yourself."""
    document = load_json_object(existing) or {}
    holder = document
    for part in approval.path[:-1]:
        holder = holder.setdefault(part, {}) if isinstance(holder.get(part, {}), dict) else {}
    tail = key[-approval.tail:]
    approved = [item for item in holder.get(approval.path[-1], []) if isinstance(item, str) and item != tail]
    holder[approval.path[-1]] = [*approved, tail]
    rejected = holder.get(approval.rejected) if approval.rejected else None
    if isinstance(rejected, list) and tail in rejected:
        holder[approval.rejected] = [item for item in rejected if item != tail]
    return json.dumps(document, indent=2).encode()


# Words a plain shell command can start with besides a program: Codex splits a script like
# `cd /workspace && git add x` into its commands and checks each one's first word against its rules.
SHELL_BUILTINS = (".", ":", "[", "alias", "bg", "builtin", "cd", "command", "declare", "echo", "eval", "exec",
                  "exit", "export", "fg", "getopts", "hash", "jobs", "kill", "let", "local", "popd", "printf",
                  "pushd", "pwd", "read", "readonly", "return", "set", "shift", "source", "test", "time", "times",
                  "trap", "type", "typeset", "ulimit", "umask", "unalias", "unset", "wait")
_PROGRAM = re.compile(r"/?[A-Za-z0-9._+@-]+(/[A-Za-z0-9._+@-]+)*")
# Every executable file in the container's PATH folders, by absolute path.
LIST_PROGRAMS = 'IFS=:; for d in $PATH; do for f in "$d"/*; do [ -f "$f" ] && [ -x "$f" ] && echo "$f"; done; done'


def prompt_rules(programs: list[str]) -> bytes:
    """A Codex rules file that asks before every command starting with one of these programs (by
    name or by path) or a shell builtin: with its sandbox off, the only way Codex 0.171 still asks."""
    words = set(SHELL_BUILTINS)
    for program in programs:
        if _PROGRAM.fullmatch(program):
            words.update({program, program.rsplit("/", 1)[-1]})
    listed = ",\n".join(f"        {json.dumps(word)}" for word in sorted(words))
    return ("# coding-agents, --autonomy ask: Codex asks before any command that starts with one of these\n"
            "# (every program on the container's PATH, by name and path, and the shell builtins).\n"
            f"prefix_rule(\n    pattern = [[\n{listed},\n    ]],\n    decision = \"prompt\",\n)\n").encode()


def container_programs(name: str) -> list[str]:
    """The executables on the PATH of a session's container (for prompt-rules)."""
    result = runner.run(naming.agent_exec(name, "sh", "-c", LIST_PROGRAMS), check=False, timeout=30)
    if not result.ok:
        raise AgentsError(f"could not list the programs in {name}: {runner.last_line(result.stderr)}",
                          hint=f"see `coding-agents logs {name}`")
    return result.stdout.split()


def apply_first_run(existing: bytes | None, first_run: FirstRun, programs: list[str] | None = None) -> bytes:
    """The config file with the first-run answers in; the user's own settings are kept, but for
    prompt-rules, a file of ours (it decides what asks) made from the container's programs."""
    if first_run.format == "prompt-rules":
        return prompt_rules(programs or [])
    if first_run.format == "json":
        base = load_json_object(existing) or {}
        return json.dumps(deep_merge(base, json.loads(first_run.content)), indent=2).encode()
    import tomllib  # (TOML files only: its import is ~8 ms of a start)

    text = existing.decode("utf-8", "replace") if existing else ""
    try:
        have = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        have = {}
    wanted = tomllib.loads(first_run.content)
    if _contains(have, wanted) or _conflicts(have, wanted):
        return text.encode()  # answered already, or the user's file says otherwise: theirs wins
    joined = text.rstrip("\n") + ("\n\n" if text.strip() else "") + first_run.content.strip() + "\n"
    try:
        tomllib.loads(joined)
    except tomllib.TOMLDecodeError:  # e.g. the table exists without the key: leave the user's file be
        return text.encode()
    return joined.encode()


def _conflicts(have: dict, wanted: dict) -> bool:
    """Whether appending `wanted` would define a key or table the file already has."""
    for key, value in wanted.items():
        if key in have and not (isinstance(value, dict) and isinstance(have[key], dict)):
            return True
        if isinstance(value, dict) and isinstance(have.get(key), dict) and _conflicts(have[key], value):
            return True
    return False


def _contains(have: dict, wanted: dict) -> bool:
    for key, value in wanted.items():
        if isinstance(value, dict):
            if not isinstance(have.get(key), dict) or not _contains(have[key], value):
                return False
        elif have.get(key) != value:
            return False
    return True


@record(frozen=True)
class HostLogin:
    login: LoginFile
    path: Path
    data: bytes | None
    mtime_ns: int | None


def read_host_logins(agent: Agent, home: Path, environ: dict[str, str]) -> list[HostLogin]:
    found = []
    for login in agent.login_files:
        path = host_path(login, home, environ)
        try:
            stat = path.stat()
            if stat.st_size > MAX_LOGIN_BYTES:
                if not login.secret:  # a preferences file grown large: the CLI does without it
                    found.append(HostLogin(login, path, None, None))
                    continue
                raise AgentsError(f"{path} is larger than a login file should be ({stat.st_size} bytes)",
                                  hint="check that it is really your login; move it aside to log in again")
            found.append(HostLogin(login, path, path.read_bytes(), stat.st_mtime_ns))
        except FileNotFoundError:
            found.append(HostLogin(login, path, None, None))
        except OSError as error:
            raise AgentsError(f"cannot read your login file {path}: {error.strerror}", hint="check its permissions") from error
    return found


def apply_rendered(existing: bytes | None, rendered: render.Rendered) -> bytes:
    """Our MCP servers replace the file's own (the host's servers would not run in here)."""
    if rendered.format == "json":
        data = load_json_object(existing) or {}
        data.update(json.loads(rendered.content))
        return json.dumps(data, indent=2).encode()
    import tomllib  # (TOML files only: its import is ~8 ms of a start)

    text = existing.decode("utf-8", "replace") if existing else ""
    have = tomllib.loads(text) if text.strip() else {}
    if rendered.key in have:
        raise AgentsError(f"{rendered.container} already has [{rendered.key}] tables",
                          hint="report this: first-run answers should not hold MCP servers")
    joined = text.rstrip("\n") + ("\n\n" if text.strip() else "") + rendered.content
    tomllib.loads(joined)
    return joined.encode()


def apply_host_settings(existing: bytes | None, file_format: str, chosen: dict) -> bytes:
    """The host's chosen keys (model, provider...) written into the container's copy of a file."""
    if file_format == "json":
        return json.dumps(deep_merge(load_json_object(existing) or {}, chosen), indent=2).encode()
    import tomllib  # (TOML files only: its import is ~8 ms of a start)

    text = existing.decode("utf-8", "replace") if existing else ""
    try:
        have = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        have = {}
    return toml_text.dumps({**have, **chosen}).encode()


def plan_bundle(agent: Agent, host_logins: list[HostLogin], environ: dict[str, str],
                rendered: render.Rendered | None = None, autonomy: str = DEFAULT_AUTONOMY,
                endpoints: Endpoints | None = None, carried: host_setup.Carried | None = None,
                programs: list[str] | None = None) -> dict:
    """What logins-receive writes: files (with the host's mtimes), login variables, files to watch.
    programs: the container's executables, for a prompt-rules setting (container_programs).

    Files are layered: the host's logins, your carried setup (agents/host_setup.py), the host's
    provider settings, first-run answers, what the autonomy mode tells the CLI (ours win), then
    the MCP servers.
    """
    files: dict[str, dict] = {}
    for item in host_logins:
        if item.data is not None:
            files[item.login.container] = {
                "path": container_path(item.login.container),
                "data": base64.b64encode(item.data).decode(),
                "mtime_ns": item.mtime_ns,
            }

    def layer(container: str, change) -> None:
        current = files.get(container)
        existing = base64.b64decode(current["data"]) if current else None
        files[container] = {"path": container_path(container), "data": base64.b64encode(change(existing)).decode()}

    for container, data, mtime_ns in (carried.files if carried else ()):
        files.setdefault(container, {"path": container_path(container), "data": base64.b64encode(data).decode(),
                                     "mtime_ns": mtime_ns})
    for container, chosen in (carried.settings if carried else ()):
        layer(container, lambda existing, c=chosen: apply_host_settings(existing, "json", c))
    endpoints = endpoints or Endpoints()
    for container, file_format, chosen in endpoints.settings:
        layer(container, lambda existing, f=file_format, c=chosen: apply_host_settings(existing, f, c))
    # A key given in [agents.NAME] env (e.g. ANTHROPIC_API_KEY for your own endpoint) logs in too.
    given = {**environ, **dict(endpoints.env)}
    logged_in = any(item.data is not None and item.login.secret for item in host_logins) or any(
        given.get(name) for name in agent.login_env)
    for answers in (*agent.first_run, *agent.told(autonomy).settings):
        if answers.only_when_logged_in and not logged_in:
            continue
        layer(answers.container, lambda existing, a=answers: apply_first_run(existing, a, programs))
    for approval in agent.key_approvals:
        if given.get(approval.variable):
            layer(approval.container, lambda existing, a=approval: approve_key(existing, a, given[a.variable]))
    if rendered is not None:
        current = files.get(rendered.container)
        existing = base64.b64decode(current["data"]) if current else None
        files[rendered.container] = {
            **(current or {"path": container_path(rendered.container)}),
            "data": base64.b64encode(apply_rendered(existing, rendered)).decode(),
        }
        files[rendered.container].pop("mtime_ns", None)
    return {
        "files": list(files.values()),
        "env": {**{name: environ[name] for name in agent.login_env if environ.get(name)}, **dict(endpoints.env)},
        "watch": [container_path(login.container) for login in agent.login_files if login.secret],
    }


def returned_files(agent: Agent, home: Path, environ: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """(container path, host path) of the files whose refreshes are copied back."""
    return tuple(
        (container_path(login.container), str(host_path(login, home, environ)))
        for login in agent.login_files if login.secret
    )


def deliver(name: str, agent: Agent, use_host_logins: bool, environ: dict[str, str] | None = None,
            rendered: render.Rendered | None = None, autonomy: str = DEFAULT_AUTONOMY,
            endpoints: Endpoints | None = None, carry: tuple[str, ...] | None = None) -> str:
    """Stream the bundle into the running container; returns a one-line summary for the user.
    carry: the entries of your setup that come along (None: --no-host-setup)."""
    environ = dict(os.environ if environ is None else environ)
    home = Path(environ.get("HOME") or Path.home())
    host_logins = read_host_logins(agent, home, environ) if use_host_logins else []
    carried = host_setup.read(agent, carry, home, environ) if carry is not None else None
    programs = (container_programs(name) if any(item.format == "prompt-rules" for item in agent.told(autonomy).settings)
                else None)
    bundle = plan_bundle(agent, host_logins, environ if use_host_logins else {}, rendered, autonomy, endpoints,
                         carried, programs)
    result = runner.run(
        naming.agent_exec(name, "ca-stub", "logins-receive", stdin=True),
        input=json.dumps(bundle), check=False, timeout=60,
    )
    if not result.ok:
        raise AgentsError(f"could not hand the logins to {name}: {runner.last_line(result.stderr)}",
                          hint=f"see `coding-agents logs {name}`")
    line = summary(agent, host_logins, bundle, use_host_logins)
    if carried and (carried.files or carried.settings):
        line += ("; " if line else "") + f"your setup: {len(carried.files)} file(s)" + (
            " and settings" if carried.settings else "") + (f" ({len(carried.skipped)} left out)" if carried.skipped else "")
    return line


def summary(agent: Agent, host_logins: list[HostLogin], bundle: dict, use_host_logins: bool) -> str:
    if not agent.login_files and not agent.login_env:
        return ""
    if not use_host_logins:
        return f"host logins not used: log in to {agent.title} inside the session"
    have = [str(item.path) for item in host_logins if item.data is not None and item.login.secret]
    variables = sorted(name for name in bundle["env"] if name in agent.login_env)
    if have or variables:
        return "logins from the host: " + ", ".join(have + [f"${name}" for name in variables])
    wanted = ", ".join(str(item.path) for item in host_logins if item.login.secret)
    return f"no host login for {agent.title} ({wanted}): log in inside; the login is then saved to the host"


# --- copy-back (runs on the host, one process per request; see bridges.py) --------------------


def login_rule(container: str) -> LoginFile | None:
    """The agents table's row for a login file, found by its path in the container (a user's own
    agent shares its base agent's files)."""
    from agents import catalog

    for agent in catalog.AGENTS:
        for login in agent.login_files:
            if container_path(login.container) == container:
                return login
    return None


def jwt_claims(token: object) -> dict | None:
    """The payload of a JWT, unverified (the provider verifies it whenever the token is used)."""
    import binascii

    if not isinstance(token, str) or token.count(".") != 2:
        return None
    payload = token.split(".")[1]
    try:
        found = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, binascii.Error):
        return None
    return found if isinstance(found, dict) else None


def field_value(data: object, path: tuple[str, ...]) -> object:
    """The value at a path of keys ("@jwt" reads a token's claims); None when absent or empty."""
    value = data
    for key in path:
        value = jwt_claims(value) if key == "@jwt" else value.get(key) if isinstance(value, dict) else None
        if value is None or value == "":
            return None
    return value


def holds_login(account: Account, data: dict) -> bool:
    return any(field_value(data, path) is not None for path in (*account.names, *account.fixed, *account.continuity))


def account_refusal(account: Account, host: dict, returned: dict) -> str | None:
    """Why a returned login is not a refresh of the host's login (None when it is one)."""
    if not holds_login(account, host):
        return None  # nothing to swap: a first login
    for path in account.fixed:
        if field_value(returned, path) != field_value(host, path):
            return f"refused: another key ({'.'.join(path)} is not the host's)"
    named = [path for path in account.names if field_value(host, path) is not None]
    for path in named:
        if field_value(returned, path) != field_value(host, path):
            return f"refused: another account ({'.'.join(path)} is not the host's)"
    if not named:
        for path in account.continuity:
            if field_value(returned, path) != field_value(host, path):
                return f"refused: the host's login names no account, and {'.'.join(path)} changed"
    return None


def merge_keys(host_data: bytes | None, returned: dict, keys: tuple[str, ...]) -> bytes:
    """The host's file with only `keys` taken from the returned copy: the host's other keys, its
    leading // comments, key order and indentation stay."""
    text = host_data.decode("utf-8", "replace") if host_data else ""
    lines = text.splitlines(keepends=True)
    header_end = 0
    while header_end < len(lines) and (not lines[header_end].strip() or lines[header_end].lstrip().startswith("//")):
        header_end += 1
    body = lines[header_end:]
    merged = dict(load_json_object(host_data) or {})
    for key in keys:
        if key in returned:
            merged[key] = returned[key]
    indents = [len(line) - len(line.lstrip(" ")) for line in body if line.startswith(" ") and line.strip()]
    return ("".join(lines[:header_end]) + json.dumps(merged, indent=min(indents) if indents else 2) + "\n").encode()


def accept_returned(settings: bridges.BridgeSettings, request: dict, now_ns: int | None = None) -> str:
    """Take the container's login file when it is newer and a refresh of the same account: the
    whole file, or (for a file that also holds settings) only its login keys, merged."""
    import fcntl

    if not isinstance(request, dict):
        return _decide(settings, {"kind": "login", "file": ""}, "refused: malformed request")
    container = str(request.get("path", ""))
    host = dict(settings.login_files).get(container)
    event = {"kind": "login", "file": container}
    if host is None:
        return _decide(settings, event, "refused: not a login file of this session")
    try:
        data = base64.b64decode(request.get("data", ""), validate=True)
        mtime_ns = int(request.get("mtime_ns"))
    except (ValueError, TypeError):
        return _decide(settings, event, "refused: malformed request")
    if len(data) > MAX_LOGIN_BYTES:
        return _decide(settings, event, "refused: too large")
    # A time in the future (touch -d 2100...) would block every later refresh: no later than now.
    mtime_ns = min(mtime_ns, time.time_ns() if now_ns is None else now_ns)
    rule = login_rule(container)
    returned = load_json_object(data)
    if (host.endswith(".json") or rule is not None) and returned is None:
        # The stub sends it again at its next look (see logins_push in stub/ca_stub/logins.py).
        return _decide(settings, event, "refused: not a JSON object (a half-written file?)")
    target = Path(host)
    with files.open_private(paths.logins_lock(), "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        try:
            stat = target.stat()
            host_data = target.read_bytes()
        except FileNotFoundError:
            stat, host_data = None, None
        host_login = load_json_object(host_data) or {}
        new_data, candidate, first_login = data, returned, stat is None
        if rule is not None and rule.returned_keys:
            if host_data and host_data.strip() and load_json_object(host_data) is None:
                return _decide(settings, event, "refused: the host's file is not a JSON object (nothing merged)")
            new_data = merge_keys(host_data, returned, rule.returned_keys)
            candidate = load_json_object(new_data)
            # A settings file without any of the login keys holds no login yet.
            first_login = not any(key in host_login for key in rule.returned_keys)
            if not any(key in returned for key in rule.returned_keys):
                return _decide(settings, event, "nothing to save: no login in it")
            unchanged = all(returned[key] == host_login.get(key) for key in rule.returned_keys if key in returned)
        else:
            unchanged = host_data == data
        if unchanged:
            return _decide(settings, event, "unchanged")
        if first_login and not settings.save_new_logins:
            return _decide(settings, event, "kept inside: [credentials] save_new_logins is off")
        refusal = account_refusal(rule.account, host_login, candidate) if rule and rule.account else None
        if refusal:
            return _decide(settings, event, refusal)
        if stat is not None and stat.st_mtime_ns >= mtime_ns:
            return _decide(settings, event, "kept the host's copy: it is as new or newer")
        files.write_private(target, new_data, mtime_ns)
        decision = _decide(settings, event, "saved" if stat is not None else "saved (new login)", host=host)
        # Still under the lock: a later refresh is handed on only after this one.
        fan_out(settings, host, rule, new_data, returned, mtime_ns)
    return decision


# How long one other session may take to take a refreshed login (a docker exec each, side by side).
FAN_OUT_TIMEOUT = 30.0


def sharing_sessions(settings: bridges.BridgeSettings, host: str) -> list[tuple[str, str]]:
    """(session, container path) of every other session on this machine with the same host login file."""
    try:
        names = sorted(entry.name for entry in paths.bridges_dir().iterdir() if entry.is_dir())
    except OSError:
        return []
    found = []
    for name in names:
        if name == settings.session:
            continue
        try:
            other = bridges.find_settings(name)
        except (AgentsError, ValueError, TypeError):
            continue
        if other is not None and other.host_logins:
            found += [(name, container) for container, host_path in other.login_files if host_path == host]
    return found


def refresh_request(container: str, rule: LoginFile | None, data: bytes, returned: dict | None, mtime_ns: int) -> dict:
    """What another session's stub takes (logins-refresh): the whole file, or only the login keys of a
    file that also holds that session's own settings (Copilot's)."""
    if rule is not None and rule.returned_keys and returned is not None:
        return {"path": container, "keys": {key: returned[key] for key in rule.returned_keys if key in returned},
                "mtime_ns": mtime_ns}
    return {"path": container, "data": base64.b64encode(data).decode(), "mtime_ns": mtime_ns}


def fan_out(settings: bridges.BridgeSettings, host: str, rule: LoginFile | None, data: bytes, returned: dict | None,
            mtime_ns: int) -> None:
    """One login for many agents: the refreshed login, just saved to the host, also goes to every other
    running session that uses the same host file, so none keeps a refresh token the provider has
    rotated away (Codex's are single-use). A stopped session gets it from the host when it starts."""
    targets = sharing_sessions(settings, host)
    if not targets:
        return
    calls = [(name, container, runner.in_background(
        runner.run, naming.agent_exec(name, "ca-stub", "logins-refresh", stdin=True),
        input=json.dumps(refresh_request(container, rule, data, returned, mtime_ns)), check=False,
        timeout=FAN_OUT_TIMEOUT)) for name, container in targets]
    for name, container, result in calls:
        try:
            done = result()
            answer = runner.last_line(done.stdout) if done.ok else f"not taken: {runner.last_line(done.stderr)}"
        except AgentsError as error:
            answer = f"not taken: {error.message}"
        bridges.audit(settings.session, kind="login-shared", file=container, to=name, decision=answer)


def _decide(settings: bridges.BridgeSettings, event: dict, decision: str, **extra: str) -> str:
    bridges.audit(settings.session, decision=decision, **event, **extra)
    return decision
