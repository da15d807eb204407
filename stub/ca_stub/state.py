"""Agent state: what a CLI keeps beside its login, on the session's home volume.

Each CLI folder (~/.claude ...) is a tmpfs, because the login lives there. The host's layout
(agents/history.py: layout_spec, in CODING_AGENTS_STATE) says, per folder, what is kept: those
entries are symlinks into the store on the home volume, made before the CLI starts; any other
entry the CLI made is moved there when it ends and linked back at the next start. The login
files, the files the launch writes each start and secret entries are never moved, and neither is
a JSON file that holds a token (a key the layout names): the safe way to fail is to lose state,
never to put a secret on a disk.
"""
import json
import os
import shutil
import sys
import time

from ca_stub import paths

MAX_SCANNED_JSON = 1024 * 1024


def load_spec():
    try:
        spec = json.loads(os.environ.get(paths.STATE_VAR, "") or "null")
    except ValueError:
        return None
    return spec if isinstance(spec, dict) and spec.get("folders") else None


def _store_dir(spec, folder):
    return os.path.join(spec["store"], folder["name"])


def is_never(folder, entry):
    """The entry (a top-level name in the folder) is one that never leaves the tmpfs."""
    return any(entry == name or entry.startswith(name + ".") for name in folder.get("never", ()))


def holds_token(value, keys, depth=0):
    if depth > 6:
        return False
    if isinstance(value, dict):
        return any(key in keys for key in value) or any(holds_token(item, keys, depth + 1) for item in value.values())
    if isinstance(value, list):
        return any(holds_token(item, keys, depth + 1) for item in value)
    return False


def looks_secret(path, keys):
    """A JSON file with a token key in it (a login the layout does not know of yet)."""
    try:
        if os.path.getsize(path) > MAX_SCANNED_JSON:
            return False
        with open(path, "rb") as handle:
            head = handle.read(1)
            if head not in (b"{", b"["):
                return False
            handle.seek(0)
            data = json.loads(handle.read().decode("utf-8", "replace"))
    except (OSError, ValueError):
        return False
    return holds_token(data, set(keys))


def link(spec):
    """Before the CLI starts: each kept entry, and each entry of the store, linked into its folder."""
    for folder in spec["folders"]:
        store = _store_dir(spec, folder)
        os.makedirs(store, mode=0o700, exist_ok=True)
        os.makedirs(folder["path"], mode=0o700, exist_ok=True)
        names = []
        for entry in folder.get("kept", ()):
            name = entry.rstrip("/")
            if entry.endswith("/"):
                os.makedirs(os.path.join(store, name), mode=0o700, exist_ok=True)
            names.append(name)
        names += sorted(os.listdir(store))
        for name in names:
            where = os.path.join(folder["path"], name)
            if is_never(folder, name) or name.endswith(".ca-new") or os.path.lexists(where):
                continue
            os.symlink(os.path.join(store, name), where)


def _copy_tree(source, target, keys, skipped):
    os.makedirs(target, mode=0o700, exist_ok=True)
    for entry in os.scandir(source):
        there = os.path.join(target, entry.name)
        if entry.is_symlink():
            continue
        if entry.is_dir():
            _copy_tree(entry.path, there, keys, skipped)
        elif entry.is_file():
            if looks_secret(entry.path, keys):
                skipped.append(entry.path)
                continue
            _copy_file(entry.path, there)


def _copy_file(source, target):
    temporary = target + ".ca-new"
    shutil.copy2(source, temporary)
    os.replace(temporary, target)


def sweep(spec, move=True):
    """Entries the CLI made on the tmpfs go to the store (copied, or moved and linked back).
    Returns what stayed on the tmpfs because it looked like a secret."""
    keys = spec.get("token_keys", ())
    skipped = []
    for folder in spec["folders"]:
        store = _store_dir(spec, folder)
        try:
            entries = sorted(os.listdir(folder["path"]))
        except OSError:
            continue
        os.makedirs(store, mode=0o700, exist_ok=True)
        for name in entries:
            where = os.path.join(folder["path"], name)
            if is_never(folder, name) or name.endswith(".ca-new") or os.path.islink(where):
                continue
            target = os.path.join(store, name)
            try:
                if os.path.isdir(where):
                    before = len(skipped)
                    _copy_tree(where, target, keys, skipped)
                    whole = len(skipped) == before
                elif os.path.isfile(where):
                    if looks_secret(where, keys):
                        skipped.append(where)
                        continue
                    if os.path.isdir(target):
                        shutil.rmtree(target)
                    _copy_file(where, target)
                    whole = True
                else:
                    continue
                if move and whole:
                    if os.path.isdir(where):
                        shutil.rmtree(where)
                    else:
                        os.unlink(where)
                    os.symlink(target, where)
            except OSError as error:
                print(f"ca-stub: could not keep {where}: {error}", file=sys.stderr, flush=True)
    for path in skipped:
        print(f"ca-stub: {path} holds a token: it stays on the tmpfs", file=sys.stderr, flush=True)
    return skipped


def store_size(spec):
    total = 0
    for root, _dirs, files in os.walk(spec["store"]):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


class SizeWatcher:
    """Says once in the container's log when the store grows past [sessions] state_size."""

    def __init__(self, spec, interval=60.0):
        self.spec = spec
        self.interval = interval
        self.last_check = None
        self.warned = False

    def poll(self):
        limit = self.spec.get("limit") or 0
        if not limit or (self.last_check is not None and time.monotonic() - self.last_check < self.interval):
            return
        self.last_check = time.monotonic()
        size = store_size(self.spec)
        if size > limit and not self.warned:
            print(f"ca-stub: the agent's state is {size // (1024 * 1024)} MB, over [sessions] state_size "
                  f"({limit // (1024 * 1024)} MB): export it (coding-agents history export) and start afresh",
                  file=sys.stderr, flush=True)
        self.warned = size > limit


def state_save():
    """`ca-stub state-save`: copy what is still only on the tmpfs into the store (for an export)."""
    spec = load_spec()
    if spec is None:
        return 0
    sweep(spec, move=False)
    return 0


def state_receive():
    """`ca-stub state-receive`: a history archive (tar.gz, members under state/) on stdin, into the
    store, before the CLI starts. Only plain files and folders of the layout's folders; never a
    login or secret name."""
    spec = load_spec()
    if spec is None:
        print("ca-stub: this session keeps no agent state", file=sys.stderr)
        return 1
    folders = {folder["name"]: folder for folder in spec["folders"]}
    written = 0
    import tarfile  # (here: every session's start imports this module, and only this reads archives)

    with tarfile.open(fileobj=sys.stdin.buffer, mode="r|gz") as archive:
        for member in archive:
            parts = member.name.split("/")
            if parts[0] != "state" or len(parts) < 3 or any(part in ("", ".", "..") for part in parts[1:]):
                continue
            folder = folders.get(parts[1])
            if folder is None or is_never(folder, parts[2]):
                continue
            target = os.path.join(spec["store"], *parts[1:])
            if member.isdir():
                os.makedirs(target, mode=0o700, exist_ok=True)
            elif member.isfile():
                os.makedirs(os.path.dirname(target), mode=0o700, exist_ok=True)
                source = archive.extractfile(member)
                temporary = target + ".ca-new"
                descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
                with os.fdopen(descriptor, "wb") as out:
                    shutil.copyfileobj(source, out)
                os.utime(temporary, (member.mtime, member.mtime))
                os.replace(temporary, target)
                written += 1
    print(json.dumps({"files": written}))
    return 0
