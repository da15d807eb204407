"""The host's secret store for MCP servers: names in the clear, values sealed with AES-GCM.

~/.local/share/coding-agents/secrets/ (0700) holds `key` (32 random bytes) and `secrets.json`,
both 0600. Each value is sealed with its own nonce and its name as associated data, so values
cannot be swapped between names. This protects the values in backups and from tools that read
files by name; a process running as you can read the key too, which is why only the broker ever
decrypts, and only the MCP sidecar of a session, never the agent, receives a value.
"""

from __future__ import annotations

import base64
import json
import os
import re
from pathlib import Path

from agents import files, paths
from agents.errors import AgentsError, UsageError

NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
MAX_VALUE_BYTES = 64 * 1024


def validate_name(name: str) -> str:
    if not NAME_PATTERN.fullmatch(name):
        raise UsageError(f"{name!r} is not a valid secret name",
                          hint="use letters, digits and '_', not starting with a digit (e.g. GITHUB_TOKEN)")
    return name


def _aead():
    try:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    except ImportError as error:  # only a source checkout without the vendored package gets here
        raise AgentsError("the secret store needs the `cryptography` package",
                          hint="use the zipapp (it carries it), or pip install cryptography") from error
    return AESGCM


def _private_dir() -> Path:
    folder = paths.secrets_dir()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(folder, 0o700)
    return folder


def _key(create: bool) -> bytes | None:
    path = paths.secrets_dir() / "key"
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        if not create:
            return None
        key = os.urandom(32)
        files.write_private(path, key)
        return key
    if len(key) != 32:
        raise AgentsError(f"{path} is not a key this tool wrote", hint="restore it from a backup, or remove the "
                          "secrets folder and set the secrets again")
    return key


def _load() -> dict[str, dict[str, str]]:
    path = paths.secrets_dir() / "secrets.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        raise AgentsError(f"cannot read the secret store {path}: {error}",
                          hint="check its permissions; if it is damaged, remove it and set the secrets again") from error
    if not isinstance(data, dict):
        raise AgentsError(f"the secret store {path} is damaged", hint="remove it and set the secrets again")
    return data


def _save(entries: dict[str, dict[str, str]]) -> None:
    """A whole-file replace; callers hold the store's lock."""
    _private_dir()
    files.write_private(paths.secrets_dir() / "secrets.json", json.dumps(entries, indent=2, sort_keys=True).encode())


def _lock():
    descriptor = os.open(paths.secrets_dir() / ".lock", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    return os.fdopen(descriptor, "a")


def set_secret(name: str, value: str) -> None:
    import fcntl

    validate_name(name)
    try:
        data = value.encode()
    except UnicodeEncodeError:  # bytes that were not UTF-8, smuggled in as surrogates by stdin's decoder
        raise AgentsError("the secret is not UTF-8 text", hint="store it as text, e.g. base64-encoded") from None
    if not data:
        raise AgentsError("the secret is empty", hint="type or pipe in a value")
    if len(data) > MAX_VALUE_BYTES:
        raise AgentsError(f"the secret is larger than {MAX_VALUE_BYTES // 1024} KiB",
                          hint="store a token or key, not a file; MCP servers get secrets as variables")
    _private_dir()
    with _lock() as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        key = _key(create=True)
        nonce = os.urandom(12)
        sealed = _aead()(key).encrypt(nonce, data, name.encode())
        entries = _load()
        entries[name] = {"nonce": base64.b64encode(nonce).decode(), "sealed": base64.b64encode(sealed).decode()}
        _save(entries)


def remove_secret(name: str) -> bool:
    import fcntl

    validate_name(name)
    if not paths.secrets_dir().exists():
        return False
    with _lock() as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        entries = _load()
        if name not in entries:
            return False
        del entries[name]
        _save(entries)
    return True


def names() -> list[str]:
    return sorted(_load())


def get_secret(name: str) -> str:
    """The value (the broker's call; nothing else decrypts)."""
    entry = _load().get(name)
    key = _key(create=False)
    if entry is None or key is None:
        raise AgentsError(f"no secret named {name}", hint=f"set it: coding-agents secrets set {name}")
    try:
        nonce = base64.b64decode(entry["nonce"])
        sealed = base64.b64decode(entry["sealed"])
        return _aead()(key).decrypt(nonce, sealed, name.encode()).decode()
    except Exception as error:  # InvalidTag, bad base64, wrong key: all the same to the user
        raise AgentsError(f"the secret {name} cannot be decrypted (the store or its key was changed)",
                          hint=f"set it again: coding-agents secrets set {name}") from error
