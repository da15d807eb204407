"""agents/remote.py: a URL instead of a folder becomes our clone of it in the cache folder.

Real git throughout: the "server" is a bare repository in tmp_path, which the test HOME's git
config reaches for https://git.example.com/ (`url.<folder>.insteadOf`), so no network is used.
"""

from __future__ import annotations

import pytest

from agents import paths, records, remote, runner
from agents.config import Config
from agents.errors import AgentsError
from agents.session import checks, model
from agents.session.options import LaunchOptions
from tests.unit.gitrepos import commit_files, init_repo, run_git

URL = "https://git.example.com/team/app.git"


@pytest.fixture
def server(tmp_path, isolated_home):
    """A bare repo with one commit on main, which the test HOME's git sees at https://git.example.com/team/app.git."""
    work = init_repo(tmp_path / "work")
    commit_files(work, {"README.md": "v1\n"}, "first")
    bare = tmp_path / "srv" / "team" / "app.git"
    bare.parent.mkdir(parents=True)
    run_git(tmp_path, "clone", "-q", "--bare", str(work), str(bare))
    (isolated_home / ".gitconfig").write_text(f'[url "{tmp_path / "srv"}/"]\n\tinsteadOf = https://git.example.com/\n'
                                              "[user]\n\tname = Test User\n\temail = test@example.com\n")
    return work, bare


@pytest.mark.parametrize(("text", "host", "path", "stored"), [
    (URL, "git.example.com", ("team", "app"), URL),
    ("https://git.example.com:8443/team/app", "git.example.com_8443", ("team", "app"),
     "https://git.example.com:8443/team/app"),
    ("https://me:s3cret@git.example.com/team/app.git", "git.example.com", ("team", "app"),
     "https://me@git.example.com/team/app.git"),
    ("ssh://git@git.example.com/team/app.git", "git.example.com", ("team", "app"),
     "ssh://git@git.example.com/team/app.git"),
    ("git@github.com:team/app.git", "github.com", ("team", "app"), "git@github.com:team/app.git"),
])
def test_parse_url_forms(text, host, path, stored):
    found = remote.parse(text)

    assert (found.host, found.path, found.stored, found.url) == (host, path, stored, text)
    assert "s3cret" not in found.shown


@pytest.mark.parametrize("text", [".", "../api", "src/app", "file:///srv/app.git", "C:stuff", ""])
def test_parse_folders_and_other_things_are_not_urls(text, tmp_path):
    assert remote.parse(text) is None


def test_parse_an_existing_folder_is_never_a_url(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "host.example.com:app").mkdir()

    assert remote.parse("host.example.com:app") is None


@pytest.mark.parametrize("text", ["https://git.example.com/", "https://git.example.com/a/../b", "https:///x"])
def test_parse_a_url_without_a_usable_path_is_refused(text):
    with pytest.raises(AgentsError):
        remote.parse(text)


def test_redact_hides_only_the_password():
    assert remote.redact("https://me:s3cret@git.example.com/a.git") == "https://me:***@git.example.com/a.git"
    assert remote.redact(URL) == URL


def test_clone_path_is_under_the_xdg_cache_home(monkeypatch, tmp_path, isolated_home):
    assert remote.clone_path(remote.parse(URL)) == isolated_home / ".cache" / "coding-agents" / "repos" / \
        "git.example.com" / "team" / "app"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert remote.clone_path(remote.parse(URL)) == tmp_path / "cache" / "coding-agents" / "repos" / \
        "git.example.com" / "team" / "app"


