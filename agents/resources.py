"""Files shipped with the tool (Dockerfiles, stub/), readable from a checkout, a wheel or the zipapp."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from agents.errors import AgentsError

TYPE_CHECKING = False  # (not typing's: importing typing is ~4 ms of every start; checkers know the name)
if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

_PACKAGED_DIR = "_data"  # build_zipapp.py and pyproject.toml put images/ and stub/ here


def resource_root() -> Traversable:
    import importlib.resources  # when a bundled file is read: its import (with typing) is ~6 to 12 ms of a start

    packaged = importlib.resources.files("agents") / _PACKAGED_DIR
    if packaged.is_dir():
        return packaged
    # Running from a source checkout: images/ and stub/ sit next to agents/.
    return Path(__file__).resolve().parent.parent


def resource(relative_path: str) -> Traversable:
    node = resource_root()
    for part in relative_path.split("/"):
        node = node / part
    if not (node.is_file() or node.is_dir()):
        raise AgentsError(
            f"bundled file {relative_path!r} is missing from this installation",
            hint="rebuild the zipapp with `python3 build_zipapp.py` or reinstall the package",
        )
    return node


def walk_files(relative_dir: str) -> Iterator[tuple[str, bytes]]:
    """Yield (path relative to relative_dir, content) for every file below it, sorted."""

    def walk(node: Traversable, prefix: str) -> Iterator[tuple[str, bytes]]:
        for child in sorted(node.iterdir(), key=lambda c: c.name):
            # A top-level __init__.py would only mark the folder as a package; the stub's own
            # package (stub/ca_stub/) needs its __init__.py in the image.
            if child.name == "__pycache__" or (child.name == "__init__.py" and not prefix):
                continue
            path = f"{prefix}{child.name}"
            if child.is_dir():
                yield from walk(child, path + "/")
            else:
                yield path, child.read_bytes()

    yield from walk(resource(relative_dir), "")
