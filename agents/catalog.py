"""The agents this tool knows, as data. Adding an agent is adding a row.

Every version this project pins lives in this file.
"""

from __future__ import annotations

import json

from agents.errors import AgentsError, UsageError
from agents.records import record

# Node.js and npm come as tarballs from the npm registry (packages node-linux-<arch>, npm).
NODE_VERSION = "22.23.3"
NPM_VERSION = "11.21.2"
DEBIAN_SUITE = "bookworm"
# MCP servers of the built-in catalog (agents/mcp/servers.py) that are npm packages: in every image.
MCP_NPM_PACKAGES = ("@playwright/mcp@0.0.83", "@upstash/context7-mcp@4.1.1")
DEFAULT_BASE_IMAGE = "debian:bookworm-slim"
IMAGE_PREFIX = "coding-agents-"
OS_IMAGE = f"{IMAGE_PREFIX}os:{DEBIAN_SUITE}"  # made by `images bootstrap-base`
COPILOT_PACKAGE_DIR = "/opt/copilot-package"


@record(frozen=True)
class Account:
    """Which fields of a login file say whose login it is: a copy that comes back from a session
    must be a refresh of the host's login, never another account's (see logins.account_refusal).

    A field is a path of keys into the JSON file; "@jwt" reads the claims of the token found there
    (not verified here: the provider checks the signature whenever the token is used).
    """

    # The account's ids: where the host's file has one, the returned file must have the same.
    names: tuple[tuple[str, ...], ...] = ()
    # Never changed by a refresh (an API key): always the same, absence included.
    fixed: tuple[tuple[str, ...], ...] = ()
    # When the host's file names no account: what must stay the same instead (a token that a
    # refresh keeps). A host file with none of these fields holds no login yet.
    continuity: tuple[tuple[str, ...], ...] = ()


@record(frozen=True)
class LoginFile:
    """One file of a CLI's login state, copied from the host home into the container's home.

    secret files (tokens) are copied back when the CLI refreshes them; the others are only
    seeded (and get the first-run answers merged in).
    """

    host: str  # relative to the host's home
    container: str  # relative to the agent user's home
    secret: bool = True
    # A variable that moves the host's file, and the file's path under it: ("CODEX_HOME", "auth.json").
    host_moved_by: tuple[str, str] | None = None
    # A file that also holds settings: only these top-level keys come back, merged into the
    # host's file (its other keys, comments and order stay). Empty: the whole file comes back.
    returned_keys: tuple[str, ...] = ()
    account: Account | None = None  # None: any refresh is taken (no way to tell whose it is)


@record(frozen=True)
class HostSettings:
    """Keys of a host config file that come along into the session (e.g. Codex's model provider)."""

    host: str  # relative to the host's home
    container: str  # relative to the agent user's home
    format: str  # toml | json
    keys: tuple[str, ...]
    host_moved_by: tuple[str, str] | None = None
    # Where a chosen key holds endpoint URLs: a path of keys with "*" for any table name.
    url_keys: tuple[tuple[str, ...], ...] = ()


@record(frozen=True)
class FirstRun:
    """Answers to a CLI's first-run questions, merged into one of its config files."""

    container: str  # relative to the agent user's home
    # json (deep-merged) | toml (appended when the table is missing) | prompt-rules (a Codex rules
    # file of ours that asks before every program in the container; content unused)
    format: str
    content: str
    # Skipping onboarding also skips some CLIs' login screen: only do it when a login came along.
    only_when_logged_in: bool = False


@record(frozen=True)
class KeyApproval:
    """A CLI that asks once per API key whether to use it, and keeps the answer in a JSON file:
    a key you gave the session (your login variable or [agents.NAME] env) is answered yes."""

    variable: str  # the key's variable
    container: str  # the JSON file, relative to the agent user's home
    path: tuple[str, ...]  # the list of approved keys in it
    tail: int  # how many of the key's last characters the CLI records
    rejected: str = ""  # the list next to it of keys once answered no (the key is taken out of it)


@record(frozen=True)
class StateLayout:
    """How one CLI folder (a tmpfs, since the login lives there) is split: its login stays on the
    tmpfs; what else the CLI writes there is kept in the session's home volume (docs/agent-state.md).

    kept entries are on the volume from their first write (a symlink into it is made before the CLI
    starts; "name/" is a folder). Any other entry is moved there when the CLI ends and linked back
    at the next start. Never kept: the login files, the files the launch writes at each start
    (config_paths, first-run answers), and secret entries.
    """

    folder: str  # relative to the agent user's home, one of login_dirs
    kept: tuple[str, ...] = ()
    # Names in the folder that hold tokens beside the login files (e.g. MCP OAuth tokens).
    secret: tuple[str, ...] = ()
    # Variables that point state the CLI keeps open while it runs into a kept folder, as
    # (VARIABLE, kept entry): a database moved only when the CLI ends would live on the tmpfs.
    env: tuple[tuple[str, str], ...] = ()