def test_ensure_clone_clones_then_fetches_and_fast_forwards(server, capsys):
    work, bare = server
    found = remote.parse(URL)

    first = remote.ensure_clone(found)

    assert first == remote.clone_path(found)
    assert (first / "README.md").read_text() == "v1\n"
    assert run_git(first, "config", "--get", "remote.origin.url") == URL
    assert "cloning" in capsys.readouterr().err
    assert [path.name for path in first.parent.iterdir()] == ["app"]  # no partial folder left

    commit_files(work, {"README.md": "v2\n"}, "second")
    run_git(work, "push", "-q", str(bare), "main")
    run_git(first, "branch", "claude/session-1")  # an agent's branch that came back: kept

    again = remote.ensure_clone(found)

    assert again == first
    assert (first / "README.md").read_text() == "v2\n"
    assert run_git(first, "rev-parse", "HEAD") == run_git(work, "rev-parse", "HEAD")
    assert run_git(first, "branch", "--list", "claude/session-1") != ""
    assert "fetching" in capsys.readouterr().err


def test_ensure_clone_keeps_local_commits_of_the_clone_and_says_so(server, capsys):
    work, bare = server
    found = remote.parse(URL)
    clone = remote.ensure_clone(found)
    run_git(clone, "config", "user.name", "Test User")
    run_git(clone, "config", "user.email", "test@example.com")
    commit_files(clone, {"mine.txt": "x\n"}, "merged an agent's work here")
    commit_files(work, {"README.md": "v2\n"}, "second")
    run_git(work, "push", "-q", str(bare), "main")
    mine = run_git(clone, "rev-parse", "HEAD")

    remote.ensure_clone(found)

    assert run_git(clone, "rev-parse", "HEAD") == mine
    assert "has commits of its own" in capsys.readouterr().err


def test_ensure_clone_never_touches_a_folder_that_is_not_our_clone(server):
    found = remote.parse(URL)
    stranger = remote.clone_path(found)
    stranger.mkdir(parents=True)
    (stranger / "notes.txt").write_text("mine\n")

    with pytest.raises(AgentsError, match="is not our clone of") as caught:
        remote.ensure_clone(found)

    assert "cache" in caught.value.hint
    assert (stranger / "notes.txt").read_text() == "mine\n"


def test_clone_failure_leaves_no_folder_and_names_the_url_without_its_password(isolated_home, tmp_path):
    found = remote.parse(f"https://me:s3cret@127.0.0.1:9/{tmp_path.name}/none.git")  # nothing listens on port 9

    with pytest.raises(AgentsError) as caught:
        remote.ensure_clone(found)

    assert "could not clone https://me@127.0.0.1:9/" in caught.value.message
    assert "s3cret" not in caught.value.message + (caught.value.hint or "")
    assert not remote.clone_path(found).exists()
    assert list(remote.clone_path(found).parent.iterdir()) == []


def test_clone_argv_hides_a_password_in_the_url(fp, isolated_home):
    found = remote.parse("https://me:s3cret@git.example.com/team/app.git")
    fp.register(["git", "clone", "--origin", "origin", found.url, fp.any()], returncode=128)

    with pytest.raises(AgentsError):
        remote.ensure_clone(found)

    assert isinstance(found.argv_url, runner.Secret)
    assert str(found.argv_url) == "***"


def test_launch_options_with_a_url_become_our_clone(server, capsys):
    options = LaunchOptions(agent="claude", path=URL)

    cloned = checks.clone_if_url(options, Config())

    assert cloned.path == str(remote.clone_path(remote.parse(URL)))
    assert "its branch comes back there" in capsys.readouterr().err


def test_launch_options_with_a_url_and_an_unknown_agent_download_nothing(server):
    with pytest.raises(AgentsError, match="unknown agent"):
        checks.clone_if_url(LaunchOptions(agent="clippy", path=URL), Config())

    assert not paths.repos_dir().exists()


def test_clone_note_says_where_the_work_is(server, tmp_path):
    clone = remote.ensure_clone(remote.parse(URL))
    info = model.SessionInfo(
        name="claude-app-session-1", agent="claude", repo=clone, branch="claude/session-1", base="", network="squid",
        mode="run", image="", no_push=False, created="", state="exited", container_id="")

    assert checks.clone_note(info) == f"claude/session-1 is in {clone}, our clone of {URL}: push or merge it from there"
    assert checks.clone_note(records.replace(info, repo=tmp_path)) is None
