"""agents/credentials.py: the git credential bridge (allowlist, request parsing, audit without secrets)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agents import bridges, credentials
from tests.unit.gitrepos import init_repo, run_git

NAME = "claude-api-session-1"


def audit_text(state_home: Path) -> str:
    return (state_home / "coding-agents" / "bridges" / f"{NAME}.log").read_text()


def audit_events(state_home: Path) -> list[dict]:
    return [{k: v for k, v in json.loads(line).items() if k != "time"} for line in audit_text(state_home).splitlines()]


# --- hosts ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://github.com/org/repo.git", "github.com"),
        ("https://user@GitHub.com:8443/org/repo.git", "github.com:8443"),
        ("https://user:pass@git.example.com/x", "git.example.com"),
        ("http://git.example.com/x", "git.example.com"),
        ("http://git.example.com:8080", "git.example.com:8080"),
        ("https://github.com:443/x", "github.com:443"),
        ("git@github.com:org/repo.git", None),
        ("ssh://git@github.com/org/repo.git", None),
        ("git://github.com/org/repo.git", None),
        ("file:///srv/repo.git", None),
        ("/srv/repo.git", None),
        ("../sibling", None),
        ("https:///no-host", None),
    ],
)
def test_url_host(url, expected):
    assert credentials.url_host(url) == expected


@pytest.mark.parametrize("url", ["https://git.example.com:notaport/x", "https://git.example.com:99999/x",
                                 "https://[::1/x"], ids=["not-a-number", "out-of-range", "unclosed-bracket"])
def test_url_host_bad_port_is_no_host(url):
    assert credentials.url_host(url) is None


def test_remote_hosts_skips_a_remote_with_a_bad_port(tmp_path):
    repo = init_repo(tmp_path / "repo")
    run_git(repo, "remote", "add", "broken", "https://git.example.com:notaport/r.git")
    run_git(repo, "remote", "add", "origin", "https://github.com/o/r.git")

    assert credentials.remote_hosts(repo) == ("github.com",)


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("https://GitHub.com/org/repo", "github.com"),
        ("https://git.example.com:8443/", "git.example.com:8443"),
        ("GitLab.Example.com/", "gitlab.example.com"),
        ("  git.example.com:8443 ", "git.example.com:8443"),
        ("github.com", "github.com"),
    ],
)
def test_normalize_host(rule, expected):
    assert credentials.normalize_host(rule) == expected


def test_remote_hosts_of_a_repo_with_several_remotes(tmp_path):
    repo = init_repo(tmp_path / "repo")
    run_git(repo, "remote", "add", "origin", "https://github.com/o/r.git")
    run_git(repo, "config", "remote.origin.pushurl", "https://push.example.org/r.git")
    run_git(repo, "remote", "add", "upstream", "git@github.com:o/r.git")
    run_git(repo, "remote", "add", "mirror", "https://User@Git.Example.com:8443/r.git")
    run_git(repo, "remote", "add", "fork", "https://github.com/me/r.git")
    run_git(repo, "remote", "add", "local", "/srv/r.git")

    assert credentials.remote_hosts(repo) == ("github.com", "push.example.org", "git.example.com:8443")


def test_remote_hosts_without_remotes_is_empty(tmp_path):
    assert credentials.remote_hosts(init_repo(tmp_path / "repo")) == ()


def test_remote_hosts_ignores_ssh_only_remotes(tmp_path):
    repo = init_repo(tmp_path / "repo")
    run_git(repo, "remote", "add", "origin", "git@github.com:o/r.git")

    assert credentials.remote_hosts(repo) == ()


# --- the helper protocol -----------------------------------------------------------------------------


def test_parse_request_keeps_key_value_lines_only():
    text = ("protocol=https\nhost=github.com\ncapability[]=authtype\nwwwauth[]=Basic realm=x\nno equals sign\n"
            "=no-key\npath=org/repo.git?a=b\nusername=\n\n")

    assert credentials.parse_request(text) == {
        "protocol": "https", "host": "github.com", "path": "org/repo.git?a=b", "username": "",
    }


def test_format_answer_known_keys_in_order():
    fields = {"password": "p", "username": "u", "host": "github.com", "protocol": "https", "quit": "1",
              "url": "https://evil.example", "password_expiry_utc": "1700000000", "path": "o/r"}

    assert credentials.format_answer(fields) == (
        "protocol=https\nhost=github.com\npath=o/r\nusername=u\npassword=p\npassword_expiry_utc=1700000000\n"
    )


def test_format_answer_drops_values_with_newlines():
    fields = {"protocol": "https", "host": "github.com", "username": "u\nhost=evil.example", "password": "p"}

    assert credentials.format_answer(fields) == "protocol=https\nhost=github.com\npassword=p\n"


# --- answer ---------------------------------------------------------------------------------------------


def settings(hosts=("github.com",)) -> bridges.BridgeSettings:
    return bridges.BridgeSettings(session=NAME, agent="claude", repo="/home/me/api", credential_hosts=hosts)


class FakeFill:
    """Stands in for the host's `git credential fill`: records what it was asked."""

    def __init__(self, found: dict[str, str]):
        self.found = found
        self.calls: list[tuple[str, dict]] = []

    def __call__(self, repo: str, request: dict[str, str]) -> dict[str, str]:
        self.calls.append((repo, request))
        return self.found