@record(frozen=True)
class HostSetup:
    """The user's own setup of a CLI that comes along, read only: instructions, custom commands,
    agents and skills (files and folders under the CLI's folder), and the non-secret keys of its
    settings file, merged under ours (what decides the boundary is ours)."""

    # Relative to the home, under one of the agent's login_dirs; "name/" is a folder.
    carry: tuple[str, ...] = ()
    settings: str = ""  # the settings file (relative to the home; JSON), "" for none
    # Its top-level keys that come along. Never one that runs a command (hooks, helpers, status
    # lines, notify) or may hold a secret (env, MCP servers): they are simply not listed.
    settings_keys: tuple[str, ...] = ()


AUTONOMY_MODES = ("full", "ask")
DEFAULT_AUTONOMY = "full"


@record(frozen=True)
class Told:
    """What a CLI is told for one purpose: flags right after its program, variables, settings.

    Settings are JSON merged into one of the CLI's files with ours winning: they decide the
    boundary, so the user's own copy of a key never overrides them.
    """

    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    settings: tuple[FirstRun, ...] = ()
    refused: str = ""  # why this CLI cannot work in this mode in our container (then it is refused)


@record(frozen=True)
class Agent:
    name: str
    title: str
    npm_package: str | None  # None: nothing to install beyond the base image
    npm_version: str | None
    command: tuple[str, ...]  # interactive
    prompt_command: tuple[str, ...]  # non-interactive; "{prompt}" is replaced by the text
    version_command: tuple[str, ...]
    config_paths: tuple[str, ...]  # relative to the agent user's home
    mcp_format: str | None  # which native MCP config this CLI reads
    # Environment for the CLI: the image is read-only, so self-updaters must stay off.
    env: tuple[tuple[str, str], ...] = ()
    # What the CLI needs to reach in squid mode: its model API and login hosts.
    allowed_domains: tuple[str, ...] = ()
    # Login state: folders under the home that become tmpfs, the files that go into them,
    # variables that log the CLI in (passed through a 0600 file, never a command line).
    login_dirs: tuple[str, ...] = ()
    login_files: tuple[LoginFile, ...] = ()
    login_env: tuple[str, ...] = ()
    first_run: tuple[FirstRun, ...] = ()
    key_approvals: tuple[KeyApproval, ...] = ()
    image: str | None = None  # a user-defined agent runs in its base agent's image
    # The container is the boundary: per autonomy mode, how the CLI is told to act without its
    # own prompts ("full") or to keep them ("ask"); never an inner sandbox that cannot work here.
    autonomy: tuple[tuple[str, Told], ...] = ()
    # Every mode: no update checks, telemetry or plugin sync (the proxy log shows only the work).
    quiet: Told = Told()
    # Variables that point the CLI at a model endpoint (a URL); their hosts join the allowlist.
    endpoint_env: tuple[str, ...] = ()
    # Keys of the host's own config file that choose the model and provider: (file, keys).
    host_settings: tuple[HostSettings, ...] = ()
    program: str | None = None  # the CLI's executable; autonomy flags go only after it
    # Shell steps run as root when the image is built, after the npm install.
    image_prepare: tuple[str, ...] = ()
    # Variables set when the CLI is pointed at the user's own endpoint (e.g. "talk to nothing else").
    endpoint_quiet: tuple[tuple[str, str], ...] = ()
    base: str | None = None  # a user's own agent: the built-in one it is made from
    # What of the CLI's folder outlives the container (its transcripts, history), as data.
    state: tuple[StateLayout, ...] = ()
    # The user's setup that comes along from the host (read only; `--no-host-setup` turns it off).
    host_setup: HostSetup = HostSetup()
    # Put after the command by `--resume`: the CLI continues its last conversation.
    resume_args: tuple[str, ...] = ()

    @property
    def executable(self) -> str:
        return self.program or self.command[0]

    def told(self, mode: str) -> Told:
        """Everything this CLI is told in an autonomy mode (plus the quiet switches)."""
        chosen = dict(self.autonomy).get(mode, Told())
        return Told(
            args=(*chosen.args, *self.quiet.args),
            env=(*chosen.env, *self.quiet.env),
            settings=(*chosen.settings, *self.quiet.settings),
        )

    def with_told(self, command: tuple[str, ...], mode: str) -> list[str]:
        """command with the autonomy flags after the program; a command that runs something
        else (a user's own script) is left alone."""
        if not command or command[0] != self.executable:
            return list(command)
        return [command[0], *self.told(mode).args, *command[1:]]

    @property
    def image_name(self) -> str:
        """Short image name: agents without a package run in the base image."""
        if self.image:
            return self.image
        return self.name if self.npm_package else "base"

    @property
    def npm_spec(self) -> str | None:
        if self.npm_package is None:
            return None
        return f"{self.npm_package}@{self.npm_version}"



