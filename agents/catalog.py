"""The agents this tool knows, as data. Adding an agent is adding a row.

Every version this project pins lives in this file.
"""

from __future__ import annotations

from dataclasses import dataclass

from agents.errors import AgentsError

# Node.js and npm come as tarballs from the npm registry (packages node-linux-<arch>, npm).
NODE_VERSION = "22.23.3"
NPM_VERSION = "11.21.2"
DEBIAN_SUITE = "bookworm"
DEFAULT_BASE_IMAGE = "debian:bookworm-slim"
IMAGE_PREFIX = "coding-agents-"
OS_IMAGE = f"{IMAGE_PREFIX}os:{DEBIAN_SUITE}"  # made by `images bootstrap-base`


@dataclass(frozen=True)
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

    @property
    def npm_spec(self) -> str | None:
        if self.npm_package is None:
            return None
        return f"{self.npm_package}@{self.npm_version}"

    @property
    def image_name(self) -> str:
        """Short image name: agents without a package run in the base image."""
        return self.name if self.npm_package else "base"


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
    ),
    Agent(
        name="codex",
        title="OpenAI Codex CLI",
        npm_package="@openai/codex",
        npm_version="0.171.0",
        command=("codex",),
        prompt_command=("codex", "exec", "{prompt}"),
        version_command=("codex", "--version"),
        config_paths=(".codex/auth.json", ".codex/config.toml"),
        mcp_format="codex-toml",
        allowed_domains=("api.openai.com", "auth.openai.com", "chatgpt.com", ".chatgpt.com"),
    ),
    Agent(
        name="claude",
        title="Claude Code",
        npm_package="@anthropic-ai/claude-code",
        npm_version="2.1.332",
        command=("claude",),
        prompt_command=("claude", "-p", "{prompt}"),
        version_command=("claude", "--version"),
        config_paths=(".claude/.credentials.json", ".claude/settings.json", ".claude.json"),
        mcp_format="claude-json",
        env=(("DISABLE_AUTOUPDATER", "1"),),
        allowed_domains=(".anthropic.com", "claude.ai", ".claude.ai", ".claude.com"),
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


def agent_names() -> list[str]:
    return [agent.name for agent in AGENTS]


def get_agent(name: str) -> Agent:
    for agent in AGENTS:
        if agent.name == name:
            return agent
    raise AgentsError(f"unknown agent {name!r}", hint="choose one of: " + ", ".join(agent_names()))


def packaged_agents() -> list[Agent]:
    """Agents that have their own image (an npm package to install)."""
    return [agent for agent in AGENTS if agent.npm_package]


def image_names() -> list[str]:
    """Every image we build, dependencies first: base, one per packaged agent, all, proxy."""
    return ["base", *(agent.name for agent in packaged_agents()), "all", "proxy"]
