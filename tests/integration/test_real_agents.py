"""The real agent CLIs doing work inside sessions launched by our CLI, against a scripted model.

Only the model is scripted: tests/integration/servers/model_server.py, in a container this module
starts, speaks each CLI's wire API and follows a script (shell tool calls, MCP tool calls, a final
message). Codex, Claude Code, Gemini CLI and Copilot CLI are the real npm packages in our images,
in hardened sessions behind the squid proxy. The server is published on this machine's loopback,
and each session reaches it the way a user reaches a local model server: `--allow-host-port PORT`
and an endpoint on host.coding-agents.internal given in `[agents.NAME] env` (Codex: the host's
own ~/.codex/config.toml provider, which comes along).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import urllib.request
from pathlib import Path

import pytest

from tests.integration.conftest import (
    RUN_ID,
    TEST_LABEL,
    docker,
    git,
    make_repo,
    remove_sessions_under,
    sessions_under,
    wait_for,
    write_config,
)
from tests.integration.test_mcp import echo_server_table

SERVERS = Path(__file__).parent / "servers"
HOST_ALIAS = "host.coding-agents.internal"
CLIS = ("claude", "codex", "gemini", "copilot")
TITLES = {"claude": "Claude Code", "codex": "OpenAI Codex CLI", "gemini": "Gemini CLI", "copilot": "GitHub Copilot CLI"}


# --- the scripted model server ------------------------------------------------------------------


class ModelServer:
    def __init__(self, container: str, port: int):
        self.container = container
        self.port = port

    def _call(self, method: str, path: str, body: object | None = None) -> object:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as answer:
            text = answer.read().decode()
        return json.loads(text) if text.strip().startswith(("[", "{")) else text

    def script(self, steps: list[dict]) -> None:
        self._call("POST", "/_reset", {})
        self._call("POST", "/_script", steps)

    def requests(self) -> list[dict]:
        return self._call("GET", "/_requests")

    def conversation(self) -> list[dict]:
        """The requests that were answered from the script (not side requests)."""
        return [record for record in self.requests() if record.get("step") is not None]


@pytest.fixture(scope="module")
def model_server(docker_engine, built_images) -> ModelServer:
    name = f"ca-model-{RUN_ID}"
    docker("run", "--detach", "--name", name, "--label", f"{TEST_LABEL}={RUN_ID}",
           "--publish", "127.0.0.1::8000", "--read-only", "--cap-drop", "ALL",
           "--volume", f"{SERVERS}:/srv:ro", built_images_base(), "python3", "/srv/model_server.py", "--port", "8000")
    try:
        shown = docker("port", name, "8000/tcp").stdout.decode().split()[0]
        server = ModelServer(name, int(shown.rsplit(":", 1)[1]))
        wait_for(lambda: _healthy(server), 30, "the model server")
        yield server
    finally:
        docker("rm", "--force", name, check=False)


def built_images_base() -> str:
    ref = docker("images", "--format", "{{.Repository}}:{{.Tag}}", "coding-agents-base").stdout.decode().split()
    assert ref, "coding-agents-base is not built"
    return ref[0]


def _healthy(server: ModelServer) -> bool:
    try:
        return server._call("GET", "/_health") == "ok"
    except OSError:
        return False


# --- a user's home that points each CLI at the server --------------------------------------------


def endpoint_config(cli: str, port: int) -> tuple[str, dict[str, str]]:
    """(the [agents.CLI] table for config.toml, files for the host home) that point cli at the server."""
    url = f"http://{HOST_ALIAS}:{port}"
    tables = {
        "claude": {"ANTHROPIC_BASE_URL": url, "ANTHROPIC_API_KEY": "test-key-claude"},
        "codex": {"SCRIPTED_MODEL_KEY": "test-key-codex"},
        "gemini": {"GOOGLE_GEMINI_BASE_URL": url, "GEMINI_API_KEY": "test-key-gemini"},
        "copilot": {"COPILOT_PROVIDER_BASE_URL": f"{url}/v1", "COPILOT_PROVIDER_API_KEY": "test-key-copilot",
                    "COPILOT_MODEL": "test-model"},  # COPILOT_OFFLINE comes with the endpoint
    }
    files = {
        # Codex keeps its provider in its own config file: the host's comes along into the session.
        "codex": {".codex/config.toml": (
            'model_provider = "scripted"\nmodel = "test-model"\n\n[model_providers.scripted]\nname = "scripted"\n'
            f'base_url = "{url}/v1"\nwire_api = "responses"\nenv_key = "SCRIPTED_MODEL_KEY"\n')},
        "gemini": {".gemini/settings.json": json.dumps({"security": {"auth": {"selectedType": "gemini-api-key"}}})},
    }.get(cli, {})
    env = ", ".join(f"{key} = {json.dumps(value)}" for key, value in tables[cli].items())
    return f"[agents.{cli}]\nenv = {{ {env} }}\n", files


class Home:
    """A user's HOME whose config points every CLI at the model server."""

    def __init__(self, path: Path, port: int, extra: str = ""):
        self.path = path
        self.port = port
        tables = []
        for cli in CLIS:
            table, files = endpoint_config(cli, port)
            tables.append(table)
            for relative, text in files.items():
                (path / relative).parent.mkdir(parents=True, exist_ok=True)
                (path / relative).write_text(text)
        write_config(path, *tables, extra)
        self.env = {"HOME": str(path), "XDG_STATE_HOME": str(path / ".local" / "state")}


