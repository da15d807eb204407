"""agents/logins.py: the login bundle that goes into a session, and refreshed logins that come back."""

from __future__ import annotations

import base64
import json
import multiprocessing
import os
import random
import stat
import threading
import tomllib
from pathlib import Path

import pytest

from agents import bridges, catalog, logins, records
from agents.catalog import FirstRun, LoginFile
from agents.endpoints import Endpoints
from agents.errors import AgentsError
from agents.mcp import render, servers

NAME = "codex-api-session-1"
CODEX = catalog.get_agent("codex")
AUTH = "/home/agent/.codex/auth.json"
TRUST = '[projects."/workspace"]\ntrust_level = "trusted"\n'
T0 = 1_700_000_000_000_000_000  # an mtime in ns


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def write_file(path: Path, data: bytes, mtime_ns: int | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if mtime_ns is not None:
        os.utime(path, ns=(mtime_ns, mtime_ns))
    return path


def audit_events(state_home: Path) -> list[dict]:
    path = state_home / "coding-agents" / "bridges" / f"{NAME}.log"
    return [{k: v for k, v in json.loads(line).items() if k != "time"} for line in path.read_text().splitlines()]


# --- where things live ----------------------------------------------------------------------------


def test_host_path_under_home(tmp_path):
    assert logins.host_path(CODEX.login_files[0], tmp_path, {}) == tmp_path / ".codex" / "auth.json"


def test_host_path_moved_by_codex_home(tmp_path):
    environ = {"CODEX_HOME": "/srv/codex-state"}

    assert logins.host_path(CODEX.login_files[0], tmp_path, environ) == Path("/srv/codex-state/auth.json")


def test_host_path_empty_moving_variable_is_ignored(tmp_path):
    assert logins.host_path(CODEX.login_files[0], tmp_path, {"CODEX_HOME": ""}) == tmp_path / ".codex" / "auth.json"


def test_host_path_without_a_moving_variable_ignores_the_environment(tmp_path):
    login = LoginFile(".claude/.credentials.json", ".claude/.credentials.json")

    assert logins.host_path(login, tmp_path, {"CODEX_HOME": "/x"}) == tmp_path / ".claude" / ".credentials.json"


def test_container_path_is_under_the_agent_home():
    assert logins.container_path(".codex/auth.json") == AUTH


def test_tmpfs_args_one_private_tmpfs_per_login_dir():
    assert logins.tmpfs_args(CODEX) == [
        "--tmpfs", "/home/agent/.codex:rw,nosuid,nodev,size=64m,uid=1000,gid=1000,mode=0700",
    ]
    assert logins.tmpfs_args(catalog.get_agent("shell")) == []


def test_returned_files_are_the_secret_ones(tmp_path):
    agent = records.replace(CODEX, login_files=(
        *CODEX.login_files, LoginFile(".codex/config.toml", ".codex/config.toml", secret=False),
    ))

    assert logins.returned_files(agent, tmp_path, {}) == ((AUTH, str(tmp_path / ".codex" / "auth.json")),)
    assert logins.returned_files(agent, tmp_path, {"CODEX_HOME": "/srv/c"}) == ((AUTH, "/srv/c/auth.json"),)


# --- first-run answers ---------------------------------------------------------------------------

ONBOARDING = FirstRun(".claude.json", "json",
                      '{"hasCompletedOnboarding": true, "projects": {"/workspace": {"hasTrustDialogAccepted": true}}}')


def test_apply_first_run_json_deep_merges_and_keeps_user_keys():
    existing = json.dumps({
        "theme": "dark", "hasCompletedOnboarding": False,
        "projects": {"/other": {"x": 1}, "/workspace": {"allowedTools": ["Bash"], "hasTrustDialogAccepted": False}},
    }).encode()

    merged = json.loads(logins.apply_first_run(existing, ONBOARDING))

    assert merged == {
        "theme": "dark", "hasCompletedOnboarding": True,
        "projects": {"/other": {"x": 1}, "/workspace": {"allowedTools": ["Bash"], "hasTrustDialogAccepted": True}},
    }


@pytest.mark.parametrize("existing", [None, b"", b"{half", b"[1, 2]", b'"text"'],
                         ids=["none", "empty", "invalid", "list", "string"])
def test_apply_first_run_json_without_a_usable_file_is_the_answers(existing):
    assert json.loads(logins.apply_first_run(existing, ONBOARDING)) == json.loads(ONBOARDING.content)


def test_apply_first_run_json_joins_lists_without_duplicates():
    trusted = FirstRun(".copilot/config.json", "json", '{"trustedFolders": ["/workspace"]}')

    merged = json.loads(logins.apply_first_run(b'{"trustedFolders": ["/home/me", "/workspace"], "x": 1}', trusted))
    added = json.loads(logins.apply_first_run(b'{"trustedFolders": ["/home/me"]}', trusted))

    assert merged == {"trustedFolders": ["/home/me", "/workspace"], "x": 1}
    assert added == {"trustedFolders": ["/home/me", "/workspace"]}


def test_apply_first_run_json_reads_a_file_with_comment_lines():
    existing = b'// written by the CLI\n  // do not edit\n{"theme": "dark"}\n'

    assert json.loads(logins.apply_first_run(existing, ONBOARDING))["theme"] == "dark"


@pytest.mark.parametrize(
    ("data", "expected"),
    [(b'{"a": 1}', {"a": 1}), (b'// c\n{"a": 1}', {"a": 1}), (None, None), (b"", None), (b"[1]", None),
     (b"{half", None), (b"\xff", None)],
    ids=["object", "comments", "none", "empty", "list", "invalid", "binary"],
)
def test_load_json_object(data, expected):
    assert logins.load_json_object(data) == expected


def test_deep_merge_answers_win_tables_merge_lists_join():
    base = {"a": 1, "t": {"x": 1, "keep": True}, "l": [1, 2], "s": "text"}

    assert logins.deep_merge(base, {"a": 2, "t": {"x": 2}, "l": [2, 3], "s": {"now": "table"}}) == {
        "a": 2, "t": {"x": 2, "keep": True}, "l": [1, 2, 3], "s": {"now": "table"},
    }
    assert base == {"a": 1, "t": {"x": 1, "keep": True}, "l": [1, 2], "s": "text"}  # not modified


def test_apply_first_run_json_answer_replaces_a_non_table_value():
    merged = json.loads(logins.apply_first_run(b'{"projects": "oops"}', ONBOARDING))

    assert merged["projects"] == {"/workspace": {"hasTrustDialogAccepted": True}}


TOML_ANSWERS = FirstRun(".codex/config.toml", "toml", TRUST)


def test_apply_first_run_toml_without_a_file_is_the_answers():
    assert logins.apply_first_run(None, TOML_ANSWERS) == TRUST.encode()


def test_apply_first_run_toml_appends_and_keeps_existing_text():
    existing = b'# my settings\nmodel = "o3"\n\n[mcp_servers.docs]\ncommand = "docs-mcp"\n\n\n'

    result = logins.apply_first_run(existing, TOML_ANSWERS)

    assert result == b'# my settings\nmodel = "o3"\n\n[mcp_servers.docs]\ncommand = "docs-mcp"\n\n' + TRUST.encode()
    assert tomllib.loads(result.decode()) == {
        "model": "o3", "mcp_servers": {"docs": {"command": "docs-mcp"}},
        "projects": {"/workspace": {"trust_level": "trusted"}},
    }


def test_apply_first_run_toml_is_idempotent():
    once = logins.apply_first_run(b'model = "o3"\n', TOML_ANSWERS)

    assert logins.apply_first_run(once, TOML_ANSWERS) == once


def test_apply_first_run_toml_already_answered_is_left_alone():
    existing = b'[projects."/workspace"]\ntrust_level = "trusted"\nextra = 1\n# note\n'

    assert logins.apply_first_run(existing, TOML_ANSWERS) == existing


@pytest.mark.parametrize(
    "existing",
    [b'[projects."/workspace"]\ntrust_level = "untrusted"\n',
     b'projects = "none"\n',
     b'[projects]\n"/workspace" = { trust_level = "untrusted" }\n'],
    ids=["other-answer", "not-a-table", "inline-table"],
)
def test_apply_first_run_toml_never_redefines_what_the_file_has(existing):
    result = logins.apply_first_run(existing, TOML_ANSWERS)

    assert result == existing  # the user's file wins; appending would define a table twice
    tomllib.loads(result.decode())


def test_apply_first_run_toml_with_the_table_but_not_the_key_stays_valid_toml():
    existing = b'[projects."/workspace"]\nmodel = "o3"\n'

    result = logins.apply_first_run(existing, TOML_ANSWERS)

    tomllib.loads(result.decode())


def test_apply_first_run_toml_adds_a_sibling_table():
    existing = b'[projects."/home/me/api"]\ntrust_level = "trusted"\n'

    result = logins.apply_first_run(existing, TOML_ANSWERS)

    assert tomllib.loads(result.decode())["projects"] == {
        "/home/me/api": {"trust_level": "trusted"}, "/workspace": {"trust_level": "trusted"},
    }


def test_codex_first_run_answers_are_valid_toml():
    (answers,) = CODEX.first_run

    assert tomllib.loads(answers.content) == {"projects": {"/workspace": {"trust_level": "trusted"}}}


# --- reading the host's logins and the bundle ------------------------------------------------------


def test_read_host_logins_present_and_missing(tmp_path):
    auth = write_file(tmp_path / ".codex" / "auth.json", b'{"token": "t"}', T0)

    assert logins.read_host_logins(CODEX, tmp_path, {}) == [
        logins.HostLogin(CODEX.login_files[0], auth, b'{"token": "t"}', T0)
    ]
    assert logins.read_host_logins(CODEX, tmp_path / "elsewhere", {}) == [
        logins.HostLogin(CODEX.login_files[0], tmp_path / "elsewhere" / ".codex" / "auth.json", None, None)
    ]


def test_read_host_logins_follows_codex_home(tmp_path):
    auth = write_file(tmp_path / "codex-home" / "auth.json", b"{}", T0)

    found = logins.read_host_logins(CODEX, tmp_path / "home", {"CODEX_HOME": str(tmp_path / "codex-home")})

    assert [(item.path, item.data) for item in found] == [(auth, b"{}")]


def test_read_host_logins_refuses_a_huge_file(tmp_path):
    auth = write_file(tmp_path / ".codex" / "auth.json", b"x" * (logins.MAX_LOGIN_BYTES + 1))

    with pytest.raises(AgentsError) as caught:
        logins.read_host_logins(CODEX, tmp_path, {})

    assert caught.value.message == f"{auth} is larger than a login file should be ({logins.MAX_LOGIN_BYTES + 1} bytes)"
    assert caught.value.hint == "check that it is really your login; move it aside to log in again"


def test_read_host_logins_skips_a_huge_preferences_file(tmp_path):
    agent = records.replace(CODEX, login_files=(
        *CODEX.login_files, LoginFile(".codex/prefs.json", ".codex/prefs.json", secret=False),
    ))
    write_file(tmp_path / ".codex" / "auth.json", b"{}", T0)
    prefs = write_file(tmp_path / ".codex" / "prefs.json", b" " * (logins.MAX_LOGIN_BYTES + 1))

    found = logins.read_host_logins(agent, tmp_path, {})

    assert found[1] == logins.HostLogin(agent.login_files[1], prefs, None, None)
    assert found[0].data == b"{}"


def test_plan_bundle_files_env_and_watch_list(tmp_path):
    write_file(tmp_path / ".codex" / "auth.json", b'{"token": "t"}', T0)
    host_logins = logins.read_host_logins(CODEX, tmp_path, {})
    environ = {"OPENAI_API_KEY": "sk-host", "CODEX_API_KEY": "", "ANTHROPIC_API_KEY": "not-for-codex"}

    bundle = logins.plan_bundle(CODEX, host_logins, environ)

    assert bundle == {
        "files": [
            {"path": AUTH, "data": b64(b'{"token": "t"}'), "mtime_ns": T0},
            {"path": "/home/agent/.codex/config.toml", "data": b64(TRUST.encode())},
        ],
        "env": {"OPENAI_API_KEY": "sk-host"},
        "watch": [AUTH],
    }


def test_plan_bundle_without_host_logins_still_has_the_first_run_answers():
    bundle = logins.plan_bundle(CODEX, [], {})

    assert bundle == {
        "files": [{"path": "/home/agent/.codex/config.toml", "data": b64(TRUST.encode())}],
        "env": {},
        "watch": [AUTH],
    }


def test_plan_bundle_merges_first_run_answers_into_a_host_file(tmp_path):
    agent = records.replace(
        catalog.get_agent("claude"),
        login_files=(LoginFile(".claude/.credentials.json", ".claude/.credentials.json"),
                     LoginFile(".claude.json", ".claude.json", secret=False)),
        first_run=(ONBOARDING,),
        autonomy=(),
    )
    write_file(tmp_path / ".claude" / ".credentials.json", b'{"oauth": "x"}', T0)
    write_file(tmp_path / ".claude.json", b'{"theme": "light"}', T0)

    bundle = logins.plan_bundle(agent, logins.read_host_logins(agent, tmp_path, {}), {})

    credentials, config_file = bundle["files"]
    assert credentials == {"path": "/home/agent/.claude/.credentials.json", "data": b64(b'{"oauth": "x"}'), "mtime_ns": T0}
    assert config_file["path"] == "/home/agent/.claude.json"
    assert json.loads(base64.b64decode(config_file["data"])) == {
        "theme": "light", "hasCompletedOnboarding": True, "projects": {"/workspace": {"hasTrustDialogAccepted": True}},
    }
    assert bundle["watch"] == ["/home/agent/.claude/.credentials.json"]  # not the merged config file


SKIP_ONBOARDING = FirstRun(".x/config.json", "json", '{"onboarded": true}', only_when_logged_in=True)
TRUST_FOLDER = FirstRun(".x/config.json", "json", '{"trusted": ["/workspace"]}')
LOGGED_IN_ONLY = records.replace(
    catalog.get_agent("shell"), login_dirs=(".x",), login_files=(LoginFile(".x/token.json", ".x/token.json"),),
    login_env=("X_TOKEN",), first_run=(TRUST_FOLDER, SKIP_ONBOARDING),
)


def config_of(bundle: dict) -> dict:
    (found,) = [item for item in bundle["files"] if item["path"] == "/home/agent/.x/config.json"]
    return json.loads(base64.b64decode(found["data"]))


def test_plan_bundle_skips_onboarding_answers_without_a_login(tmp_path):
    bundle = logins.plan_bundle(LOGGED_IN_ONLY, logins.read_host_logins(LOGGED_IN_ONLY, tmp_path, {}), {"X_TOKEN": ""})

    assert config_of(bundle) == {"trusted": ["/workspace"]}


def test_plan_bundle_answers_onboarding_with_a_login_file(tmp_path):
    write_file(tmp_path / ".x" / "token.json", b"{}", T0)

    bundle = logins.plan_bundle(LOGGED_IN_ONLY, logins.read_host_logins(LOGGED_IN_ONLY, tmp_path, {}), {})

    assert config_of(bundle) == {"trusted": ["/workspace"], "onboarded": True}


def test_plan_bundle_answers_onboarding_with_a_login_variable(tmp_path):
    bundle = logins.plan_bundle(LOGGED_IN_ONLY, logins.read_host_logins(LOGGED_IN_ONLY, tmp_path, {}), {"X_TOKEN": "t"})

    assert config_of(bundle) == {"trusted": ["/workspace"], "onboarded": True}
    assert bundle["env"] == {"X_TOKEN": "t"}


# --- the summary line ---------------------------------------------------------------------------------


def test_summary_agent_without_logins_says_nothing():
    assert logins.summary(catalog.get_agent("shell"), [], {"env": {}}, True) == ""


def test_summary_host_logins_not_used():
    assert logins.summary(CODEX, [], {"env": {}}, False) == (
        "host logins not used: log in to OpenAI Codex CLI inside the session"
    )


def test_summary_lists_files_and_variables(tmp_path):
    auth = write_file(tmp_path / ".codex" / "auth.json", b"{}")
    host_logins = logins.read_host_logins(CODEX, tmp_path, {})
    bundle = logins.plan_bundle(CODEX, host_logins, {"OPENAI_API_KEY": "a", "CODEX_API_KEY": "b"})

    assert logins.summary(CODEX, host_logins, bundle, True) == (
        f"logins from the host: {auth}, $CODEX_API_KEY, $OPENAI_API_KEY"
    )


def test_summary_variables_only(tmp_path):
    host_logins = logins.read_host_logins(CODEX, tmp_path, {})
    bundle = logins.plan_bundle(CODEX, host_logins, {"OPENAI_API_KEY": "a"})

    assert logins.summary(CODEX, host_logins, bundle, True) == "logins from the host: $OPENAI_API_KEY"


def test_summary_no_host_login(tmp_path):
    host_logins = logins.read_host_logins(CODEX, tmp_path, {})

    assert logins.summary(CODEX, host_logins, logins.plan_bundle(CODEX, host_logins, {}), True) == (
        f"no host login for OpenAI Codex CLI ({tmp_path}/.codex/auth.json): "
        "log in inside; the login is then saved to the host"
    )


# --- deliver (docker faked) ---------------------------------------------------------------------------

RECEIVE = ["docker", "exec", "-i", "--user", "1000", NAME, "ca-stub", "logins-receive"]


def test_deliver_streams_the_bundle_on_stdin_never_in_argv(fp, tmp_path):
    write_file(tmp_path / ".codex" / "auth.json", b'{"token": "secret-token"}', T0)
    received = []
    fp.register(RECEIVE, stdout='{"files": 2, "env": 1}\n', stdin_callable=received.append)

    line = logins.deliver(NAME, CODEX, True, {"HOME": str(tmp_path), "OPENAI_API_KEY": "sk-secret"})

    assert [list(call) for call in fp.calls] == [RECEIVE]
    assert json.loads(received[0]) == {
        "files": [
            {"path": AUTH, "data": b64(b'{"token": "secret-token"}'), "mtime_ns": T0},
            {"path": "/home/agent/.codex/config.toml", "data": b64(TRUST.encode())},
        ],
        "env": {"OPENAI_API_KEY": "sk-secret"},
        "watch": [AUTH],
    }
    assert not any("secret" in arg for call in fp.calls for arg in call)
    assert line == f"logins from the host: {tmp_path}/.codex/auth.json, $OPENAI_API_KEY"


def test_deliver_without_host_logins_sends_only_first_run_answers(fp, tmp_path):
    write_file(tmp_path / ".codex" / "auth.json", b'{"token": "t"}', T0)
    received = []
    fp.register(RECEIVE, stdin_callable=received.append)

    line = logins.deliver(NAME, CODEX, False, {"HOME": str(tmp_path), "OPENAI_API_KEY": "sk-secret"})

    assert json.loads(received[0]) == {
        "files": [{"path": "/home/agent/.codex/config.toml", "data": b64(TRUST.encode())}],
        "env": {},
        "watch": [AUTH],
    }
    assert line == "host logins not used: log in to OpenAI Codex CLI inside the session"


def test_deliver_failure_names_the_session(fp, tmp_path):
    fp.register(RECEIVE, returncode=1, stderr="Error response from daemon: container is not running\n")

    with pytest.raises(AgentsError) as caught:
        logins.deliver(NAME, CODEX, True, {"HOME": str(tmp_path)})

    assert caught.value.message == f"could not hand the logins to {NAME}: Error response from daemon: container is not running"
    assert caught.value.hint == f"see `coding-agents logs {NAME}`"


# --- copy-back ------------------------------------------------------------------------------------------


@pytest.fixture
def host_auth(tmp_path) -> Path:
    return tmp_path / "home" / ".codex" / "auth.json"


def session_settings(host_auth: Path, **overrides) -> bridges.BridgeSettings:
    return bridges.BridgeSettings(**{"session": NAME, "agent": "codex", "repo": "/home/me/api",
                                     "login_files": ((AUTH, str(host_auth)),), **overrides})


def returned(data: bytes, mtime_ns: int, path: str = AUTH) -> dict:
    return {"path": path, "data": b64(data), "mtime_ns": mtime_ns}


def test_accept_returned_newer_container_file_is_saved(state_home, host_auth):
    write_file(host_auth, b'{"token": "old"}', T0)

    decision = logins.accept_returned(session_settings(host_auth), returned(b'{"token": "new"}', T0 + 10**9))

    assert decision == "saved"
    assert host_auth.read_bytes() == b'{"token": "new"}'
    assert host_auth.stat().st_mtime_ns == T0 + 10**9
    assert stat.S_IMODE(host_auth.stat().st_mode) == 0o600
    assert sorted(path.name for path in host_auth.parent.iterdir()) == ["auth.json"]  # no temporary file left
    assert audit_events(state_home) == [{"session": NAME, "decision": "saved", "kind": "login", "file": AUTH,
                                         "host": str(host_auth)}]


def test_accept_returned_never_writes_the_token_to_the_audit_log(state_home, host_auth):
    write_file(host_auth, b'{"token": "old"}', T0)

    logins.accept_returned(session_settings(host_auth), returned(b'{"token": "very-secret"}', T0 + 1))

    assert "very-secret" not in (state_home / "coding-agents" / "bridges" / f"{NAME}.log").read_text()


@pytest.mark.parametrize("offset", [-10**9, 0], ids=["older", "same-mtime"])
def test_accept_returned_older_or_same_age_keeps_the_host_copy(state_home, host_auth, offset):
    write_file(host_auth, b'{"token": "host"}', T0)

    decision = logins.accept_returned(session_settings(host_auth), returned(b'{"token": "container"}', T0 + offset))

    assert decision == "kept the host's copy: it is as new or newer"
    assert host_auth.read_bytes() == b'{"token": "host"}'
    assert host_auth.stat().st_mtime_ns == T0


def test_accept_returned_same_content_is_unchanged(state_home, host_auth):
    write_file(host_auth, b'{"token": "same"}', T0)

    decision = logins.accept_returned(session_settings(host_auth), returned(b'{"token": "same"}', T0 + 10**9))

    assert decision == "unchanged"
    assert host_auth.stat().st_mtime_ns == T0


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        (returned(b"{}", T0, path="/home/agent/.bashrc"), "refused: not a login file of this session"),
        ({"data": b64(b"{}"), "mtime_ns": T0}, "refused: not a login file of this session"),
        (returned(b'{"token": "ha', T0 + 1), "refused: not a JSON object (a half-written file?)"),
        (returned(b'["a", "list"]', T0 + 1), "refused: not a JSON object (a half-written file?)"),
        (returned(b"\xff\xfe", T0 + 1), "refused: not a JSON object (a half-written file?)"),
        ({"path": AUTH, "data": "not base64!", "mtime_ns": T0 + 1}, "refused: malformed request"),
        ({"path": AUTH, "data": b64(b"{}")}, "refused: malformed request"),
        ({"path": AUTH, "data": b64(b"{}"), "mtime_ns": "soon"}, "refused: malformed request"),
        (returned(b"{" + b" " * logins.MAX_LOGIN_BYTES + b"}", T0 + 1), "refused: too large"),
    ],
    ids=["other-path", "no-path", "half-written", "json-list", "not-utf8", "bad-base64", "no-mtime", "bad-mtime",
         "too-large"],
)
def test_accept_returned_refusals_leave_the_host_file_alone(state_home, host_auth, request_, expected):
    write_file(host_auth, b'{"token": "host"}', T0)

    assert logins.accept_returned(session_settings(host_auth), request_) == expected

    assert host_auth.read_bytes() == b'{"token": "host"}'
    assert audit_events(state_home)[-1]["decision"] == expected


