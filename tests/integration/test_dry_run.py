"""--dry-run on launch-agent, run-agent and remove-agent, against the real engine: the plan is what
the real command then does, secrets are masked, and nothing changes (no container, volume,
network, bridge state or object in the user's repo)."""

from __future__ import annotations

import json
import secrets
import subprocess
from pathlib import Path

import pytest

from tests.integration.conftest import ENGINE, container_state, docker, git, launched_name, write_config

pytestmark = pytest.mark.integration


def engine_objects() -> dict[str, set[str]]:
    listed = {
        "containers": docker("ps", "--all", "--format", "{{.Names}}"),
        "volumes": docker("volume", "ls", "--format", "{{.Name}}"),
        "networks": docker("network", "ls", "--format", "{{.Name}}"),
    }
    return {kind: set(done.stdout.decode().split()) for kind, done in listed.items()}


def engine_objects_of(repo: Path, name: str) -> dict[str, set[str]]:
    """Containers, volumes and networks labelled with this repo or named after the session."""
    label = f"label=coding-agents.repo={repo}"
    found = {
        "containers": docker("ps", "--all", "--filter", label, "--format", "{{.Names}}").stdout.decode().split(),
        "volumes": docker("volume", "ls", "--filter", label, "--format", "{{.Name}}").stdout.decode().split(),
        "networks": docker("network", "ls", "--filter", label, "--format", "{{.Name}}").stdout.decode().split(),
    }
    everything = engine_objects()
    return {kind: set(found[kind]) | {item for item in everything[kind] if item.startswith(name)} for kind in found}


def repo_state(repo: Path) -> tuple[str, str, str]:
    """Every object, ref and the status of the user's repo: a snapshot commit would show in the first."""
    objects = subprocess.run(["find", str(repo / ".git" / "objects"), "-type", "f"], capture_output=True,
                             text=True, check=True).stdout
    return "\n".join(sorted(objects.split())), git(repo, "for-each-ref"), git(repo, "status", "--porcelain")


def state_files(home: Path) -> set[str]:
    state = home / ".local" / "state"
    return {str(path.relative_to(state)) for path in state.rglob("*")} if state.exists() else set()


@pytest.fixture
def user(tmp_path) -> tuple[Path, dict[str, str], str]:
    """A home whose config gives Claude an API key (a secret the plan must not show)."""
    home = tmp_path / "home"
    key = "sk-ant-dry-" + secrets.token_hex(12)
    write_config(home, f'[agents.claude]\nenv = {{ ANTHROPIC_API_KEY = "{key}" }}')
    return home, {"HOME": str(home), "XDG_STATE_HOME": str(home / ".local" / "state")}, key


@pytest.mark.parametrize("command", ["launch-agent", "run-agent"])
def test_dry_run_changes_nothing_and_masks_secrets(cli, repo, user, command):
    home, env, key = user
    (repo / "notes.txt").write_text("not committed yet\n")
    before = engine_objects_of(repo, f"claude-{repo.name}"), repo_state(repo), state_files(home)

    done = cli(command, "claude", str(repo), "--dry-run", "--json", "--include-uncommitted", env=env)
    assert done.returncode == 0, done.output
    plan = json.loads(done.stdout)
    assert key not in done.output
    assert plan["delivered"]["variables"]["ANTHROPIC_API_KEY"] == "***"
    assert plan["name"] == f"claude-{repo.name}-session-1" and plan["branch"] == "claude/session-1"
    steps = [step["step"] for step in plan["steps"]]
    agent_step = next(step for step in plan["steps"] if step["step"] == "agent container")
    if "volume" in steps:  # Podman: the volumes are made first
        assert steps.index("proxy container") < steps.index("volume") < steps.index("agent container"), steps
    else:  # Docker: the agent's run makes them
        assert steps.index("proxy container") < steps.index("agent container"), steps
        assert agent_step["note"].startswith(f"its run makes the volumes {', '.join(plan['volumes'])} (labelled); ")
    agent_argv = agent_step["argv"]
    assert agent_argv[:2] == [ENGINE, "run"] and "--read-only" in agent_argv
    # The fill goes to the stub through the run (attached): the header it sends is shown.
    assert "--detach" not in agent_argv and "--interactive" in agent_argv
    assert f"its stub reads a git pack of {plan['start'][:12]}" in agent_step["note"]
    assert agent_step["sends"]["commit"] == plan["start"] and agent_step["sends"]["branch"] == plan["branch"]

    # Other tests may share the engine: only this repo's and this name's objects are ours.
    assert (engine_objects_of(repo, plan["name"]), repo_state(repo), state_files(home)) == before

    text = cli(command, "claude", str(repo), "--dry-run", env=env)
    assert text.returncode == 0 and text.stdout.startswith("dry run: nothing was changed"), text.output
    assert key not in text.output


