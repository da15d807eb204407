"""Agent state that lasts: each real CLI's transcript, written against the scripted model server,
survives `docker restart` and a stop and start; its login stays on the tmpfs (never in the home
volume or an export); remove-agent keeps the history for `--resume`; export and import round-trip.
"""

# ruff: noqa: F811 - the real-agents fixtures are imported, then taken by name as parameters
from __future__ import annotations

import io
import json
import secrets
import tarfile
import time
from pathlib import Path

import pytest

from agents import catalog
from tests.integration.conftest import agent_screen, container_state, docker, inside, wait_for
from tests.integration.test_real_agents import (  # noqa: F401 - fixtures
    CLIS,
    Home,
    cli_run,
    home,
    model_server,
    new_repo,
)

# A login file for each CLI that its API-key setup here does not use: it must reach the session's
# tmpfs and never a disk. (Copilot's config.json holds tokens beside settings: the whole file stays.)
CANARY_LOGINS = {
    "claude": (".claude/.credentials.json", lambda canary: {"claudeAiOauth": {
        "accessToken": canary, "refreshToken": canary, "expiresAt": 4102444800000, "scopes": []}}),
    "codex": (".codex/auth.json", lambda canary: {"OPENAI_API_KEY": canary}),
    "gemini": (".gemini/oauth_creds.json", lambda canary: {"access_token": canary, "refresh_token": canary}),
    "copilot": (".copilot/config.json", lambda canary: {"copilotTokens": {"https://github.com:u": canary}}),
}
STORE = "/home/agent/.coding-agents-state"


def plant_login(home: Home, agent: str) -> str:
    canary = "canary-" + secrets.token_hex(12)
    relative, content = CANARY_LOGINS[agent]
    path = home.path / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content(canary)))
    path.chmod(0o600)
    return canary


def home_volume_bytes(name: str) -> dict[str, bytes]:
    """Every file of the stopped session's home as the engine keeps it (a tmpfs is not there)."""
    assert container_state(name) in ("exited", "created"), container_state(name)
    dumped = docker("cp", f"{name}:/home/agent/.", "-", timeout=300).stdout
    found = {}
    with tarfile.open(fileobj=io.BytesIO(dumped)) as tar:
        for member in tar:
            if member.isfile():
                found[member.name.removeprefix("./")] = tar.extractfile(member).read()
    return found


def archive_files(path: Path) -> tuple[dict, dict[str, bytes]]:
    with tarfile.open(path) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
        return manifest, {member.name: tar.extractfile(member).read() for member in tar
                          if member.isfile() and member.name != "manifest.json"}


def run_prompt(cli_run, home: Home, agent: str, repo: Path, prompt: str, *flags: str):
    done = cli_run("launch-agent", agent, str(repo), "--prompt", prompt, "--allow-host-port", str(home.port), *flags,
                   env=home.env, timeout=600)
    assert done.returncode == 0, done.output
    return done


def wait_stopped(name: str) -> None:
    wait_for(lambda: container_state(name) == "exited", 180, f"{name}'s CLI to finish its prompt again")


@pytest.mark.parametrize("agent", CLIS)
def test_history_survives_restarts_and_the_login_never_reaches_a_disk(agent, home, tmp_path, model_server, cli_run):
    canary = plant_login(home, agent)
    marker = f"PINEAPPLE-{secrets.token_hex(4)}"
    model_server.script([{"text": f"noted {marker}"}])
    repo = new_repo(tmp_path, agent)
    name = f"{agent}-{repo.name}-session-1"

    run_prompt(cli_run, home, agent, repo, f"remember the word {marker}")

    stored = home_volume_bytes(name)
    # The CLI's transcript files (a sqlite journal, which a later run folds into its database, aside).
    transcripts = [path for path, data in stored.items() if path.startswith(".coding-agents-state/")
                   and marker.encode() in data and not path.endswith(("-wal", "-shm", "-journal"))]
    assert transcripts, sorted(stored)
    assert not any(canary.encode() in data for data in stored.values()), "the login reached the home volume"

    # docker restart: the tmpfs is empty again, the store is not; the CLI runs its prompt again.
    second = f"MANGO-{secrets.token_hex(4)}"
    model_server.script([{"text": f"noted {second}"}])
    docker("restart", name)
    wait_for(lambda: any(second.encode() in json.dumps(record.get("body")).encode()
                         for record in model_server.requests()) or container_state(name) == "exited",
             180, "the restarted CLI to ask the model")
    wait_stopped(name)
    stored = home_volume_bytes(name)
    assert all(path in stored for path in transcripts), \
        f"lost in the restart: {sorted(set(transcripts) - set(stored))}"
    assert not any(canary.encode() in data for data in stored.values())

    # Stopped, then started by our CLI (`start`: what connect-agent does for a stopped session).
    started = cli_run("start", name, env=home.env)
    assert started.returncode == 0, started.output
    wait_stopped(name)
    stored = home_volume_bytes(name)
    assert all(path in stored for path in transcripts)

    # An export of the stopped session: the transcript, checksums, no login, no key.
    archive = tmp_path / "history.tar.gz"
    exported = cli_run("history", "export", name, str(archive), env=home.env)
    assert exported.returncode == 0, exported.output
    manifest, files = archive_files(archive)
    assert manifest["branch"] == f"{agent}/session-1" and manifest["agent"] == agent
    assert any(marker.encode() in data for data in files.values())
    everything = b"".join(files.values())
    assert canary.encode() not in everything and f"test-key-{agent}".encode() not in everything
    assert oct(archive.stat().st_mode & 0o777) == "0o600"


