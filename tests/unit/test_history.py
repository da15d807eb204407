"""Agent state: the layout each CLI's folder is split by, the stub's links and sweep, and history
archives (manifest, checksums, never a login)."""

from __future__ import annotations

import io
import json
import os
import sys
import tarfile
from pathlib import Path

import pytest

from agents import catalog, history
from agents.errors import AgentsError
from agents.session import naming
from tests.unit.test_stub import load_stub

CLAUDE = catalog.get_agent("claude")
CODEX = catalog.get_agent("codex")
TOKEN = json.dumps({"claudeAiOauth": {"accessToken": "sk-ant-oat01-x", "refreshToken": "sk-ant-ort01-y"}}).encode()


# --- the layout, from the agents table -------------------------------------------------------------


@pytest.mark.parametrize("agent", [agent for agent in catalog.AGENTS if agent.login_dirs])
def test_layout_every_login_folder_is_split_and_its_logins_never_kept(agent):
    spec = history.layout_spec(agent)
    assert [folder["name"] for folder in spec["folders"]] == list(agent.login_dirs)
    for folder in spec["folders"]:
        logins = {login.container.split("/", 1)[1] for login in agent.login_files
                  if login.container.startswith(folder["name"] + "/")}
        assert logins and logins <= set(folder["never"])
        assert not {entry.rstrip("/") for entry in folder["kept"]} & set(folder["never"])
        assert folder["path"] == f"{naming.HOME}/{folder['name']}"
    assert spec["store"] == naming.STATE_STORE and "refresh_token" in spec["token_keys"]


def test_layout_never_keeps_the_files_the_launch_writes_each_start():
    never = history.never_kept(CLAUDE, CLAUDE.state[0])
    assert never == (".claude.json", ".credentials.json", "CLAUDE.md", "agents", "backups", "commands", "output-styles",
                     "settings.json", "skills")
    assert history.never_kept(CODEX, CODEX.state[0]) == (".credentials.json", "AGENTS.md", "auth.json", "config.toml",
                                                         "prompts", "rules", "skills")  # rules: --ask's


def test_layout_of_an_agent_without_state_is_none_and_sets_no_variable():
    shell = catalog.get_agent("shell")
    assert history.layout_spec(shell) is None and history.state_env(shell) == []


def test_state_env_carries_the_size_limit():
    argv = history.state_env(CLAUDE, 123 * 1024**2)
    assert argv[0] == "--env" and argv[1].startswith(naming.STATE_VAR + "=")
    assert json.loads(argv[1].split("=", 1)[1])["limit"] == 123 * 1024**2


def test_codex_is_told_to_keep_its_sqlite_databases_in_a_kept_folder():
    argv = history.state_env(CODEX)
    assert argv[2:] == ["--env", f"CODEX_SQLITE_HOME={naming.HOME}/.codex/sqlite"]
    assert "sqlite/" in CODEX.state[0].kept
    assert history.state_env(CLAUDE)[2:] == []  # a CLI without such state is told nothing more


@pytest.mark.parametrize("agent", [agent for agent in catalog.AGENTS if agent.state])
def test_a_layouts_variables_point_into_its_kept_folders(agent):
    # The folder a variable names is linked into the volume before the CLI starts: were it not
    # kept, the CLI's open database would stay on the tmpfs until it ends.
    for layout in agent.state:
        for _variable, entry in layout.env:
            assert entry.rstrip("/") + "/" in layout.kept, (agent.name, entry)


def test_a_users_own_agent_shares_its_base_agents_layout():
    mine = catalog.custom_agent("my-claude", "claude", command=("claude", "--verbose"))
    assert history.layout_spec(mine) == history.layout_spec(CLAUDE)


# --- archives ------------------------------------------------------------------------------------


def members() -> list[tuple[str, bytes, int]]:
    return [
        (".claude/projects/-workspace/abc.jsonl", b'{"type":"user","message":"hello"}\n', 1_700_000_000),
        (".claude/history.jsonl", b'{"display":"hello"}\n', 1_700_000_001),
        (".claude/.credentials.json", TOKEN, 1_700_000_002),  # the login: never
        (".claude/settings.json", b"{}", 1_700_000_003),  # written by the launch: never
        (".claude/statsig/new-login.json", TOKEN, 1_700_000_004),  # holds a token: never
        (".codex/sessions/x.jsonl", b"{}", 1_700_000_005),  # another CLI's folder: never
    ]


def test_write_archive_keeps_state_with_checksums_and_leaves_out_every_secret(tmp_path):
    archive = history.write_archive(CLAUDE, members(), tmp_path / "h.tar.gz",
                                    {"session": "s", "branch": "claude/api", "repo": "/r", "repo_key": "k"})

    assert [item["path"] for item in archive.files] == [".claude/history.jsonl",
                                                        ".claude/projects/-workspace/abc.jsonl"]
    assert sorted(archive.manifest["left_out"]) == [".claude/.credentials.json", ".claude/settings.json",
                                                    ".claude/statsig/new-login.json", ".codex/sessions/x.jsonl"]
    assert oct((tmp_path / "h.tar.gz").stat().st_mode & 0o777) == "0o600"
    with tarfile.open(tmp_path / "h.tar.gz") as tar:
        names = tar.getnames()
        assert names[0] == "manifest.json"
        everything = b"".join(tar.extractfile(member).read() for member in tar if member.isfile())
    assert b"sk-ant-" not in everything
    assert history.read_archive(tmp_path / "h.tar.gz").manifest == archive.manifest