def test_answer_granted_for_an_allowlisted_host(state_home):
    fill = FakeFill({"protocol": "https", "host": "github.com", "username": "ada", "password": "s3cret-token",
                     "capability[]": "authtype", "url": "https://elsewhere"})

    answer = credentials.answer(settings(), "protocol=https\nhost=GitHub.com\npath=o/r.git\n\n", fill)

    assert answer == "protocol=https\nhost=github.com\nusername=ada\npassword=s3cret-token\n"
    # The host's helpers are asked for the allowlisted host as it is written there.
    assert fill.calls == [("/home/me/api", {"protocol": "https", "host": "github.com", "path": "o/r.git"})]
    assert audit_events(state_home) == [{"session": NAME, "decision": "granted", "username": "ada",
                                         "kind": "git-credential", "protocol": "https", "host": "github.com"}]
    assert "s3cret-token" not in audit_text(state_home)


@pytest.mark.parametrize(
    "request_text",
    ["protocol=https\nhost=evil.example.com\n", "protocol=ssh\nhost=github.com\n", "host=github.com\n",
     "protocol=https\nhost=github.com:8443\n", "protocol=https\n"],
    ids=["other-host", "ssh", "no-protocol", "other-port", "no-host"],
)
def test_answer_denied_without_asking_the_host(state_home, request_text):
    fill = FakeFill({"username": "ada", "password": "s3cret-token"})

    assert credentials.answer(settings(), request_text, fill) == ""

    assert fill.calls == []
    (event,) = audit_events(state_home)
    assert (event["decision"], event["reason"]) == ("denied", "host not in the allowlist")


def test_answer_http_is_served_for_an_allowlisted_host(state_home):
    fill = FakeFill({"username": "u", "password": "p"})

    answer = credentials.answer(settings(("http://git.internal:8080",)), "protocol=http\nhost=git.internal:8080\n", fill)

    assert answer == "protocol=http\nhost=git.internal:8080\nusername=u\npassword=p\n"


# --- exact protocol, host and port; strict parsing (issue 12, part 6) --------------------------------


@pytest.mark.parametrize(
    ("hosts", "request_text"),
    [
        (("github.com",), "protocol=http\nhost=github.com\n"),
        (("http://git.internal:8080",), "protocol=https\nhost=git.internal:8080\n"),
        (("git.example.com:8443",), "protocol=https\nhost=git.example.com\n"),
        (("git.example.com",), "protocol=https\nhost=git.example.com:443\n"),
        (("github.com",), "protocol=https\nhost=github.com.\n"),
        (("github.com",), "protocol=https\nhost=github.com/\n"),
    ],
    ids=["http-to-an-https-remote", "https-to-an-http-remote", "no-port", "other-port", "trailing-dot", "slash"],
)
def test_answer_only_the_exact_protocol_host_and_port_of_a_remote(state_home, hosts, request_text):
    fill = FakeFill({"username": "ada", "password": "s3cret-token"})

    assert credentials.answer(settings(hosts), request_text, fill) == ""

    assert fill.calls == []
    assert audit_events(state_home)[-1]["reason"] == "host not in the allowlist"


