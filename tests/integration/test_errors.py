"""Bad input through the real CLI: one clear error line, a hint, a non-zero exit, no traceback."""

from __future__ import annotations


def assert_clean_error(result, fragment: str) -> None:
    assert result.returncode != 0
    lines = result.stderr.splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    assert fragment in errors[0]
    # The hint comes right after the error line.
    assert lines[lines.index(errors[0]) + 1].startswith("hint: "), result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_image_target(docker_engine, cli):
    assert_clean_error(cli("images", "build", "nosuch"), "unknown image 'nosuch'")


def test_ca_cert_that_is_not_pem(docker_engine, cli, tmp_path):
    bogus = tmp_path / "ca.crt"
    bogus.write_text("hello")
    assert_clean_error(cli("images", "build", "base", "--ca-cert", str(bogus)), "does not look like a PEM")


def test_engine_down_for_images_list(docker_engine, cli, tmp_path):
    result = cli("images", "list", env={"DOCKER_HOST": f"unix://{tmp_path}/none.sock"})
    assert_clean_error(result, "cannot reach the Docker engine")
    assert result.returncode == 1


def test_engine_down_with_debug_shows_traceback(docker_engine, cli, tmp_path):
    result = cli("--debug", "images", "list", env={"DOCKER_HOST": f"unix://{tmp_path}/none.sock"})
    assert result.returncode == 1
    assert "Traceback" in result.stderr
    assert "debug: run: docker images" in result.stderr


def test_broken_config_file(docker_engine, cli, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text("[images\nbase_image = 1\n")
    result = cli("images", "build", env={"CODING_AGENTS_CONFIG": str(config)})
    assert_clean_error(result, "is not valid TOML")


def test_missing_base_image_without_registry(docker_engine, cli):
    result = cli("images", "build", "proxy", "--base-image", "coding-agents-test-absent:never")
    assert_clean_error(result, "could not be pulled")
    assert "bootstrap-base" in result.stderr


def test_unknown_agent(cli):
    assert_clean_error(cli("launch-agent", "nosuch"), "unknown agent 'nosuch'")


def test_unknown_command_is_usage_error(cli):
    result = cli("frobnicate")
    assert result.returncode == 2
    assert "invalid choice" in result.stderr


def test_launch_refuses_a_url(cli):
    """Sessions copy a local clone in; nothing is ever fetched from inside (restricted mode included)."""
    for url in ("https://example.invalid/team/repo.git", "git@example.invalid:team/repo.git"):
        result = cli("launch-agent", "shell", url, "--network-proxy", "restricted")
        assert_clean_error(result, "is a URL")
