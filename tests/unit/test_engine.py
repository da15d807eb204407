"""agents/engine.py: which engine the docker CLI talks to, and the one rule for host paths."""

from __future__ import annotations

import json
import os

import pytest

from agents import engine, engine_program, runner
from agents.errors import AgentsError

INSPECT = ["docker", "context", "inspect"]


def inspected(name: str, host: str) -> str:
    """`docker context inspect`'s output, trimmed to what we read."""
    return json.dumps([{"Name": name, "Metadata": {}, "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": False}}}])


def test_docker_host_wins_without_asking_docker():
    endpoint = engine.resolve({"DOCKER_HOST": "tcp://10.0.0.5:2376", "DOCKER_CONTEXT": "other"}, None)

    assert endpoint == engine.Endpoint("tcp://10.0.0.5:2376", "default", from_env=True)
    assert endpoint.local is False
    assert endpoint.describe() == "tcp://10.0.0.5:2376 (remote, DOCKER_HOST)"


def test_default_context_is_local_and_default():
    endpoint = engine.resolve({}, inspected("default", "unix:///var/run/docker.sock"))

    assert endpoint.local and endpoint.is_default
    assert endpoint.describe() == "unix:///var/run/docker.sock (local)"
    assert engine.remote_reason(endpoint) is None


@pytest.mark.parametrize(("host", "local"), [
    ("unix:///run/user/1000/docker.sock", True),
    ("npipe:////./pipe/docker_engine", True),
    ("ssh://builder@build-box", False),
    ("tcp://127.0.0.1:2375", False),  # a port on loopback may be an engine in a container or a VM
    ("fd://", False),
])
def test_only_sockets_of_this_machine_are_local(host, local):
    assert engine.Endpoint(host).local is local


def test_a_named_context_is_shown_with_its_name():
    endpoint = engine.resolve({"DOCKER_CONTEXT": "build"}, inspected("build", "ssh://ci@build-box"))

    assert endpoint.context == "build" and not endpoint.is_default
    assert endpoint.describe() == "ssh://ci@build-box (remote, docker context build)"
    assert engine.remote_reason(endpoint) == "the engine is remote (docker context build: ssh://ci@build-box)"


def test_a_local_named_context_is_not_the_default_one():
    endpoint = engine.resolve({}, inspected("rootless", "unix:///run/user/1000/docker.sock"))

    assert endpoint.local and not endpoint.is_default
    assert endpoint.describe() == "unix:///run/user/1000/docker.sock (local, docker context rootless)"


@pytest.mark.parametrize("output", ["", "not json", "[]", json.dumps([{"Name": "x", "Endpoints": {}}])])
def test_unreadable_inspect_output_is_an_unknown_endpoint(output):
    endpoint = engine.resolve({"DOCKER_CONTEXT": "x"}, output)

    assert endpoint.host == "" and endpoint.local is False
    assert endpoint.describe().startswith("unknown (")
    assert engine.remote_reason(endpoint).startswith("the engine's endpoint is unknown (")


def test_current_asks_docker_once_per_environment(fp, monkeypatch):
    monkeypatch.delenv("DOCKER_HOST")
    monkeypatch.setenv("DOCKER_CONTEXT", "build")
    fp.register(INSPECT, stdout=inspected("build", "tcp://10.0.0.5:2376"))

    first, second = engine.current(), engine.current()

    assert first == second == engine.Endpoint("tcp://10.0.0.5:2376", "build")
    assert fp.call_count(INSPECT) == 1


def test_the_default_context_is_known_without_asking_docker(fp, monkeypatch, tmp_path):
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))  # no config.json: the CLI's default context

    assert engine.current() == engine.Endpoint("unix:///var/run/docker.sock", "default")
    (tmp_path / "config.json").write_text('{"auths": {}}')
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path) + "/")  # (another cache key)
    assert engine.current().is_default
    assert list(fp.calls) == []


def test_a_context_chosen_with_docker_context_use_is_asked_for(fp, monkeypatch, tmp_path):
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    (tmp_path / "config.json").write_text('{"currentContext": "build"}')
    fp.register(INSPECT, stdout=inspected("build", "ssh://build-box"))

    assert engine.current() == engine.Endpoint("ssh://build-box", "build")
    assert fp.call_count(INSPECT) == 1


