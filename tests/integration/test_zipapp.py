"""The one-file zipapp: portable, lazily loads cryptography, dispatches on its link name."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

from agents import catalog, cli
from tests.integration.conftest import ROOT, write_config


def test_zipapp_version(cli, version):
    result = cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"coding-agents {version}"


def test_zipapp_vendors_cryptography_for_x86_64_and_aarch64(pyz):
    with zipfile.ZipFile(pyz) as archive:
        names = archive.namelist()
    wheels = {name.split("/")[1] for name in names if name.startswith(".deps/cryptography-")}
    assert any("x86_64" in wheel for wheel in wheels), wheels
    assert any("aarch64" in wheel for wheel in wheels), wheels
    assert any(name.startswith(".deps/cffi-") for name in names)
    assert any(name.endswith("agents/_data/images/base/Dockerfile") for name in names)
    assert any(name.endswith("agents/_data/stub/ca-stub") for name in names)


def test_zipapp_imports_cryptography_only_on_demand(pyz, cli_env):
    code = (
        "import sys; from agents.cli import main\n"
        "try:\n    main(['images', 'build', '--help'])\nexcept SystemExit:\n    pass\n"
        "print('loaded' if 'cryptography' in sys.modules else 'not-loaded'); "
        "import cryptography.hazmat.primitives.ciphers.aead as aead; print(aead.AESGCM.__name__)"
    )
    done = subprocess.run(
        [str(pyz), "-c", code], env={**cli_env, "PEX_INTERPRETER": "1"}, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "not-loaded" in done.stdout
    assert "AESGCM" in done.stdout


def test_zipapp_symlink_named_like_a_shim_dispatches(pyz, cli_env, tmp_path):
    link = tmp_path / "run-claude"
    os.symlink(pyz, link)
    # bash exports the link's path as $_, which is how a link survives pex's launcher.
    done = subprocess.run(["bash", "-c", f"{link} --help"], env=cli_env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "usage: coding-agents run-agent" in done.stdout


def test_bash_shims_forward_to_the_zipapp(pyz, cli_env, tmp_path):
    # build_zipapp.py wrote dist/shell/ next to the zipapp: the one shim under every shim name.
    shims = pyz.parent / "shell"
    assert sorted(path.name for path in shims.iterdir() if path.is_file() and not path.suffix) == sorted(
        cli.shim_names())
    env = {**cli_env, "CODING_AGENTS": str(pyz)}
    done = subprocess.run([str(shims / "list-agents"), "--help"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "usage: coding-agents list-agents" in done.stdout
    for agent in catalog.AGENTS:
        done = subprocess.run([str(shims / f"run-{agent.name}"), "--help"], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert "usage: coding-agents run-agent" in done.stdout


def test_a_link_named_for_a_users_own_agent_runs_it_in_a_session(pyz, cli_env, repo, tmp_path):
    # `ln -s run-agent run-NAME` (docs/shims.md): a user's own [agents.NAME] gets its shim that way.
    home = tmp_path / "home"
    write_config(home, '[agents.says-bye]\nbase = "shell"\ncommand = ["sh", "-c", "echo bye-from-says-bye; exit 7"]\n')
    link = tmp_path / "bin" / "run-says-bye"
    link.parent.mkdir()
    os.symlink(pyz.parent / "shell" / "run-agent", link)
    env = {**cli_env, "HOME": str(home), "CODING_AGENTS": str(pyz)}

    done = subprocess.run([str(link), str(repo), "--network-proxy", "restricted"], env=env, capture_output=True,
                          text=True, timeout=300)

    assert done.returncode == 7, done.stdout + done.stderr  # the user's agent ran, in a real session
    assert "bye-from-says-bye" in done.stderr


def test_pip_install_gives_the_same_console_scripts(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    done = subprocess.run([*pip, str(ROOT)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    bin_dir = Path(venv / "bin")
    for script in ("coding-agents", *cli.shim_names()):  # setup.py derives them from the agents table
        assert (bin_dir / script).exists(), script
    shim = subprocess.run([str(bin_dir / "run-claude"), "--help"], capture_output=True, text=True)
    assert "usage: coding-agents run-agent" in shim.stdout
    # Bundled Dockerfiles are reachable from the installed package.
    code = "from agents.resources import walk_files; print(sorted(p for p, _ in walk_files('images/base')))"
    listed = subprocess.run([str(bin_dir / "python"), "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert "Dockerfile" in listed.stdout, listed.stderr


def test_the_fast_start_is_taken_with_xdg_cache_home_set(pyz, cli_env, tmp_path):
    """The zipapp's /bin/sh boot runs its installed venv directly when it finds it; pex installs
    it under the root baked into the zipapp, not under XDG_CACHE_HOME, so the two always agree."""
    home = tmp_path / "home"
    home.mkdir()
    env = {**cli_env, "HOME": str(home), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    env.pop("PEX_ROOT", None)
    first = subprocess.run([str(pyz), "--version"], env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr

    traced = subprocess.run(["sh", "-x", str(pyz), "--version"], env=env, capture_output=True, text=True, timeout=300)
    assert traced.returncode == 0 and traced.stdout.startswith("coding-agents "), traced.stderr
    execs = [line for line in traced.stderr.splitlines() if line.startswith("+ exec ")]
    assert execs and execs[-1].startswith(f"+ exec {home}/.cache/pex/venvs/"), execs  # the venv's own python
    assert not (tmp_path / "cache" / "pex").exists()
