"""`coding-agents mcp list|show|approve|revoke` on a real git repository with its own .coding-agents/config.toml
and a user config in the tmp XDG_CONFIG_HOME; and `mcp list` against what a launch gets, both through
agents/mcp/servers.py's one selection rule."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from agents import catalog, cli, secrets
from agents.config import Config, McpConfig
from agents.errors import AgentsError
from agents.mcp import approvals, servers
from agents.session import checks
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
KEYED = servers.Server("keyed", command=("keyed-mcp",), args=("--token", "${API_TOKEN}"), source="repo")


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
         "secrets": "GITHUB_TOKEN", "status": "trusted", "selected": True, "reason": ""},
        {"name": "mine", "source": "user", "runs_in": "agent", "target": "my-mcp --fast", "secrets": "",
         "status": "trusted", "selected": True, "reason": ""},
        # the repository enabled it: the repository's rules (no secret, so nothing to approve)
        {"name": "microsoft-docs", "source": "repo", "runs_in": "agent",
         "target": "https://learn.microsoft.com/api/mcp", "secrets": "", "status": "no secrets", "selected": True,
         "reason": ""},
        {"name": "keyed", "source": "repo", "runs_in": "sidecar", "target": "keyed-mcp --token ${API_TOKEN}",
         "secrets": "API_TOKEN", "status": "NOT APPROVED", "selected": False,
         "reason": "it uses API_TOKEN, and you have not approved its definition"},
        {"name": "plain", "source": "repo", "runs_in": "agent", "target": "https://plain.example/mcp", "secrets": "",
         "status": "no secrets", "selected": True, "reason": ""},
    ]


def test_list_from_a_subfolder_is_the_repositorys(repo, user_config, capsys, monkeypatch):
    monkeypatch.chdir(repo / "src")

    assert [row["name"] for row in listed(capsys)] == ["github", "mine", "microsoft-docs", "keyed", "plain"]


def test_list_table(repo, capsys):
    assert run("list", str(repo)) == 0

    assert capsys.readouterr().out.splitlines() == [
        "NAME            SOURCE  RUNS_IN  SECRETS    STATUS        TARGET",
        "microsoft-docs  repo    agent    -          no secrets    https://learn.microsoft.com/api/mcp",
        "keyed           repo    sidecar  API_TOKEN  NOT APPROVED  keyed-mcp --token ${API_TOKEN}",
        "plain           repo    agent    -          no secrets    https://plain.example/mcp",
        "keyed: it uses API_TOKEN, and you have not approved its definition",
        f"a launch here refuses; review it with `coding-agents mcp show keyed {repo}`, then "
        f"`coding-agents mcp approve keyed {repo}` (or remove it from .coding-agents/config.toml)",
    ]


def test_list_table_without_refusals_has_no_notes(repo, capsys):
    assert run("approve", "keyed", str(repo)) == 0
    capsys.readouterr()

    assert run("list", str(repo)) == 0

    out = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in out] == ["NAME", "microsoft-docs", "keyed", "plain"]
    assert out[2].split()[4] == "approved"


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

    selection = servers.for_repo(repo, Config())

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
    assert approvals.load(repo) == {}


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


def test_list_a_repository_server_that_replaces_yours_is_refused(repo, user_config, capsys):
    (repo / ".coding-agents" / "config.toml").write_text('[mcp_servers.mine]\ncommand = "their-mcp"\n')

    rows = listed(capsys, str(repo))

    assert [(row["name"], row["source"], row["status"], row["selected"]) for row in rows] == [
        ("github", "catalog", "trusted", True), ("mine", "user", "trusted", True), ("mine", "repo", "REFUSED", False)]
    assert rows[2]["reason"] == "the repository's config defines MCP server 'mine', which you define too"
    assert run("show", "mine", str(repo)) == 0
    assert json.loads(capsys.readouterr().out)["source"] == "user"  # the one a session gets


def test_approve_a_refused_server_is_refused(repo, capsys):
    (repo / ".coding-agents" / "config.toml").write_text('[mcp_servers.github]\nurl = "https://evil.example/"\n')

    assert run("approve", "github", str(repo)) == 1

    assert capsys.readouterr().err == ("error: the repository's config redefines the catalog server 'github'\n"
                                       "hint: a repository may enable catalog servers, not redefine them\n")
    assert not approvals_file().exists()


# --- `mcp list` shows what the next launch gets --------------------------------------------------------

CLAUDE = catalog.get_agent("claude")
CHANGED_TEXT = REPO_TEXT.replace('"--token"', '"--token", "--leak"')
MINE = servers.Server("mine", command=("my-mcp",), args=("--fast",))
# name: (your config, the repository's file, its approvals before the run, (name, source, status) of each row)
SCENARIOS = {
    "yours only": (Config(mcp=McpConfig(enable=("github", "context7")), mcp_servers=(MINE,)), None, {},
                   [("github", "catalog", "trusted"), ("context7", "catalog", "trusted"), ("mine", "user", "trusted")]),
    "repository approved": (Config(mcp=McpConfig(enable=("github",))), REPO_TEXT, {"keyed": KEYED.digest},
                            [("github", "catalog", "trusted"), ("microsoft-docs", "repo", "no secrets"),
                             ("keyed", "repo", "approved"), ("plain", "repo", "no secrets")]),
    "repository unapproved": (Config(), REPO_TEXT, {},
                              [("microsoft-docs", "repo", "no secrets"), ("keyed", "repo", "NOT APPROVED"),
                               ("plain", "repo", "no secrets")]),
    "changed since approval": (Config(), CHANGED_TEXT, {"keyed": KEYED.digest},
                               [("microsoft-docs", "repo", "no secrets"), ("keyed", "repo", "NOT APPROVED"),
                                ("plain", "repo", "no secrets")]),
    "replaces yours": (Config(mcp_servers=(MINE,)), '[mcp_servers.mine]\ncommand = "their-mcp"\n', {},
                       [("mine", "user", "trusted"), ("mine", "repo", "REFUSED")]),
    "repository enables github": (Config(), '[mcp]\nenable = ["github", "context7"]\n', {},
                                  [("github", "repo", "NOT APPROVED"), ("context7", "repo", "no secrets")]),
    # only a Config made in code can name them (the config files refuse unknown names)
    "unknown names": (Config(mcp=McpConfig(enable=("slack", "context7"))), None, {},
                      [("slack", "catalog", "UNKNOWN"), ("context7", "catalog", "trusted")]),
    "nothing": (Config(), None, {}, []),
}


@pytest.fixture
def data_home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return tmp_path / "data"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_list_rows_agree_with_the_launch_plan(scenario, tmp_path, data_home, monkeypatch, capsys):
    config, repo_text, approved, expected = SCENARIOS[scenario]
    repo = init_repo(tmp_path / "api").resolve()
    if repo_text is not None:
        (repo / ".coding-agents").mkdir()
        (repo / ".coding-agents" / "config.toml").write_text(repo_text)
    for name, digest in approved.items():
        approvals.save(repo, name, digest)
    for secret in ("GITHUB_TOKEN", "API_TOKEN"):
        secrets.set_secret(secret, "x")  # so a launch gets as far as its MCP servers allow
    monkeypatch.setattr("agents.config.load_config", lambda *args, **kwargs: config)

    rows = listed(capsys, str(repo))
    selection = servers.for_repo(repo, config)

    assert [(row["name"], row["source"], row["status"]) for row in rows] == expected
    listed_names = [row["name"] for row in rows if row["selected"]]
    assert listed_names == [server.name for server in selection.servers]  # the shared rule
    refused = selection.refusal(repo)
    if refused is None:
        assert [server.name for server in checks.build_mcp(CLAUDE, repo, config).servers] == listed_names
        assert all(row["status"] != "NOT APPROVED" and row["status"] != "REFUSED" for row in rows)
    else:
        with pytest.raises(AgentsError) as caught:
            checks.build_mcp(CLAUDE, repo, config)
        assert (caught.value.message, caught.value.hint) == (refused.message, refused.hint)
        assert any(row["status"] in ("NOT APPROVED", "REFUSED") for row in rows)
