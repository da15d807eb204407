"""agents/docker.py: the docker CLI wrapper, faked at the runner with pytest-subprocess."""

from __future__ import annotations

import json

import pytest

from agents import docker, runner
from agents.errors import AgentsError

IMAGES_ARGV = ["docker", "images", "--filter", "label=coding-agents.managed=true", "--format", docker.IMAGES_FORMAT]
DAEMON_DOWN = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n"
SOCKET_DENIED = (
    "permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock: "
    'Get "http://%2Fvar%2Frun%2Fdocker.sock/v1.24/version": dial unix /var/run/docker.sock: connect: permission denied\n'
)


def image_row(repository: str, tag: str, image_id: str = "0123456789ab") -> str:
    return json.dumps(
        {
            "Containers": "N/A",
            "CreatedAt": "2026-01-01 10:00:00 +0000 UTC",
            "CreatedSince": "2 days ago",
            "ID": image_id,
            "Repository": repository,
            "Size": "412MB",
            "Tag": tag,
        }
    )


def failed(stderr: str, stdout: str = "") -> runner.CommandFailed:
    return runner.CommandFailed(runner.Result("docker version", 1, stdout, stderr))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("20.10.24+dfsg1", (20, 10, 24)),
        ("27.3.1", (27, 3, 1)),
        ("v24.0", (24, 0)),
        (" 26.1.5-ce\n", (26, 1, 5)),
        ("", ()),
        ("dev", ()),
        ("master-dockerproject-2026", ()),
    ],
)
def test_parse_version_cases(text, expected):
    assert docker.parse_version(text) == expected


def test_explain_daemon_unreachable():
    explained = docker.explain(failed(DAEMON_DOWN))

    assert explained.message == "cannot reach the Docker engine"
    assert explained.hint == docker.ENGINE_HINT


def test_explain_socket_permission_denied():
    explained = docker.explain(failed(SOCKET_DENIED))

    assert explained.message == "permission denied talking to the Docker engine"
    assert "`docker` group" in explained.hint


def test_explain_unrelated_failure_is_unchanged():
    error = failed("Error response from daemon: conflict: unable to delete 0123 (must be forced)")

    assert docker.explain(error) is error


def test_run_translates_engine_down(fp):
    fp.register(["docker", "ps"], returncode=1, stderr=DAEMON_DOWN)

    with pytest.raises(AgentsError, match="^cannot reach the Docker engine$"):
        docker.run("ps")


def test_engine_version_returns_server_version(fp):
    fp.register(["docker", "version", "--format", "{{.Server.Version}}"], stdout="20.10.24+dfsg1\n")

    assert docker.engine_version() == "20.10.24+dfsg1"


def test_list_managed_images_parses_json_lines(fp):
    stdout = "\n".join(
        [
            image_row("coding-agents-base", "0.1.0", "aaa"),
            image_row("<none>", "<none>", "bbb"),
            image_row("coding-agents-claude", "0.1.0", "ccc"),
        ]
    )
    fp.register(IMAGES_ARGV, stdout=stdout + "\n")

    found = docker.list_managed_images()

    assert [image.ref for image in found] == ["coding-agents-base:0.1.0", "coding-agents-claude:0.1.0"]
    assert found[0] == docker.ImageInfo("coding-agents-base", "0.1.0", "aaa", "412MB", "2 days ago")


def test_list_managed_images_single_line(fp):
    fp.register(IMAGES_ARGV, stdout=image_row("coding-agents-os", "bookworm"))

    assert [image.ref for image in docker.list_managed_images()] == ["coding-agents-os:bookworm"]


def test_list_managed_images_none_present(fp):
    fp.register(IMAGES_ARGV, stdout="")

    assert docker.list_managed_images() == []


def test_list_managed_images_engine_down(fp):
    fp.register(IMAGES_ARGV, returncode=1, stderr=DAEMON_DOWN)

    with pytest.raises(AgentsError, match="^cannot reach the Docker engine$"):
        docker.list_managed_images()


def test_image_id_present(fp):
    fp.register(["docker", "image", "inspect", "--format", "{{.Id}}", "x:1"], stdout="sha256:abc\n")

    assert docker.image_id("x:1") == "sha256:abc"


def test_image_id_missing_is_none(fp):
    fp.register(
        ["docker", "image", "inspect", "--format", "{{.Id}}", "x:1"], returncode=1, stderr="Error: No such image: x:1\n"
    )

    assert docker.image_id("x:1") is None


def test_image_id_no_such_object_is_none(fp):
    fp.register(
        ["docker", "image", "inspect", "--format", "{{.Id}}", "x:1"],
        returncode=1,
        stderr="Error: No such object: x:1\n",
    )

    assert docker.image_id("x:1") is None


def test_image_id_other_failure_raises(fp):
    fp.register(
        ["docker", "image", "inspect", "--format", "{{.Id}}", "x:1"],
        returncode=1,
        stderr="Error response from daemon: invalid reference format\n",
    )

    with pytest.raises(runner.CommandFailed, match="invalid reference format$"):
        docker.image_id("x:1")


