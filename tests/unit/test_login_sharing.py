"""One login for many agents: a refresh saved to the host goes on to every other session that uses
the same host file (agents/logins.py: fan_out), and the stub takes it (logins-refresh)."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from agents import bridges, catalog, files, logins
from tests.unit.test_logins import AUTH, T0, b64, returned, write_file
from tests.unit.test_stub import load_stub

COPILOT_CONFIG = "/home/agent/.copilot/config.json"


def auth_json(refresh_token: str) -> bytes:
    """Codex's auth.json of one account (a refresh keeps the account, rotates the refresh token)."""
    return json.dumps({"tokens": {"account_id": "acct-1", "refresh_token": refresh_token}}).encode()


def saved_session(name: str, host: Path, container: str = AUTH, **overrides) -> bridges.BridgeSettings:
    settings = bridges.BridgeSettings(session=name, agent="codex", repo="/home/me/api",
                                      login_files=((container, str(host)),), **overrides)
    files.write_private(bridges.settings_path(name), settings.to_json().encode())
    return settings


def refresh_argv(name: str) -> list[str]:
    return ["docker", "exec", "-i", "--user", "1000", name, "ca-stub", "logins-refresh"]


def test_a_saved_refresh_goes_to_every_other_session_of_that_host_file(state_home, tmp_path, fp):
    host = tmp_path / "home" / ".codex" / "auth.json"
    write_file(host, auth_json("old"), T0)
    first = saved_session("codex-a", host)
    others = [f"codex-{n}" for n in range(9)]
    for name in others:
        saved_session(name, host)
        fp.register(refresh_argv(name), stdout="refreshed\n")
    saved_session("codex-elsewhere", tmp_path / "other-home" / ".codex" / "auth.json")  # another login
    saved_session("codex-inside", host, host_logins=False)  # keeps away from the host's logins

    decision = logins.accept_returned(first, returned(auth_json("new"), T0 + 10**9))

    assert decision == "saved"
    for name in others:
        assert fp.call_count(refresh_argv(name)) == 1
    assert fp.call_count(refresh_argv("codex-elsewhere")) == 0 and fp.call_count(refresh_argv("codex-inside")) == 0
    events = [json.loads(line) for line in bridges.audit_log("codex-a").read_text().splitlines()]
    shared = [event for event in events if event["kind"] == "login-shared"]
    assert sorted(event["to"] for event in shared) == others
    assert {event["decision"] for event in shared} == {"refreshed"}
    assert all("new" not in json.dumps(event) for event in events)  # never a token in the audit log


def test_an_unchanged_or_refused_login_goes_nowhere(state_home, tmp_path, fp):
    host = tmp_path / "home" / ".codex" / "auth.json"
    write_file(host, auth_json("same"), T0)
    first = saved_session("codex-a", host)
    saved_session("codex-b", host)

    assert logins.accept_returned(first, returned(auth_json("same"), T0 + 1)) == "unchanged"
    assert logins.accept_returned(first, returned(auth_json("x"), T0 - 1)).startswith("kept")
    assert fp.call_count(refresh_argv("codex-b")) == 0


def test_a_session_that_cannot_take_it_is_audited_and_the_rest_still_get_it(state_home, tmp_path, fp):
    host = tmp_path / "home" / ".codex" / "auth.json"
    write_file(host, auth_json("old"), T0)
    first = saved_session("codex-a", host)
    saved_session("codex-b", host)
    saved_session("codex-c", host)
    fp.register(refresh_argv("codex-b"), returncode=1, stderr="Error response from daemon: container is not running\n")
    fp.register(refresh_argv("codex-c"), stdout="refreshed\n")

    assert logins.accept_returned(first, returned(auth_json("new"), T0 + 10**9)) == "saved"

    events = {event["to"]: event["decision"] for event in map(json.loads, bridges.audit_log("codex-a").read_text()
                                                               .splitlines()) if event["kind"] == "login-shared"}
    assert events == {"codex-b": "not taken: Error response from daemon: container is not running",
                      "codex-c": "refreshed"}


