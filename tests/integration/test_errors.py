"""Bad input through the real CLI: one clear error line, a hint, a non-zero exit, no traceback."""

from __future__ import annotations

import pytest


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


def test_launch_of_an_unreachable_url_is_a_clean_error(cli):
    """A URL is cloned on the host first (test_remote_urls.py); one that cannot be is said so."""
    for url in ("https://example.invalid/team/repo.git", "git@example.invalid:team/repo.git"):
        result = cli("launch-agent", "shell", url, "--network-proxy", "restricted")
        assert_clean_error(result, "could not clone")


# --- a newcomer's mistakes: each one error line, a hint, the right exit code -------------------


def test_unknown_command_lists_only_public_commands(cli):
    result = cli("frobnicate")
    assert_clean_error(result, "invalid choice: 'frobnicate'")
    assert result.returncode == 2
    assert "run-agent" in result.stderr and "_reap" not in result.stderr and "_bridge" not in result.stderr


@pytest.mark.parametrize("value_args", [["--cpu", "abc"], ["--memory", "lots"], ["--cpu", "0"], ["--branch", ""],
                                        ["--name", ""], ["--prompt", ""], ["--allow-domain", ""]],
                         ids=["cpu-word", "memory-word", "cpu-zero", "branch-empty", "name-empty", "prompt-empty",
                              "allow-domain-empty"])
def test_bad_session_values_are_usage_errors(cli, tmp_path, value_args):
    result = cli("launch-agent", "shell", str(tmp_path), *value_args)
    assert_clean_error(result, value_args[0])
    assert result.returncode == 2


def write_bad_config(tmp_path, text: str | bytes):
    path = tmp_path / "config.toml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return {"CODING_AGENTS_CONFIG": str(path)}


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[network]\nallow = 'pypi.org'\n", "[network] allow must be a list, not a string"),
        ("[network]\nallow = ['pypi.org', 3]\n", "[network] allow must be a list of strings"),
        ("[network]\nsubnet_pool = 'lots'\n", "[network] subnet_pool = 'lots' is not an address range"),
        ("[sessions]\npids_limit = 0\n", "[sessions] pids_limit = 0 is too small"),
        ("[sessions]\npids_limit = -1\n", "[sessions] pids_limit = -1 is too small"),
        ("[sessions]\nmemory = ''\n", "[sessions] memory is empty"),
        ("[sessions]\ncpus = 0\n", "[sessions] cpus must be a number of cores"),
        ("[network]\nrequest_max_mb = 0\n", "[network] request_max_mb = 0"),
        (b"[images]\nbase_image = \"caf\xe9\"\n", "is not UTF-8 text"),
    ],
    ids=["allow-str", "allow-not-strings", "subnet-pool", "pids-zero", "pids-minus-one", "memory-empty", "cpus-zero",
         "request-zero", "not-utf8"],
)
def test_bad_config_is_one_clean_error_never_internal(cli, tmp_path, text, fragment):
    result = cli("launch-agent", "shell", str(tmp_path), env=write_bad_config(tmp_path, text))
    assert_clean_error(result, fragment)
    assert result.returncode == 1
    assert "internal error" not in result.stderr


def test_logs_of_an_unknown_session_is_our_error_not_dockers(docker_engine, cli):
    result = cli("logs", "nosuch-session-xyz")
    assert_clean_error(result, "no agent session named 'nosuch-session-xyz'")
    assert result.returncode == 1
    assert "No such container" not in result.stderr and "docker logs" not in result.stderr


@pytest.mark.parametrize("command", ["policy", "mcp", "secrets", "images"])
def test_sub_verb_help_is_the_same_as_dash_h(cli, command):
    bare, dash_h = cli(command), cli(command, "-h")
    assert (bare.returncode, dash_h.returncode) == (0, 0)
    assert bare.stdout == dash_h.stdout and bare.stdout.startswith(f"usage: coding-agents {command}")
    assert bare.stderr == ""


def test_no_command_is_the_same_as_dash_h(cli):
    bare, dash_h = cli(), cli("--help")
    assert (bare.returncode, bare.stdout, bare.stderr) == (0, dash_h.stdout, "")


def test_completion_helper_answers_from_the_zipapp(cli):
    result = cli("_complete", "--", "run-claude", "--network-proxy", "")
    assert result.returncode == 0, result.output
    assert result.stdout.split() == ["restricted", "squid", "allow-all"]
