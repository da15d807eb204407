"""Writing TOML (the stdlib only reads it): enough for the config values we carry into sessions."""

from __future__ import annotations

import json
import re

from agents.errors import AgentsError

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def key(text: str) -> str:
    return text if _BARE_KEY.fullmatch(text) else json.dumps(text)


def value(item: object) -> str:
    """An inline TOML value. JSON string escapes are valid TOML basic strings."""
    if isinstance(item, bool):
        return "true" if item else "false"
    if isinstance(item, (int, float)):
        return repr(item)
    if isinstance(item, str):
        return json.dumps(item, ensure_ascii=False).replace("\x7f", "\\u007f")  # TOML forbids a raw DEL
    if isinstance(item, list):
        return "[" + ", ".join(value(part) for part in item) + "]"
    if isinstance(item, dict):
        return "{" + ", ".join(f"{key(k)} = {value(v)}" for k, v in item.items()) + "}"
    raise AgentsError(f"cannot write {type(item).__name__} values as TOML",
                      hint="this is a bug: please report it (with --debug output)")


def dumps(data: dict, prefix: tuple[str, ...] = ()) -> str:
    """Plain keys first, then one [table] per nested table (TOML needs that order)."""
    lines = [f"{key(k)} = {value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    text = ""
    # A table with plain keys needs its header; so does an empty one, or it would vanish.
    if prefix and (lines or not data):
        text += "[" + ".".join(key(part) for part in prefix) + "]\n"
    text += "".join(line + "\n" for line in lines)
    for k, v in data.items():
        if isinstance(v, dict):
            text += ("\n" if text else "") + dumps(v, (*prefix, k))
    return text
