"""`coding-agents mcp list|show|approve|revoke` on a real git repository with its own .coding-agents/config.toml
and a user config in the tmp XDG_CONFIG_HOME."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from agents import cli, mcp
from tests.unit.gitrepos import init_repo

REPO_TEXT = """\
[mcp]
enable = ["microsoft-docs"]

[mcp_servers.keyed]
command = "keyed-mcp"
args = ["--token", "${API_TOKEN}"]

[mcp_servers.plain]
url = "https://plain.example/mcp"
"""
USER_TEXT = """\
[mcp]
enable = ["github"]

[mcp_servers.mine]
command = "my-mcp"
args = ["--fast"]
"""
KEYED = mcp.Server("keyed", command=("keyed-mcp",), args=("--token", "${API_TOKEN}"), source="repo")


@pytest.fixture
def repo(tmp_path) -> Path:
    path = init_repo(tmp_path / "api").resolve()
    (path / ".coding-agents").mkdir()
    (path / ".coding-agents" / "config.toml").write_text(REPO_TEXT)
    (path / "src").mkdir()
    return path


@pytest.fixture
def user_config() -> Path:
    path = Path(os.environ["XDG_CONFIG_HOME"]) / "coding-agents" / "config.toml"
    path.parent.mkdir(parents=True)
    path.write_text(USER_TEXT)
    return path


def approvals_file() -> Path:
    return Path(os.environ["XDG_CONFIG_HOME"]) / "coding-agents" / "mcp-approvals.json"


def run(*argv: str) -> int:
    return cli.main(["mcp", *argv], prog="coding-agents")


def listed(capsys, *argv: str) -> list[dict]:
    assert run("list", "--json", *argv) == 0
    return json.loads(capsys.readouterr().out)  # one document, whatever the number of servers


def test_list_json_every_source(repo, user_config, capsys):
    assert listed(capsys, str(repo)) == [
        {"name": "github", "source": "catalog", "runs_in": "sidecar", "target": "https://api.githubcopilot.com/mcp/",
         "secrets": "GITHUB_TOKEN", "status": "trusted"},
        {"name": "mine", "source": "user", "runs_in": "agent", "target": "my-mcp --fast", "secrets": "",
         "status": "trusted"},
        {"name": "keyed", "source": "repo", "runs_in": "sidecar", "target": "keyed-mcp --token ${API_TOKEN}",
         "secrets": "API_TOKEN", "status": "NOT APPROVED"},
        {"name": "plain", "source": "repo", "runs_in": "agent", "target": "https://plain.example/mcp", "secrets": "",
         "status": "no secrets"},
        # the repository enabled it: the repository's rules (no secret, so nothing to approve)
        {"name": "microsoft-docs", "source": "repo", "runs_in": "agent",
         "target": "https://learn.microsoft.com/api/mcp", "secrets": "", "status": "no secrets"},
    ]


def test_list_from_a_subfolder_is_the_repositorys(repo, user_config, capsys, monkeypatch):
    monkeypatch.chdir(repo / "src")

    assert [row["name"] for row in listed(capsys)] == ["github", "mine", "keyed", "plain", "microsoft-docs"]


def test_list_table(repo, capsys):
    assert run("list", str(repo)) == 0

    assert capsys.readouterr().out.splitlines() == [
        "NAME            SOURCE  RUNS_IN  SECRETS    STATUS        TARGET",
        "keyed           repo    sidecar  API_TOKEN  NOT APPROVED  keyed-mcp --token ${API_TOKEN}",
        "plain           repo    agent    -          no secrets    https://plain.example/mcp",
        "microsoft-docs  repo    agent    -          no secrets    https://learn.microsoft.com/api/mcp",
    ]


def test_list_nothing(tmp_path, capsys):
    repo = init_repo(tmp_path / "bare").resolve()

    assert run("list", str(repo)) == 0

    assert capsys.readouterr().out == f"no MCP servers for {repo} (enable some: docs/mcp-setup.md)\n"


def test_list_json_nothing_is_an_empty_list(tmp_path, capsys):
    repo = init_repo(tmp_path / "bare").resolve()

    assert listed(capsys, str(repo)) == []


def test_list_outside_a_repository(tmp_path, capsys):
    (tmp_path / "plain").mkdir()

    assert run("list", str(tmp_path / "plain")) == 1

    assert "is not inside a git repository" in capsys.readouterr().err


def test_list_with_a_broken_repo_config(repo, capsys):
    (repo / ".coding-agents" / "config.toml").write_text("[network]\nallow = ['x']\n")

    assert run("list", str(repo)) == 1

    assert capsys.readouterr().err.startswith(f"error: repository config {repo}/.coding-agents/config.toml: "
                                              "[network] is not allowed in a repository's config\n")


def test_list_a_catalog_server_enabled_twice_is_listed_once(repo, user_config, capsys):
    user_config.write_text('[mcp]\nenable = ["microsoft-docs"]\n')

    assert [row["name"] for row in listed(capsys, str(repo))].count("microsoft-docs") == 1


def test_show_prints_the_definition_and_its_hash(repo, capsys):
    assert run("show", "keyed", str(repo)) == 0

    assert json.loads(capsys.readouterr().out) == {
        "source": "repo", "definition": KEYED.definition(), "sha256": KEYED.digest, "secrets": ["API_TOKEN"],
        "status": "NOT APPROVED"}


def test_show_unknown_server(repo, capsys):
    assert run("show", "nope", str(repo)) == 1

    assert capsys.readouterr().err == (f"error: no MCP server named 'nope' for {repo}\n"
                                       f"hint: `coding-agents mcp list {repo}`\n")


def test_approve_pins_the_definition_then_list_and_show_say_approved(repo, capsys):
    assert run("approve", "keyed", str(repo)) == 0

    out = capsys.readouterr().out
    assert out == (json.dumps(KEYED.definition(), indent=2) + "\n"
                   f"approved keyed for {repo}: sha256 {KEYED.digest}\n"
                   "any change to its definition in the repository needs a new approval\n")
    assert json.loads(approvals_file().read_text()) == {str(repo): {"keyed": KEYED.digest}}
    assert stat.S_IMODE(approvals_file().stat().st_mode) == 0o600
    assert [row["status"] for row in listed(capsys, str(repo)) if row["name"] == "keyed"] == ["approved"]
    assert run("show", "keyed", str(repo)) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "approved"


def test_an_approval_does_not_survive_a_change_in_the_repository(repo, capsys):
    assert run("approve", "keyed", str(repo)) == 0
    capsys.readouterr()
    (repo / ".coding-agents" / "config.toml").write_text(REPO_TEXT.replace('"--token"', '"--token", "--leak"'))

    assert [row["status"] for row in listed(capsys, str(repo)) if row["name"] == "keyed"] == ["NOT APPROVED"]
    assert json.loads(approvals_file().read_text()) == {str(repo): {"keyed": KEYED.digest}}  # the old pin stays


def test_approve_then_the_session_selection_takes_it(repo):
    assert run("approve", "keyed", str(repo)) == 0

    selection = mcp.select_servers((), (), mcp.load_repo_config(repo), mcp.load_approvals(repo))

    assert "keyed" in [server.name for server in selection.servers]
    assert selection.unapproved == ()


@pytest.mark.parametrize(("name", "source"), [("github", "catalog"), ("mine", "user")])
def test_approve_a_trusted_server_is_refused(repo, user_config, capsys, name, source):
    assert run("approve", name, str(repo)) == 1

    assert capsys.readouterr().err == (f"error: {name} comes from your {source}, which is trusted already\n"
                                       "hint: only a repository's own servers need an approval; sessions get this "
                                       "one as it is\n")
    assert not approvals_file().exists()


def test_revoke(repo, capsys):
    run("approve", "keyed", str(repo))
    capsys.readouterr()

    assert run("revoke", "keyed", str(repo)) == 0

    assert capsys.readouterr().out == f"revoked the approval of keyed for {repo}\n"
    assert json.loads(approvals_file().read_text()) == {}
    assert mcp.load_approvals(repo) == {}


def test_revoke_without_an_approval(repo, capsys):
    assert run("revoke", "keyed", str(repo)) == 1

    assert capsys.readouterr().err == (f"error: keyed has no approval for {repo}\n"
                                       f"hint: `coding-agents mcp list {repo}` shows each server's status\n")


def test_mcp_without_a_verb_prints_help(capsys):
    assert run() == 0

    assert "approve" in capsys.readouterr().out


def test_list_keeps_a_long_target_on_one_short_line(repo, capsys):
    long_args = ", ".join(f'"--option-{n}"' for n in range(20))
    (repo / ".coding-agents" / "config.toml").write_text(
        f'[mcp_servers.long]\ncommand = "long-mcp"\nargs = ["multi\\nline", {long_args}]\n')

    (row,) = listed(capsys, str(repo))

    full = "long-mcp multi line " + " ".join(f"--option-{n}" for n in range(20))
    assert row["target"] == full[:57] + "..."
