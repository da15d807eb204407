"""Integration fixtures: a real Docker engine, and our zipapp driven like a user drives it.

Without an engine these tests fail (not skip): a skipped integration test is a test not run.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYZ = ROOT / "dist" / "coding-agents.pyz"
TEST_LABEL = "coding-agents.test-run"
RUN_ID = uuid.uuid4().hex[:10]


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def docker_engine() -> str:
    """The engine's version; fails the test run when no engine answers."""
    done = subprocess.run(
        ["docker", "version", "--format", "{{.Server.Version}}"], capture_output=True, text=True, timeout=60
    )
    if done.returncode != 0:
        pytest.fail(
            "no Docker engine answers (run the suite through scripts/test.sh, which starts one): "
            + done.stderr.strip(),
            pytrace=False,
        )
    return done.stdout.strip()


@pytest.fixture(scope="session")
def pyz() -> Path:
    if not PYZ.is_file():
        pytest.fail(f"{PYZ} is missing: run `python3 build_zipapp.py` (scripts/test.sh does)", pytrace=False)
    return PYZ


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@pytest.fixture(scope="session")
def user_home(tmp_path_factory) -> Path:
    """A throwaway home with a config file, as a user of this machine would write it."""
    home = tmp_path_factory.mktemp("home")
    config_dir = home / ".config" / "coding-agents"
    config_dir.mkdir(parents=True)
    lines = ["[images]"]
    ca_cert = os.environ.get("CODING_AGENTS_TEST_CA_CERT")
    if ca_cert:
        lines.append(f"ca_cert = {json.dumps(ca_cert)}")
    (config_dir / "config.toml").write_text("\n".join(lines) + "\n")
    return home


@pytest.fixture(scope="session")
def cli_env(user_home) -> dict[str, str]:
    env = dict(os.environ)
    # Keep pex's unpacked venv cache where it was, so each run doesn't re-extract it.
    env.setdefault("PEX_ROOT", os.path.join(os.path.expanduser("~"), ".cache", "pex"))
    env["HOME"] = str(user_home)
    env.pop("XDG_CONFIG_HOME", None)
    env.pop("CODING_AGENTS_CONFIG", None)
    return env


@pytest.fixture(scope="session")
def cli(pyz, cli_env):
    """Run dist/coding-agents.pyz with arguments, the way a user would from a shell."""

    def run(*args: str, env: dict[str, str] | None = None, timeout: float = 1800, cwd=None) -> CliResult:
        done = subprocess.run(
            [str(pyz), *args],
            capture_output=True,
            text=True,
            env={**cli_env, **(env or {})},
            timeout=timeout,
            cwd=cwd,
        )
        return CliResult(done.returncode, done.stdout, done.stderr)

    return run


@pytest.fixture(scope="session")
def version(cli) -> str:
    return cli("--version").stdout.split()[-1]


@pytest.fixture(scope="session")
def built_images(docker_engine, cli, version):
    """Build every image through our CLI once per session (fast when the layer cache is warm)."""
    result = cli("images", "build", "all")
    assert result.returncode == 0, result.output
    return result


def docker(*args: str, check: bool = True, input: bytes | None = None, timeout: float = 600):
    done = subprocess.run(["docker", *args], capture_output=True, input=input, timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed: {done.stderr.decode(errors='replace')}")
    return done


def image_id(ref: str) -> str | None:
    done = docker("image", "inspect", "--format", "{{.Id}}", ref, check=False)
    return done.stdout.decode().strip() if done.returncode == 0 else None


@pytest.fixture
def throwaway_images():
    """Refs a test creates; removed afterwards along with anything carrying this run's label."""
    refs: list[str] = []
    yield refs
    if refs:
        docker("rmi", "--force", *refs, check=False)
    leftover = docker("images", "--quiet", "--filter", f"label={TEST_LABEL}={RUN_ID}", check=False)
    ids = leftover.stdout.decode().split()
    if ids:
        docker("rmi", "--force", *ids, check=False)
