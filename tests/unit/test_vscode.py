"""agents/vscode.py: the Dev Containers attach URI and per-image config, against known-good values."""

from __future__ import annotations

import json

from agents import vscode

# Built by hand from the documented form: hex of {"containerName":"/NAME"}, then the folder.
KNOWN_URI = (
    "vscode-remote://attached-container+"
    "7b22636f6e7461696e65724e616d65223a222f636c617564652d6170692d73657373696f6e2d31227d/workspace"
)


def test_attach_uri_matches_known_good_value():
    assert vscode.attach_uri("claude-api-session-1") == KNOWN_URI


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
