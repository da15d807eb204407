"""`images export` / `images import`: the air-gapped hand-over of the whole image set."""

from __future__ import annotations

import json
import os
import pty
import re
import tarfile

from agents.output import human_bytes
from tests.integration.conftest import RUN_ID, docker, image_id


def test_images_export_import_round_trip(built_images, cli, cli_env, pyz, version, tmp_path):
    archive = tmp_path / "images.tar"
    result = cli("images", "export", str(archive))
    assert result.returncode == 0, result.output
    names = ("base", "copilot", "codex", "claude", "gemini", "all", "proxy")
    for name in names:
        assert f"exported coding-agents-{name}:{version}" in result.stdout
    # Not a terminal: one line when it starts (with about how big), one when it is done.
    progress = [line for line in result.stderr.splitlines() if line.startswith(f"==> writing {len(names)} images")]
    assert len(progress) == 2, result.stderr
    assert progress[0].startswith(f"==> writing {len(names)} images to {archive} (about ") and progress[0].endswith("...")
    assert progress[1].startswith(f"==> writing {len(names)} images to {archive}: done, ")

    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
    tags = {tag for entry in manifest for tag in entry.get("RepoTags") or []}
    assert {f"coding-agents-{name}:{version}" for name in names} <= tags

    # Lose an image, as on a fresh air-gapped machine, then bring it back from the archive.
    proxy_ref = f"coding-agents-proxy:{version}"
    original_id = image_id(proxy_ref)
    # Only the name goes: sessions of other tests on this engine may be using the image right now
    # (a plain rmi is refused then), and they must keep it.
    keep = f"coding-agents-test-keep-proxy:{RUN_ID}"
    docker("tag", proxy_ref, keep)
    try:
        docker("rmi", proxy_ref)
        assert image_id(proxy_ref) is None
        # On a terminal: bytes done of the archive's size, redrawn in place while docker loads it.
        returncode, screen = on_a_terminal(pyz, cli_env, "images", "import", str(archive))
        assert returncode == 0, screen
        assert f"imported {proxy_ref}" in screen
        assert image_id(proxy_ref) == original_id
        total = human_bytes(archive.stat().st_size)
        redraws = re.findall(rf"\r\x1b\[K==> loading {re.escape(str(archive))}: [0-9.]+ [kMG]?B of {total} \(\d+%\)", screen)
        assert len(redraws) >= 2, screen[-2000:]
        assert f"==> loading {archive}: done, {total} in " in screen
    finally:
        if image_id(proxy_ref) is None:
            docker("tag", keep, proxy_ref)
        docker("rmi", keep, check=False)


def on_a_terminal(pyz, env: dict[str, str], *args: str) -> tuple[int, str]:
    """Run the CLI with a pseudo-terminal as its stdin, stdout and stderr; its exit status and all it wrote."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: becomes the CLI
        os.execve(str(pyz), [str(pyz), *args], env)
    chunks = []
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:  # the terminal closes when the CLI has exited
            break
        if not data:
            break
        chunks.append(data)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), b"".join(chunks).decode(errors="replace").replace("\r\n", "\n")


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