def test_current_with_docker_host_runs_nothing(fp, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "ssh://build-box")

    assert engine.current() == engine.Endpoint("ssh://build-box", from_env=True)
    assert list(fp.calls) == []


def test_current_when_the_context_is_missing(fp, monkeypatch):
    monkeypatch.delenv("DOCKER_HOST")
    monkeypatch.setenv("DOCKER_CONTEXT", "gone")
    fp.register(INSPECT, returncode=1, stderr='context "gone": context not found: ...\n')

    endpoint = engine.current()

    assert endpoint.host == "" and endpoint.context == "gone"
    assert endpoint.error == 'context "gone": context not found: ...'


@pytest.mark.parametrize(("argv", "paths"), [
    (["docker", "run", "--mount", "type=bind,source=/run/x,target=/run/y,readonly", "img"], ["/run/x"]),
    (["docker", "run", "--mount=type=bind,src=/a,dst=/b", "img"], ["/a"]),
    (["docker", "run", "--volume", "/home/me:/w", "-v", "./here:/h", "img"], ["/home/me", "./here"]),
    (["docker", "run", "--volume=~/x:/x", "img"], ["~/x"]),
    (["docker", "run", "--volume", "NAME-workspace:/workspace", "--mount",
      "type=volume,source=NAME-home,target=/home/agent", "--mount", "type=tmpfs,target=/tmp", "img"], []),
    # A quoted field is one field, as the engine reads it: a label holding ",type=bind,src=/etc" mounts nothing.
    (["docker", "run", "--mount", 'type=volume,src=v,dst=/w,"volume-label=repo=/tmp/x,type=bind,src=/etc"', "img"], []),
    (["docker", "run", "--mount", '"type=bind",src=/a,dst=/b', "img"], ["/a"]),
])
def test_host_mounts_finds_every_host_path(argv, paths):
    assert engine.host_mounts(argv) == paths


def test_refuse_host_mounts_on_a_remote_engine():
    argv = ["docker", "create", "--mount", "type=bind,source=/run/ca/s,target=/run/coding-agents,readonly", "img"]

    with pytest.raises(AgentsError) as caught:
        engine.refuse_host_mounts(argv, engine.Endpoint("tcp://10.0.0.5:2376", from_env=True))

    assert caught.value.message == ("cannot mount /run/ca/s of this machine into a container: the engine is remote "
                                    "(DOCKER_HOST=tcp://10.0.0.5:2376) and sees none of this machine's files")
    assert "docker context use default" in caught.value.hint


def test_refuse_host_mounts_lets_a_local_engine_and_volumes_through():
    local = engine.Endpoint("unix:///var/run/docker.sock")
    remote = engine.Endpoint("ssh://build-box", from_env=True)

    assert engine.refuse_host_mounts(["docker", "create", "--mount", "type=bind,source=/a,target=/b", "img"],
                                     local) is None
    assert engine.refuse_host_mounts(["docker", "create", "--volume", "NAME-home:/home/agent", "img"], remote) is None


def test_helpers_keep_the_context_they_were_started_on():
    from agents.session import daemons

    docker = {runner.ENGINE_VARIABLE: "docker"}
    assert daemons.engine_env(engine.Endpoint("ssh://build-box", "build")) == {**docker, "DOCKER_CONTEXT": "build"}
    assert daemons.engine_env(engine.Endpoint("unix:///var/run/docker.sock")) == {**docker, "DOCKER_CONTEXT": "default"}
    assert daemons.engine_env(engine.Endpoint("tcp://10.0.0.5:2376", from_env=True)) == docker  # inherited as is
    # Under podman the helper keeps podman (a config edited meanwhile must not send it to docker).
    podman = engine.podman_endpoint({}, "podman", 0)
    assert daemons.engine_env(podman) == {runner.ENGINE_VARIABLE: "podman"}


# --- the engine's program: [engine] command, CODING_AGENTS_ENGINE, detection ------------------