@pytest.mark.parametrize(
    ("request_text", "reason"),
    [
        ("protocol=https\nhost=evil.example\nhost=github.com\n", "host given twice"),
        ("protocol=https\nhost=github.com\nhost=evil.example\n", "host given twice"),
        ("protocol=https\nprotocol=http\nhost=github.com\n", "protocol given twice"),
        ("protocol=https\nhost=github.com\nurl=https://evil.example/\n", "an attribute git does not send (url)"),
        ("protocol=https\nhost=github.com\njunk\n", "a line that is not key=value"),
        ("protocol=https\n=github.com\n", "a line that is not key=value"),
        ("protocol=https\nhost=github.com\x00.evil\n", "a control character in host"),
        ("protocol=https\nhost=github.com\r\n", "a control character in host"),
        ("protocol=https\nhost=github.com\n\nhost=evil.example\n", "text after the blank line that ends a request"),
    ],
    ids=["two-hosts-other-first", "two-hosts-other-last", "two-protocols", "url", "no-equals", "no-key", "nul", "cr",
         "after-the-end"],
)
def test_answer_malformed_or_duplicate_attributes_are_refused_and_audited(state_home, request_text, reason):
    fill = FakeFill({"username": "ada", "password": "s3cret-token"})

    assert credentials.answer(settings(), request_text, fill) == ""

    assert fill.calls == []
    (event,) = audit_events(state_home)
    assert (event["decision"], event["reason"]) == ("denied", f"malformed request: {reason}")


def test_answer_what_git_really_sends_is_served(state_home):
    fill = FakeFill({"username": "ada", "password": "p"})
    text = ("capability[]=authtype\ncapability[]=state\nprotocol=https\nhost=github.com\npath=o/r.git\n"
            "username=ada\nwwwauth[]=Basic realm=\"GitHub\"\nwwwauth[]=Bearer\n\n")

    assert credentials.answer(settings(), text, fill) == "protocol=https\nhost=github.com\nusername=ada\npassword=p\n"
    assert fill.calls == [("/home/me/api", {"protocol": "https", "host": "github.com", "path": "o/r.git",
                                            "username": "ada"})]


@pytest.mark.parametrize(
    ("rule", "expected"),
    [("http://git.internal:8080/", "http://git.internal:8080"), ("HTTP://Git.Internal", "http://git.internal"),
     ("https://git.internal:8080", "git.internal:8080")],
)
def test_normalize_host_keeps_plain_http_apart(rule, expected):
    assert credentials.normalize_host(rule) == expected


def test_remote_hosts_an_http_remote_is_allowlisted_for_http_only(tmp_path):
    repo = init_repo(tmp_path / "repo")
    run_git(repo, "remote", "add", "origin", "http://git.internal:8080/r.git")
    run_git(repo, "remote", "add", "mirror", "https://git.internal:8080/r.git")

    assert credentials.remote_hosts(repo) == ("http://git.internal:8080", "git.internal:8080")


@pytest.mark.parametrize("found", [{}, {"username": "ada"}, {"username": "ada", "password": ""}],
                         ids=["nothing", "no-password", "empty-password"])
def test_answer_none_when_the_host_has_no_credential(state_home, found):
    fill = FakeFill(found)

    assert credentials.answer(settings(), "protocol=https\nhost=github.com\n", fill) == ""

    assert len(fill.calls) == 1
    assert audit_events(state_home) == [{"session": NAME, "decision": "none", "reason": "the host has no credential for it",
                                         "kind": "git-credential", "protocol": "https", "host": "github.com"}]


# --- fill: the host's git, faked at the runner ----------------------------------------------------------

FILL = ["git", "-c", "core.askPass=", "credential", "fill"]


def test_fill_asks_git_without_prompts_and_passes_only_the_query_keys(fp, tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_ASKPASS", "/usr/bin/ksshaskpass")
    monkeypatch.setenv("SSH_ASKPASS", "/usr/bin/ssh-askpass")
    monkeypatch.setenv("GIT_DIR", "/elsewhere/.git")
    received, seen = [], []
    fp.register(FILL, stdout="protocol=https\nhost=github.com\nusername=ada\npassword=tok\n",
                stdin_callable=received.append, callback=lambda process: seen.append(process.kwargs))

    found = credentials.fill(str(tmp_path), {"protocol": "https", "host": "github.com", "path": "o/r.git",
                                             "username": "ada", "password": "from-the-container", "url": "x"})

    assert found == {"protocol": "https", "host": "github.com", "username": "ada", "password": "tok"}
    assert received == ["protocol=https\nhost=github.com\npath=o/r.git\nusername=ada\n\n"]
    env = seen[0]["env"]
    assert (env["GIT_TERMINAL_PROMPT"], env["GCM_INTERACTIVE"]) == ("0", "never")
    assert not {"GIT_ASKPASS", "SSH_ASKPASS", "GIT_DIR"} & set(env)
    assert seen[0]["cwd"] == str(tmp_path)


def test_fill_failure_is_no_credential(fp, tmp_path):
    fp.register(FILL, returncode=128, stderr="fatal: could not read Username: terminal prompts disabled\n")

    assert credentials.fill(str(tmp_path / "gone"), {"protocol": "https", "host": "github.com"}) == {}
