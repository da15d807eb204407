"""agents/vscode.py: the Dev Containers attach URI and per-image config, against known-good values."""

from __future__ import annotations

import json

from agents import engine_program, vscode

# Built by hand from the documented form: hex of {"containerName":"/NAME"}, then the folder.
KNOWN_URI = (
    "vscode-remote://attached-container+"
    "7b22636f6e7461696e65724e616d65223a222f636c617564652d6170692d73657373696f6e2d31227d/workspace"
)


def test_attach_uri_matches_known_good_value():
    assert vscode.attach_uri("/claude-api-session-1") == KNOWN_URI  # Docker's inspect name


def test_attach_uri_keeps_podmans_name_without_a_slash():
    # Podman's inspect says "NAME", and `podman inspect /NAME` finds nothing.
    encoded = vscode.attach_uri("claude-api-session-1").split("+", 1)[1]
    assert json.loads(bytes.fromhex(encoded.split("/", 1)[0])) == {"containerName": "claude-api-session-1"}


def test_attach_uri_hex_decodes_to_container_name_json():
    encoded = vscode.attach_uri("/shell-x", "/workspace/sub").split("+", 1)[1]
    hex_part, folder = encoded.split("/", 1)
    assert json.loads(bytes.fromhex(hex_part)) == {"containerName": "/shell-x"}
    assert folder == "workspace/sub"


def test_image_config_path_is_url_encoded_lower_case(tmp_path):
    path = vscode.image_config_path("Coding-Agents-Claude:0.1.0", tmp_path)
    assert path == (tmp_path / "globalStorage" / "ms-vscode-remote.remote-containers" / "imageConfigs"
                    / "coding-agents-claude%3a0.1.0.json")


def test_code_user_dir_follows_xdg_config_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert vscode.code_user_dir() == tmp_path / "Code" / "User"


def test_write_image_config_sets_user_and_folder(tmp_path):
    path = vscode.write_image_config("coding-agents-shell:0.1.0", tmp_path)
    assert json.loads(path.read_text()) == {"remoteUser": "agent", "workspaceFolder": "/workspace"}


def test_write_image_config_keeps_the_users_other_settings(tmp_path):
    path = vscode.image_config_path("coding-agents-base:0.1.0", tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"extensions": ["ms-python.python"], "remoteUser": "root"}))

    vscode.write_image_config("coding-agents-base:0.1.0", tmp_path)

    assert json.loads(path.read_text()) == {
        "extensions": ["ms-python.python"], "remoteUser": "agent", "workspaceFolder": "/workspace",
    }


def test_write_image_config_replaces_unreadable_file(tmp_path):
    path = vscode.image_config_path("coding-agents-base:0.1.0", tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text("// comment-only JSONC the parser cannot read\n")

    vscode.write_image_config("coding-agents-base:0.1.0", tmp_path)

    assert json.loads(path.read_text())["remoteUser"] == "agent"


def test_image_config_path_of_a_podman_image_encodes_its_slash(tmp_path):
    path = vscode.image_config_path("localhost/coding-agents-base:0.1.0", tmp_path)
    assert path.name == "localhost%2fcoding-agents-base%3a0.1.0.json" and path.parent.name == "imageConfigs"


def test_docker_path_is_needed_under_podman_only(tmp_path):
    assert vscode.docker_path_needed("docker", "docker", tmp_path) is None
    assert vscode.docker_path_needed("podman", "/usr/bin/docker", tmp_path) is None  # podman-docker's script
    assert vscode.docker_path_needed("podman", "/usr/bin/podman", tmp_path) == "/usr/bin/podman"


def test_docker_path_already_in_the_users_settings_is_not_asked_again(tmp_path):
    settings = tmp_path / "settings.json"
    settings.write_text('{\n  // mine\n  "editor.tabSize": 2,\n  "dev.containers.dockerPath" : "podman",\n}\n')
    before = settings.read_bytes()

    assert vscode.configured_docker_path(tmp_path) == "podman"
    assert vscode.docker_path_needed("podman", "/usr/bin/podman", tmp_path) is None
    assert vscode.docker_path_needed("podman", "/opt/podman", tmp_path) is None  # (same file name)
    assert settings.read_bytes() == before  # the user's file is read, never written

    settings.write_text('{"dev.containers.dockerPath": "/usr/local/bin/other"}')
    assert vscode.docker_path_needed("podman", "/usr/bin/podman", tmp_path) == "/usr/bin/podman"


# --- `coding-agents code` under each engine (the engine faked at the runner) ---------------------

NAME = "shell-api-session-1"


def register_session(fp, program: str, reported_name: str, reported_image: str) -> None:
    from agents import images
    from agents.commands.code import CONTAINER_FORMAT
    from agents.session import query

    labels = {"coding-agents.session": NAME, "coding-agents.agent": "shell", "coding-agents.repo": "/home/me/api",
              "coding-agents.branch": "shell/session-1", "coding-agents.network": "restricted",
              "coding-agents.mode": "launch", "coding-agents.image-ref": images.image_ref("base")}
    by_name = query.PODMAN_CONTAINER_FORMAT if program == "podman" else query.CONTAINER_FORMAT
    fp.register([program, "inspect", "--type", "container", "--format", by_name, NAME, f"{NAME}-proxy"],
                returncode=1, stderr=f"Error: no such container {NAME}-proxy\n",
                stdout=json.dumps({"Id": "c" * 64, "State": {"Status": "running"},
                                   "Config": {"Labels": labels}}) + "\n")
    fp.register([program, "inspect", "--format", "{{.State.Status}}", NAME], stdout="running\n")
    fp.register([program, "inspect", "--type", "container", "--format", CONTAINER_FORMAT, NAME],
                stdout=json.dumps({"name": reported_name, "image": reported_image}) + "\n")


def attached(stdout: str) -> dict:
    hex_part = stdout.splitlines()[0].split("+", 1)[1].split("/", 1)[0]
    return json.loads(bytes.fromhex(hex_part))


def test_code_under_podman_names_the_container_and_image_as_podman_does_and_the_setting(fp, capsys, monkeypatch,
                                                                                      fake_which):
    from agents import cli

    monkeypatch.setattr(engine_program, "_chosen", "podman")
    fake_which("podman")  # no `code`: printed, not opened
    register_session(fp, "podman", NAME, "localhost/coding-agents-base:0.1.0")

    assert cli.main(["code", NAME], prog="coding-agents") == 0

    out = capsys.readouterr().out
    assert attached(out) == {"containerName": NAME}
    user_dir = vscode.code_user_dir()
    configs = user_dir / "globalStorage" / vscode.EXTENSION_ID / "imageConfigs"
    config = configs / "localhost%2fcoding-agents-base%3a0.1.0.json"
    assert json.loads(config.read_text()) == {"remoteUser": "agent", "workspaceFolder": "/workspace"}
    setting = f'VS Code setting needed (podman): "dev.containers.dockerPath": "/usr/bin/podman" in {user_dir}'
    assert f"{setting}/settings.json" in out.splitlines()


def test_code_under_docker_keeps_dockers_slash_and_asks_no_setting(fp, capsys, fake_which):
    from agents import cli

    fake_which("docker")
    register_session(fp, "docker", "/" + NAME, "coding-agents-base:0.1.0")

    assert cli.main(["code", NAME], prog="coding-agents") == 0

    out = capsys.readouterr().out
    assert attached(out) == {"containerName": "/" + NAME}
    assert "dockerPath" not in out and "attach config: " in out
