"""What changes when the engine's program is podman (docs/podman.md): each difference in the one
place that owns it, checked against the same calls under docker."""

from __future__ import annotations

import json

import pytest

from agents import catalog, docker, doctor, engine_program, logins, network, relay, runner
from agents.errors import AgentsError
from agents.session import listing, planner, proxies, query


@pytest.fixture
def podman(monkeypatch):
    monkeypatch.setattr(engine_program, "_chosen", "podman")


def test_every_engine_call_starts_with_the_engines_program(podman):
    assert runner.engine_argv("ps", "--all") == ["podman", "ps", "--all"]
    assert docker.docker_argv("info") == ["podman", "info"]
    plan = planner.plan_proxy("s", (), network.Policy(allow=("pypi.org",)), "coding-agents-proxy:1")
    assert {argv[0] for argv in (*plan.network_argvs, plan.create_argv, plan.connect_argv, plan.start_argv,
                                 plan.ready_argv)} == {"podman"}


def test_the_internal_network_has_no_docker_bridge_option_under_podman(monkeypatch):
    policy = network.Policy(allow=("pypi.org",))
    docker_plan = planner.plan_proxy("s", (), policy, "img")
    monkeypatch.setattr(engine_program, "_chosen", "podman")
    podman_plan = planner.plan_proxy("s", (), policy, "img")

    assert "com.docker.network.bridge.inhibit_ipv4=true" in docker_plan.network_argvs[0]
    assert "--opt" not in podman_plan.network_argvs[0]  # netavark refuses it ("unsupported bridge network option")
    assert podman_plan.network_argvs[0][:4] == ("podman", "network", "create", "--internal")


def test_tmpfs_owners_under_podman(monkeypatch):
    agent = catalog.find_agent("claude")
    docker_login = logins.tmpfs_args(agent)
    docker_relay = relay.tmpfs_args("/run/coding-agents")
    monkeypatch.setattr(engine_program, "_chosen", "podman")
    podman_login = logins.tmpfs_args(agent)
    podman_relay = relay.tmpfs_args("/run/coding-agents")

    assert all("uid=1000,gid=1000" in arg for arg in docker_login[1::2])
    # Podman refuses uid=/gid= on a tmpfs: U gives it to the container's user (the agent's).
    assert all(",U," in arg and "uid=" not in arg for arg in podman_login[1::2])
    assert "uid=1001" in docker_relay[1]
    assert podman_relay == ["--tmpfs", "/run/coding-agents:rw,nosuid,nodev,noexec,size=1m,mode=0755"]


def test_the_relay_first_hands_its_folder_to_its_uid_under_podman(monkeypatch):
    plan = relay.LinkPlan("s", "/run/coding-agents", (("git-credential.sock", "/h/g.sock"),))
    assert plan.owner_argv() is None  # docker's tmpfs is made with its owner
    monkeypatch.setattr(engine_program, "_chosen", "podman")

    assert plan.owner_argv() == ["podman", "exec", "--user", "0", "--privileged", "s", "chown", "1001:1001",
                                 "/run/coding-agents"]
    assert plan.argv()[:5] == ["podman", "exec", "-i", "--user", "1001:1001"]


def test_the_relay_stops_before_its_exec_when_the_folder_cannot_be_handed_over(monkeypatch, fp):
    monkeypatch.setattr(engine_program, "_chosen", "podman")
    plan = relay.LinkPlan("s", "/run/coding-agents", (("git-credential.sock", "/h/g.sock"),))
    fp.register(plan.owner_argv(), returncode=1, stderr="Error: no container with name or ID \"s\" found\n")

    reason = relay.run_link(plan)

    assert reason == 'its folder could not be made the relay\'s: Error: no container with name or ID "s" found'
    assert len(fp.calls) == 1  # no relay exec


def test_the_mcp_volume_has_no_size_under_podman(monkeypatch):
    assert any("size=1m" in option for option in planner.mcp_volume_options())
    monkeypatch.setattr(engine_program, "_chosen", "podman")

    options = planner.mcp_volume_options()
    assert options[-1] == "o=nosuid,nodev,noexec,uid=1000,gid=1000,mode=0700"


