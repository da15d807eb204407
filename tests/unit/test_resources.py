"""agents/resources.py: bundled Dockerfiles and stub/, read through importlib.resources."""

from __future__ import annotations

import glob
import tomllib
from pathlib import Path

import pytest

from agents import resources
from agents.errors import AgentsError


def test_walk_files_finds_base_dockerfile():
    files = dict(resources.walk_files("images/base"))

    assert "Dockerfile" in files
    assert files["Dockerfile"].startswith(b"#")


def test_walk_files_recurses_with_relative_sorted_paths():
    paths = [path for path, _ in resources.walk_files("images")]

    assert paths == sorted(paths)
    assert {"agent/Dockerfile", "base/Dockerfile", "proxy/Dockerfile", "proxy/squid.conf"} <= set(paths)
    assert not any("__pycache__" in path or path.endswith("__init__.py") for path in paths)


def test_resource_missing_raises_agents_error():
    with pytest.raises(AgentsError) as caught:
        resources.resource("nope")

    assert caught.value.message == "bundled file 'nope' is missing from this installation"
    assert "build_zipapp.py" in caught.value.hint


def test_resource_finds_stub_helper():
    assert resources.resource("stub/ca-stub").is_file()


def test_walk_files_keeps_the_stub_packages_init():
    paths = {path for path, _ in resources.walk_files("stub")}

    assert {"ca-stub", "tmux.conf", "ca_stub/__init__.py", "ca_stub/paths.py", "ca_stub/cli.py"} <= paths


def dockerfiles() -> list[tuple[str, bytes]]:
    return [(path, data) for path, data in resources.walk_files("images") if path.endswith("Dockerfile")]


def test_dockerfiles_exist_for_every_image_dir():
    assert [path for path, _ in dockerfiles()] == ["agent/Dockerfile", "base/Dockerfile", "proxy/Dockerfile"]


@pytest.mark.parametrize(("path", "data"), dockerfiles(), ids=lambda value: value if isinstance(value, str) else "")
def test_dockerfile_declares_base_image_before_first_from(path, data):
    lines = [line.strip() for line in data.decode().splitlines()]
    arg_line = next((n for n, line in enumerate(lines) if line.split("=")[0] == "ARG BASE_IMAGE"), None)
    from_line = next(n for n, line in enumerate(lines) if line.upper().startswith("FROM "))

    assert arg_line is not None, f"{path} never declares ARG BASE_IMAGE"
    assert arg_line < from_line, f"{path}: ARG BASE_IMAGE must come before the first FROM"
    assert lines[from_line].startswith("FROM ${BASE_IMAGE}")


REPO_ROOT = Path(__file__).resolve().parents[2]


def packaged_files(package: str, source_dir: str) -> set[str]:
    """What pyproject's package-data globs put into a wheel (setuptools expands them with recursive glob)."""
    settings = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    root = REPO_ROOT / source_dir
    found = set()
    for pattern in settings["package-data"][package]:
        found |= {path for path in glob.glob(pattern, root_dir=root, recursive=True) if (root / path).is_file()}
    return found


def test_wheel_package_data_carries_every_bundled_image_file():
    assert packaged_files("agents._data.images", "images") == {path for path, _ in resources.walk_files("images")}


def test_wheel_package_data_carries_the_stub():
    assert packaged_files("agents._data.stub", "stub") == {path for path, _ in resources.walk_files("stub")}
