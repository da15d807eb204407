"""The real agent CLIs used interactively, the way a user uses them, against a scripted model.

Each session is launched by our CLI (`launch-agent X REPO`), and the test attaches like a user: a
real terminal (a pane of a private host tmux server) running `coding-agents connect-agent NAME`.
It waits for the CLI's prompt, types a prompt and Enter; the scripted model
(tests/integration/servers/model_server.py, see test_real_agents.py) makes the CLI run a shell
command that writes a file and commits it. The commit must appear in the session's workspace and,
after `remove-agent`, in the host repo.

- full autonomy (the default): no approval prompt and no first-run dialog may show at any point;
  every screen seen while waiting is checked for each CLI's approval and first-run wording;
- `--ask`: the CLI's own approval prompt shows, nothing runs until the test answers it with the
  CLI's approve key, and then the command really runs (Codex: not in its bubblewrap sandbox);
- a named endpoint: the model server reached as model.test on the session's egress network,
  allowlisted because the config points the CLI there;
- `inspect --json` shows what the CLI was told in each mode, and that is what runs.

The CLIs' wording below was read off their screens (Claude Code 2.1.332, codex-cli 0.171.0,
Gemini CLI 0.61.0, Copilot CLI 1.0.102).
"""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path

import pytest

from tests.integration.conftest import (
    RUN_ID,
    TEST_LABEL,
    container_state,
    docker,
    git,
    inside,
    launched_name,
    make_repo,
    wait_for,
    write_config,
)
from tests.integration.test_real_agents import (  # noqa: F401 - fixtures are used by name
    CLIS,
    HOST_ALIAS,
    SERVERS,
    Home,
    ModelServer,
    _healthy,
    built_images_base,
    cli_run,
    home,
    model_server,
    network_decisions,
    proof_script,
)
from tests.integration.test_tmux import HostTmux

PROMPT = "write the proof file and commit it"
CLAUDE_KEY = "test-key-claude"  # what endpoint_config gives Claude

# The CLI's prompt is up and takes typing (Claude's: the line under it, which names the mode),
# and the mode shown, where the CLI shows one.
READY = {"codex": "Ask Codex to do anything", "gemini": "Type your message", "copilot": "/ commands"}
MODE_SHOWN = {
    "claude": {"full": "bypass permissions on", "ask": "manual mode on"},
    "codex": {"full": "permissions: YOLO mode"},
    "gemini": {"full": "YOLO Ctrl+Y", "ask": "Shift+Tab to accept edits"},
    "copilot": {},
}


def ready(agent: str, mode: str) -> str:
    return READY.get(agent) or MODE_SHOWN[agent][mode]


# Each CLI's approval prompt for a shell command, and the key that approves it once.
APPROVAL = {
    "claude": ("Do you want to proceed?", "This command requires approval"),
    "codex": ("Would you like to run the following command?", "requires approval"),
    "gemini": ("Allow execution of", "Allow once"),
    "copilot": ("Do you want to run this command?",),
}
APPROVE_KEYS = {"claude": ("Enter",), "codex": ("y",), "gemini": ("Enter",), "copilot": ("Enter",)}
# The default choice the approve key takes (Enter picks the highlighted one).
APPROVE_CHOICE = {"claude": "❯ 1. Yes", "codex": "Yes, proceed (y)", "gemini": "● 1. Allow once",
                  "copilot": "❯ 1. Yes"}
# First-run dialogs that our first-run answers and autonomy settings must have answered already.
FIRST_RUN = {
    "claude": ("Do you want to use this API key?", "Welcome to Claude Code", "Quick safety check",
               "Bypass Permissions mode", "Choose the text style", "Select login method"),
    "codex": ("Trust this folder?", "allow Codex to work in this folder", "Sign in with ChatGPT",
              "Welcome to Codex", "Update available"),
    "gemini": ("Do you trust", "Trust folder (", "How would you like to authenticate"),
    "copilot": ("Do you trust the files in this folder?", "Please use /login"),
}
# A CLI's own sandbox failing inside the container (Codex's bubblewrap): the command did not run.
INNER_SANDBOX = ("bwrap:", "No permissions to create a new namespace", "requires bubblewrap")


# --- a user's terminal ---------------------------------------------------------------------------