AGENTS: tuple[Agent, ...] = (
    Agent(
        name="copilot",
        title="GitHub Copilot CLI",
        npm_package="@github/copilot",
        npm_version="1.0.102",
        command=("copilot",),
        prompt_command=("copilot", "-p", "{prompt}"),
        version_command=("copilot", "--version"),
        config_paths=(".copilot/config.json", ".copilot/mcp-config.json"),
        mcp_format="copilot-json",
        allowed_domains=("github.com", "api.github.com", ".githubcopilot.com", ".githubusercontent.com"),
        login_dirs=(".copilot",),
        # Holds the token when the user let Copilot store it in plaintext (no keychain here), next
        # to its state (trustedFolders, firstLaunchAt, tips...). The key names are those of the
        # package's runtime (prebuilds/.../runtime.node); settings live in settings.json.
        login_files=(LoginFile(".copilot/config.json", ".copilot/config.json",
                               host_moved_by=("COPILOT_HOME", "config.json"),
                               returned_keys=("copilotTokens", "authTokens", "loggedInUsers", "lastLoggedInUser"),
                               account=Account(names=(("lastLoggedInUser", "host"), ("lastLoggedInUser", "login")),
                                               continuity=(("copilotTokens",), ("authTokens",)))),),
        login_env=("COPILOT_GITHUB_TOKEN", "GH_TOKEN", "GITHUB_TOKEN"),
        first_run=(FirstRun(".copilot/config.json", "json", '{"trustedFolders": ["/workspace"]}'),),
        autonomy=(("full", Told(args=("--allow-all-tools",))), ("ask", Told())),
        # Its package unpacks ~235 MB into the home at each first start (needing exec there):
        # done once in the image instead, read-only, where the variable points.
        env=(("COPILOT_PKG_CACHE_HOME", COPILOT_PACKAGE_DIR),),
        image_prepare=(f"COPILOT_PKG_CACHE_HOME={COPILOT_PACKAGE_DIR} COPILOT_SEA_EXTRACT_ONLY=1 copilot",
                       f"chmod -R a+rX {COPILOT_PACKAGE_DIR}"),
        quiet=Told(env=(("COPILOT_AUTO_UPDATE", "false"),)),
        # BYOK (`copilot help providers`): with COPILOT_OFFLINE=true it talks to nothing else,
        # which would break a GitHub login, so only with the user's own endpoint.
        endpoint_env=("COPILOT_PROVIDER_BASE_URL",),
        endpoint_quiet=(("COPILOT_OFFLINE", "true"),),
        # config.json holds its tokens next to its settings: it stays on the tmpfs, re-made each start.
        # session-store.db is a sqlite database, open while it runs (its -wal and -shm go beside
        # the file a link points to: sqlite follows it).
        state=(StateLayout(".copilot", kept=("session-state/", "history-session-state/",
                                             "command-history-state.json", "logs/", "session-store.db")),),
        host_setup=HostSetup(carry=(".copilot/copilot-instructions.md", ".copilot/agents/", ".copilot/skills/")),
        resume_args=("--continue",),
    ),
    Agent(
        name="codex",
        title="OpenAI Codex CLI",
        npm_package="@openai/codex",
        npm_version="0.171.0",
        # Its app-server daemon copies the codex binary into ~/.codex and runs it from there,
        # which the noexec tmpfs (logins live there) rightly refuses; in-process works the same.
        command=("codex", "--no-daemon"),
        prompt_command=("codex", "exec", "{prompt}"),
        version_command=("codex", "--version"),
        config_paths=(".codex/auth.json", ".codex/config.toml"),
        mcp_format="codex-toml",
        allowed_domains=("api.openai.com", "auth.openai.com", "chatgpt.com", ".chatgpt.com"),
        login_dirs=(".codex",),
        login_files=(LoginFile(
            ".codex/auth.json", ".codex/auth.json", host_moved_by=("CODEX_HOME", "auth.json"),
            account=Account(
                names=(("tokens", "account_id"), ("tokens", "id_token", "@jwt", "sub"),
                       ("tokens", "access_token", "@jwt", "https://api.openai.com/auth", "chatgpt_account_id")),
                fixed=(("OPENAI_API_KEY",),),
                continuity=(("tokens", "refresh_token"),))),),
        login_env=("OPENAI_API_KEY", "CODEX_API_KEY"),
        first_run=(FirstRun(".codex/config.toml", "toml", '[projects."/workspace"]\ntrust_level = "trusted"\n'),),
        # Its own sandbox (bubblewrap) cannot make namespaces in our container: every command
        # would fail. So never that sandbox; the approval policy is what the mode changes.
        autonomy=(
            ("full", Told(args=("-c", 'sandbox_mode="danger-full-access"', "-c", 'approval_policy="never"'))),
            # 0.171 no longer accepts "untrusted", and with its sandbox off "on-request" asks only
            # where a rule says so: so a rules file asks before every program in the container.
            ("ask", Told(args=("-c", 'sandbox_mode="danger-full-access"', "-c", 'approval_policy="on-request"'),
                         settings=(FirstRun(".codex/rules/coding-agents-ask.rules", "prompt-rules", ""),))),
        ),
        quiet=Told(args=("-c", "check_for_update_on_startup=false", "-c", "analytics.enabled=false",
                         "-c", "features.plugins=false", "-c", "features.remote_plugin=false",
                         "-c", 'otel.exporter="none"', "-c", 'otel.metrics_exporter="none"')),
        endpoint_env=("OPENAI_BASE_URL",),
        host_settings=(HostSettings(".codex/config.toml", ".codex/config.toml", "toml",
                                    keys=("model", "model_provider", "model_providers", "model_reasoning_effort"),
                                    host_moved_by=("CODEX_HOME", "config.toml"),
                                    url_keys=(("model_providers", "*", "base_url"),)),),
        # Rollouts (transcripts) by date, the prompt history, and its sqlite databases (state,
        # logs: open while it runs, so in a kept folder of their own from the start).
        # .credentials.json holds MCP OAuth tokens when it has no keyring.
        state=(StateLayout(".codex", kept=("sessions/", "archived_sessions/", "history.jsonl", "log/", "sqlite/"),
                           secret=(".credentials.json",), env=(("CODEX_SQLITE_HOME", "sqlite"),)),),
        # Its settings (model, provider) already come along as host_settings; `notify` runs a command.
        host_setup=HostSetup(carry=(".codex/AGENTS.md", ".codex/prompts/", ".codex/skills/")),
        resume_args=("resume", "--last"),
    ),
    Agent(
        name="claude",
        title="Claude Code",
        npm_package="@anthropic-ai/claude-code",
        npm_version="2.1.332",
        command=("claude",),
        prompt_command=("claude", "-p", "{prompt}"),
        version_command=("claude", "--version"),
        config_paths=(".claude/.credentials.json", ".claude/settings.json", ".claude/.claude.json"),
        mcp_format="claude-json",
        # With CLAUDE_CONFIG_DIR set, .claude.json moves into that folder too: all on one tmpfs.
        env=(("DISABLE_AUTOUPDATER", "1"), ("CLAUDE_CONFIG_DIR", "/home/agent/.claude")),
        allowed_domains=(".anthropic.com", "claude.ai", ".claude.ai", ".claude.com"),
        login_dirs=(".claude",),
        login_files=(
            LoginFile(".claude/.credentials.json", ".claude/.credentials.json",
                      host_moved_by=("CLAUDE_CONFIG_DIR", ".credentials.json"),
                      # A refresh keeps the account ids it stamped on the login (its refresh token rotates).
                      account=Account(names=(("claudeAiOauth", "accountUuid"), ("claudeAiOauth", "organizationUuid")),
                                      continuity=(("claudeAiOauth", "refreshToken"),))),
            # account and preferences, no token
            LoginFile(".claude.json", ".claude/.claude.json", secret=False,
                      host_moved_by=("CLAUDE_CONFIG_DIR", ".claude.json")),
        ),
        login_env=("CLAUDE_CODE_OAUTH_TOKEN", "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"),
        # "Do you want to use this API key?" (customApiKeyResponses, the key's last 20 characters).
        key_approvals=(KeyApproval("ANTHROPIC_API_KEY", ".claude/.claude.json",
                                   ("customApiKeyResponses", "approved"), 20, rejected="rejected"),),
        first_run=(
            FirstRun(".claude/.claude.json", "json", '{"projects": {"/workspace": {"hasTrustDialogAccepted": true}}}'),
            FirstRun(".claude/.claude.json", "json", '{"hasCompletedOnboarding": true}', only_when_logged_in=True),
        ),
        autonomy=(
            # The flag's one-time warning dialog is answered too: the container is the boundary.
            ("full", Told(args=("--dangerously-skip-permissions",),
                          settings=(FirstRun(".claude/.claude.json", "json",
                                             '{"bypassPermissionsModeAccepted": true}'),))),
            ("ask", Told(args=("--permission-mode", "default"))),
        ),
        # Interactive, it also auto-installs its plugin marketplace (downloads.claude.ai, github.com)
        # unless told not to: the first variable does not cover that.
        quiet=Told(env=(("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1"), ("DISABLE_TELEMETRY", "1"),
                        ("CLAUDE_CODE_DISABLE_OFFICIAL_MARKETPLACE_AUTOINSTALL", "1"))),
        endpoint_env=("ANTHROPIC_BASE_URL",),
        # Transcripts per project folder, its file checkpoints, todos and plans, the prompt history.
        # backups/ holds copies of .claude.json (with the approved API keys' tails): never kept.
        state=(StateLayout(".claude", kept=("projects/", "file-history/", "todos/", "plans/", "session-env/",
                                            "shell-snapshots/", "history.jsonl"), secret=("backups",)),),
        # settings.json: never hooks, apiKeyHelper, statusLine, env, awsAuthRefresh, otelHeadersHelper.
        host_setup=HostSetup(carry=(".claude/CLAUDE.md", ".claude/commands/", ".claude/agents/", ".claude/skills/",
                                    ".claude/output-styles/"),
                             settings=".claude/settings.json",
                             settings_keys=("model", "permissions", "outputStyle", "includeCoAuthoredBy",
                                            "alwaysThinkingEnabled", "cleanupPeriodDays", "language", "theme")),
        # Its picker: --continue quits ("No conversation found to continue") when the branch's
        # conversations were all --prompt runs, which interactive Claude 2.1 does not list.
        resume_args=("--resume",),
    ),
    Agent(
        name="gemini",
        title="Gemini CLI",
        npm_package="@google/gemini-cli",
        npm_version="0.61.0",
        command=("gemini",),
        prompt_command=("gemini", "-p", "{prompt}"),
        version_command=("gemini", "--version"),
        config_paths=(".gemini/settings.json",),
        mcp_format="gemini-json",
        allowed_domains=(".googleapis.com", "accounts.google.com"),
        login_dirs=(".gemini",),
        login_files=(
            # google-auth-library keeps the refresh token across refreshes; the id_token names the user.
            LoginFile(".gemini/oauth_creds.json", ".gemini/oauth_creds.json",
                      host_moved_by=("GEMINI_CLI_HOME", ".gemini/oauth_creds.json"),
                      account=Account(names=(("id_token", "@jwt", "sub"),), continuity=(("refresh_token",),))),
            LoginFile(".gemini/google_accounts.json", ".gemini/google_accounts.json",
                      host_moved_by=("GEMINI_CLI_HOME", ".gemini/google_accounts.json"),
                      account=Account(names=(("active",),))),
            # security.auth.selectedType says which login the CLI uses; no token
            LoginFile(".gemini/settings.json", ".gemini/settings.json", secret=False,
                      host_moved_by=("GEMINI_CLI_HOME", ".gemini/settings.json")),
        ),
        login_env=("GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_GENAI_USE_GCA",
                   "GOOGLE_CLOUD_PROJECT"),
        first_run=(FirstRun(".gemini/trustedFolders.json", "json", '{"/workspace": "TRUST_FOLDER"}'),),
        # In its default mode the shell tool is not even offered to the model in -p.
        autonomy=(("full", Told(args=("--approval-mode", "yolo"))), ("ask", Told(args=("--approval-mode", "default")))),
        quiet=Told(settings=(FirstRun(".gemini/settings.json", "json", json.dumps({
            "privacy": {"usageStatisticsEnabled": False}, "telemetry": {"enabled": False},
            "general": {"enableAutoUpdate": False, "enableAutoUpdateNotification": False}})),)),
        endpoint_env=("GOOGLE_GEMINI_BASE_URL", "GOOGLE_VERTEX_BASE_URL"),
        # Chats and logs per project under tmp/, checkpoints under history/, the project ids.
        state=(StateLayout(".gemini", kept=("tmp/", "history/", "projects.json"),
                           secret=("mcp-oauth-tokens.json", "a2a-oauth-tokens.json")),),
        # (Its settings.json comes along whole already: it is one of its login files.)
        host_setup=HostSetup(carry=(".gemini/GEMINI.md", ".gemini/commands/")),
        resume_args=("--resume", "latest"),
    ),
    Agent(
        name="shell",
        title="Login shell (no AI; same sandbox)",
        npm_package=None,
        npm_version=None,
        command=("bash", "-l"),
        prompt_command=("bash", "-lc", "{prompt}"),
        version_command=("bash", "--version"),
        config_paths=(),
        mcp_format=None,
    ),
)