def test_pick_program_prefers_the_variable_then_the_config():
    installed = {"docker", "podman"}.__contains__

    assert engine_program.pick("podman", "docker", installed) == "podman"
    assert engine_program.pick("", "podman", installed) == "podman"
    assert engine_program.pick("", "/opt/podman/bin/podman", installed) == "/opt/podman/bin/podman"
    assert engine_program.pick("", None, installed) == "docker"


def test_pick_program_finds_podman_when_docker_is_not_installed():
    assert engine_program.pick("", None, {"podman"}.__contains__) == "podman"
    # Neither: docker, whose absence is then the error (with its install hint).
    assert engine_program.pick("", None, lambda name: False) == "docker"


@pytest.mark.parametrize(("from_env", "from_config", "where"), [
    ("nerdctl", None, "CODING_AGENTS_ENGINE = 'nerdctl'"),
    ("", "podman-remote-ish", "[engine] command = 'podman-remote-ish'"),
])
def test_pick_program_refuses_other_programs(from_env, from_config, where):
    with pytest.raises(AgentsError) as caught:
        engine_program.pick(from_env, from_config, lambda name: True)

    assert caught.value.message == f"{where} is not an engine this tool drives"
    assert caught.value.hint == 'use "docker" or "podman" (or a full path to one of them)'


def test_configured_program_reads_only_the_engine_table(tmp_path):
    config = tmp_path / "config.toml"
    assert engine_program.configured(str(config)) is None  # no file
    config.write_text('[images]\nca_cert = "/x"\n')
    assert engine_program.configured(str(config)) is None  # no [engine]
    config.write_text('[engine]\ncommand = "podman"\n')
    assert engine_program.configured(str(config)) == "podman"
    config.write_text('[engine\ncommand = "podman"\n')
    assert engine_program.configured(str(config)) is None  # not TOML: the commands loading it say so
    config.write_text('engine.command = "podman"\n')
    assert engine_program.configured(str(config)) == "podman"  # a dotted key names the table too
    config.write_bytes(b'[engine]\ncommand = "\xff"\n')
    assert engine_program.configured(str(config)) is None  # not UTF-8


def test_engine_is_chosen_once_from_the_config_file(monkeypatch, tmp_path, fake_which):
    config = tmp_path / "xdg-config" / "coding-agents" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('[engine]\ncommand = "podman"\n')
    fake_which("docker", "podman")
    monkeypatch.setattr(engine_program, "_chosen", None)

    assert runner.engine() == "podman"
    assert runner.engine_argv("ps") == ["podman", "ps"]
    config.write_text('[engine]\ncommand = "docker"\n')
    assert runner.engine() == "podman"  # once per process


def test_engine_variable_wins_over_the_config(monkeypatch, tmp_path, fake_which):
    config = tmp_path / "xdg-config" / "coding-agents" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('[engine]\ncommand = "docker"\n')
    fake_which("docker", "podman")
    monkeypatch.setattr(engine_program, "_chosen", None)
    monkeypatch.setenv(runner.ENGINE_VARIABLE, "podman")

    assert runner.engine() == "podman"


def test_engine_kind_goes_by_the_file_name():
    assert runner.engine_kind("podman") == "podman"
    assert runner.engine_kind("/usr/bin/podman") == "podman"
    assert runner.engine_kind("/usr/local/bin/docker") == "docker"


def test_podman_endpoint_is_local_and_says_rootful_or_rootless():
    rootful = engine.podman_endpoint({}, "podman", 0)
    rootless = engine.podman_endpoint({"XDG_RUNTIME_DIR": "/run/user/1000"}, "podman", 1000)
    remote = engine.podman_endpoint({"CONTAINER_HOST": "ssh://me@build-box/run/podman/podman.sock"}, "podman", 0)

    assert rootful.describe() == "podman unix:///run/podman/podman.sock (local, rootful)"
    assert rootless.describe() == "podman unix:///run/user/1000/podman/podman.sock (local, rootless)"
    assert rootful.local and rootless.local and not remote.local
    assert not rootful.is_default  # list-agents names a podman engine
    assert remote.describe() == "ssh://me@build-box/run/podman/podman.sock (remote, CONTAINER_HOST)"
    assert engine.remote_reason(remote) == "the engine is remote (CONTAINER_HOST=ssh://me@build-box/run/podman/podman.sock)"