def test_accept_returned_new_login_is_saved_when_the_host_has_none(state_home, host_auth):
    decision = logins.accept_returned(session_settings(host_auth), returned(b'{"token": "fresh"}', T0))

    assert decision == "saved (new login)"
    assert host_auth.read_bytes() == b'{"token": "fresh"}'
    assert stat.S_IMODE(host_auth.stat().st_mode) == 0o600
    assert stat.S_IMODE(host_auth.parent.stat().st_mode) == 0o700


def test_accept_returned_new_login_kept_inside_when_save_new_logins_is_off(state_home, host_auth):
    decision = logins.accept_returned(session_settings(host_auth, save_new_logins=False),
                                      returned(b'{"token": "fresh"}', T0))

    assert decision == "kept inside: [credentials] save_new_logins is off"
    assert not host_auth.exists()


def test_accept_returned_save_new_logins_off_still_refreshes_an_existing_login(state_home, host_auth):
    write_file(host_auth, b'{"token": "old"}', T0)

    decision = logins.accept_returned(session_settings(host_auth, save_new_logins=False),
                                      returned(b'{"token": "new"}', T0 + 1))

    assert decision == "saved"


def test_accept_returned_non_json_login_file_is_not_parsed(state_home, tmp_path):
    host = write_file(tmp_path / "home" / ".x" / "token", b"old", T0)
    settings = session_settings(host, login_files=(("/home/agent/.x/token", str(host)),))

    decision = logins.accept_returned(settings, returned(b"not json at all", T0 + 1, path="/home/agent/.x/token"))

    assert decision == "saved"
    assert host.read_bytes() == b"not json at all"