def agent_names(custom: tuple[Agent, ...] = ()) -> list[str]:
    """The built-in agents' names, then those of the user's own [agents.NAME] given."""
    return [agent.name for agent in (*AGENTS, *custom)]


def get_agent(name: str, custom: tuple[Agent, ...] = ()) -> Agent:
    found = find_agent(name, custom)
    if found is None:
        names = agent_names() + [agent.name for agent in custom]
        raise UsageError(f"unknown agent {name!r}", hint="choose one of: " + ", ".join(names))
    return found


def find_agent(name: str, custom: tuple[Agent, ...] = ()) -> Agent | None:
    return next((agent for agent in (*AGENTS, *custom) if agent.name == name), None)


def custom_agent(name: str, base: str, command: tuple[str, ...] | None = None,
                 prompt_command: tuple[str, ...] | None = None, title: str | None = None) -> Agent:
    """A user's own agent ([agents.NAME] in the config): a built-in one with other commands.

    It shares the base agent's image, logins and allowlist, e.g. Codex with extra flags.
    """
    import re

    from agents import records

    if find_agent(name) is not None:
        raise AgentsError(f"[agents.{name}] would replace the built-in agent {name}", hint="pick another name")
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", name):
        raise AgentsError(f"[agents.{name}]: agent names use lowercase letters, digits, '-' and '_'",
                          hint="rename the table, e.g. [agents.my-codex]")
    parent = find_agent(base)
    if parent is None:
        raise AgentsError(f"[agents.{name}] base = {base!r} is not an agent", hint="choose one of: " + ", ".join(agent_names()))
    return records.replace(
        parent,
        name=name,
        title=title or f"{parent.title} ({name})",
        command=command or parent.command,
        prompt_command=prompt_command or parent.prompt_command,
        image=parent.image_name,
        program=parent.executable,  # so a command that runs something else gets no CLI flags
        base=parent.name,
    )