def test_listings_use_podmans_templates_and_read_its_label_maps(podman, fp):
    labels = {"coding-agents.session": "s", "coding-agents.role": "agent", "coding-agents.agent": "shell",
              "coding-agents.repo": "/r", "coding-agents.branch": "shell/a", "other": "x"}
    fp.register(["podman", "volume", "ls", "--filter", "label=coding-agents.session", "--format",
                 listing.PODMAN_VOLUME_FORMAT], stdout=json.dumps({"Name": "s-workspace", "Labels": labels}) + "\n")

    found = query._orphan_volumes(None)

    assert found[0]["Name"] == "s-workspace"
    assert found[0]["Labels"] == {key: value for key, value in labels.items() if key != "other"}
    parsed = query._parse_ps(json.dumps({"Id": "abc", "State": "running", "Status": "Up 6 seconds ago",
                                         "Labels": labels}))
    assert parsed[0]["State"] == {"Status": "running"}
    assert parsed[0]["Config"]["Labels"]["coding-agents.branch"] == "shell/a"
    assert listing.ps_format() == listing.PODMAN_PS_FORMAT and ".Label " not in listing.PODMAN_PS_FORMAT
    assert query.container_format().startswith('{"Id":{{json .ID}},')


def test_podman_network_queries(podman, fp):
    fp.register(["podman", "network", "inspect", "--format", "{{range .Subnets}}{{.Subnet}} {{end}}", "s-egress"],
                stdout="10.213.0.16/28 \n")

    assert proxies.egress_gateway("s-egress") == "10.213.0.17"
    assert proxies.network_members_argv("s-egress") == ["podman", "ps", "--all", "--filter", "network=s-egress",
                                                        "--format", "{{.Names}}"]


def test_images_podman_calls_localhost_are_ours(podman, fp):
    fp.register(["podman", "images", "--filter", "label=coding-agents.managed=true", "--format", docker.IMAGES_FORMAT],
                stdout=json.dumps({"Repository": "localhost/coding-agents-base", "Tag": "0.1.0", "ID": "66c5",
                                   "Size": "426 MB", "CreatedSince": "2 hours ago"}) + "\n")

    assert [image.ref for image in docker.list_managed_images()] == ["coding-agents-base:0.1.0"]
    assert docker.short_ref("registry.example.com/coding-agents-base") == "registry.example.com/coding-agents-base"


def test_doctor_names_podmans_checks_and_its_minimum(podman, fake_which):
    fake_which("podman")

    assert doctor.check_docker_cli() == doctor.Check("podman CLI", doctor.OK, "/usr/bin/podman")
    assert doctor.check_engine_version("4.3.1", "podman") == doctor.Check("podman engine", doctor.OK, "version 4.3.1")
    too_old = doctor.check_engine_version("3.4.4", "podman")
    assert (too_old.status, too_old.fix) == (doctor.FAIL, "upgrade Podman to 4.3 or newer")
    fake_which()
    missing = doctor.check_docker_cli()
    assert (missing.status, missing.fix) == (doctor.FAIL, runner.INSTALL_HINTS["podman"])


def test_a_wrong_engine_in_the_config_is_one_clean_error(tmp_path, capsys):
    from agents import cli, config

    path = tmp_path / "config.toml"
    path.write_text('[engine]\ncommand = "nerdctl"\n')
    with pytest.raises(AgentsError) as caught:
        config.load_config(path)
    assert caught.value.message == f"config file {path}: [engine] command = 'nerdctl' is not an engine this tool drives"

    runner.set_engine(None)
    (tmp_path / "xdg-config" / "coding-agents").mkdir(parents=True)
    (tmp_path / "xdg-config" / "coding-agents" / "config.toml").write_text('[engine]\ncommand = "nerdctl"\n')
    assert cli.main(["list-agents"], prog="coding-agents") == 1
    lines = capsys.readouterr().err.splitlines()
    assert lines == ["error: [engine] command = 'nerdctl' is not an engine this tool drives",
                     'hint: use "docker" or "podman" (or a full path to one of them)']