def race(settings: bridges.BridgeSettings, versions: list[int], start: threading.Barrier | None) -> None:
    if start is not None:
        start.wait()
    for version in versions:
        logins.accept_returned(settings, returned(json.dumps({"v": version}).encode(), T0 + version))


def test_accept_returned_concurrent_threads_leave_the_newest(state_home, host_auth):
    write_file(host_auth, b'{"v": 0}', T0)
    settings = session_settings(host_auth)
    versions = list(range(1, 41))
    random.Random(7).shuffle(versions)
    start = threading.Barrier(8)
    threads = [threading.Thread(target=race, args=(settings, versions[n::8], start)) for n in range(8)]

    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert json.loads(host_auth.read_bytes()) == {"v": 40}
    assert host_auth.stat().st_mtime_ns == T0 + 40
    assert sorted(path.name for path in host_auth.parent.iterdir()) == ["auth.json"]
    assert len(audit_events(state_home)) == 40


def test_accept_returned_concurrent_processes_leave_the_newest(state_home, host_auth):
    write_file(host_auth, b'{"v": 0}', T0)
    settings = session_settings(host_auth)
    versions = list(range(1, 25))
    random.Random(3).shuffle(versions)
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=race, args=(settings, versions[n::4], None)) for n in range(4)]

    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    assert [worker.exitcode for worker in workers] == [0, 0, 0, 0]
    assert json.loads(host_auth.read_bytes()) == {"v": 24}
    assert host_auth.stat().st_mtime_ns == T0 + 24
    assert sorted(path.name for path in host_auth.parent.iterdir()) == ["auth.json"]


