"""agents/doctor.py and `coding-agents doctor`: prerequisite checks, docker faked at the runner."""

from __future__ import annotations

import json
import shutil
import subprocess
from types import SimpleNamespace

import pytest

from agents import __version__, cli, docker, doctor, images

GIB = 1024**3
VERSION_ARGV = ["docker", "version", "--format", "{{.Server.Version}}"]
INFO_ARGV = ["docker", "info", "--format", "{{.DockerRootDir}}"]
DEFAULT_CONTEXT = '[{"Name": "default", "Endpoints": {"docker": {"Host": "unix:///var/run/docker.sock"}}}]'
IMAGES_ARGV = ["docker", "images", "--filter", "label=coding-agents.managed=true", "--format", docker.IMAGES_FORMAT]
DAEMON_DOWN = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n"


@pytest.mark.parametrize(
    ("version", "status"),
    [("20.10.24+dfsg1", doctor.OK), ("27.3.1", doctor.OK), ("19.03.1", doctor.FAIL), ("garbage", doctor.WARN)],
)
def test_check_engine_version_cases(version, status):
    check = doctor.check_engine_version(version)

    assert check.name == "docker engine"
    assert check.status == status


def test_check_engine_version_too_old_says_how_to_fix():
    check = doctor.check_engine_version("19.03.1")

    assert check.detail == "version 19.03.1 is too old"
    assert check.fix == "upgrade Docker to 20.10 or newer"


@pytest.mark.parametrize(
    ("free", "status"),
    [
        (1 * GIB, doctor.FAIL),
        (doctor.MIN_FREE_BYTES - 1, doctor.FAIL),
        (doctor.MIN_FREE_BYTES, doctor.WARN),
        (doctor.LOW_FREE_BYTES - 1, doctor.WARN),
        (doctor.LOW_FREE_BYTES, doctor.OK),
        (200 * GIB, doctor.OK),
    ],
)
def test_judge_free_space_thresholds(free, status):
    check = doctor.judge_free_space("disk (home)", "/home/me", free)

    assert check.status == status
    assert check.detail.endswith("GiB free at /home/me")


def test_judge_free_space_detail_in_gib():
    assert doctor.judge_free_space("disk", "/", 5 * GIB).detail == "5.0 GiB free at /"


def test_check_images_present_and_missing():
    present_ref = images.image_ref("base")

    checks = doctor.check_images({present_ref, "unrelated:1"})
    by_name = {check.name: check for check in checks}

    assert len(checks) == len(images.expected_refs())
    assert by_name[f"image {present_ref}"].status == doctor.OK
    missing = by_name[f"image {images.image_ref('claude')}"]
    assert missing.status == doctor.WARN
    assert missing.fix == "coding-agents images build all"


def test_can_launch_fails_only_on_fail():
    ok = doctor.Check("a", doctor.OK, "")
    warn = doctor.Check("b", doctor.WARN, "")
    fail = doctor.Check("c", doctor.FAIL, "")

    assert doctor.can_launch([ok, warn]) is True
    assert doctor.can_launch([ok, warn, fail]) is False
    assert doctor.can_launch([]) is True


def test_check_docker_cli_missing(fake_which):
    fake_which()

    check = doctor.check_docker_cli()

    assert check.status == doctor.FAIL
    assert "docker.io" in check.fix


def test_check_engine_unreachable_is_fail(fp):
    fp.register(VERSION_ARGV, returncode=1, stderr=DAEMON_DOWN)

    check, reachable = doctor.check_engine()

    assert reachable is False
    assert check.status == doctor.FAIL
    assert check.detail == "cannot reach the Docker engine"


def test_check_git_reads_real_git_config(isolated_home, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # outside any repository, so only the global config counts
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.delenv("GIT_CONFIG_GLOBAL", raising=False)
    subprocess.run(["git", "config", "--global", "user.name", "Ada Lovelace"], check=True)

    checks = {check.name: check for check in doctor.check_git()}

    assert (isolated_home / ".gitconfig").is_file()
    assert checks["git"].status == doctor.OK
    assert checks["git user.name"] == doctor.Check("git user.name", doctor.OK, "Ada Lovelace")
    assert checks["git user.email"].status == doctor.WARN
    assert checks["git user.email"].fix == 'git config --global user.email "..."'


def test_check_git_missing(fake_which):
    fake_which("docker")

    assert doctor.check_git() == [
        doctor.Check("git", doctor.FAIL, "not found on PATH", "install git (apt-get install git)")
    ]


def test_check_optional_program_missing_is_warn(fake_which):
    fake_which()

    check = doctor.check_optional_program("socat", "needed for bridges")

    assert check == doctor.Check(
        "socat", doctor.WARN, "not found; needed for bridges", "install socat (apt-get install socat)"
    )


def test_check_disk_skips_engine_dir_with_remote_docker_host(fp, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "tcp://build-host:2376")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: SimpleNamespace(free=50 * GIB))

    checks = doctor.check_disk(engine_reachable=True)

    assert [check.name for check in checks] == ["disk (home)"]
    assert list(fp.calls) == []


# --- `coding-agents doctor` end to end, docker and git faked ------------------------------


@pytest.fixture
def host(fp, fake_which, monkeypatch, tmp_path):
    """A host with docker and git on PATH, plenty of disk and a configured git identity."""
    fake_which("docker", "git")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: SimpleNamespace(free=50 * GIB))
    fp.register(["git", "config", "--get", "user.name"], stdout="Ada Lovelace\n")
    fp.register(["git", "config", "--get", "user.email"], stdout="ada@example.com\n")
    docker_root = tmp_path / "docker-root"
    docker_root.mkdir()
    return SimpleNamespace(fp=fp, docker_root=docker_root)