def test_podman_exports_every_image_into_one_archive(podman, fp, tmp_path):
    from agents import __version__, images

    base, proxy = (f"coding-agents-{name}:{__version__}" for name in ("base", "proxy"))
    rows = [{"Repository": f"localhost/{ref.split(':')[0]}", "Tag": __version__} for ref in (base, proxy)]
    fp.register(["podman", "images", "--filter", "label=coding-agents.managed=true", "--format", docker.IMAGES_FORMAT],
                stdout="\n".join(json.dumps(row) for row in rows))
    fp.register(["podman", "image", "inspect", base, proxy], stdout=json.dumps(
        [{"RepoTags": [f"localhost/{ref}"], "Size": 3, "Created": "", "Id": "sha256:1"} for ref in (base, proxy)]))
    # Without --multi-image-archive, podman writes the first image under both names.
    fp.register(["podman", "save", "--multi-image-archive", base, proxy], stdout=b"TAR")

    assert images.export_images(str(tmp_path / "images.tar")) == [base, proxy]
    assert (tmp_path / "images.tar").read_bytes() == b"TAR"


def test_the_root_stays_read_only_under_podman(monkeypatch):
    from agents import hardening

    assert hardening.read_only_args() == ["--read-only"]
    monkeypatch.setattr(engine_program, "_chosen", "podman")

    # (else podman adds writable tmpfs folders of no size on /run, /var/tmp and /tmp)
    assert hardening.read_only_args() == ["--read-only", "--read-only-tmpfs=false"]
    assert "--read-only-tmpfs=false" in hardening.hardening_args(1024)
    plan = planner.plan_proxy("s", (), network.Policy(allow=("pypi.org",)), "img")
    assert plan.create_argv[plan.create_argv.index("--read-only") + 1] == "--read-only-tmpfs=false"


def test_an_image_podman_does_not_know_is_missing_not_an_error(podman, fp):
    fp.register(["podman", "image", "inspect", "--format", "{{.Id}}", "coding-agents-claude:1"], returncode=125,
                stderr="Error: inspecting object: coding-agents-claude:1: image not known\n")
    fp.register(["podman", "image", "inspect", "coding-agents-claude:1"], returncode=125, stdout="[]\n",
                stderr="Error: inspecting object: coding-agents-claude:1: image not known\n")

    assert docker.image_id("coding-agents-claude:1") is None
    assert docker.image_facts(["coding-agents-claude:1"]) == {}


def test_an_unreachable_podman_is_named_with_its_own_hint(podman, fp):
    fp.register(["podman", "version", "--format", "{{.Server.Version}}"], returncode=125, stderr=(
        "Cannot connect to Podman. Please verify your connection to the Linux system using "
        "`podman system connection list`\nError: unable to connect to Podman socket: dial unix /x.sock\n"))

    with pytest.raises(AgentsError) as caught:
        docker.engine_version()

    assert caught.value.message == "cannot reach the Podman engine"
    assert caught.value.hint == docker.PODMAN_HINT


def test_a_forced_remove_kills_at_once_under_podman(monkeypatch):
    assert docker.remove_argv("s", "s-proxy") == ["docker", "rm", "--force", "s", "s-proxy"]
    monkeypatch.setattr(engine_program, "_chosen", "podman")

    # (else podman waits out the stop timeout first, and squid's shutdown takes 30 s)
    assert docker.remove_argv("s", volumes=True) == ["podman", "rm", "--force", "--time", "0", "--volumes", "s"]


def test_doctor_warns_of_rootful_podmans_internal_network_gateway():
    from agents import engine

    rootful, rootless = engine.podman_endpoint({}, "podman", 0), engine.podman_endpoint({}, "podman", 1000)
    warned = doctor.check_internal_networks(rootful)

    assert warned is not None and warned.status == doctor.WARN
    assert warned.fix == "use --network-proxy restricted or rootless Podman, or accept it in the config (docs/podman.md)"
    assert "squid sessions are refused unless [network] allow_host_gateway = true" in warned.detail
    assert doctor.check_internal_networks(rootless) is None  # its networks live in the user's namespace
    assert doctor.check_internal_networks(engine.Endpoint("unix:///var/run/docker.sock")) is None