def rewrite(path: Path, change) -> None:
    """The archive with change(name, data) -> (name, data) | None applied to each member."""
    with tarfile.open(path) as tar:
        items = [(member.name, tar.extractfile(member).read()) for member in tar if member.isfile()]
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in items:
            changed = change(name, data)
            if changed is None:
                continue
            info = tarfile.TarInfo(changed[0])
            info.size = len(changed[1])
            tar.addfile(info, io.BytesIO(changed[1]))
    path.write_bytes(buffer.getvalue())


@pytest.fixture
def archive_path(tmp_path) -> Path:
    history.write_archive(CLAUDE, members(), tmp_path / "h.tar.gz", {"branch": "claude/api", "repo_key": "k"})
    return tmp_path / "h.tar.gz"


@pytest.mark.parametrize(("change", "why"), [
    (lambda name, data: (name, data + b"x") if name.endswith("abc.jsonl") else (name, data), "does not match its checksum"),
    (lambda name, data: None if name.endswith("abc.jsonl") else (name, data), "is in its manifest but not in it"),
    (lambda name, data: ("state/.claude/.credentials.json", TOKEN) if name.endswith("history.jsonl") else (name, data),
     ".claude/.credentials.json: a login, secret or launch-written file"),
    (lambda name, data: ("state/.claude/../../etc/x", data) if name.endswith("history.jsonl") else (name, data),
     "not a plain relative path"),
    (lambda name, data: (name, b'{"format": "something-else"}') if name == "manifest.json" else (name, data),
     "its manifest is not one of ours"),
])
def test_read_archive_refuses_a_changed_or_unsafe_archive(archive_path, change, why):
    rewrite(archive_path, change)
    with pytest.raises(AgentsError) as caught:
        history.read_archive(archive_path)
    assert why in caught.value.message and "history export" in caught.value.hint


def test_read_archive_of_a_missing_file_names_it(tmp_path):
    with pytest.raises(AgentsError, match="no file"):
        history.read_archive(tmp_path / "nope.tar.gz")


