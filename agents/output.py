"""Rendering command results as aligned text tables or JSON."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence

TYPE_CHECKING = False  # (not typing's: list-agents' path imports as little as it can)
if TYPE_CHECKING:
    from typing import Any


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=False))


def format_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """Plain aligned columns with an upper-case header; empty cells become '-'."""
    cells = [[_cell(row.get(column)) for column in columns] for row in rows]
    header = [column.upper() for column in columns]
    widths = [max(len(text) for text in column) for column in zip(header, *cells, strict=True)]
    lines = ["  ".join(text.ljust(width) for text, width in zip(line, widths, strict=True)).rstrip() for line in [header, *cells]]
    return "\n".join(lines)


def print_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    print(format_table(rows, columns))


def say(message: str) -> None:
    """Progress and notes go to stderr so stdout stays clean for data."""
    print(message, file=sys.stderr, flush=True)


def confirm(question: str, yes: bool) -> bool:
    """Whether to remove what was just listed: --yes, else the user's answer. Without a terminal to
    ask on nothing is removed (a script gets the list and how to go on, never a silent removal)."""
    if yes:
        return True
    if not sys.stdin.isatty():
        say("==> nothing removed: add --yes to remove these")
        return False
    if input(f"{question} [y/N] ").strip().lower() in ("y", "yes"):
        return True
    say("==> nothing removed")
    return False


def _cell(value: Any) -> str:
    return "-" if value is None or value == "" else str(value)


def human_bytes(count: float) -> str:
    """1536000 -> '1.5 MB' (powers of 1000, as docker shows sizes)."""
    for unit in ("B", "kB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    return f"{count:.1f} GB"  # not reached


class Progress:
    """Bytes done (of a total) for long silent work, on stderr: one line redrawn in place when stderr
    is a terminal; otherwise only a start and an end line, so logs stay short."""

    def __init__(self, what: str, total: int | None = None, estimate: bool = False, stream=None):
        import time

        self.what, self.total, self.estimate = what, total, estimate
        self.stream = stream or sys.stderr
        self.live = bool(getattr(self.stream, "isatty", lambda: False)())
        self.started = time.monotonic()
        self.done = 0
        if not self.live:
            size = f" ({'about ' if estimate else ''}{human_bytes(total)})" if total else ""
            self._line(f"==> {what}{size} ...")

    def __call__(self, done: int) -> None:
        self.done = done
        if self.live:
            self.stream.write("\r\033[K" + self._status())
            self.stream.flush()

    def finish(self, outcome: str = "done") -> None:
        if self.live:
            self.stream.write("\r\033[K")
        self._line(f"==> {self.what}: {outcome}, {human_bytes(self.done)} in {self._elapsed():.0f}s")

    def _status(self) -> str:
        shown = human_bytes(self.done)
        if self.total:
            total = max(self.total, self.done)  # an estimate can be short
            shown += f" of {'about ' if self.estimate else ''}{human_bytes(total)} ({self.done * 100 // total}%)"
        return f"==> {self.what}: {shown}, {self._elapsed():.0f}s"

    def _elapsed(self) -> float:
        import time

        return time.monotonic() - self.started

    def _line(self, text: str) -> None:
        print(text, file=self.stream, flush=True)
