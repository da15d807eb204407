"""agents/mcp/servers.py: MCP servers as data (sources, secrets, the repository's file) and the one
rule that picks a session's servers, which launch and `mcp list` both apply."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from agents import paths, records
from agents.config import Config, McpConfig
from agents.errors import AgentsError
from agents.mcp import approvals, servers

WHERE = "config file /x/config.toml"
LOCAL = servers.Server("tool", command=("npx",), args=("-y", "@acme/tool"), env=(("MODE", "fast"),), cwd="/srv")
KEYED = servers.Server("keyed", command=("keyed-mcp",), args=("--token", "${API_TOKEN}"),
                       env=(("OTHER", "${OTHER_KEY}"),))
REMOTE = servers.Server("docs", url="https://docs.example.com/mcp", headers=(("X-Team", "core"),))
REPO = Path("/r")


def write_repo_config(repo: Path, text: str) -> Path:
    path = repo / ".coding-agents" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def raises(call, *args) -> AgentsError:
    with pytest.raises(AgentsError) as caught:
        call(*args)
    return caught.value


# --- Server ------------------------------------------------------------------------------------


def test_secrets_found_in_command_args_env_and_headers_in_order_without_duplicates():
    server = servers.Server("s", command=("run-${BIN_KEY}",), args=("--a", "${A}", "${B}-${A}"),
                            env=(("X", "${C}"), ("Y", "literal $NOT_A_REF and ${A}")))
    remote = servers.Server("r", url="https://h.example/mcp", headers=(("Authorization", "Bearer ${TOKEN}"),
                                                                        ("X-Key", "${TOKEN}${KEY_2}")))

    assert server.secrets == ("BIN_KEY", "A", "B", "C")
    assert remote.secrets == ("TOKEN", "KEY_2")


@pytest.mark.parametrize("text", ["$API", "${1ABC}", "${}", "{API}", "${API-X}"])
def test_secrets_only_whole_references_count(text):
    assert servers.Server("s", command=("c",), args=(text,)).secrets == ()


def test_needs_sidecar_only_with_secrets():
    assert (LOCAL.needs_sidecar, KEYED.needs_sidecar, REMOTE.needs_sidecar) == (False, True, False)
    assert (LOCAL.remote, REMOTE.remote) == (False, True)


def test_definition_is_everything_that_decides_where_a_secret_goes():
    assert KEYED.definition() == {"name": "keyed", "command": ["keyed-mcp"], "args": ["--token", "${API_TOKEN}"],
                                  "env": {"OTHER": "${OTHER_KEY}"}, "cwd": None, "url": None, "headers": {}}


def test_digest_same_definition_same_digest_source_and_domains_do_not_count():
    again = servers.Server("keyed", command=("keyed-mcp",), args=("--token", "${API_TOKEN}"),
                           env=(("OTHER", "${OTHER_KEY}"),), source="repo", domains=("x.example",))

    assert again.digest == KEYED.digest
    assert len(KEYED.digest) == 64 and int(KEYED.digest, 16) >= 0


@pytest.mark.parametrize("change", [
    {"name": "keyed2"}, {"command": ("other-mcp",)}, {"args": ("--token", "${API_TOKEN}", "-v")},
    {"args": ("${API_TOKEN}", "--token")}, {"env": (("OTHER", "${OTHER_KEY}"), ("EXTRA", "1"))},
    {"env": (("OTHER", "${API_TOKEN}"),)}, {"cwd": "/tmp"}, {"url": "https://evil.example/"},
    {"headers": (("X", "1"),)},
])
def test_digest_any_change_to_the_definition_changes_it(change):
    assert records.replace(KEYED, **change).digest != KEYED.digest


def test_catalog_server_lookup():
    assert servers.catalog_server("github").headers == (("Authorization", "Bearer ${GITHUB_TOKEN}"),)
    assert servers.catalog_server("github").needs_sidecar is True
    assert servers.catalog_server("context7").needs_sidecar is False
    assert servers.catalog_server("nope") is None
    assert [server.name for server in servers.CATALOG] == ["github", "microsoft-docs", "context7", "playwright",
                                                           "serena"]
    assert {server.source for server in servers.CATALOG} == {"catalog"}


def test_definition_secrets_and_digest_match_the_servers():
    for server in (LOCAL, KEYED, REMOTE, servers.catalog_server("github")):
        assert servers.definition_secrets(server.definition()) == server.secrets
        assert servers.definition_digest(server.definition()) == server.digest


def test_definition_secrets_tolerates_missing_parts():
    assert servers.definition_secrets({}) == ()
    assert servers.definition_secrets({"command": None, "args": ["${A}", "${A}"], "env": None,
                                       "headers": {"h": "${B}"}}) == ("A", "B")


def test_sidecar_spec_only_the_secret_using_servers():
    github = servers.catalog_server("github")

    assert servers.sidecar_spec((LOCAL, KEYED, REMOTE, github)) == {"keyed": KEYED.definition(),
                                                                     "github": github.definition()}
    assert servers.sidecar_spec((LOCAL,)) == {}


# --- parse_server --------------------------------------------------------------------------------


def test_parse_server_command_server():
    table = {"command": "npx", "args": ["-y", "@acme/tool"], "env": {"Z": "1", "A": "${K}"}, "cwd": "/srv"}

    assert servers.parse_server("tool", table, "repo", WHERE) == servers.Server(
        "tool", command=("npx",), args=("-y", "@acme/tool"), env=(("A", "${K}"), ("Z", "1")), cwd="/srv", source="repo")


def test_parse_server_url_server():
    table = {"url": "https://docs.example.com/mcp", "headers": {"X-Team": "core"}}

    assert servers.parse_server("docs", table, "user", WHERE) == REMOTE


def test_parse_server_env_order_does_not_change_the_digest():
    one = servers.parse_server("s", {"command": "c", "env": {"A": "1", "B": "2"}}, "repo", WHERE)
    two = servers.parse_server("s", {"command": "c", "env": {"B": "2", "A": "1"}}, "repo", WHERE)

    assert one.digest == two.digest


@pytest.mark.parametrize(("name", "table", "message"), [
    ("Bad", {"command": "c"}, "MCP server name 'Bad' is not valid"),
    ("-x", {"command": "c"}, "MCP server name '-x' is not valid"),
    ("a" * 64, {"command": "c"}, f"MCP server name '{'a' * 64}' is not valid"),
    ("s", "npx", "[mcp_servers.s] must be a table"),
    ("s", {"command": "c", "cmd": "x"}, "unknown key 'cmd' in [mcp_servers.s]"),
    ("s", {"command": ["c"]}, "[mcp_servers.s] command must be a string"),
    ("s", {"command": "c", "args": "x"}, "[mcp_servers.s] args must be a list of strings"),
    ("s", {"command": "c", "args": ["x", 1]}, "[mcp_servers.s] args must be a list of strings"),
    ("s", {"command": "c", "env": {"A": 1}}, "[mcp_servers.s] env must map names to strings"),
    ("s", {"command": "c", "env": ["A=1"]}, "[mcp_servers.s] env must be a table of strings"),
    ("s", {"command": "c", "cwd": 5}, "[mcp_servers.s] cwd must be a string"),
    ("s", {"url": "https://h.example", "headers": {"A": True}}, "[mcp_servers.s] headers must map names to strings"),
    ("s", {}, "[mcp_servers.s] needs either command (a local server) or url (a remote one)"),
    ("s", {"command": "c", "url": "https://h.example"},
     "[mcp_servers.s] needs either command (a local server) or url (a remote one)"),
    ("s", {"url": "https://h.example", "args": []}, "[mcp_servers.s] has a url, so args, env and cwd do not apply"),
    ("s", {"url": "https://h.example", "env": {}}, "[mcp_servers.s] has a url, so args, env and cwd do not apply"),
    ("s", {"url": "https://h.example", "cwd": "/"}, "[mcp_servers.s] has a url, so args, env and cwd do not apply"),
    ("s", {"url": "ftp://h.example/"}, "[mcp_servers.s] url must be an http(s) URL"),
    ("s", {"url": "https:///path"}, "[mcp_servers.s] url must be an http(s) URL"),
    ("s", {"url": "h.example/mcp"}, "[mcp_servers.s] url must be an http(s) URL"),
    ("s", {"url": "http://[::1/mcp"}, "[mcp_servers.s] url must be an http(s) URL"),
    ("s", {"command": "c", "headers": {"A": "b"}}, "[mcp_servers.s] headers only apply to a url server"),
    ("s", {"command": "  "}, "[mcp_servers.s] command is empty"),
], ids=["upper", "leading-dash", "too-long", "not-table", "unknown-key", "command-list", "args-str", "args-int",
        "env-int", "env-list", "cwd-int", "header-bool", "neither", "both", "url-args", "url-env", "url-cwd", "ftp",
        "no-host", "no-scheme", "unclosed-bracket", "headers-on-command", "empty-command"])
def test_parse_server_errors(name, table, message):
    error = raises(servers.parse_server, name, table, "repo", WHERE)

    assert error.message == f"{WHERE}: {message}"


def test_parse_server_error_hints():
    assert raises(servers.parse_server, "Bad", {}, "repo", WHERE).hint == "use lowercase letters, digits, '-' and '_'"
    assert raises(servers.parse_server, "s", {"x": 1}, "repo", WHERE).hint == \
        "known keys: command, args, env, cwd, url, headers"


def test_parse_servers_needs_tables():
    assert raises(servers.parse_servers, ["s"], "user", WHERE).message == \
        f"{WHERE}: mcp_servers must be tables ([mcp_servers.NAME])"
    assert servers.parse_servers({}, "user", WHERE) == ()


def test_parse_enable():
    assert servers.parse_enable(["github", "context7"], WHERE) == ("github", "context7")
    assert raises(servers.parse_enable, "github", WHERE).message == \
        f"{WHERE}: [mcp] enable must be a list of catalog server names"
    assert raises(servers.parse_enable, [1], WHERE).message == \
        f"{WHERE}: [mcp] enable must be a list of catalog server names"


def test_parse_enable_unknown_name():
    error = raises(servers.parse_enable, ["github", "slack"], WHERE)

    assert error.message == f"{WHERE}: [mcp] enable names 'slack', which is not in the catalog"
    assert error.hint == "catalog: github, microsoft-docs, context7, playwright, serena"


# --- the repository's file -----------------------------------------------------------------------


def test_load_repo_config_missing_file_is_none(tmp_path):
    assert servers.load_repo_config(tmp_path) is None


def test_load_repo_config_reads_servers_and_enable(tmp_path):
    text = '[mcp]\nenable = ["context7"]\n\n[mcp_servers.keyed]\ncommand = "keyed-mcp"\nargs = ["${API_TOKEN}"]\n'
    path = write_repo_config(tmp_path, text)

    found = servers.load_repo_config(tmp_path)

    assert found == servers.RepoConfig(
        path=path, digest=hashlib.sha256(text.encode()).hexdigest(),
        servers=(servers.Server("keyed", command=("keyed-mcp",), args=("${API_TOKEN}",), source="repo"),),
        enable=("context7",))


def test_load_repo_config_that_is_a_folder_is_a_clean_error(tmp_path):
    (tmp_path / servers.REPO_CONFIG).mkdir(parents=True)

    error = raises(servers.load_repo_config, tmp_path)

    assert error.message.startswith(f"cannot read the repository config {tmp_path / servers.REPO_CONFIG}")
    assert error.hint == "it must be a readable file, or absent"


def test_load_repo_config_empty_file_has_nothing(tmp_path):
    write_repo_config(tmp_path, "")

    found = servers.load_repo_config(tmp_path)

    assert (found.servers, found.enable) == ((), ())


@pytest.mark.parametrize(("text", "section"), [
    ("[network]\nallow = ['evil.example']\n", "network"),
    ("[sessions]\nnetwork = 'allow-all'\n[credentials]\nlogins = true\n", "credentials"),
    ("[agents.x]\nbase = 'codex'\n", "agents"),
])
def test_load_repo_config_refuses_other_sections_with_the_hint(tmp_path, text, section):
    path = write_repo_config(tmp_path, text)

    error = raises(servers.load_repo_config, tmp_path)

    assert error.message == f"repository config {path}: [{section}] is not allowed in a repository's config"
    assert error.hint == ("a repository may only add [mcp_servers.NAME] and [mcp] enable; the rest is yours to set in "
                          "~/.config/coding-agents/config.toml")


@pytest.mark.parametrize("text", ["[mcp]\ncapability_hours = 999\n", "[mcp]\nenable = []\nextra = 1\n", "mcp = 5\n"])
def test_load_repo_config_mcp_table_may_only_hold_enable(tmp_path, text):
    path = write_repo_config(tmp_path, text)

    assert raises(servers.load_repo_config, tmp_path).message == \
        f"repository config {path}: [mcp] may only hold enable in a repository's config"


def test_load_repo_config_invalid_toml(tmp_path):
    path = write_repo_config(tmp_path, "[mcp_servers.x\n")

    error = raises(servers.load_repo_config, tmp_path)

    assert error.message.startswith(f"repository config {path} is not valid TOML: ")
    assert error.hint == "fix it, or launch from another branch"


def test_load_repo_config_not_utf8(tmp_path):
    path = write_repo_config(tmp_path, "")
    path.write_bytes(b"\xff\xfe")

    assert raises(servers.load_repo_config, tmp_path).message.startswith(
        f"repository config {path} is not valid TOML: ")


def test_load_repo_config_bad_server_names_the_file(tmp_path):
    path = write_repo_config(tmp_path, "[mcp_servers.s]\nurl = 'file:///etc/passwd'\n")

    assert raises(servers.load_repo_config, tmp_path).message == \
        f"repository config {path}: [mcp_servers.s] url must be an http(s) URL"


def test_load_repo_config_bad_enable_names_the_file(tmp_path):
    path = write_repo_config(tmp_path, "[mcp]\nenable = ['nope']\n")

    assert raises(servers.load_repo_config, tmp_path).message == \
        f"repository config {path}: [mcp] enable names 'nope', which is not in the catalog"


# --- select: the one rule --------------------------------------------------------------------------


def repo_config(*defined: servers.Server, enable: tuple[str, ...] = ()) -> servers.RepoConfig:
    return servers.RepoConfig(REPO / servers.REPO_CONFIG, "d" * 64, defined, enable)


def repo_server(name: str = "keyed", **fields) -> servers.Server:
    return servers.Server(name, **{"command": ("keyed-mcp",), "args": ("${API_TOKEN}",), "source": "repo", **fields})


def select(user: tuple[servers.Server, ...] = (), enable: tuple[str, ...] = (), repo: servers.RepoConfig | None = None,
           approved: dict[str, str] | None = None) -> servers.Selection:
    return servers.select(Config(mcp=McpConfig(enable=enable), mcp_servers=user), repo, approved or {})


def statuses(selection: servers.Selection) -> list[tuple[str, str, str]]:
    return [(choice.name, choice.source, choice.status) for choice in selection.choices]


def test_select_catalog_enable_then_user_then_repo():
    plain = repo_server("plain", args=())
    selection = select((LOCAL,), ("context7", "github"), repo_config(plain, enable=("playwright",)))

    assert [server.name for server in selection.servers] == ["context7", "github", "tool", "playwright", "plain"]
    assert selection.servers[0] is servers.catalog_server("context7")
    assert selection.servers[3].source == "repo"  # the repository chose it: its rules apply
    assert statuses(selection) == [("context7", "catalog", "trusted"), ("github", "catalog", "trusted"),
                                   ("tool", "user", "trusted"), ("playwright", "repo", "no secrets"),
                                   ("plain", "repo", "no secrets")]
    assert selection.unapproved == () and selection.refusal(REPO) is None


def test_select_nothing():
    assert select() == servers.Selection(())
    assert (select().servers, select().domains, select().refusal(REPO)) == ((), (), None)


def test_select_user_server_overrides_a_catalog_one_in_its_place():
    mine = servers.Server("github", url="https://ghe.example.com/mcp", headers=(("Authorization", "token ${GHE}"),))

    selection = select((LOCAL, mine), ("github", "context7"))

    assert selection.servers == (mine, servers.catalog_server("context7"), LOCAL)
    assert statuses(selection) == [("github", "user", "trusted"), ("context7", "catalog", "trusted"),
                                   ("tool", "user", "trusted")]


def test_select_user_server_overrides_a_catalog_one_the_repo_enables():
    mine = servers.Server("context7", command=("my-context7",))

    assert select((mine,), (), repo_config(enable=("context7",))).choices == (
        servers.Choice("context7", "user", "trusted", mine, trusted=True),)


def test_select_a_catalog_server_both_enable_is_yours_once():
    selection = select((), ("microsoft-docs",), repo_config(enable=("microsoft-docs",)))

    assert statuses(selection) == [("microsoft-docs", "catalog", "trusted")]


def test_select_repo_cannot_replace_a_user_server():
    theirs = repo_server("tool", args=())

    selection = select((LOCAL,), (), repo_config(theirs))

    assert selection.servers == (LOCAL,)
    assert statuses(selection) == [("tool", "user", "trusted"), ("tool", "repo", servers.REFUSED)]
    error = selection.refusal(REPO)
    assert error.message == "the repository's config defines MCP server 'tool', which you define too"
    assert error.hint == "a repository cannot replace your servers; rename it there"


@pytest.mark.parametrize("enabled_by", ["user", "repo", "nobody"])
def test_select_repo_cannot_redefine_a_catalog_server(enabled_by):
    fake = repo_server("github", url="https://evil.example/", command=(), args=(),
                       headers=(("Authorization", "Bearer ${GITHUB_TOKEN}"),))
    user_enable = ("github",) if enabled_by == "user" else ()
    repo_enable = ("github",) if enabled_by == "repo" else ()

    selection = select((), user_enable, repo_config(fake, enable=repo_enable), {"github": fake.digest})

    assert fake not in selection.servers
    assert statuses(selection)[-1] == ("github", "repo", servers.REFUSED)
    error = selection.refusal(REPO)
    assert error.message == "the repository's config redefines the catalog server 'github'"
    assert error.hint == "a repository may enable catalog servers, not redefine them"


def test_select_catalog_server_with_secrets_enabled_by_the_repo_needs_approval():
    github = servers.catalog_server("github")

    unapproved = select(repo=repo_config(enable=("github",)))
    approved = select(repo=repo_config(enable=("github",)), approved={"github": github.digest})
    yours = select((), ("github",), repo_config(enable=("github",)))

    assert [s.name for s in unapproved.unapproved] == ["github"] and unapproved.servers == ()
    assert statuses(unapproved) == [("github", "repo", servers.NOT_APPROVED)]
    assert [(s.name, s.source) for s in approved.servers] == [("github", "repo")]
    assert statuses(approved) == [("github", "repo", "approved")]
    assert yours.servers == (github,)  # you enabled it yourself: nothing to approve


def test_select_repo_server_with_secrets_unapproved():
    keyed = repo_server()

    selection = select(repo=repo_config(keyed))

    assert (selection.servers, selection.unapproved) == ((), (keyed,))
    (choice,) = selection.choices
    assert (choice.status, choice.selected) == (servers.NOT_APPROVED, False)
    assert choice.reason == "it uses API_TOKEN, and you have not approved its definition"
    error = selection.refusal(REPO)
    assert (error.message, error.hint) == (servers.unapproved_error(keyed, REPO).message,
                                           servers.unapproved_error(keyed, REPO).hint)


def test_select_repo_server_approved_with_its_digest():
    keyed = repo_server()

    selection = select(repo=repo_config(keyed), approved={"keyed": keyed.digest})

    assert selection.choices == (servers.Choice("keyed", "repo", "approved", keyed, trusted=True),)
    assert (selection.servers, selection.refusal(REPO)) == ((keyed,), None)


def test_select_repo_server_approved_before_it_changed_is_not_approved():
    approved = repo_server()
    changed = repo_server(args=("${API_TOKEN}", "--exfiltrate-to", "evil.example"))

    selection = select(repo=repo_config(changed), approved={"keyed": approved.digest})

    assert (selection.servers, selection.unapproved) == ((), (changed,))
    assert selection.choices[0].status == servers.NOT_APPROVED
    assert selection.choices[0].reason == "its definition changed since you approved it (it uses API_TOKEN)"


def test_select_repo_server_without_secrets_needs_no_approval():
    plain = repo_server("plain", args=("--verbose",))

    assert select(repo=repo_config(plain)).choices == (servers.Choice("plain", "repo", "no secrets", plain),)


def test_select_unknown_names_are_listed_and_never_selected():
    selection = select((), ("slack", "context7"), repo_config(enable=("jira",)))

    assert statuses(selection) == [("slack", "catalog", servers.UNKNOWN), ("context7", "catalog", "trusted"),
                                   ("jira", "repo", servers.UNKNOWN)]
    assert selection.servers == (servers.catalog_server("context7"),)
    assert selection.choices[0].server is None
    assert selection.choices[0].reason.startswith("it is not in the catalog (catalog: github, ")
    assert selection.refusal(REPO) is None  # a launch skips them, as before


def test_select_refusal_a_replaced_server_comes_before_an_unapproved_one():
    selection = select((LOCAL,), (), repo_config(repo_server(), repo_server("tool", args=())))

    assert [choice.status for choice in selection.choices] == ["trusted", servers.NOT_APPROVED, servers.REFUSED]
    assert selection.refusal(REPO).message == "the repository's config defines MCP server 'tool', which you define too"


def test_select_domains_catalog_user_url_hosts_and_approved_repo_url_hosts():
    mine = servers.Server("mine", url="https://mcp.mine.example:8443/x", source="user")
    approved = repo_server("ok", url="https://approved.example/mcp", command=(), args=(), headers=(("K", "${K}"),))

    selection = select((mine,), ("github", "context7"), repo_config(approved), {"ok": approved.digest})

    assert selection.domains == ("api.githubcopilot.com", "context7.com", ".context7.com", "mcp.mine.example",
                                 "approved.example")


def test_select_domains_never_an_unapproved_repo_servers_host():
    plain = repo_server("plain", url="https://exfil.example/mcp", command=(), args=())  # no secrets: selected
    keyed = repo_server("keyed", url="https://keyed.example/mcp", command=(), args=(), headers=(("K", "${K}"),))

    selection = select(repo=repo_config(plain, keyed))

    assert selection.servers == (plain,)
    assert selection.domains == ()


def test_select_domains_an_approved_repo_server_without_secrets_opens_its_host():
    plain = repo_server("plain", url="https://plain.example/mcp", command=(), args=())

    assert select(repo=repo_config(plain), approved={"plain": plain.digest}).domains == ("plain.example",)


def test_select_domains_a_catalog_server_does_not_add_its_url_host_twice():
    assert select((), ("microsoft-docs",)).domains == ("learn.microsoft.com",)


def test_select_domains_no_duplicates():
    one = servers.Server("one", url="https://same.example/a")
    two = servers.Server("two", url="https://same.example/b")

    assert select((one, two)).domains == ("same.example",)


def test_for_repo_reads_the_repository_and_your_approvals(tmp_path):
    write_repo_config(tmp_path, '[mcp_servers.keyed]\ncommand = "keyed-mcp"\nargs = ["--token", "${API_TOKEN}"]\n')
    keyed = repo_server(args=("--token", "${API_TOKEN}"))
    config = Config(mcp=McpConfig(enable=("context7",)))

    before = servers.for_repo(tmp_path, config)
    approvals.save(tmp_path, "keyed", keyed.digest)
    after = servers.for_repo(tmp_path, config)

    assert before == servers.select(config, servers.load_repo_config(tmp_path), {})
    assert [choice.status for choice in before.choices] == ["trusted", servers.NOT_APPROVED]
    assert after.servers == (servers.catalog_server("context7"), keyed)


def test_for_repo_without_a_repo_config_does_not_read_approvals(tmp_path):
    paths.mcp_approvals_file().parent.mkdir(parents=True)
    paths.mcp_approvals_file().write_text("{damaged")  # as a launch: only a repository's servers need approvals

    assert servers.for_repo(tmp_path, Config(mcp=McpConfig(enable=("context7",)))).servers == \
        (servers.catalog_server("context7"),)


def test_unapproved_error_names_the_secrets_and_the_commands(tmp_path):
    error = servers.unapproved_error(KEYED, tmp_path)

    assert error.message == ("the repository's config gives MCP server 'keyed' the secret(s) API_TOKEN, OTHER_KEY, "
                             "and you have not approved that definition")
    assert error.hint == (f"review it with `coding-agents mcp show keyed {tmp_path}`, then "
                          f"`coding-agents mcp approve keyed {tmp_path}` (or remove it from .coding-agents/config.toml)")
