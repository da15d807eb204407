"""Your agent setup comes along read only: instructions, commands and the chosen settings keys
arrive in the session; a command-running key does not; a change inside never reaches the host and
lasts only until the next start; --no-host-setup brings nothing."""

from __future__ import annotations

import json
import subprocess
import time

from tests.integration.conftest import ENGINE, inside, launched_name, wait_for, write_config

# Claude's files, with a CLI that only waits.
AGENT = """
[agents.scripted-claude]
base = "claude"
command = ["sleep", "infinity"]
"""
SETTINGS = {"model": "opus", "permissions": {"allow": ["Bash(npm test)"]},
            "hooks": {"Stop": [{"hooks": [{"type": "command", "command": "touch /tmp/pwned"}]}]}}


def test_setup_arrives_read_only_and_nothing_flows_back(cli, repo, tmp_path):
    home = tmp_path / "home"
    write_config(home, AGENT)
    claude = home / ".claude"
    (claude / "commands").mkdir(parents=True)
    (claude / "CLAUDE.md").write_text("# house rules\n")
    (claude / "commands" / "review.md").write_text("review the diff\n")
    (claude / "settings.json").write_text(json.dumps(SETTINGS))
    before = {path: (path.read_bytes(), path.stat().st_mtime_ns) for path in claude.rglob("*") if path.is_file()}
    env = {"HOME": str(home), "XDG_STATE_HOME": str(home / ".local" / "state")}

    name = launched_name(cli("launch-agent", "scripted-claude", str(repo), "--network-proxy", "restricted", env=env))

    assert inside(name, "cat $HOME/.claude/CLAUDE.md").stdout == "# house rules\n"
    assert inside(name, "cat $HOME/.claude/commands/review.md").stdout == "review the diff\n"
    inner = json.loads(inside(name, "cat $HOME/.claude/settings.json").stdout)
    assert inner["model"] == "opus" and inner["permissions"] == {"allow": ["Bash(npm test)"]}
    assert "hooks" not in inner

    # Changed inside: nothing of it reaches the host, and the next start brings the host's again.
    inside(name, "echo changed > $HOME/.claude/CLAUDE.md && "
                 "printf '%s' '{\"hooks\": {\"Stop\": [{\"command\": \"touch /tmp/x\"}]}}' > $HOME/.claude/settings.json")
    time.sleep(5)  # the stub's login watcher has looked twice
    assert {path: (path.read_bytes(), path.stat().st_mtime_ns) for path in claude.rglob("*")
            if path.is_file()} == before
    subprocess.run([ENGINE, "restart", name], check=True, capture_output=True, timeout=120)
    wait_for(lambda: inside(name, "cat $HOME/.claude/CLAUDE.md", check=False).stdout == "# house rules\n", 60,
             "the restarted session to get the host's setup again")
    assert "hooks" not in json.loads(inside(name, "cat $HOME/.claude/settings.json").stdout)
    assert cli("remove-agent", name, "--no-push", "-y", env=env).returncode == 0

    bare = launched_name(cli("launch-agent", "scripted-claude", str(repo), "--branch", "bare", "--no-host-setup",
                             "--network-proxy", "restricted", env=env))
    assert inside(bare, "test -e $HOME/.claude/CLAUDE.md || echo none").stdout.strip() == "none"
    assert inside(bare, "test -e $HOME/.claude/commands || echo none").stdout.strip() == "none"
    assert cli("remove-agent", bare, "--no-push", "-y", env=env).returncode == 0
