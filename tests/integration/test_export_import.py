"""`images export` / `images import`: the air-gapped hand-over of the whole image set."""

from __future__ import annotations

import json
import tarfile

from tests.integration.conftest import docker, image_id


def test_images_export_import_round_trip(built_images, cli, version, tmp_path):
    archive = tmp_path / "images.tar"
    result = cli("images", "export", str(archive))
    assert result.returncode == 0, result.output
    names = ("base", "copilot", "codex", "claude", "gemini", "all", "proxy")
    for name in names:
        assert f"exported coding-agents-{name}:{version}" in result.stdout

    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
    tags = {tag for entry in manifest for tag in entry.get("RepoTags") or []}
    assert {f"coding-agents-{name}:{version}" for name in names} <= tags

    # Lose an image, as on a fresh air-gapped machine, then bring it back from the archive.
    proxy_ref = f"coding-agents-proxy:{version}"
    original_id = image_id(proxy_ref)
    docker("rmi", proxy_ref)
    assert image_id(proxy_ref) is None
    result = cli("images", "import", str(archive))
    assert result.returncode == 0, result.output
    assert f"imported {proxy_ref}" in result.stdout
    assert image_id(proxy_ref) == original_id


def test_images_import_missing_file_is_clear_error(docker_engine, cli, tmp_path):
    result = cli("images", "import", str(tmp_path / "absent.tar"))
    assert result.returncode == 1
    assert "error: no such archive" in result.stderr
    assert "hint:" in result.stderr


def test_images_import_garbage_file_fails_cleanly(docker_engine, cli, tmp_path):
    bogus = tmp_path / "bogus.tar"
    bogus.write_text("not an image archive")
    result = cli("images", "import", str(bogus))
    assert result.returncode == 1
    assert "error: " in result.stderr
    assert "Traceback" not in result.stderr
