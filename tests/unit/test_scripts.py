"""scripts/: --help runs nothing; install.sh's completion install and its PATH offer (lib.sh)."""

from __future__ import annotations

import os
import pty
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import build_zipapp
from agents.cli import shim_names

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPTS_DIR = REPO_ROOT / "scripts"


def shellcheck() -> str:
    return shutil.which("shellcheck") or str(Path(sys.executable).parent / "shellcheck")


@pytest.mark.parametrize("script", ["install.sh", "test.sh"])
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_script_help_prints_usage_and_runs_nothing(tmp_path, script, flag):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}  # no docker, no venv: nothing could run

    done = subprocess.run(["bash", str(SCRIPTS_DIR / script), flag], capture_output=True, text=True, env=env,
                          timeout=30)

    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # no `==> ...` progress: nothing was started
    assert f"scripts/{script}" in done.stdout
    assert not done.stdout.startswith("#!") and "set -euo" not in done.stdout


def test_install_help_names_every_flag():
    out = subprocess.run(["bash", str(SCRIPTS_DIR / "install.sh"), "--help"], capture_output=True, text=True,
                         timeout=30).stdout

    for flag in ("--ca-cert", "--no-images", "--add-to-path", "--no-path-prompt"):
        assert flag in out


def test_install_unknown_option_is_refused_before_anything_runs(tmp_path):
    done = subprocess.run(["bash", str(SCRIPTS_DIR / "install.sh"), "--frobnicate"], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}, timeout=30)

    assert done.returncode == 1
    assert done.stderr == "error: unknown option --frobnicate (see --help)\n"


def test_scripts_pass_shellcheck():
    done = subprocess.run([shellcheck(), "-x", *(str(SCRIPTS_DIR / name) for name in ("install.sh", "test.sh",
                                                                                      "lib.sh"))],
                          capture_output=True, text=True, cwd=REPO_ROOT, timeout=60)

    assert done.returncode == 0, done.stdout + done.stderr


# --- lib.sh: install_completion and offer_path ------------------------------------------------


def lib(function_call: str, home: Path, *, path: str = "/usr/bin:/bin", shell: str = "/bin/bash",
        **kwargs) -> subprocess.CompletedProcess:
    script = f'source "{SCRIPTS_DIR / "lib.sh"}"; {function_call}'
    env = {"PATH": path, "HOME": str(home), "SHELL": shell}
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env, timeout=30, **kwargs)


@pytest.fixture(scope="module")
def dist_shell(tmp_path_factory) -> Path:
    """dist/shell/ as build_zipapp.py writes it, which is what install.sh installs from."""
    target = tmp_path_factory.mktemp("dist") / "shell"
    build_zipapp.write_shims(target)
    return target


def test_install_shims_puts_every_bash_shim_in_the_bin_folder(tmp_path, dist_shell):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()

    done = lib(f'install_shims "{dist_shell}" "{bin_dir}"', tmp_path)

    assert done.returncode == 0, done.stderr
    assert sorted(path.name for path in bin_dir.iterdir()) == sorted(shim_names())
    assert all(os.access(path, os.X_OK) for path in bin_dir.iterdir())


def test_install_completion_puts_the_bash_file_under_every_name_and_zsh_in_site_functions(tmp_path, dist_shell):
    done = lib(f'install_completion "{dist_shell}/completion" "{dist_shell}" ""', tmp_path)

    assert done.returncode == 0, done.stderr
    share = tmp_path / ".local" / "share"
    bash_dir = share / "bash-completion" / "completions"
    assert sorted(path.name for path in bash_dir.iterdir()) == sorted(["coding-agents", *shim_names()])
    bash_text = (dist_shell / "completion" / "coding-agents.bash").read_text()
    assert all(path.read_text() == bash_text for path in bash_dir.iterdir())
    assert (share / "zsh" / "site-functions" / "_coding-agents").read_text() == (
        dist_shell / "completion" / "_coding-agents").read_text()
    assert f"fpath=({share}/zsh/site-functions $fpath)" in done.stderr