# --- MCP servers in the CLI's own config file ------------------------------------------------------------

MCP_SERVERS = (servers.Server("tool", command=("npx",), args=("-y", "tool")),
               servers.Server("keyed", command=("k",), args=("${API_KEY}",)))


def rendered_for(agent: str) -> render.Rendered:
    return render.render(catalog.get_agent(agent).mcp_format, MCP_SERVERS)


def decoded(bundle: dict, path: str) -> bytes:
    (found,) = [item for item in bundle["files"] if item["path"] == path]
    return base64.b64decode(found["data"])


def test_apply_rendered_json_replaces_mcp_servers_and_keeps_the_rest():
    existing = json.dumps({"theme": "dark", "mcpServers": {"host-only": {"command": "/usr/local/bin/x"}},
                           "projects": {"/workspace": {"hasTrustDialogAccepted": True}}}).encode()

    merged = json.loads(logins.apply_rendered(existing, rendered_for("claude")))

    assert merged == {"theme": "dark", "projects": {"/workspace": {"hasTrustDialogAccepted": True}},
                      **render.render_claude(MCP_SERVERS)}


def test_apply_rendered_json_tolerates_copilots_comment_lines():
    existing = b'// User settings belong in config.json.\n// This file is managed automatically.\n{"banner": "never"}\n'

    merged = json.loads(logins.apply_rendered(existing, rendered_for("copilot")))

    assert merged == {"banner": "never", **render.render_copilot(MCP_SERVERS)}


@pytest.mark.parametrize("existing", [None, b"", b"[1, 2]", b"{half"], ids=["none", "empty", "not-object", "broken"])
def test_apply_rendered_json_without_a_usable_file_is_ours(existing):
    assert json.loads(logins.apply_rendered(existing, rendered_for("gemini"))) == render.render_gemini(MCP_SERVERS)


def test_apply_rendered_toml_appends_to_the_file():
    rendered = rendered_for("codex")

    joined = logins.apply_rendered(TRUST.encode() + b"\n\n", rendered)

    assert joined == (TRUST + "\n" + rendered.content).encode()
    assert tomllib.loads(joined.decode()) == {"projects": {"/workspace": {"trust_level": "trusted"}},
                                              **tomllib.loads(rendered.content)}


@pytest.mark.parametrize("existing", [None, b""], ids=["none", "empty"])
def test_apply_rendered_toml_without_a_file_is_ours(existing):
    rendered = rendered_for("codex")

    assert logins.apply_rendered(existing, rendered) == rendered.content.encode()


@pytest.mark.parametrize("existing", ['[mcp_servers.host]\ncommand = "x"\n', 'mcp_servers = {}\n'],
                         ids=["table", "inline"])
def test_apply_rendered_toml_refuses_a_file_that_has_mcp_servers(existing):
    with pytest.raises(AgentsError) as caught:
        logins.apply_rendered(existing.encode(), rendered_for("codex"))

    assert caught.value.message == ".codex/config.toml already has [mcp_servers] tables"
    assert caught.value.hint == "report this: first-run answers should not hold MCP servers"


def test_plan_bundle_codex_mcp_servers_go_after_the_first_run_answers():
    rendered = rendered_for("codex")

    bundle = logins.plan_bundle(CODEX, [], {}, rendered)

    assert bundle["files"] == [{"path": "/home/agent/.codex/config.toml",
                                "data": b64((TRUST + "\n" + rendered.content).encode())}]
    assert bundle["watch"] == [AUTH]


