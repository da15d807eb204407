"""The first launch that needs an image it does not have builds it, and says so before the wait:
which image, that this happens once, and about how long it takes."""

from __future__ import annotations

from tests.integration.conftest import RUN_ID, docker, image_id, launched_name


def test_first_launch_builds_the_missing_image_and_says_about_how_long(cli, repo, version):
    ref = f"coding-agents-proxy:{version}"
    keep = f"coding-agents-test-keep-proxy:{RUN_ID}"
    docker("tag", ref, keep)  # holds the layers: the build below is all cache, seconds instead of a minute
    try:
        docker("rmi", ref)
        assert image_id(ref) is None

        result = cli("launch-agent", "shell", str(repo), "--network-proxy", "squid")

        launched_name(result)
        assert f"==> building image {ref} (first launch, about 1 minute; later launches start at once)" \
            in result.stderr.splitlines(), result.stderr
        assert image_id(ref) is not None
        again = cli("launch-agent", "shell", str(repo), "--network-proxy", "squid", "--branch", "again")
        launched_name(again)
        assert "building image" not in again.stderr
    finally:
        if image_id(ref) is None:  # never leave the suite without its proxy image
            docker("tag", keep, ref)
        docker("rmi", keep, check=False)