class Screen:
    """`coding-agents connect-agent NAME` in a pane of a private host tmux server, watched.

    Every capture is checked for the wording that must never show (first-run dialogs, and in full
    autonomy every approval prompt), so a dialog that flashes by between two waits still fails.
    """

    def __init__(self, terminal: HostTmux, pyz: Path, name: str, never: tuple[str, ...]):
        self.terminal = terminal
        self.name = name
        self.never = never
        self.pane = terminal.open(str(pyz), "connect-agent", name)
        self.last = ""

    def capture(self) -> str:
        self.last = self.terminal.screen(self.pane)
        for phrase in self.never:
            assert phrase not in self.last, f"{self.name} showed {phrase!r}:\n{self.last}"
        return self.last

    def wait(self, check, what: str, timeout: float = 90):
        """Poll the screen until check(screen) is truthy; fail with the last screen."""
        deadline = time.monotonic() + timeout
        while True:
            screen = self.capture()
            value = check(screen)
            if value:
                return value
            if self.terminal.exit_status(self.pane) is not None or container_state(self.name) != "running":
                time.sleep(1)  # the last words of the pane
                raise AssertionError(f"connect-agent {self.name} ended while waiting for {what}; "
                                     f"last screen:\n{self.terminal.screen(self.pane)}")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:g}s waiting for {what}; last screen:\n{screen}")
            time.sleep(0.5)

    def type_prompt(self, text: str) -> None:
        """Type like a user: the text, and Enter once the CLI shows it (Codex treats a burst of
        keys followed at once by Enter as a paste, and the Enter as a newline)."""
        self.terminal.keys(self.pane, "-l", text)
        self.wait(lambda screen: text in screen, "the typed prompt to show", timeout=30)
        self.terminal.keys(self.pane, "Enter")

    def detach(self) -> None:
        self.terminal.keys(self.pane, "C-b", "d")
        self.terminal.wait_exit(self.pane)


@pytest.fixture
def terminal(home, cli_env, tmp_path):
    status = tmp_path / "pane-status"
    status.mkdir()
    server = HostTmux({**cli_env, **home.env}, status)
    yield server
    server.kill()


@pytest.fixture
def user(home) -> Home:
    """The Home fixture's user: every CLI pointed at the model server by [agents.NAME] env. Claude
    asks once per key ("Do you want to use this API key?"); for a key given to the session the
    session has answered yes already (catalog KeyApproval), so that dialog must never show."""
    return home


# --- helpers -------------------------------------------------------------------------------------


def launch(cli_run, user: Home, agent: str, repo: Path, *flags: str) -> str:
    done = cli_run("launch-agent", agent, str(repo), *flags, env=user.env, timeout=300)
    return launched_name(done)


def workspace_subject(name: str) -> str:
    return inside(name, "git -C /workspace log -1 --format=%s", check=False).stdout.strip()


def told_the_model(model_server, text: str) -> bool:
    """Whether text came back to the model in a request of the conversation (a tool result)."""
    return any(text in json.dumps(record.get("body")) for record in model_server.conversation())


def remove_and_check_host(cli_run, user: Home, name: str, repo: Path, agent: str, message: str) -> None:
    removed = cli_run("remove-agent", name, env=user.env)
    assert removed.returncode == 0, removed.output
    branch = f"{agent}/session-1"
    assert git(repo, "log", "-1", "--format=%s", branch) == message, removed.output
    assert git(repo, "show", f"{branch}:proof.txt") == f"made by {agent}"


def logged(cli_run, user: Home, name: str, host: str, port: int) -> list[dict]:
    """Wait for the proxy's log to show requests to host:port (squid logs a CONNECT tunnel only
    when it closes, and a CLI keeps its connection open for a while)."""
    def found():
        return [d for d in network_decisions(cli_run, user, name) if (d["host"], d["port"]) == (host, port)]

    return wait_for(found, 60, f"the proxy's log of the requests to {host}:{port}", interval=1)


def only_the_model_got_out(decisions: list[dict], agent: str, host: str, port: int) -> None:
    """Every request the proxy let out went to the model."""
    assert (host, port, "allowed") in {(d["host"], d["port"], d["decision"]) for d in decisions}, decisions
    extra = {(d["host"], d["port"]) for d in decisions if d["decision"] == "allowed"} - {(host, port)}
    assert not extra, decisions


# --- 1. full autonomy: the command runs, and no approval or first-run dialog ever shows ----------