# Gemini's switches for telemetry and update checks (verified against 0.61), in every mode.
GEMINI_QUIET = {"privacy": {"usageStatisticsEnabled": False}, "telemetry": {"enabled": False},
                "general": {"enableAutoUpdate": False, "enableAutoUpdateNotification": False}}


def test_plan_bundle_rendered_merges_into_the_host_file_and_drops_its_mtime(tmp_path):
    gemini = catalog.get_agent("gemini")
    write_file(tmp_path / ".gemini" / "settings.json",
               b'{"security": {"auth": {"selectedType": "oauth-personal"}}, "mcpServers": {"host": {}}}', T0)
    write_file(tmp_path / ".gemini" / "oauth_creds.json", b'{"token": "t"}', T0)

    bundle = logins.plan_bundle(gemini, logins.read_host_logins(gemini, tmp_path, {}), {}, rendered_for("gemini"))

    (settings,) = [item for item in bundle["files"] if item["path"] == "/home/agent/.gemini/settings.json"]
    assert "mtime_ns" not in settings
    assert json.loads(base64.b64decode(settings["data"])) == {
        "security": {"auth": {"selectedType": "oauth-personal"}}, **render.render_gemini(MCP_SERVERS),
        **GEMINI_QUIET}  # in every mode
    (creds,) = [item for item in bundle["files"] if item["path"] == "/home/agent/.gemini/oauth_creds.json"]
    assert creds["mtime_ns"] == T0  # the login files keep theirs
    assert "/home/agent/.gemini/settings.json" not in bundle["watch"]


def test_plan_bundle_rendered_merges_into_claudes_first_run_file(tmp_path):
    claude = catalog.get_agent("claude")
    write_file(tmp_path / ".claude.json", b'{"theme": "light"}', T0)

    bundle = logins.plan_bundle(claude, logins.read_host_logins(claude, tmp_path, {}), {"ANTHROPIC_API_KEY": "k"},
                                rendered_for("claude"))

    paths = [item["path"] for item in bundle["files"]]
    assert paths == ["/home/agent/.claude/.claude.json"]
    assert "mtime_ns" not in bundle["files"][0]
    assert json.loads(decoded(bundle, "/home/agent/.claude/.claude.json")) == {
        "theme": "light", "projects": {"/workspace": {"hasTrustDialogAccepted": True}},
        "hasCompletedOnboarding": True, "bypassPermissionsModeAccepted": True,
        "customApiKeyResponses": {"approved": ["k"]},  # the key the session was given
        **render.render_claude(MCP_SERVERS)}


def test_plan_bundle_rendered_in_a_file_of_its_own():
    copilot = catalog.get_agent("copilot")

    bundle = logins.plan_bundle(copilot, [], {}, rendered_for("copilot"))

    assert [item["path"] for item in bundle["files"]] == ["/home/agent/.copilot/config.json",
                                                          "/home/agent/.copilot/mcp-config.json"]
    assert bundle["files"][1] == {"path": "/home/agent/.copilot/mcp-config.json",
                                  "data": b64(json.dumps(render.render_copilot(MCP_SERVERS), indent=2).encode())}


def test_deliver_sends_the_rendered_mcp_servers(fp, tmp_path):
    received = []
    fp.register(RECEIVE, stdin_callable=received.append)

    logins.deliver(NAME, CODEX, False, {"HOME": str(tmp_path)}, rendered=rendered_for("codex"))

    (config_file,) = json.loads(received[0])["files"]
    assert "ca-stub" in base64.b64decode(config_file["data"]).decode()
    assert "${API_KEY}" not in received[0] and "API_KEY" not in received[0]


# --- model endpoints and autonomy in the bundle -------------------------------------------------------

CLAUDE = catalog.get_agent("claude")
GEMINI = catalog.get_agent("gemini")
CLAUDE_JSON = "/home/agent/.claude/.claude.json"
GEMINI_SETTINGS = "/home/agent/.gemini/settings.json"
CODEX_CONFIG = "/home/agent/.codex/config.toml"
PROVIDER = {"model": "llama3", "model_provider": "ollama",
            "model_providers": {"ollama": {"name": "Ollama", "base_url": "http://host.coding-agents.internal:11434/v1"}}}
CODEX_ENDPOINTS = Endpoints(settings=((".codex/config.toml", "toml", PROVIDER),), hosts=("host.coding-agents.internal",))


def test_plan_bundle_merges_the_endpoint_variables_into_the_env():
    endpoints = Endpoints(env=(("ANTHROPIC_BASE_URL", "https://llm.example.com"), ("ANTHROPIC_MODEL", "m")))

    bundle = logins.plan_bundle(CLAUDE, [], {"ANTHROPIC_API_KEY": "k"}, endpoints=endpoints)

    assert bundle["env"] == {"ANTHROPIC_API_KEY": "k", "ANTHROPIC_BASE_URL": "https://llm.example.com",
                             "ANTHROPIC_MODEL": "m"}


def test_plan_bundle_endpoint_variable_wins_over_a_host_login_variable():
    endpoints = Endpoints(env=(("ANTHROPIC_API_KEY", "from-config"),))

    assert logins.plan_bundle(CLAUDE, [], {"ANTHROPIC_API_KEY": "from-host"}, endpoints=endpoints)["env"] == {
        "ANTHROPIC_API_KEY": "from-config"}


def test_plan_bundle_codex_host_settings_come_before_the_trust_table_and_the_mcp_servers():
    rendered = rendered_for("codex")

    bundle = logins.plan_bundle(CODEX, [], {}, rendered, endpoints=CODEX_ENDPOINTS)

    text = decoded(bundle, CODEX_CONFIG).decode()
    assert [item["path"] for item in bundle["files"]] == [CODEX_CONFIG]
    assert text.index('model = "llama3"') < text.index('[projects."/workspace"]') < text.index("[mcp_servers.")
    assert tomllib.loads(text) == {**PROVIDER, "projects": {"/workspace": {"trust_level": "trusted"}},
                                   **tomllib.loads(rendered.content)}


def test_plan_bundle_codex_host_settings_without_mcp_servers_parse_with_the_trust_table():
    bundle = logins.plan_bundle(CODEX, [], {}, endpoints=CODEX_ENDPOINTS)

    assert tomllib.loads(decoded(bundle, CODEX_CONFIG).decode()) == {
        **PROVIDER, "projects": {"/workspace": {"trust_level": "trusted"}}}


def test_apply_host_settings_toml_replaces_the_chosen_keys_and_keeps_the_rest():
    existing = b'model = "old"\napproval_policy = "never"\n'

    merged = tomllib.loads(logins.apply_host_settings(existing, "toml", {"model": "new"}).decode())

    assert merged == {"model": "new", "approval_policy": "never"}


@pytest.mark.parametrize("existing", [None, b"", b"[broken\n"], ids=["none", "empty", "not-toml"])
def test_apply_host_settings_toml_without_a_usable_file_is_the_chosen_keys(existing):
    assert tomllib.loads(logins.apply_host_settings(existing, "toml", PROVIDER).decode()) == PROVIDER


def test_apply_host_settings_json_deep_merges():
    existing = b'{"model": {"name": "old", "keep": 1}, "theme": "dark"}'

    merged = json.loads(logins.apply_host_settings(existing, "json", {"model": {"name": "new"}}))

    assert merged == {"model": {"name": "new", "keep": 1}, "theme": "dark"}