def run_doctor_json(capsys) -> tuple[int, dict, dict]:
    code = cli.main(["doctor", "--json"], prog="coding-agents")
    report = json.loads(capsys.readouterr().out)
    return code, report, {check["name"]: check for check in report["checks"]}


def test_doctor_command_engine_down_fails(host, capsys):
    host.fp.register(VERSION_ARGV, returncode=1, stderr=DAEMON_DOWN)

    code, report, checks = run_doctor_json(capsys)

    assert code == 1
    assert report["ready"] is False
    assert checks["docker engine"]["status"] == "fail"
    assert checks["docker engine"]["detail"] == "cannot reach the Docker engine"
    assert not any(name.startswith("image ") for name in checks)  # no image queries against a dead engine
    assert host.fp.call_count(INFO_ARGV) == 0


def test_doctor_command_healthy_host_is_ready(host, capsys, monkeypatch):
    monkeypatch.delenv("DOCKER_HOST")  # a local engine: the docker data-root disk check runs
    host.fp.register(["docker", "context", "inspect"], stdout=DEFAULT_CONTEXT)
    host.fp.register(VERSION_ARGV, stdout="20.10.24+dfsg1\n")
    host.fp.register(INFO_ARGV, stdout=f"{host.docker_root}\n")
    host.fp.register(IMAGES_ARGV, stdout=json.dumps({"Repository": "coding-agents-base", "Tag": __version__}) + "\n")

    code, report, checks = run_doctor_json(capsys)

    assert code == 0
    assert report["ready"] is True
    assert checks["docker engine"] == {
        "name": "docker engine",
        "status": "ok",
        "detail": "version 20.10.24+dfsg1",
        "fix": "",
    }
    assert checks["engine"] == {"name": "engine", "status": "ok", "detail": "unix:///var/run/docker.sock (local)",
                                "fix": ""}
    assert checks["git user.email"]["detail"] == "ada@example.com"
    assert checks["disk (docker)"]["detail"] == f"50.0 GiB free at {host.docker_root}"
    assert checks["trivy"]["status"] == "warn"
    assert checks[f"image {images.image_ref('base')}"]["status"] == "ok"
    assert checks[f"image {images.image_ref('claude')}"]["status"] == "warn"


def test_doctor_command_text_output_says_not_ready(host, capsys):
    host.fp.register(VERSION_ARGV, stdout="19.03.1\n")
    host.fp.register(INFO_ARGV, stdout="\n")
    host.fp.register(IMAGES_ARGV, stdout="")

    code = cli.main(["verify-prerequisites"], prog="coding-agents")

    out = capsys.readouterr().out
    assert code == 1
    assert out.splitlines()[0].split() == ["STATUS", "CHECK", "DETAIL", "FIX"]
    assert "FAIL" in out and "upgrade Docker to 20.10 or newer" in out
    assert out.rstrip().endswith("not ready: fix the FAIL lines above")


def test_check_cryptography_present():
    import cryptography

    check = doctor.check_cryptography()

    assert (check.status, check.detail) == (doctor.OK, f"{cryptography.__version__} (MCP secrets, broker)")


def test_check_cryptography_missing_is_a_warning(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_cryptography(name, *args, **kwargs):
        if name == "cryptography":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_cryptography)

    check = doctor.check_cryptography()

    assert check.status == doctor.WARN
    assert check.fix == "use the zipapp, or pip install cryptography"


def test_check_logins_names_what_sessions_will_get(tmp_path):
    (tmp_path / ".codex").mkdir()
    (tmp_path / ".codex" / "auth.json").write_text('{"tokens": {}}')

    checks = {check.name: check for check in doctor.check_logins(tmp_path, {"GH_TOKEN": "x"})}

    assert sorted(checks) == ["claude login", "codex login", "copilot login", "gemini login"]
    assert checks["codex login"].detail == str(tmp_path / ".codex" / "auth.json")
    assert checks["copilot login"].detail == "$GH_TOKEN"
    assert checks["claude login"].detail == (
        f"none; sessions show Claude Code's own login, and save it to {tmp_path / '.claude' / '.credentials.json'}")
    assert all(check.status == doctor.OK for check in checks.values())  # no login is not a problem


def test_check_logins_follows_the_moving_variables(tmp_path):
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    (moved / "auth.json").write_text("{}")

    checks = {check.name: check for check in doctor.check_logins(tmp_path, {"CODEX_HOME": str(moved)})}

    assert checks["codex login"].detail == str(moved / "auth.json")


def test_check_endpoint_local_remote_and_unknown():
    from agents import engine

    local = doctor.check_endpoint(engine.Endpoint("unix:///var/run/docker.sock"))
    remote = doctor.check_endpoint(engine.Endpoint("ssh://ci@build-box", "build"))
    unknown = doctor.check_endpoint(engine.Endpoint("", "gone", error='context "gone": context not found'))

    assert local == doctor.Check("engine", doctor.OK, "unix:///var/run/docker.sock (local)")
    assert remote == doctor.Check("engine", doctor.OK, "ssh://ci@build-box (remote, docker context build)")
    assert (unknown.status, unknown.detail) == (doctor.WARN, 'unknown (context "gone": context not found)')
    assert "docker context ls" in unknown.fix