def test_install_sh_installs_from_what_build_zipapp_writes():
    text = (SCRIPTS_DIR / "install.sh").read_text()

    assert '"$VENV/bin/python" build_zipapp.py\n' in text
    assert 'install_shims "$ROOT/dist/shell" "$bin_dir"' in text
    assert 'install_completion "$ROOT/dist/shell/completion" "$ROOT/dist/shell" ' in text


def test_install_completion_under_a_prefix(tmp_path, dist_shell):
    prefix_share = tmp_path / "prefix" / "share"

    done = lib(f'install_completion "{dist_shell}/completion" "{dist_shell}" "{prefix_share}"', tmp_path)

    assert done.returncode == 0, done.stderr
    assert (prefix_share / "bash-completion" / "completions" / "run-claude").is_file()
    assert not (tmp_path / ".local").exists()


BIN = "/opt/ca/bin"
LINE = f'export PATH="{BIN}:$PATH"'


@pytest.mark.parametrize("choice", ["ask", "print"])
def test_offer_path_without_a_terminal_prints_the_line_and_edits_nothing(tmp_path, choice):
    done = lib(f"offer_path {BIN} {choice} </dev/null", tmp_path)

    assert done.returncode == 0, done.stderr
    assert done.stderr == (f"==> {BIN} is not on your PATH; add this line to {tmp_path}/.bashrc, "
                           f"then open a new shell:\n    {LINE}\n")
    assert not (tmp_path / ".bashrc").exists()


def test_offer_path_add_appends_once(tmp_path):
    (tmp_path / ".bashrc").write_text("alias ll='ls -l'\n")

    first = lib(f"offer_path {BIN} add", tmp_path)
    second = lib(f"offer_path {BIN} add", tmp_path)

    assert first.returncode == second.returncode == 0
    assert (tmp_path / ".bashrc").read_text() == (
        f"alias ll='ls -l'\n\n# added by coding-agents scripts/install.sh\n{LINE}\n")
    assert "already puts" in second.stderr


def test_offer_path_uses_zshrc_for_zsh_users(tmp_path):
    assert lib(f"offer_path {BIN} add", tmp_path, shell="/usr/bin/zsh").returncode == 0

    assert LINE in (tmp_path / ".zshrc").read_text()
    assert not (tmp_path / ".bashrc").exists()


def test_offer_path_says_nothing_when_already_on_path(tmp_path):
    done = lib(f"offer_path {BIN} add", tmp_path, path=f"/usr/bin:/bin:{BIN}")

    assert (done.returncode, done.stderr) == (0, "")
    assert not (tmp_path / ".bashrc").exists()


def offer_on_a_terminal(home: Path, answer: bytes) -> str:
    """Run offer_path with a pseudo-terminal as stdin and stdout, typing answer at the prompt."""
    controller, terminal = pty.openpty()
    script = f'source "{SCRIPTS_DIR / "lib.sh"}"; offer_path {BIN} ask'
    process = subprocess.Popen(["bash", "-c", script], stdin=terminal, stdout=terminal, stderr=terminal,
                               env={"PATH": "/usr/bin:/bin", "HOME": str(home), "SHELL": "/bin/bash"})
    os.close(terminal)
    seen = b""
    while b"[y/N]" not in seen:
        seen += os.read(controller, 1024)
    os.write(controller, answer)
    assert process.wait(timeout=30) == 0
    try:
        while chunk := os.read(controller, 1024):
            seen += chunk
    except OSError:  # the terminal closed with the process
        pass
    os.close(controller)
    return seen.decode()


def test_offer_path_on_a_terminal_adds_after_a_yes(tmp_path):
    shown = offer_on_a_terminal(tmp_path, b"y\n")

    assert f"{BIN} is not on your PATH. Add it in {tmp_path}/.bashrc? [y/N]" in shown
    assert LINE in (tmp_path / ".bashrc").read_text()


@pytest.mark.parametrize("answer", [b"\n", b"n\n", b"whatever\n"], ids=["enter", "no", "other"])
def test_offer_path_on_a_terminal_edits_nothing_without_a_yes(tmp_path, answer):
    shown = offer_on_a_terminal(tmp_path, answer)

    assert not (tmp_path / ".bashrc").exists()
    assert LINE in shown  # it still says what to add