@pytest.fixture
def home(tmp_path, model_server) -> Home:
    made = Home(tmp_path / "home", model_server.port)
    yield made
    remove_sessions_under(tmp_path)


def new_repo(tmp_path: Path, cli: str) -> Path:
    return make_repo(tmp_path / f"{cli}-{secrets.token_hex(3)}")


def proof_script(cli: str) -> tuple[list[dict], str]:
    """A shell step that writes a file and commits it (printing the commit), then a final message."""
    message = f"{cli} wrote the proof"
    command = (f"cd /workspace && printf 'made by {cli}\\n' > proof.txt && git add proof.txt && "
               f"git commit -q -m '{message}' && git rev-parse HEAD")
    return [{"shell": command}, {"text": f"{cli} is done"}], message


def network_decisions(cli_run, home: Home, name: str) -> list[dict]:
    shown = cli_run("logs", name, "--network", "--json", env=home.env)
    assert shown.returncode == 0, shown.output
    return [json.loads(line) for line in shown.stdout.splitlines() if line.strip()]


# --- 1. prompt mode: the CLI runs the command, the commit comes home, nothing else leaves ---------


@pytest.mark.parametrize("agent", CLIS)
def test_prompt_mode_agent_commits_through_its_shell_tool(agent, home, tmp_path, model_server, cli_run):
    steps, message = proof_script(agent)
    model_server.script(steps)
    repo = new_repo(tmp_path, agent)

    done = cli_run("launch-agent", agent, str(repo), "--prompt", "write the proof file and commit it",
                   "--allow-host-port", str(home.port), env=home.env, timeout=600)

    assert done.returncode == 0, done.output
    name = f"{agent}-{repo.name}-session-1"
    branch = f"{agent}/session-1"
    # The commit arrived in the host repo by the usual sync.
    assert git(repo, "log", "-1", "--format=%s", branch) == message, done.output
    assert git(repo, "show", f"{branch}:proof.txt") == f"made by {agent}"
    commit = git(repo, "rev-parse", branch)
    # The command's output (the commit) went back to the model with the next request.
    conversation = model_server.conversation()
    assert any(commit in json.dumps(record.get("body")) for record in conversation[1:]), conversation
    # Every request left through the proxy, to the model server only, and was allowed.
    decisions = network_decisions(cli_run, home, name)
    assert decisions, "the proxy logged nothing"
    assert {(d["host"], d["port"], d["decision"]) for d in decisions} == {(HOST_ALIAS, home.port, "allowed")}, \
        decisions
    removed = cli_run("remove-agent", name, env=home.env)
    assert removed.returncode == 0, removed.output


# --- 3. MCP: a tool whose key comes from the broker, through the relay and sidecar --------------