def test_the_launch_does_what_the_dry_run_planned(cli, repo, user):
    _, env, _ = user
    planned = json.loads(cli("launch-agent", "shell", str(repo), "--network-proxy", "squid", "--dry-run", "--json",
                             env=env).stdout)
    name = launched_name(cli("launch-agent", "shell", str(repo), "--network-proxy", "squid", env=env))
    assert name == planned["name"]
    inspect = json.loads(docker("inspect", name).stdout)[0]
    mounted = {mount.get("Name") for mount in inspect["Mounts"] if mount["Type"] == "volume"}
    assert mounted == set(planned["volumes"])
    for volume in planned["volumes"]:  # labelled as the session's, whichever way they were made
        labels = json.loads(docker("volume", "inspect", "--format", "{{json .Labels}}", volume).stdout)
        assert labels["coding-agents.session"] == name and labels["coding-agents.repo"] == str(repo), labels
    assert set(inspect["NetworkSettings"]["Networks"]) == {planned["networks"][0]}
    for container in planned["containers"]:
        assert container_state(container) == "running", container
    planned_argv = next(step["argv"] for step in planned["steps"] if step["step"] == "agent container")
    # (Podman names a local image localhost/REF.)
    assert inspect["Config"]["Image"].removeprefix("localhost/") == planned_argv[planned_argv.index("ca-stub") - 1]

    # remove-agent --dry-run names what the removal takes, and takes nothing.
    removal = cli("remove-agent", name, "--dry-run", "--json", env=env)
    assert removal.returncode == 0, removal.output
    preview = json.loads(removal.stdout)
    assert set(preview["containers"]) == set(planned["containers"])
    assert set(preview["volumes"]) == set(planned["volumes"]) and set(preview["networks"]) == set(planned["networks"])
    assert container_state(name) == "running"
    assert cli("remove-agent", name, env=env).returncode == 0
    left = engine_objects()
    assert not set(preview["containers"]) & left["containers"]
    assert not set(preview["volumes"]) & left["volumes"]
    assert not set(preview["networks"]) & left["networks"]


def test_dry_run_refuses_what_the_launch_refuses(cli, repo, user):
    _, env, _ = user
    done = cli("launch-agent", "claude", str(repo), "--dry-run", "--network-proxy", "restricted", "--prompt", "hi",
               env=env)
    assert done.returncode != 0 and done.stderr.startswith("error: "), done.output
    assert "hint: " in done.stderr
    json_alone = cli("launch-agent", "claude", str(repo), "--json", env=env)
    assert json_alone.returncode == 2 and "--json only goes with --dry-run" in json_alone.stderr


def test_a_repository_path_with_commas_and_quotes_labels_the_volumes_it_gets(cli, new_repo):
    """Docker's run makes the volumes from --mount's CSV value: a path that reads as more fields
    unquoted is still one label, and the session is found and removed by it. Podman reads some
    labels as CSV itself: there, such a path is refused before anything is made."""
    repo = new_repo('odd,type=bind,src=etc "q"')
    name = f"odd-{secrets.token_hex(3)}"
    launched = cli("launch-agent", "shell", str(repo), "--network-proxy", "restricted", "--name", name)
    if Path(ENGINE).name.startswith("podman"):
        assert launched.returncode != 0 and "under Podman, the repository's path cannot hold a comma" in launched.stderr
        assert docker("ps", "--all", "-q", "--filter", f"name={name}").stdout.split() == []
        return
    assert launched_name(launched) == name
    try:
        inspect = json.loads(docker("inspect", name).stdout)[0]
        assert {mount["Type"] for mount in inspect["Mounts"]} == {"volume"}  # no host path went in
        for volume in (f"{name}-workspace", f"{name}-home"):
            labels = json.loads(docker("volume", "inspect", "--format", "{{json .Labels}}", volume).stdout)
            assert labels["coding-agents.repo"] == str(repo) and labels["coding-agents.session"] == name, labels
        listed = json.loads(cli("list-agents", "--json").stdout)
        assert [row["repo"] for row in listed if row["name"] == name] == [str(repo)]
    finally:
        assert cli("remove-agent", name, "--no-push", "-y").returncode == 0
    assert docker("volume", "ls", "-q", "--filter", f"label=coding-agents.session={name}").stdout.split() == []