def test_plan_bundle_full_autonomy_accepts_claudes_bypass_dialog():
    bundle = logins.plan_bundle(CLAUDE, [], {}, autonomy="full")

    assert json.loads(decoded(bundle, CLAUDE_JSON))["bypassPermissionsModeAccepted"] is True


def test_plan_bundle_ask_autonomy_leaves_claudes_bypass_dialog_alone():
    bundle = logins.plan_bundle(CLAUDE, [], {}, autonomy="ask")

    assert json.loads(decoded(bundle, CLAUDE_JSON)) == {"projects": {"/workspace": {"hasTrustDialogAccepted": True}}}


@pytest.mark.parametrize("mode", catalog.AUTONOMY_MODES)
def test_plan_bundle_gemini_quiet_settings_in_every_mode(mode):
    bundle = logins.plan_bundle(GEMINI, [], {}, autonomy=mode)

    assert json.loads(decoded(bundle, GEMINI_SETTINGS)) == {**GEMINI_QUIET,
                                                            "telemetry": {"enabled": False}}


@pytest.mark.parametrize("mode", catalog.AUTONOMY_MODES)
def test_plan_bundle_gemini_quiet_settings_win_over_the_users_own(tmp_path, mode):
    write_file(tmp_path / ".gemini" / "settings.json",
               b'{"privacy": {"usageStatisticsEnabled": true}, "telemetry": {"enabled": true}, "theme": "Dracula"}', T0)

    bundle = logins.plan_bundle(GEMINI, logins.read_host_logins(GEMINI, tmp_path, {}), {}, autonomy=mode)

    assert json.loads(decoded(bundle, GEMINI_SETTINGS)) == {**GEMINI_QUIET,
                                                            "telemetry": {"enabled": False}, "theme": "Dracula"}


def test_deliver_sends_the_endpoint_variables_without_host_logins(fp, tmp_path):
    received = []
    fp.register(RECEIVE, stdin_callable=received.append)
    endpoints = Endpoints(env=(("OPENAI_BASE_URL", "https://llm.example.com/v1"),))

    logins.deliver(NAME, CODEX, False, {"HOME": str(tmp_path), "OPENAI_API_KEY": "sk-host"}, endpoints=endpoints)

    assert json.loads(received[0])["env"] == {"OPENAI_BASE_URL": "https://llm.example.com/v1"}
    assert not any("llm.example.com" in arg for call in fp.calls for arg in call)  # never on a command line


def test_summary_endpoint_variables_are_not_a_login(tmp_path):
    host_logins = logins.read_host_logins(CLAUDE, tmp_path, {})
    bundle = logins.plan_bundle(CLAUDE, host_logins, {},
                                endpoints=Endpoints(env=(("ANTHROPIC_BASE_URL", "https://llm.example.com"),)))

    assert logins.summary(CLAUDE, host_logins, bundle, True).startswith("no host login for Claude Code")


# --- copy-back: only a refresh of the same account (issue 12, part 5) -----------------------------


def jwt(claims: dict) -> str:
    """An unsigned JWT (the copy-back reads claims; the provider checks signatures)."""
    part = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"eyJhbGciOiJub25lIn0.{part}.sig"


def codex_login(account: str, user: str, token: str, api_key: str | None = None) -> dict:
    return {"OPENAI_API_KEY": api_key, "tokens": {
        "id_token": jwt({"sub": user, "email": f"{user}@example.com"}),
        "access_token": jwt({"sub": user, "https://api.openai.com/auth": {"chatgpt_account_id": account}, "t": token}),
        "refresh_token": f"rt-{token}", "account_id": account}, "last_refresh": token}


def codex_returned(host_auth: Path, host: dict, back: dict, state_home) -> str:
    write_file(host_auth, json.dumps(host).encode(), T0)
    return logins.accept_returned(session_settings(host_auth), returned(json.dumps(back).encode(), T0 + 10**9))


def test_accept_returned_a_refresh_of_the_same_codex_account_is_saved(state_home, host_auth):
    refreshed = codex_login("acct-A", "user-A", "second")

    assert codex_returned(host_auth, codex_login("acct-A", "user-A", "first"), refreshed, state_home) == "saved"
    assert json.loads(host_auth.read_bytes()) == refreshed


@pytest.mark.parametrize(
    ("back", "expected"),
    [
        ({**codex_login("acct-A", "user-A", "first"), "OPENAI_API_KEY": "sk-ATTACKER"},
         "refused: another key (OPENAI_API_KEY is not the host's)"),
        ({"OPENAI_API_KEY": "sk-ATTACKER"}, "refused: another key (OPENAI_API_KEY is not the host's)"),
        (codex_login("acct-B", "user-B", "evil"), "refused: another account (tokens.account_id is not the host's)"),
        ({**codex_login("acct-A", "user-B", "evil")},
         "refused: another account (tokens.id_token.@jwt.sub is not the host's)"),
        ({**codex_login("acct-A", "user-A", "x"), "tokens": {**codex_login("acct-B", "user-A", "x")["tokens"],
                                                              "account_id": "acct-A"}},
         "refused: another account (tokens.access_token.@jwt.https://api.openai.com/auth.chatgpt_account_id "
         "is not the host's)"),
    ],
    ids=["api-key-added", "api-key-instead", "other-account", "other-user", "forged-account-id"],
)
def test_accept_returned_another_codex_account_is_refused_and_audited(state_home, host_auth, back, expected):
    host = codex_login("acct-A", "user-A", "first")

    assert codex_returned(host_auth, host, back, state_home) == expected
    assert json.loads(host_auth.read_bytes()) == host
    assert audit_events(state_home)[-1] == {"session": NAME, "decision": expected, "kind": "login", "file": AUTH}


def test_accept_returned_an_api_key_login_is_never_replaced_by_another_key(state_home, host_auth):
    host = {"OPENAI_API_KEY": "sk-host", "tokens": None}

    assert codex_returned(host_auth, host, {"OPENAI_API_KEY": "sk-ATTACKER", "tokens": None}, state_home) == (
        "refused: another key (OPENAI_API_KEY is not the host's)")
    assert codex_returned(host_auth, host, codex_login("acct-B", "user-B", "evil"), state_home).startswith(
        "refused: another key")
    assert codex_returned(host_auth, host, {**host, "last_refresh": "later"}, state_home) == "saved"


CLAUDE_CREDENTIALS = "/home/agent/.claude/.credentials.json"


def claude_returned(tmp_path, host: dict, back: dict) -> str:
    path = write_file(tmp_path / "home" / ".claude" / ".credentials.json", json.dumps(host).encode(), T0)
    settings = session_settings(path, login_files=((CLAUDE_CREDENTIALS, str(path)),))
    return logins.accept_returned(settings, returned(json.dumps(back).encode(), T0 + 1, path=CLAUDE_CREDENTIALS))


def claude_login(account: str | None, token: str) -> dict:
    ids = {"accountUuid": account, "organizationUuid": "org-1"} if account else {}
    return {"claudeAiOauth": {"accessToken": f"at-{token}", "refreshToken": f"rt-{token}", "expiresAt": 1, **ids}}


def test_accept_returned_claude_refresh_of_the_same_account_only(state_home, tmp_path):
    assert claude_returned(tmp_path, claude_login("acc-1", "a"), claude_login("acc-1", "b")) == "saved"
    assert claude_returned(tmp_path, claude_login("acc-1", "a"), claude_login("acc-2", "b")) == (
        "refused: another account (claudeAiOauth.accountUuid is not the host's)")
    # No account ids on the host: its refresh token must stay (a rotated one cannot be checked).
    assert claude_returned(tmp_path, claude_login(None, "a"), claude_login("acc-2", "b")) == (
        "refused: the host's login names no account, and claudeAiOauth.refreshToken changed")