@pytest.mark.parametrize("agent", CLIS)
def test_interactive_full_autonomy_runs_the_command_without_asking(agent, user, tmp_path, model_server, cli_run,
                                                                    terminal, pyz):
    steps, message = proof_script(agent)
    model_server.script(steps)
    repo = make_repo(tmp_path / f"{agent}-{secrets.token_hex(3)}")
    name = launch(cli_run, user, agent, repo, "--allow-host-port", str(user.port))

    screen = Screen(terminal, pyz, name, never=FIRST_RUN[agent] + APPROVAL[agent] + INNER_SANDBOX)
    screen.wait(lambda s: ready(agent, "full") in s and "/workspace" in s, f"{agent}'s prompt in /workspace")
    if MODE_SHOWN[agent].get("full"):
        screen.wait(lambda s: MODE_SHOWN[agent]["full"] in s, f"{agent}'s full-autonomy mode", timeout=10)
    screen.type_prompt(PROMPT)

    # The scripted model has the CLI run the proof command; nothing asks, and it commits.
    screen.wait(lambda s: workspace_subject(name) == message, "the commit in the session's workspace")
    commit = inside(name, "git -C /workspace rev-parse HEAD").stdout.strip()
    screen.wait(lambda s: f"{agent} is done" in s, "the model's final message")
    assert told_the_model(model_server, commit), model_server.conversation()
    screen.detach()

    logged(cli_run, user, name, HOST_ALIAS, user.port)
    remove_and_check_host(cli_run, user, name, repo, agent, message)
    assert git(repo, "rev-parse", f"{agent}/session-1") == commit
    only_the_model_got_out(network_decisions(cli_run, user, name), agent, HOST_ALIAS, user.port)


# --- 2. --ask: the CLI's approval prompt shows; answering it runs the command ---------------------

@pytest.mark.parametrize("agent", CLIS)
def test_interactive_ask_shows_the_approval_and_runs_once_approved(agent, user, tmp_path, model_server, cli_run,
                                                                   terminal, pyz):
    steps, message = proof_script(agent)
    name = ask_and_approve(agent, steps, message, user, tmp_path, model_server, cli_run, terminal, pyz)
    remove_and_check_host(cli_run, user, name, tmp_path / "repo", agent, message)


# Codex splits a plain script (no redirection, no substitution) into its commands and checks each
# command's first word against the rules; the proof script above has a redirection, so Codex
# checks it whole (`bash -lc ...`). Each form must ask, and so must a program named by its path.
CODEX_PLAIN = {
    "plain": "cd /workspace && touch proof.txt && git add proof.txt && git commit -q -m '{message}' && git rev-parse HEAD",
    "by-path": "/usr/bin/git -C /workspace commit -q --allow-empty -m '{message}' && /usr/bin/git -C /workspace rev-parse HEAD",
}


@pytest.mark.parametrize("form", CODEX_PLAIN)
def test_codex_ask_asks_before_a_plain_command_and_a_program_by_path(form, user, tmp_path, model_server, cli_run,
                                                                     terminal, pyz):
    message = f"codex ran a {form} command"
    steps = [{"shell": CODEX_PLAIN[form].format(message=message)}, {"text": "codex is done"}]
    name = ask_and_approve("codex", steps, message, user, tmp_path, model_server, cli_run, terminal, pyz)
    rules = inside(name, "cat /home/agent/.codex/rules/coding-agents-ask.rules").stdout
    assert '"git"' in rules and '"/usr/bin/git"' in rules and '"cd"' in rules
    shown = cli_run("inspect", name, "--json", env=user.env)
    told = json.loads(shown.stdout)["manifest"]["agent"]
    assert told["autonomy"] == "ask" and 'approval_policy="on-request"' in told["command"]
    assert list(told["settings"]) == [".codex/rules/coding-agents-ask.rules"], told["settings"]
    assert cli_run("remove-agent", name, env=user.env).returncode == 0
    assert git(tmp_path / "repo", "log", "-1", "--format=%s", "codex/session-1") == message