def test_current_under_podman_asks_no_docker_context(monkeypatch, fp):
    monkeypatch.setattr(engine_program, "_chosen", "podman")
    monkeypatch.delenv("DOCKER_HOST")  # (podman does not read it)

    assert engine.current() == engine.podman_endpoint(os.environ, "podman", os.geteuid())
    assert len(fp.calls) == 0


# --- reaching: the variables by which a shared daemon asks a session's own engine ------------------


@pytest.mark.parametrize(("endpoint", "expected"), [
    (engine.Endpoint(engine.DEFAULT_SOCKET), {"DOCKER_CONTEXT": "default"}),
    (engine.Endpoint("ssh://box", context="box"), {"DOCKER_CONTEXT": "box"}),
    (engine.Endpoint("tcp://10.0.0.5:2376", from_env=True), {"DOCKER_HOST": "tcp://10.0.0.5:2376"}),
    (engine.Endpoint("unix:///run/podman/podman.sock", program="podman"), {}),
    (engine.Endpoint("ssh://box/run/podman.sock", from_env=True, program="podman"),
     {"CONTAINER_HOST": "ssh://box/run/podman.sock"}),
], ids=["default", "context", "docker-host", "podman", "podman-remote"])
def test_reaching_names_the_endpoint_and_unsets_the_rest(endpoint, expected):
    found = engine.reaching(endpoint, {"DOCKER_CONFIG": "/cfg"} if endpoint.program == "docker" else {})

    assert set(found) == set(engine.REACHING_VARIABLES)
    assert found[runner.ENGINE_VARIABLE] == endpoint.program
    assert {key: value for key, value in found.items()
            if value and key not in (runner.ENGINE_VARIABLE, "DOCKER_CONFIG")} == expected
    assert found["DOCKER_CONFIG"] == ("/cfg" if endpoint.program == "docker" else "")


def test_reaching_environment_replaces_this_processs_engine():
    mine = {"PATH": "/bin", "DOCKER_HOST": "tcp://elsewhere:1", "CONTAINER_HOST": "x", "HOME": "/h"}
    reach = engine.reaching(engine.Endpoint("ssh://box", context="box"), {})

    assert engine.reaching_environment(reach, mine) == {
        "PATH": "/bin", "HOME": "/h", "DOCKER_CONTEXT": "box", runner.ENGINE_VARIABLE: "docker"}


def test_on_path_finds_executable_files_only_as_shutil_which_does(tmp_path, monkeypatch):
    import os
    import shutil

    folder = tmp_path / "bin"
    folder.mkdir()
    (folder / "podman").write_text("#!/bin/sh\n")
    (folder / "podman").chmod(0o755)
    (folder / "docker").write_text("not executable\n")
    (folder / "docker-dir").mkdir()
    monkeypatch.setenv("PATH", os.pathsep.join(["", str(tmp_path / "missing"), str(folder)]))
    for name in ("podman", "docker", "docker-dir", "nothing"):
        assert engine_program._on_path(name) is (shutil.which(name) is not None)
    assert engine_program._on_path("podman") and not engine_program._on_path("docker")


@pytest.mark.parametrize("environ", [{}, {"XDG_CONFIG_HOME": "/xdg"}, {"XDG_CONFIG_HOME": "relative/ignored"},
                                     {"CODING_AGENTS_CONFIG": "my.toml"}, {"CODING_AGENTS_CONFIG": "/etc/ca.toml"}])
def test_the_config_files_location_is_config_file_as_a_string(monkeypatch, environ):
    from agents import paths

    for variable in ("XDG_CONFIG_HOME", "CODING_AGENTS_CONFIG"):
        monkeypatch.delenv(variable, raising=False)
    for variable, value in environ.items():
        monkeypatch.setenv(variable, value)
    assert paths.config_file_location() == str(paths.config_file())