GEMINI_CREDS = "/home/agent/.gemini/oauth_creds.json"
GEMINI_ACCOUNTS = "/home/agent/.gemini/google_accounts.json"


def gemini_returned(tmp_path, container: str, host: dict, back: dict) -> str:
    path = write_file(tmp_path / "home" / container.removeprefix("/home/agent/"), json.dumps(host).encode(), T0)
    settings = session_settings(path, login_files=((container, str(path)),))
    return logins.accept_returned(settings, returned(json.dumps(back).encode(), T0 + 1, path=container))


def test_accept_returned_gemini_same_user_or_same_refresh_token_only(state_home, tmp_path):
    host = {"access_token": "a1", "refresh_token": "r1", "id_token": jwt({"sub": "111"})}
    assert gemini_returned(tmp_path, GEMINI_CREDS, host, {**host, "access_token": "a2"}) == "saved"
    assert gemini_returned(tmp_path, GEMINI_CREDS, host, {**host, "id_token": jwt({"sub": "999"})}).startswith(
        "refused: another account (id_token.@jwt.sub")
    no_id = {"access_token": "a1", "refresh_token": "r1"}
    assert gemini_returned(tmp_path, GEMINI_CREDS, no_id, {**no_id, "access_token": "a2"}) == "saved"
    assert gemini_returned(tmp_path, GEMINI_CREDS, no_id, {"access_token": "a2", "refresh_token": "r-evil"}) == (
        "refused: the host's login names no account, and refresh_token changed")
    accounts = {"active": "ada@example.com", "old": []}
    assert gemini_returned(tmp_path, GEMINI_ACCOUNTS, accounts, {"active": "eve@example.com", "old": []}) == (
        "refused: another account (active is not the host's)")


def test_accept_returned_any_login_is_taken_when_the_host_file_holds_none(state_home, host_auth):
    assert codex_returned(host_auth, {"OPENAI_API_KEY": None}, codex_login("acct-B", "user-B", "x"), state_home) == (
        "saved")


@pytest.mark.parametrize(
    ("path", "expected"),
    [(("tokens", "id_token", "@jwt", "sub"), "user-A"), (("tokens", "account_id"), "acct-A"),
     (("tokens", "refresh_token", "@jwt", "sub"), None), (("OPENAI_API_KEY",), None), (("tokens", "x", "y"), None)],
)
def test_field_value_reads_keys_and_token_claims(path, expected):
    assert logins.field_value(codex_login("acct-A", "user-A", "t"), path) == expected


def test_every_returned_login_file_of_a_cli_that_names_accounts_has_an_account_rule():
    for agent in catalog.AGENTS:
        for login in agent.login_files:
            if login.secret:
                assert login.account is not None, (agent.name, login.container)
                assert logins.login_rule(logins.container_path(login.container)) == login


# --- copy-back: Copilot's config.json gives back only its login keys (issue 12, part 4) -------------

COPILOT_CONFIG = "/home/agent/.copilot/config.json"
COPILOT_HEADER = "// User settings belong in settings.json.\n// This file is managed automatically.\n"


def copilot_host(tmp_path, content: dict | None, header: str = COPILOT_HEADER) -> tuple[Path, bridges.BridgeSettings]:
    path = tmp_path / "home" / ".copilot" / "config.json"
    if content is not None:
        write_file(path, (header + json.dumps(content, indent=2) + "\n").encode(), T0)
    return path, session_settings(path, login_files=((COPILOT_CONFIG, str(path)),), agent="copilot")


OCTO = {"host": "https://github.com", "login": "octo"}


def test_accept_returned_copilot_merges_only_the_token_keys_into_the_host_file(state_home, tmp_path):
    host_config = {"theme": "dim", "trustedFolders": ["/home/me/src"], "lastLoggedInUser": OCTO,
                   "loggedInUsers": [OCTO], "copilotTokens": {"https://github.com:octo": "gho_old"}}
    path, settings = copilot_host(tmp_path, host_config)
    inside = {**host_config, "copilotTokens": {"https://github.com:octo": "gho_new"},
              "trustedFolders": ["/workspace", "/"], "trusted_folders": ["/"], "firstLaunchAt": "2026-01-01",
              "appTipShown": True, "theme": "light"}

    decision = logins.accept_returned(settings, returned(json.dumps(inside).encode(), T0 + 1, path=COPILOT_CONFIG))

    assert decision == "saved"
    text = path.read_text()
    assert text.startswith(COPILOT_HEADER)
    assert json.loads(text.removeprefix(COPILOT_HEADER)) == {
        **host_config, "copilotTokens": {"https://github.com:octo": "gho_new"}}
    assert list(json.loads(text.removeprefix(COPILOT_HEADER))) == list(host_config)  # the host's key order
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_accept_returned_copilot_first_start_leaves_the_host_file_untouched(state_home, tmp_path):
    host_config = {"lastLoggedInUser": OCTO, "copilotTokens": {"https://github.com:octo": "gho_x"}}
    path, settings = copilot_host(tmp_path, host_config)
    before = path.read_bytes()
    inside = {**host_config, "trustedFolders": ["/workspace"], "firstLaunchAt": "2026-01-01", "appTipShown": True}

    assert logins.accept_returned(settings, returned(json.dumps(inside).encode(), T0 + 1,
                                                     path=COPILOT_CONFIG)) == "unchanged"
    assert path.read_bytes() == before
    assert path.stat().st_mtime_ns == T0


def test_accept_returned_copilot_another_user_is_refused(state_home, tmp_path):
    host_config = {"lastLoggedInUser": OCTO, "copilotTokens": {"https://github.com:octo": "gho_x"}}
    path, settings = copilot_host(tmp_path, host_config)
    eve = {"host": "https://github.com", "login": "eve"}
    inside = {"lastLoggedInUser": eve, "copilotTokens": {"https://github.com:eve": "gho_eve"}}

    assert logins.accept_returned(settings, returned(json.dumps(inside).encode(), T0 + 1, path=COPILOT_CONFIG)) == (
        "refused: another account (lastLoggedInUser.login is not the host's)")
    assert json.loads(path.read_text().removeprefix(COPILOT_HEADER)) == host_config


def test_accept_returned_copilot_login_made_inside_saves_only_the_login(state_home, tmp_path):
    path, settings = copilot_host(tmp_path, {"theme": "dim"}, header="")
    inside = {"theme": "light", "trustedFolders": ["/"], "lastLoggedInUser": OCTO,
              "copilotTokens": {"https://github.com:octo": "gho_new"}}

    assert logins.accept_returned(settings, returned(json.dumps(inside).encode(), T0 + 1,
                                                     path=COPILOT_CONFIG)) == "saved"
    assert json.loads(path.read_text()) == {"theme": "dim", "lastLoggedInUser": OCTO,
                                            "copilotTokens": {"https://github.com:octo": "gho_new"}}
    # Nothing at all on the host: a new file with the login keys only.
    path.unlink()
    assert logins.accept_returned(settings, returned(json.dumps(inside).encode(), T0 + 2,
                                                     path=COPILOT_CONFIG)) == "saved (new login)"
    assert json.loads(path.read_text()) == {"lastLoggedInUser": OCTO,
                                            "copilotTokens": {"https://github.com:octo": "gho_new"}}


def test_accept_returned_copilot_login_made_inside_kept_there_when_save_new_logins_is_off(state_home, tmp_path):
    path, settings = copilot_host(tmp_path, {"theme": "dim"})
    settings = records.replace(settings, save_new_logins=False)
    before = path.read_bytes()
    inside = {"lastLoggedInUser": OCTO, "copilotTokens": {"https://github.com:octo": "gho_new"}}

    assert logins.accept_returned(settings, returned(json.dumps(inside).encode(), T0 + 1, path=COPILOT_CONFIG)) == (
        "kept inside: [credentials] save_new_logins is off")
    assert path.read_bytes() == before