def ask_and_approve(agent: str, steps: list[dict], message: str, user: Home, tmp_path: Path, model_server,
                    cli_run, terminal, pyz) -> str:
    """launch-agent AGENT --ask; type the prompt; the CLI asks and nothing runs until it is
    approved; then the command runs (no inner sandbox) and the model hears its output. The
    session's name (the repo is tmp_path/repo)."""
    model_server.script(steps)
    repo = make_repo(tmp_path / "repo")
    done = cli_run("launch-agent", agent, str(repo), "--allow-host-port", str(user.port), "--ask", env=user.env,
                   timeout=300)
    name = launched_name(done)

    screen = Screen(terminal, pyz, name, never=FIRST_RUN[agent] + INNER_SANDBOX)
    screen.wait(lambda s: ready(agent, "ask") in s, f"{agent}'s prompt")
    if MODE_SHOWN[agent].get("ask"):
        screen.wait(lambda s: MODE_SHOWN[agent]["ask"] in s, f"{agent}'s ask mode", timeout=10)
    full_marker = MODE_SHOWN[agent].get("full")
    assert not full_marker or full_marker not in screen.last, screen.last
    screen.type_prompt(PROMPT)

    # The CLI asks, and the command waits for the answer.
    asking = screen.wait(lambda s: all(phrase in s for phrase in APPROVAL[agent]) and s, f"{agent}'s approval prompt")
    assert APPROVE_CHOICE[agent] in asking, asking
    assert workspace_subject(name) != message, "the command ran before it was approved"
    screen.terminal.keys(screen.pane, *APPROVE_KEYS[agent])

    # Approved once: it really runs (no inner sandbox), commits, and the model hears the commit.
    screen.wait(lambda s: workspace_subject(name) == message, "the commit after approval")
    commit = inside(name, "git -C /workspace rev-parse HEAD").stdout.strip()
    screen.wait(lambda s: f"{agent} is done" in s, "the model's final message")
    assert told_the_model(model_server, commit), model_server.conversation()
    assert not any(told_the_model(model_server, text) for text in INNER_SANDBOX)
    screen.detach()
    return name


# --- 3. a named endpoint: the model server as model.test on the session's egress network ---------


@pytest.fixture(params=[80, 8000], ids=["port-80", "port-8000"])
def named_server(request, docker_engine, built_images) -> ModelServer:
    """A model server of this test's own, listening on the param port (published for the control
    calls); the test joins it to the session's egress network under a name."""
    port = request.param
    name = f"ca-model-{RUN_ID}-{secrets.token_hex(3)}"
    docker("run", "--detach", "--name", name, "--label", f"{TEST_LABEL}={RUN_ID}",
           "--publish", f"127.0.0.1::{port}", "--read-only", "--cap-drop", "ALL",
           "--sysctl", "net.ipv4.ip_unprivileged_port_start=0",
           "--volume", f"{SERVERS}:/srv:ro", built_images_base(),
           "python3", "/srv/model_server.py", "--port", str(port))
    try:
        published = docker("port", name, f"{port}/tcp").stdout.decode().split()[0]
        server = ModelServer(name, int(published.rsplit(":", 1)[1]))
        wait_for(lambda: _healthy(server), 30, "the named model server")
        server.inner_port = port
        yield server
    finally:
        docker("rm", "--force", name, check=False)


# The proxy lets plain HTTP out on port 80 only (and CONNECT on 443), also to an endpoint's host.



