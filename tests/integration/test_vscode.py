"""`coding-agents code NAME`: the attach URI and per-image config VS Code's Dev Containers reads."""

from __future__ import annotations

import json
import os
import shutil

from tests.integration.conftest import ENGINE, docker, launched_name


def test_code_prints_uri_and_writes_attach_config_without_vscode(cli, repo, user_home, tmp_path):
    name = launched_name(cli("launch-agent", "shell", str(repo), "--network-proxy", "restricted"))
    # A PATH without a `code` binary: the command prints what to open instead.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for program in (ENGINE, "git", "sh"):
        os.symlink(shutil.which(program), bin_dir / program)

    result = cli("code", name, env={"PATH": str(bin_dir)})

    assert result.returncode == 0, result.output
    uri = result.stdout.splitlines()[0]
    assert uri.startswith("vscode-remote://attached-container+") and uri.endswith("/workspace")
    hex_part = uri.split("+", 1)[1].split("/", 1)[0]
    container = json.loads(bytes.fromhex(hex_part))["containerName"]
    assert container == ("/" + name if ENGINE == "docker" else name)
    # The URI names a container that really runs, as the engine reports its name (the extension asks it).
    assert docker("inspect", "--format", "{{.Name}}", name).stdout.decode().strip() == container
    assert "`code` is not on PATH" in result.stdout

    image = docker("inspect", "--format", "{{.Config.Image}}", name).stdout.decode().strip()
    # The extension looks the config up by the image the engine reports (Podman's localhost/NAME).
    config_file = (user_home / ".config" / "Code" / "User" / "globalStorage" / "ms-vscode-remote.remote-containers"
                   / "imageConfigs" / (image.replace(":", "%3a").replace("/", "%2f") + ".json"))
    assert json.loads(config_file.read_text()) == {"remoteUser": "agent", "workspaceFolder": "/workspace"}
    # The user and folder it names are the container's own.
    assert docker("exec", name, "id", "-un").stdout.decode().strip() == "agent"
    assert docker("exec", name, "pwd").stdout.decode().strip() == "/workspace"
    # The extension drives `docker` unless told otherwise: under Podman the setting it needs is said.
    setting = f'VS Code setting needed (podman): "dev.containers.dockerPath": "{bin_dir / "podman"}"'
    assert (ENGINE == "podman") == any(line.startswith(setting) for line in result.stdout.splitlines()), result.stdout
    assert (ENGINE == "podman") == ("dockerPath" in result.stdout)


def test_code_runs_the_code_cli_when_present(cli, repo, tmp_path):
    name = launched_name(cli("launch-agent", "shell", str(repo), "--network-proxy", "restricted"))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "code-args"
    fake_code = bin_dir / "code"
    fake_code.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {record}\n')
    fake_code.chmod(0o755)

    result = cli("code", name, env={"PATH": f"{bin_dir}:{os.environ['PATH']}"})

    assert result.returncode == 0, result.output
    args = record.read_text().splitlines()
    assert args[0] == "--folder-uri"
    assert args[1].startswith("vscode-remote://attached-container+")