def test_accept_returned_copilot_without_any_login_key_saves_nothing(state_home, tmp_path):
    path, settings = copilot_host(tmp_path, None)
    inside = {"trustedFolders": ["/"], "firstLaunchAt": "2026-01-01"}

    assert logins.accept_returned(settings, returned(json.dumps(inside).encode(), T0 + 1, path=COPILOT_CONFIG)) == (
        "nothing to save: no login in it")
    assert not path.exists()


def test_merge_keys_keeps_the_host_files_comments_order_and_indent():
    host = b'// a comment\n\n{\n    "b": 1,\n    "copilotTokens": {"x": "old"},\n    "a": 2\n}\n'

    merged = logins.merge_keys(host, {"copilotTokens": {"x": "new"}, "b": 9, "z": 1}, ("copilotTokens",))

    assert merged == (b'// a comment\n\n{\n    "b": 1,\n    "copilotTokens": {\n        "x": "new"\n    },\n'
                      b'    "a": 2\n}\n')


def test_plan_bundle_a_key_from_the_endpoint_config_counts_as_a_login():
    # [agents.claude] env = { ANTHROPIC_API_KEY = ... }: onboarding is skipped as with a host login.
    claude = catalog.get_agent("claude")
    endpoints = Endpoints(env=(("ANTHROPIC_BASE_URL", "http://llm.example.com"), ("ANTHROPIC_API_KEY", "k")))

    bundle = logins.plan_bundle(claude, [], {}, endpoints=endpoints)

    assert json.loads(decoded(bundle, "/home/agent/.claude/.claude.json"))["hasCompletedOnboarding"] is True


# --- a key you gave the session is approved for the CLI that asks about it ------------------------


def bundle_file(bundle: dict, container: str) -> dict:
    import base64

    for item in bundle["files"]:
        if item["path"] == logins.container_path(container):
            return json.loads(base64.b64decode(item["data"]))
    raise AssertionError(f"{container} is not in the bundle")


def test_a_configured_claude_key_is_approved_so_claude_does_not_ask():
    from agents.endpoints import Endpoints

    key = "sk-ant-" + "x" * 20 + "TAIL0123456789abcdef"
    agent = catalog.get_agent("claude")
    bundle = logins.plan_bundle(agent, [], {}, endpoints=Endpoints(env=(("ANTHROPIC_API_KEY", key),)))
    answers = bundle_file(bundle, ".claude/.claude.json")["customApiKeyResponses"]
    assert answers["approved"] == [key[-20:]]
    assert bundle["env"]["ANTHROPIC_API_KEY"] == key  # the key itself only ever goes in the variables


def test_a_key_from_the_host_environment_is_approved_and_the_users_answers_are_kept():
    key = "sk-ant-host-" + "y" * 30
    agent = catalog.get_agent("claude")
    host_file = json.dumps({"customApiKeyResponses": {"approved": ["other-key-tail-000000"],
                                                       "rejected": [key[-20:]]}, "theme": "dark"}).encode()
    login = next(item for item in agent.login_files if item.container == ".claude/.claude.json")
    bundle = logins.plan_bundle(agent, [logins.HostLogin(login, Path("/h/.claude.json"), host_file, 1)],
                                {"ANTHROPIC_API_KEY": key})
    document = bundle_file(bundle, ".claude/.claude.json")
    assert document["customApiKeyResponses"] == {"approved": ["other-key-tail-000000", key[-20:]], "rejected": []}
    assert document["theme"] == "dark"


def test_without_a_key_nothing_is_approved():
    bundle = logins.plan_bundle(catalog.get_agent("claude"), [], {})
    files = {item["path"] for item in bundle["files"]}
    if logins.container_path(".claude/.claude.json") in files:
        assert "customApiKeyResponses" not in bundle_file(bundle, ".claude/.claude.json")


# --- Codex's ask mode: a rules file that asks before every program in the container ---------------

LIST_PROGRAMS = ["docker", "exec", "--user", "1000", NAME, "sh", "-c", logins.LIST_PROGRAMS]
RULES = "/home/agent/.codex/rules/coding-agents-ask.rules"


def rules_words(data: bytes) -> list[str]:
    text = data.decode()
    start = text.index("pattern = [[") + len("pattern = [[")
    return json.loads("[" + text[start:text.index("]]", start)].strip().rstrip(",") + "]")


def test_prompt_rules_name_each_program_by_path_and_name_and_the_builtins():
    words = rules_words(logins.prompt_rules(["/usr/bin/git", "/usr/local/bin/node", "/bin/sh"]))

    assert {"/usr/bin/git", "git", "/usr/local/bin/node", "node", "/bin/sh", "sh", "cd", "export", "."} <= set(words)
    assert words == sorted(set(words))
    assert 'decision = "prompt"' in logins.prompt_rules([]).decode()


@pytest.mark.parametrize("odd", ['/usr/bin/a"b', "/usr/bin/a b", "/usr/bin/a\\b", "", "/usr/bin/ä", "/usr/bin/x)"])
def test_prompt_rules_leave_out_names_that_could_break_the_file(odd):
    words = rules_words(logins.prompt_rules([odd, "/usr/bin/git"]))

    assert odd not in words and "git" in words
    assert set(words) == set(logins.SHELL_BUILTINS) | {"/usr/bin/git", "git"}


def test_plan_bundle_codex_ask_has_the_rules_full_has_none():
    ask = logins.plan_bundle(CODEX, [], {}, autonomy="ask", programs=["/usr/bin/git"])
    full = logins.plan_bundle(CODEX, [], {}, autonomy="full", programs=["/usr/bin/git"])

    rules = [item for item in ask["files"] if item["path"] == RULES]
    assert len(rules) == 1 and "git" in rules_words(base64.b64decode(rules[0]["data"]))
    assert RULES not in [item["path"] for item in full["files"]]


def test_deliver_codex_ask_lists_the_containers_programs_first(fp, tmp_path):
    received = []
    fp.register(LIST_PROGRAMS, stdout="/usr/bin/git\n/usr/local/bin/codex\n")
    fp.register(RECEIVE, stdin_callable=received.append)

    logins.deliver(NAME, CODEX, False, {"HOME": str(tmp_path)}, autonomy="ask")

    assert [list(call) for call in fp.calls] == [LIST_PROGRAMS, RECEIVE]
    rules = next(item for item in json.loads(received[0])["files"] if item["path"] == RULES)
    assert {"git", "codex", "/usr/local/bin/codex"} <= set(rules_words(base64.b64decode(rules["data"])))


def test_deliver_codex_full_lists_nothing(fp, tmp_path):
    fp.register(RECEIVE)

    logins.deliver(NAME, CODEX, False, {"HOME": str(tmp_path)}, autonomy="full")

    assert [list(call) for call in fp.calls] == [RECEIVE]


def test_deliver_codex_ask_when_the_programs_cannot_be_listed(fp, tmp_path):
    fp.register(LIST_PROGRAMS, returncode=1, stderr="Error response from daemon: container is not running\n")

    with pytest.raises(AgentsError) as caught:
        logins.deliver(NAME, CODEX, False, {"HOME": str(tmp_path)}, autonomy="ask")

    assert caught.value.message == f"could not list the programs in {NAME}: Error response from daemon: container is not running"
    assert caught.value.hint == f"see `coding-agents logs {NAME}`"