@pytest.mark.parametrize("agent", CLIS)
def test_remove_keeps_the_history_and_resume_starts_from_it(agent, home, tmp_path, model_server, cli_run):
    marker = f"KIWI-{secrets.token_hex(4)}"
    model_server.script([{"text": f"noted {marker}"}])
    repo = new_repo(tmp_path, agent)
    name = f"{agent}-{repo.name}-api"
    run_prompt(cli_run, home, agent, repo, f"remember the word {marker}", "--branch", "api")

    removed = cli_run("remove-agent", name, env=home.env)
    assert removed.returncode == 0, removed.output
    assert "kept its history" in removed.stderr + removed.stdout, removed.output
    assert container_state(name) is None

    refused = cli_run("launch-agent", agent, str(repo), "--branch", "other", "--resume", env=home.env)
    assert refused.returncode != 0 and "no history of" in refused.stderr, refused.output

    model_server.script([{"text": "continuing"}])
    resumed = run_prompt(cli_run, home, agent, repo, "what was the word?", "--branch", "api", "--resume")
    assert "==> history:" in resumed.output, resumed.output
    stored = home_volume_bytes(name)
    assert any(marker.encode() in data for path, data in stored.items() if path.startswith(".coding-agents-state/"))

    # Export, then import (as on another machine, into the same project): --resume takes it.
    archive = tmp_path / "moved.tar.gz"
    assert cli_run("history", "export", name, str(archive), env=home.env).returncode == 0
    assert cli_run("remove-agent", name, env=home.env).returncode == 0
    imported = cli_run("history", "import", str(archive), str(repo), env=home.env)
    assert imported.returncode == 0, imported.output
    assert f"launch-agent {agent} --branch api --resume" in imported.stdout

    # Interactive, the CLI is started to continue its last conversation, and it does not give up.
    launched = cli_run("launch-agent", agent, str(repo), "--branch", "api", "--resume", "--allow-host-port",
                       str(home.port), env=home.env)
    assert launched.returncode == 0, launched.output
    time.sleep(8)
    assert container_state(name) == "running", agent_screen(name)
    assert inside(name, "tmux list-panes -t agent -F '#{pane_dead}'").stdout.strip() == "0", agent_screen(name)
    running = inside(name, "ps -eo args").stdout
    assert " ".join(catalog.get_agent(agent).resume_args) in running, running


def test_codex_keeps_its_databases_on_the_volume_while_it_runs(home, tmp_path, model_server, cli_run):
    """Codex's sqlite databases are open for as long as it runs: they must be on the home volume
    from the start (CODEX_SQLITE_HOME into a kept folder), not on the 64 MB tmpfs until it ends."""
    repo = new_repo(tmp_path, "codex")
    launched = cli_run("launch-agent", "codex", str(repo), "--allow-host-port", str(home.port), env=home.env,
                       timeout=300)
    assert launched.returncode == 0, launched.output
    name = "codex-" + repo.name + "-session-1"
    # Its databases exist once its screen is up; wait for one of them in the store.
    databases = wait_for(lambda: inside(name, f"ls {STORE}/.codex/sqlite", check=False).stdout.split(), 120,
                         "Codex to open its databases")
    assert any(entry.endswith(".sqlite") for entry in databases), databases
    assert inside(name, "readlink /home/agent/.codex/sqlite").stdout.strip() == f"{STORE}/.codex/sqlite"
    assert inside(name, "echo $CODEX_SQLITE_HOME").stdout.strip() == "/home/agent/.codex/sqlite"
    # Positive control of the next check: the tmpfs does hold the login file the launch wrote.
    on_tmpfs = inside(name, "find /home/agent/.codex -xdev -type f").stdout.split()
    assert "/home/agent/.codex/auth.json" in on_tmpfs or "/home/agent/.codex/config.toml" in on_tmpfs, on_tmpfs
    assert not [path for path in on_tmpfs if ".sqlite" in path], on_tmpfs
    assert container_state(name) == "running" and "sqlite" not in agent_screen(name).lower(), agent_screen(name)
    removed = cli_run("remove-agent", name, env=home.env)
    assert removed.returncode == 0, removed.output


def test_copilot_keeps_its_session_store_on_the_volume_while_it_runs(home, tmp_path, model_server, cli_run):
    """Copilot's session-store.db is a sqlite database, open while it runs: it is a kept entry (a
    link into the store), and sqlite puts its -wal and -shm beside the file the link points to."""
    repo = new_repo(tmp_path, "copilot")
    launched = cli_run("launch-agent", "copilot", str(repo), "--allow-host-port", str(home.port), env=home.env,
                       timeout=300)
    assert launched.returncode == 0, launched.output
    name = "copilot-" + repo.name + "-session-1"
    model_server.script([{"text": "ok"}])
    # It opens the store with its first conversation.
    wait_for(lambda: "/ commands" in agent_screen(name), 120, "Copilot's prompt")
    inside(name, "tmux send-keys -t agent 'say ok' Enter")
    stored = wait_for(lambda: "session-store.db-wal" in inside(name, f"ls {STORE}/.copilot", check=False).stdout,
                      120, "Copilot to open its session store")
    assert stored
    assert inside(name, "readlink /home/agent/.copilot/session-store.db").stdout.strip() == \
        f"{STORE}/.copilot/session-store.db"
    on_tmpfs = inside(name, "find /home/agent/.copilot -xdev -type f").stdout.split()
    assert "/home/agent/.copilot/config.json" in on_tmpfs, on_tmpfs  # positive control: the tmpfs's own files
    assert not [path for path in on_tmpfs if "session-store" in path], on_tmpfs
    assert container_state(name) == "running", agent_screen(name)
    removed = cli_run("remove-agent", name, env=home.env)
    assert removed.returncode == 0, removed.output
