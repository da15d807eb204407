"""`images build all` through the zipapp leaves working images whose agent CLIs answer."""

from __future__ import annotations

import json

import pytest

from agents import catalog
from tests.integration.conftest import docker

PACKAGED = [agent for agent in catalog.AGENTS if agent.npm_package]


def test_images_build_all_tags_every_image(built_images, cli, version):
    for name in catalog.image_names():
        assert f"coding-agents-{name}:{version}" in built_images.stdout
    rows = json.loads(cli("images", "list", "--json").stdout)
    status = {row["image"]: row["status"] for row in rows}
    for name in catalog.image_names():
        assert status[f"coding-agents-{name}:{version}"] == "present"


def test_images_build_again_is_up_to_date(built_images, cli, version):
    result = cli("images", "build", "claude", "--quiet")
    assert result.returncode == 0, result.output
    assert f"up to date coding-agents-base:{version}" in result.stdout
    assert f"up to date coding-agents-claude:{version}" in result.stdout


def test_images_list_shows_sizes(built_images, cli, version):
    result = cli("images", "list")
    assert result.returncode == 0, result.output
    line = next(line for line in result.stdout.splitlines() if line.startswith(f"coding-agents-base:{version}"))
    assert "present" in line and "MB" in line


@pytest.mark.parametrize("agent", PACKAGED, ids=lambda a: a.name)
def test_agent_image_cli_answers_version(built_images, version, agent):
    done = docker("run", "--rm", f"coding-agents-{agent.name}:{version}", *agent.version_command)
    assert agent.npm_version in done.stdout.decode(), done.stdout


def test_all_image_has_every_agent_cli(built_images, version):
    # ca-stub knows the programs from programs.json, baked from the agents table at build time.
    done = docker("run", "--rm", f"coding-agents-all:{version}", "ca-stub", "versions")
    found = json.loads(done.stdout)
    for agent in PACKAGED:
        assert agent.npm_version in found[agent.name]
    assert found["git"].startswith("git version") and "version" in found["socat"]
    baked = docker("run", "--rm", f"coding-agents-base:{version}", "cat",
                   f"/usr/local/lib/coding-agents/stub/{catalog.STUB_DATA_FILE}")
    assert json.loads(baked.stdout) == catalog.stub_data()


def test_base_image_runs_as_agent_user_with_tools(built_images, version):
    script = "id -u; id -un; pwd; node --version; git --version; tmux -V; socat -V | grep -c version; python3 -V"
    done = docker("run", "--rm", f"coding-agents-base:{version}", "bash", "-c", script)
    lines = done.stdout.decode().splitlines()
    assert lines[0] == "1000"
    assert lines[1] == "agent"
    assert lines[2] == "/workspace"
    assert lines[3].startswith("v22.")
    assert lines[4].startswith("git version")
    assert lines[5].startswith("tmux")
    assert lines[7].startswith("Python 3")


def test_base_image_trusts_extra_ca_when_configured(built_images, version):
    import os

    ca_path = os.environ.get("CODING_AGENTS_TEST_CA_CERT")
    done = docker("run", "--rm", f"coding-agents-base:{version}", "bash", "-c",
                  "echo $NODE_EXTRA_CA_CERTS; ls /usr/local/share/ca-certificates/")
    out = done.stdout.decode()
    assert "/etc/ssl/certs/ca-certificates.crt" in out
    if ca_path:
        assert "coding-agents-extra.crt" in out


def test_proxy_image_config_parses(built_images, version):
    done = docker("run", "--rm", f"coding-agents-proxy:{version}", "squid", "-k", "parse", "-f", "/etc/squid/squid.conf")
    assert done.returncode == 0
    assert docker("run", "--rm", f"coding-agents-proxy:{version}", "id", "-un").stdout.decode().strip() == "proxy"


def test_images_carry_labels(built_images, version):
    done = docker("image", "inspect", "--format", "{{json .Config.Labels}}", f"coding-agents-claude:{version}")
    labels = json.loads(done.stdout)
    assert labels["coding-agents.managed"] == "true"
    assert labels["coding-agents.image"] == "claude"
    assert labels["coding-agents.version"] == version


def test_failed_build_leaves_no_container_and_keeps_the_good_image(built_images, cli, version):
    proxy = f"coding-agents-proxy:{version}"
    good = docker("image", "inspect", "--format", "{{.Id}}", proxy).stdout.decode().strip()
    before = set(docker("ps", "-aq").stdout.decode().split())

    # The base image runs as the agent user, so the proxy's `apt-get` step fails.
    result = cli("images", "build", "proxy", "--base-image", f"coding-agents-base:{version}", "--quiet")

    assert result.returncode == 1, result.output
    assert f"error: building {proxy} failed" in result.stderr
    assert set(docker("ps", "-aq").stdout.decode().split()) - before == set()  # --force-rm
    assert docker("image", "inspect", "--format", "{{.Id}}", proxy).stdout.decode().strip() == good