def test_kept_path_is_per_repository_and_branch(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    from tests.unit.gitrepos import make_template

    repo = make_template(tmp_path / "repo", branch="main", message="start")
    first = history.kept_path(repo, "claude/api")
    assert first.parent.parent == tmp_path / "data" / "coding-agents" / "history"
    assert first.name == "claude--api.tar.gz"
    assert history.kept_path(repo, "claude/other") != first
    # The same project cloned elsewhere (same first commit) has the same key.
    import shutil

    clone = Path(shutil.copytree(repo, tmp_path / "clone", symlinks=True))
    assert history.kept_path(clone, "claude/api") == first


def test_import_archive_refuses_another_repositorys_history_without_force(tmp_path, monkeypatch, archive_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    from tests.unit.gitrepos import make_template

    repo = make_template(tmp_path / "repo", branch="main", message="start")
    with pytest.raises(AgentsError, match="another repository") as caught:
        history.import_archive(archive_path, repo)
    assert "--force" in caught.value.hint
    found, target = history.import_archive(archive_path, repo, force=True)
    assert target == history.kept_path(repo, "claude/api") and target.read_bytes() == archive_path.read_bytes()
    assert found.branch == "claude/api"


# --- the stub's side -------------------------------------------------------------------------------


@pytest.fixture
def stub_state(monkeypatch, tmp_path):
    package = load_stub()
    home = tmp_path / "home"
    spec = json.loads(history.state_env(CLAUDE)[1].split("=", 1)[1])
    text = json.dumps(spec).replace(naming.HOME, str(home))
    monkeypatch.setenv("CODING_AGENTS_STATE", text)
    (home / ".claude").mkdir(parents=True)  # the tmpfs mount
    return package.state, json.loads(text), home


def test_stub_link_makes_kept_entries_symlinks_into_the_store(stub_state):
    state, spec, home = stub_state
    state.link(spec)
    folder, store = home / ".claude", home / ".coding-agents-state" / ".claude"
    assert os.readlink(folder / "projects") == str(store / "projects") and (store / "projects").is_dir()
    assert os.readlink(folder / "history.jsonl") == str(store / "history.jsonl")
    # The CLI writes through the links: on the volume from the first write.
    (folder / "projects" / "t.jsonl").write_text("turn\n")
    with open(folder / "history.jsonl", "a") as appended:  # a dangling link: created on the volume
        appended.write("prompt\n")
    assert (store / "projects" / "t.jsonl").read_text() == "turn\n"
    assert (store / "history.jsonl").read_text() == "prompt\n"


def test_stub_sweep_moves_other_entries_but_never_a_login_or_a_token(stub_state, capsys):
    state, spec, home = stub_state
    state.link(spec)
    folder, store = home / ".claude", home / ".coding-agents-state" / ".claude"
    (folder / ".credentials.json").write_bytes(TOKEN)
    (folder / "settings.json").write_text("{}")
    (folder / "statsig").mkdir()
    (folder / "statsig" / "ids").write_text("x")
    (folder / "statsig" / "login.json").write_bytes(TOKEN)
    (folder / "todos.json").write_text('{"todo": 1}')
    (folder / "new-token.json").write_bytes(TOKEN)

    skipped = state.sweep(spec)

    assert (store / "statsig" / "ids").read_text() == "x" and (store / "todos.json").exists()
    assert os.readlink(folder / "todos.json") == str(store / "todos.json")
    for name in (".credentials.json", "settings.json", "new-token.json"):
        assert not (store / name).exists() and not (folder / name).is_symlink()
    assert not (store / "statsig" / "login.json").exists()
    assert (folder / "statsig").is_dir() and not (folder / "statsig").is_symlink()  # held a token: stays
    assert sorted(Path(path).name for path in skipped) == ["login.json", "new-token.json"]
    assert "holds a token: it stays on the tmpfs" in capsys.readouterr().err


def test_stub_a_restart_links_back_what_the_last_run_swept(stub_state):
    state, spec, home = stub_state
    state.link(spec)
    folder = home / ".claude"
    (folder / "plugins-cache").mkdir()
    (folder / "plugins-cache" / "a").write_text("a")
    state.sweep(spec)
    for entry in folder.iterdir():  # docker restart: the tmpfs is empty again
        entry.unlink() if entry.is_symlink() or entry.is_file() else None
    state.link(spec)
    assert (folder / "plugins-cache" / "a").read_text() == "a" and (folder / "plugins-cache").is_symlink()


def test_stub_state_save_copies_without_moving(stub_state):
    state, spec, home = stub_state
    folder = home / ".claude"
    (folder / "notes.txt").write_text("n")
    assert state.state_save() == 0
    assert (home / ".coding-agents-state" / ".claude" / "notes.txt").read_text() == "n"
    assert not (folder / "notes.txt").is_symlink()


def test_stub_state_receive_writes_only_the_layouts_plain_files(stub_state, archive_path, monkeypatch, capsys):
    state, spec, home = stub_state
    rewrite(archive_path, lambda name, data: (name, data))  # as is
    with tarfile.open(archive_path) as tar:
        items = [(member.name, tar.extractfile(member).read()) for member in tar if member.isfile()]
    items += [("state/.claude/.credentials.json", TOKEN), ("state/.claude/../escape", b"x"), ("elsewhere", b"x")]
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in items:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(buffer))

    assert state.state_receive() == 0

    store = home / ".coding-agents-state" / ".claude"
    assert json.loads(capsys.readouterr().out) == {"files": 2}
    assert (store / "projects" / "-workspace" / "abc.jsonl").exists() and (store / "history.jsonl").exists()
    assert not (store / ".credentials.json").exists() and not (home / ".coding-agents-state" / "escape").exists()


def test_stub_size_watcher_warns_once_over_the_limit(stub_state, capsys):
    state, spec, home = stub_state
    spec["limit"] = 10
    state.link(spec)
    (home / ".claude" / "history.jsonl").write_text("x" * 20)
    watcher = state.SizeWatcher(spec, interval=0)
    watcher.poll()
    watcher.poll()
    assert capsys.readouterr().err.count("over [sessions] state_size") == 1


# --- the launch: the layout's variable, --resume's command ------------------------------------------


def test_plan_launch_gives_the_stub_its_layout_and_size():
    from agents.session import planner
    from tests.unit.test_session_planner import make_request, values_of

    plan = planner.plan_launch(make_request(state_size=5 * 1024**3))
    given = [value for value in values_of(plan.create_argv, "--env") if value.startswith(naming.STATE_VAR + "=")]
    assert len(given) == 1
    assert json.loads(given[0].split("=", 1)[1]) == history.layout_spec(CLAUDE, 5 * 1024**3)


@pytest.mark.parametrize(("agent", "tail"), [("claude", ["--resume"]), ("codex", ["--no-daemon", "resume", "--last"]),
                                            ("gemini", ["--resume", "latest"]), ("copilot", ["--continue"])])
def test_resume_continues_the_last_conversation_interactively_only(agent, tail):
    from agents.session import planner
    from tests.unit.test_session_planner import make_request

    row = catalog.get_agent(agent)
    resumed = planner.agent_command(make_request(agent=row, resume="/h/x.tar.gz"))
    assert resumed[-len(tail):] == tail
    assert planner.agent_command(make_request(agent=row))[-len(tail):] != tail
    prompted = planner.agent_command(make_request(agent=row, resume="/h/x.tar.gz", prompt="go"))
    assert prompted == planner.agent_command(make_request(agent=row, prompt="go"))
    # A user's own command (not the CLI) gets no CLI flags.
    mine = catalog.custom_agent("mine", agent, command=("sleep", "infinity"))
    assert planner.agent_command(make_request(agent=mine, resume="/h/x.tar.gz")) == ["sleep", "infinity"]
