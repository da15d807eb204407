"""`images bootstrap-base`: a base OS image from debootstrap, no registry involved."""

from __future__ import annotations

from tests.integration.conftest import RUN_ID, docker, image_id


def test_bootstrap_base_creates_small_labelled_image(docker_engine, cli, throwaway_images):
    ref = f"coding-agents-test-os:{RUN_ID}"
    throwaway_images.append(ref)
    result = cli("images", "bootstrap-base", "--tag", ref, timeout=900)
    assert result.returncode == 0, result.output
    assert f"created {ref}" in result.stdout
    assert image_id(ref)
    size = int(docker("image", "inspect", "--format", "{{.Size}}", ref).stdout)
    assert size < 120 * 1024**2, f"bootstrapped image is {size / 1024**2:.0f} MiB"
    labels = docker("image", "inspect", "--format", "{{index .Config.Labels \"coding-agents.managed\"}}", ref)
    assert labels.stdout.decode().strip() == "true"
    # A working Debian userland with apt configured for the mirror, and caches already gone.
    check = docker("run", "--rm", ref, "bash", "-c",
                   "cat /etc/debian_version; grep -c deb /etc/apt/sources.list; ls /var/cache/apt/ | grep -c bin || true")
    lines = check.stdout.decode().split()
    assert lines[0].startswith("12")
    assert int(lines[1]) >= 1
    assert lines[2] == "0"

    again = cli("images", "bootstrap-base", "--tag", ref)
    assert again.returncode == 0
    assert "already present" in again.stdout


def test_bootstrap_base_bad_mirror_fails_cleanly(docker_engine, cli, throwaway_images):
    ref = f"coding-agents-test-os-bad:{RUN_ID}"
    throwaway_images.append(ref)
    result = cli("images", "bootstrap-base", "--tag", ref, "--mirror", "http://127.0.0.1:9/debian", timeout=300)
    assert result.returncode == 1
    assert "error: `debootstrap" in result.stderr
    assert "--mirror" in result.stderr
    assert image_id(ref) is None