def test_named_endpoint_is_allowlisted_and_answers_the_interactive_cli(user, tmp_path, named_server, cli_run,
                                                                       terminal, pyz):
    agent = "claude"
    endpoint = "model.test"
    port = named_server.inner_port
    url = f"http://{endpoint}" + ("" if port == 80 else f":{port}")
    table = f'[agents.claude]\nenv = {{ ANTHROPIC_BASE_URL = "{url}", ANTHROPIC_API_KEY = "{CLAUDE_KEY}" }}\n'
    write_config(user.path, table, "[network]\nblock_private = false\n")  # the server has a private address
    steps, message = proof_script(agent)
    named_server.script(steps)
    repo = make_repo(tmp_path / f"{agent}-{secrets.token_hex(3)}")
    name = launch(cli_run, user, agent, repo)  # no --allow-domain, no --allow-host-port

    shown = cli_run("inspect", name, "--json", env=user.env)
    assert shown.returncode == 0, shown.output
    manifest = json.loads(shown.stdout)["manifest"]
    assert endpoint in manifest["allow"], manifest["allow"]
    assert manifest["host_ports"] == [], manifest
    assert manifest["agent"]["endpoint_hosts"] == [endpoint], manifest["agent"]
    labels = json.loads(docker("inspect", "--format", "{{json .Config.Labels}}", name).stdout)
    assert endpoint in labels["coding-agents.allow"].split(), labels

    egress = f"{name}-egress"
    docker("network", "connect", "--alias", endpoint, egress, named_server.container)
    try:
        screen = Screen(terminal, pyz, name, never=FIRST_RUN[agent] + APPROVAL[agent])
        screen.wait(lambda s: ready(agent, "full") in s, f"{agent}'s prompt")
        screen.type_prompt(PROMPT)
        screen.wait(lambda s: workspace_subject(name) == message, "the commit in the session's workspace")
        screen.wait(lambda s: f"{agent} is done" in s, "the model's final message")
        screen.detach()
        hosts = {record["headers"].get("Host") or record["headers"].get("host")
                 for record in named_server.conversation()}
        assert hosts == {url.removeprefix("http://")}, hosts
        logged(cli_run, user, name, endpoint, port)
    finally:
        docker("network", "disconnect", "--force", egress, named_server.container, check=False)
    remove_and_check_host(cli_run, user, name, repo, agent, message)
    decisions = network_decisions(cli_run, user, name)
    assert (endpoint, port, "allowed") in {(d["host"], d["port"], d["decision"]) for d in decisions}, decisions
    assert not {d["host"] for d in decisions if d["decision"] == "allowed"} - {endpoint}, decisions


# --- 4. inspect: what the CLI was told in each mode, and that is what runs ------------------------


def running_command(name: str) -> list[str]:
    """The agent's command line as ca-stub runs it (after its `--`)."""
    argv = docker("exec", name, "cat", "/proc/1/cmdline").stdout.decode().split("\0")[:-1]
    return argv[argv.index("--", argv.index("session")) + 1:]  # docker-init -- ca-stub session ... -- CMD


def running_environment(name: str) -> dict[str, str]:
    """The environment of the agent's own process (the child of its tmux pane's shell)."""
    script = 'cat /proc/$(pgrep -P "$(tmux display-message -p -t agent "#{pane_pid}")" | head -1)/environ'
    text = inside(name, script).stdout
    return dict(item.split("=", 1) for item in text.split("\0") if "=" in item)


def test_inspect_shows_what_claude_was_told_in_full_and_ask(user, tmp_path, model_server, cli_run):
    from agents.catalog import get_agent

    claude = get_agent("claude")
    repo = make_repo(tmp_path / f"claude-{secrets.token_hex(3)}")
    names = {"full": launch(cli_run, user, "claude", repo, "--allow-host-port", str(user.port)),
             "ask": launch(cli_run, user, "claude", repo, "--allow-host-port", str(user.port), "--ask")}
    told = {}
    for mode, name in names.items():
        shown = cli_run("inspect", name, "--json", env=user.env)
        assert shown.returncode == 0, shown.output
        told[mode] = json.loads(shown.stdout)["manifest"]["agent"]
        assert told[mode]["name"] == "claude"
        assert told[mode]["autonomy"] == mode
        assert told[mode]["command"] == claude.with_told(claude.command, mode)
        assert running_command(name) == told[mode]["command"]
        environment = running_environment(name)
        for key, value in told[mode]["env"].items():
            assert environment.get(key) == value, (mode, key)
        # Pointed at the user's endpoint by [agents.claude] env, which inspect names (not its values).
        assert set(told[mode]["endpoint_env"]) == {"ANTHROPIC_BASE_URL", "ANTHROPIC_API_KEY"}
        assert told[mode]["endpoint_hosts"] == [HOST_ALIAS]
        assert CLAUDE_KEY not in shown.stdout

    # full: no permission prompts, and the flag's one-time warning answered; ask: Claude's own prompts.
    assert told["full"]["command"] == ["claude", "--dangerously-skip-permissions"]
    assert told["full"]["settings"] == {".claude/.claude.json": {"bypassPermissionsModeAccepted": True}}
    assert told["ask"]["command"] == ["claude", "--permission-mode", "default"]
    assert "bypassPermissionsModeAccepted" not in json.dumps(told["ask"].get("settings", {}))
    # Both modes: nothing non-essential leaves (no telemetry, no update checks).
    for mode in ("full", "ask"):
        assert told[mode]["env"]["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"] == "1"
        assert told[mode]["env"]["DISABLE_TELEMETRY"] == "1"