def test_refresh_request_of_a_file_with_settings_carries_only_its_login_keys():
    rule = catalog.get_agent("copilot").login_files[0]
    returned_data = {"copilotTokens": {"u": "t"}, "trustedFolders": ["/workspace"], "lastLoggedInUser": {"login": "me"}}
    request = logins.refresh_request(COPILOT_CONFIG, rule, b"ignored", returned_data, 5)
    assert request == {"path": COPILOT_CONFIG, "keys": {"copilotTokens": {"u": "t"}, "lastLoggedInUser": {"login": "me"}},
                       "mtime_ns": 5}
    whole = logins.refresh_request(AUTH, catalog.get_agent("codex").login_files[0], b"{}", {}, 5)
    assert whole == {"path": AUTH, "data": b64(b"{}"), "mtime_ns": 5}


# --- the stub's side -------------------------------------------------------------------------------


@pytest.fixture
def stub_logins(monkeypatch, tmp_path):
    package = load_stub()
    home = tmp_path / "home"
    monkeypatch.setattr(package.paths, "HOME", str(home))
    monkeypatch.setattr(package.paths, "LOGINS_WATCH", str(tmp_path / "watch.json"))
    return package.logins, home


def take(module, monkeypatch, request: dict, capsys) -> tuple[int, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(request)))
    code = module.logins_refresh()
    return code, capsys.readouterr().out.strip()


def test_stub_takes_a_shared_login_and_does_not_send_it_back(stub_logins, monkeypatch, capsys):
    module, home = stub_logins
    auth = home / ".codex" / "auth.json"
    write_file(auth, auth_json("old"), T0)
    (Path(module.paths.LOGINS_WATCH)).write_text(json.dumps({str(auth): module.fingerprint(str(auth))}))

    code, said = take(module, monkeypatch, {"path": str(auth), "data": b64(b'{"new": 1}'), "mtime_ns": T0 + 5}, capsys)

    assert (code, said) == (0, "refreshed")
    assert auth.read_bytes() == b'{"new": 1}' and auth.stat().st_mtime_ns == T0 + 5
    watched = json.loads(Path(module.paths.LOGINS_WATCH).read_text())
    assert watched[str(auth)] == module.fingerprint(str(auth))  # the watcher sees nothing to send


def test_stub_keeps_a_newer_copy_and_refuses_other_paths(stub_logins, monkeypatch, capsys):
    module, home = stub_logins
    auth = home / ".codex" / "auth.json"
    write_file(auth, b'{"mine": 1}', T0 + 10)
    Path(module.paths.LOGINS_WATCH).write_text(json.dumps({str(auth): module.fingerprint(str(auth))}))

    assert take(module, monkeypatch, {"path": str(auth), "data": b64(b"{}"), "mtime_ns": T0}, capsys) == \
        (0, "kept: the copy here is newer")
    assert auth.read_bytes() == b'{"mine": 1}'
    other = str(home / ".bashrc")
    code, said = take(module, monkeypatch, {"path": other, "data": b64(b"x"), "mtime_ns": T0 + 99}, capsys)
    assert code == 1 and said.startswith("refused") and not Path(other).exists()


def test_stub_merges_only_the_login_keys_into_a_file_with_settings(stub_logins, monkeypatch, capsys):
    module, home = stub_logins
    config = home / ".copilot" / "config.json"
    write_file(config, b'// comment\n{"trustedFolders": ["/workspace"], "copilotTokens": {"u": "old"}}', T0)
    Path(module.paths.LOGINS_WATCH).write_text(json.dumps({str(config): module.fingerprint(str(config))}))

    code, said = take(module, monkeypatch, {"path": str(config), "keys": {"copilotTokens": {"u": "new"}},
                                            "mtime_ns": T0 + 1}, capsys)

    assert (code, said) == (0, "refreshed")
    text = config.read_text()
    assert text.startswith("// comment\n")
    assert json.loads(text.split("\n", 1)[1]) == {"trustedFolders": ["/workspace"], "copilotTokens": {"u": "new"}}