def test_doctor_looks_for_podmans_init():
    from agents import engine

    local = engine.podman_endpoint({}, "podman", 0)
    missing = doctor.check_podman_init(local, exists=lambda path: False)

    assert (missing.status, missing.fix) == (doctor.WARN, "apt-get install catatonit (or set init_path in containers.conf)")
    assert doctor.check_podman_init(local, exists="/usr/lib/podman/catatonit".__eq__) == doctor.Check(
        "podman init", doctor.OK, "/usr/lib/podman/catatonit")
    assert doctor.check_podman_init(engine.Endpoint("unix:///var/run/docker.sock")) is None


def test_the_gateway_reason_is_rootful_local_podmans_only():
    from agents import engine

    assert "rootful Podman" in engine.host_on_internal_networks(engine.podman_endpoint({}, "podman", 0))
    assert engine.host_on_internal_networks(engine.podman_endpoint({}, "podman", 1000)) is None
    assert engine.host_on_internal_networks(engine.Endpoint("unix:///var/run/docker.sock")) is None
    remote = engine.podman_endpoint({"CONTAINER_HOST": "ssh://me@box/run/podman/podman.sock"}, "podman", 0)
    assert remote.local or engine.host_on_internal_networks(remote) is None


# --- a `docker` that is really Podman (podman-docker) ---------------------------------------------


@pytest.fixture
def docker_at(tmp_path, monkeypatch):
    """`docker` on PATH is the file made here; the kinds looked at so far are forgotten."""
    monkeypatch.setattr(runner, "_engine_kinds", {})
    path = tmp_path / "bin" / "docker"
    path.parent.mkdir()
    monkeypatch.setattr(runner, "which", lambda name: str(path) if name == "docker" else None)
    return path


PODMAN_DOCKER = '#!/bin/sh\n[ -e /etc/containers/nodocker ] || echo "Emulate Docker CLI using podman." >&2\n' \
                'exec /usr/bin/podman "$@"\n'


def test_podman_dockers_script_is_podman(fp, docker_at):
    docker_at.write_text(PODMAN_DOCKER)
    fp.register([str(docker_at), "--version"], stdout="podman version 4.3.1\n",
                stderr="Emulate Docker CLI using podman.\n")

    assert runner.engine_kind("docker") == "podman"
    assert runner.engine_kind("docker") == "podman"
    assert fp.call_count([str(docker_at), "--version"]) == 1  # asked once per process


def test_a_wrapper_script_around_docker_stays_docker(fp, docker_at):
    # The positive control's twin: a script, asked the same way, that says Docker.
    docker_at.write_text('#!/bin/sh\nexec /usr/libexec/docker/cli "$@"\n')
    fp.register([str(docker_at), "--version"], stdout="Docker version 20.10.24+dfsg1, build 297e128\n")

    assert runner.engine_kind("docker") == "docker"


def test_dockers_own_binary_is_docker_without_asking_it(fp, docker_at):
    docker_at.write_bytes(b"\x7fELF\x02\x01\x01" + bytes(64))  # fp fails any call not registered

    assert runner.engine_kind("docker") == "docker"
    assert runner.engine_kind("podman") == "podman"


def test_a_link_named_docker_to_podman_is_podman(fp, docker_at, tmp_path):
    target = tmp_path / "podman"
    target.write_bytes(b"\x7fELF")
    docker_at.symlink_to(target)

    assert runner.engine_kind("docker") == "podman"


def test_doctor_says_a_docker_that_runs_podman(fp, docker_at, monkeypatch):
    docker_at.write_text(PODMAN_DOCKER)
    fp.register([str(docker_at), "--version"], stdout="podman version 4.3.1\n")

    check = doctor.check_docker_cli()

    assert (check.name, check.status) == ("podman CLI", doctor.OK)
    assert check.detail.startswith(f"{docker_at} (runs Podman")