def test_image_id_engine_down_raises_engine_error(fp):
    fp.register(["docker", "image", "inspect", "--format", "{{.Id}}", "x:1"], returncode=1, stderr=DAEMON_DOWN)

    with pytest.raises(AgentsError, match="^cannot reach the Docker engine$"):
        docker.image_id("x:1")


def test_pull_reports_success_and_failure(fp):
    fp.register(["docker", "pull", "--quiet", "ok:1"], stdout="ok:1\n")
    fp.register(["docker", "pull", "--quiet", "gone:1"], returncode=1, stderr="manifest unknown\n")

    assert docker.pull("ok:1") is True
    assert docker.pull("gone:1") is False


def test_remove_images_nothing_runs_nothing(fp):
    docker.remove_images([])

    assert list(fp.calls) == []


def test_remove_images_forces(fp):
    fp.register(["docker", "rmi", "--force", "a", "b"])

    docker.remove_images(["a", "b"])

    assert fp.call_count(["docker", "rmi", "--force", "a", "b"]) == 1


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-12-01T11:15:02.555936598Z", "2026-12-01T11:15:02Z"),
    ("2026-12-01T11:15:02+01:00", "2026-12-01T10:15:02Z"),
    ("2026-12-01T11:15:02Z", "2026-12-01T11:15:02Z"),
    ("", ""),
    ("yesterday", ""),
], ids=["nanoseconds", "offset", "plain", "empty", "garbage"])
def test_iso_utc_normalizes_docker_times(text, expected):
    assert docker.iso_utc(text) == expected


def test_image_facts_size_time_and_id_by_tag(fp):
    fp.register(["docker", "image", "inspect", "a:1", "b:1"], stdout=json.dumps([
        {"Id": "sha256:aa", "RepoTags": ["a:1", "a:latest"], "Size": 1234, "Created": "2026-01-01T10:00:00.1Z"},
        {"Id": "sha256:bb", "RepoTags": ["b:1"], "Size": 99, "Created": "2026-01-02T10:00:00Z"},
    ]))

    assert docker.image_facts(["a:1", "b:1"]) == {
        "a:1": (1234, "2026-01-01T10:00:00Z", "sha256:aa"), "a:latest": (1234, "2026-01-01T10:00:00Z", "sha256:aa"),
        "b:1": (99, "2026-01-02T10:00:00Z", "sha256:bb"),
    }


def test_image_facts_of_nothing_asks_nothing(fp):
    assert docker.image_facts([]) == {}
    assert list(fp.calls) == []


def test_image_facts_engine_down(fp):
    fp.register(["docker", "image", "inspect", "a:1"], returncode=1, stderr=DAEMON_DOWN)

    with pytest.raises(AgentsError, match="cannot reach the Docker engine"):
        docker.image_facts(["a:1"])


# --- GPUs ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("info", "how"), [
    ({"Runtimes": {"runc": {}, "nvidia": {}}}, "runtime nvidia"),
    ({"Runtimes": {"runc": {}}, "DiscoveredDevices": [{"Source": "cdi", "ID": "nvidia.com/gpu=all"}]},
     "CDI device nvidia.com/gpu=all"),
    ({"Runtimes": {"runc": {}, "io.containerd.runc.v2": {}}}, None),
    ({"Runtimes": None, "DiscoveredDevices": [{"Source": "cdi", "ID": "vendor.com/fpga=0"}]}, None),
    ({}, None),
], ids=["nvidia-runtime", "cdi-gpu", "runc-only", "cdi-not-a-gpu", "nothing"])
def test_gpu_runtime_from_docker_info(info, how):
    assert docker.gpu_runtime(info) == how


def test_engine_info_with_the_engine_down_is_the_engine_error(fp):
    fp.register(["docker", "info", "--format", "{{json .}}"], returncode=1,
                stderr="Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n")

    with pytest.raises(AgentsError, match="cannot reach the Docker engine"):
        docker.engine_info()


def test_image_ids_of_present_images_is_one_call(fp):
    fp.register(["docker", "image", "inspect", "--format", "{{.Id}}", "a:1", "b:1"], stdout="sha256:a\nsha256:b\n")

    assert docker.image_ids(("a:1", "b:1")) == {"a:1": "sha256:a", "b:1": "sha256:b"}
    assert len(fp.calls) == 1


def test_image_ids_with_one_missing_asks_each_to_tell_which(fp):
    fp.register(["docker", "image", "inspect", "--format", "{{.Id}}", "a:1", "b:1"], returncode=1,
                stdout="sha256:a\n", stderr="Error: No such image: b:1\n")
    fp.register(["docker", "image", "inspect", "--format", "{{.Id}}", "a:1"], stdout="sha256:a\n")
    fp.register(["docker", "image", "inspect", "--format", "{{.Id}}", "b:1"], returncode=1,
                stderr="Error: No such image: b:1\n")

    assert docker.image_ids(("a:1", "b:1")) == {"a:1": "sha256:a", "b:1": None}