def mcp_home(tmp_path: Path, port: int, canary: str, cli_run) -> Home:
    made = Home(tmp_path / "home", port, echo_server_table("echo", "${MCP_TEST_KEY}"))
    stored = cli_run("secrets", "set", "MCP_TEST_KEY", input=canary + "\n", env=made.env)
    assert stored.returncode == 0, stored.output
    return made


@pytest.mark.parametrize("agent", CLIS)
def test_mcp_tool_with_a_broker_key_answers_the_model(agent, tmp_path, model_server, cli_run):
    canary = "canary-" + secrets.token_hex(16)
    home = mcp_home(tmp_path, model_server.port, canary, cli_run)
    model_server.script([{"tool": "hash_secret", "args": {}}, {"text": "hashed"}])
    repo = new_repo(tmp_path, agent)
    try:
        done = cli_run("launch-agent", agent, str(repo), "--prompt", "hash the secret with the echo tool",
                       "--allow-host-port", str(home.port), env=home.env, timeout=600)
        assert done.returncode == 0, done.output
        name = f"{agent}-{repo.name}-session-1"
        # The tool's answer, which only a server holding the key can give, reached the model.
        proof = hashlib.sha256(canary.encode()).hexdigest()
        conversation = model_server.conversation()
        assert any(proof in json.dumps(record.get("body")) for record in conversation), conversation
        # The key itself is nowhere in the agent's container.
        assert canary not in json.dumps(docker("inspect", name).stdout.decode())
        leaked = docker("run", "--rm", "--volume", f"{name}-home:/h:ro", "--volume", f"{name}-workspace:/w:ro",
                        built_images_base(), "grep", "-rl", canary, "/h", "/w", check=False)
        assert leaked.returncode == 1, leaked.stdout.decode()
        assert canary not in done.output
    finally:
        remove_sessions_under(tmp_path)
        stop_brokers(home)


def stop_brokers(home: Home) -> None:
    from tests.integration.test_mcp import Home as McpHome
    from tests.integration.test_mcp import stop_brokers as stop

    stop(McpHome(home.path, Path("/nonexistent"), "", home.env))


# --- 4. restricted mode: the CLI cannot reach the model, and our CLI says why -------------------


@pytest.mark.parametrize("agent", CLIS)
def test_restricted_mode_prompt_is_refused_with_the_reason(agent, home, tmp_path, model_server, cli_run):
    # Tried: Codex waits "for network" forever, the others fail after retries; so we say it first.
    repo = new_repo(tmp_path, agent)

    done = cli_run("launch-agent", agent, str(repo), "--network-proxy", "restricted", "--prompt", "hello",
                   env=home.env)

    assert done.returncode == 1, done.output
    lines = done.stderr.splitlines()
    assert len(lines) == 2, done.stderr
    assert lines[0].startswith("error: --prompt with --network-proxy restricted: ") and TITLES[agent] in lines[0]
    assert "could not reach its model API" in lines[0]
    assert lines[1].startswith("hint: use --network-proxy squid"), done.stderr
    assert sessions_under(tmp_path) == (set(), set())  # nothing was created


def test_restricted_mode_interactive_says_the_model_is_out_of_reach(home, tmp_path, model_server, cli_run):
    model_server.script([{"text": "unreachable"}])
    repo = new_repo(tmp_path, "claude")

    done = cli_run("launch-agent", "claude", str(repo), "--network-proxy", "restricted", env=home.env)

    assert "==> note: no network (restricted): Claude Code cannot reach its model API in this session" in done.stderr
    if done.returncode != 0:  # the CLI gave up at once: our CLI says why, with the network hint
        errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
        assert errors and "no network (restricted)" in errors[0], done.stderr
    assert model_server.requests() == []


@pytest.fixture(scope="module")
def cli_run(pyz, cli_env):
    """Our zipapp with a per-test HOME (and stdin, for `secrets set`)."""
    import subprocess

    from tests.integration.conftest import CliResult

    def run(*args: str, env: dict[str, str] | None = None, input: str | None = None, timeout: float = 600):
        merged = {**cli_env, **(env or {})}
        done = subprocess.run([str(pyz), *args], capture_output=True, text=True, env=merged, input=input,
                              timeout=timeout)
        return CliResult(done.returncode, done.stdout, done.stderr)

    return run
