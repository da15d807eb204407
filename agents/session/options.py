"""What the user asked a launch for: the command line's options as plain values."""

from __future__ import annotations

from agents.records import record


@record(frozen=True)
class LaunchOptions:
    agent: str
    path: str = "."
    branch: str | None = None
    use_current_branch: bool = False
    name: str | None = None
    no_push: bool = False
    prompt: str | None = None
    cpus: float | None = None
    memory: str | None = None
    include_uncommitted: bool = False
    network: str | None = None
    mode: str = "launch"  # or "run"
    allow_domains: tuple[str, ...] = ()
    learn: bool = False
    ssh_agent: bool = False
    host_logins: bool = True
    autonomy: str | None = None  # full | ask; None: [sessions] autonomy
    host_ports: tuple[str, ...] = ()  # --allow-host-port, as typed
    gpu: bool = False  # --gpu: the engine's GPUs, passed through
    host_setup: bool = True  # your CLI setup (instructions, commands, settings) comes along; --no-host-setup
    resume: bool = False  # --resume: start from the history the branch's last session left