def packaged_agents() -> list[Agent]:
    """Agents that have their own image (an npm package to install)."""
    return [agent for agent in AGENTS if agent.npm_package]


def image_names() -> list[str]:
    """Every image we build, dependencies first: base, one per packaged agent, all, proxy."""
    return ["base", *(agent.name for agent in packaged_agents()), "all", "proxy"]


# --- what other parts derive from the rows (shims, console scripts, the stub, images) --------

# The base image's own programs (images/base/Dockerfile) that `ca-stub versions` reports next to
# the agents: name, version command, and a word the version line holds when it is not the first
# line ("" for the first line).
BASE_PROGRAMS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("node", ("node", "--version"), ""),
    ("npm", ("npm", "--version"), ""),
    ("git", ("git", "--version"), ""),
    ("tmux", ("tmux", "-V"), ""),
    ("socat", ("socat", "-V"), "version"),  # a banner line comes first
)
# Baked next to ca-stub in the base image (agents/images.py), read by the stub.
STUB_DATA_FILE = "programs.json"


def stub_data() -> dict[str, object]:
    """What the in-container stub knows of the programs an image may carry: each row's version
    command, then the base image's tools. The stub holds no list of its own."""
    rows = [(agent.name, agent.version_command, "") for agent in AGENTS]
    return {"programs": [{"name": name, "command": list(command), "line_with": word}
                         for name, command, word in (*rows, *BASE_PROGRAMS)]}


def stub_data_json() -> bytes:
    return (json.dumps(stub_data(), indent=2) + "\n").encode()
