"""agents/images.py: the image plan (pure) and the build/scan/tag flow (docker faked at the runner)."""

from __future__ import annotations

import io
import json
import re
import tarfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from agents import __version__, catalog, cli, docker, images, scan
from agents.config import ImagesConfig
from agents.errors import AgentsError
from agents.resources import walk_files

PEM = b"-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"
TRIVY = "/usr/bin/trivy"
NEW_ID = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
OLD_ID = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
IMAGES_ARGV = ["docker", "images", "--filter", "label=coding-agents.managed=true", "--format", docker.IMAGES_FORMAT]
SECRET_REPORT = {
    "Results": [
        {
            "Target": "/etc/ssl/private/proxy.key",
            "Class": "secret",
            "Secrets": [
                {"RuleID": "private-key", "Title": "Asymmetric Private Key", "Severity": "HIGH", "StartLine": 1}
            ],
        }
    ]
}
CLEAN_REPORT = {"Results": [{"Target": "OS Packages", "Class": "os-pkgs"}]}


def options(**overrides) -> images.BuildOptions:
    return images.BuildOptions(**{"base_image": "debian:bookworm-slim", "quiet": True, **overrides})


def ref(name: str) -> str:
    return f"coding-agents-{name}:{__version__}"


def build_arg(argv: list[str], key: str) -> str | None:
    values = [
        argv[n + 1].split("=", 1)[1]
        for n, arg in enumerate(argv)
        if arg == "--build-arg" and argv[n + 1].startswith(key + "=")
    ]
    return values[0] if values else None


def read_tar(data: bytes) -> dict[str, tuple[tarfile.TarInfo, bytes]]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {member.name: (member, tar.extractfile(member).read()) for member in tar.getmembers()}


def register_inspect(fp, image: str, image_id: str | None) -> None:
    argv = ["docker", "image", "inspect", "--format", "{{.Id}}", image]
    if image_id:
        fp.register(argv, stdout=image_id + "\n")
    else:
        fp.register(argv, returncode=1, stderr=f"Error: No such image: {image}\n")


def register_build(fp, new_id: str = NEW_ID, returncode: int = 0) -> SimpleNamespace:
    """Fake one `docker build` that writes new_id to its --iidfile; records its argv and stdin context."""
    # The callback runs in pytest-subprocess's thread before communicate() feeds stdin, so the two are kept apart.
    build = SimpleNamespace(argv=[], context=[])

    def write_iidfile(process):
        argv = list(process.args)
        if returncode == 0:
            Path(argv[argv.index("--iidfile") + 1]).write_text(new_id + "\n")
        build.argv.append(argv)

    fp.register(
        ["docker", "build", fp.any()],
        callback=write_iidfile,
        stdin_callable=build.context.append,
        returncode=returncode,
    )
    return build


def register_scan(fp, image_id: str, report: dict) -> None:
    fp.register(scan.scan_argv(TRIVY, image_id), stdout=json.dumps(report))


# --- the plan ---------------------------------------------------------------------------


def test_image_specs_dependencies_come_first():
    specs = images.image_specs()
    position = {spec.name: n for n, spec in enumerate(specs)}

    assert [spec.name for spec in specs] == ["base", "copilot", "codex", "claude", "gemini", "all", "proxy"]
    for spec in specs:
        if spec.depends_on:
            assert position[spec.depends_on] < position[spec.name], spec.name


def test_image_specs_all_image_carries_every_agent():
    spec = images.get_spec("all")

    assert spec.npm_packages == tuple(agent.npm_spec for agent in catalog.packaged_agents())


@pytest.mark.parametrize(
    ("targets", "expected"),
    [
        (["all"], ["base", "copilot", "codex", "claude", "gemini", "all", "proxy"]),
        ([], ["base", "copilot", "codex", "claude", "gemini", "all", "proxy"]),
        (["claude"], ["base", "claude"]),
        (["shell"], ["base"]),
        (["proxy"], ["proxy"]),
        (["gemini", "base", "codex"], ["base", "codex", "gemini"]),
    ],
    ids=["all", "default", "agent", "shell", "proxy", "reordered"],
)
def test_resolve_targets_cases(targets, expected):
    assert [spec.name for spec in images.resolve_targets(targets)] == expected


def test_resolve_targets_unknown_raises():
    with pytest.raises(AgentsError) as caught:
        images.resolve_targets(["clippy"])

    assert caught.value.message == "unknown image 'clippy'"
    assert "claude" in caught.value.hint and "proxy" in caught.value.hint


def test_build_args_base_uses_options_base_image_and_pins_node():
    args = dict(images.build_args(images.get_spec("base"), options(npm_registry="https://npm.example")))

    assert args == {
        "BASE_IMAGE": "debian:bookworm-slim",
        "NPM_REGISTRY": "https://npm.example",
        "NODE_VERSION": catalog.NODE_VERSION,
        "NPM_VERSION": catalog.NPM_VERSION,
        "MCP_NPM_PACKAGES": " ".join(catalog.MCP_NPM_PACKAGES),
    }


def test_build_args_agent_builds_on_versioned_base():
    args = dict(images.build_args(images.get_spec("claude"), options(version="9.9.9")))

    assert args["BASE_IMAGE"] == "coding-agents-base:9.9.9"
    assert args["NPM_PACKAGES"] == catalog.get_agent("claude").npm_spec
    assert "NODE_VERSION" not in args and "NPM_VERSION" not in args


def test_build_args_all_lists_pinned_specs():
    args = dict(images.build_args(images.get_spec("all"), options()))

    assert args["NPM_PACKAGES"].split(" ") == [agent.npm_spec for agent in catalog.packaged_agents()]
    assert all("@" in spec.lstrip("@") for spec in args["NPM_PACKAGES"].split(" "))


def test_build_args_proxy_uses_options_base_image_only():
    args = dict(images.build_args(images.get_spec("proxy"), options(base_image="coding-agents-os:bookworm")))

    assert args == {"BASE_IMAGE": "coding-agents-os:bookworm"}


@pytest.mark.parametrize(
    "spec",
    images.image_specs(),
    ids=lambda spec: spec.name,
)
def test_build_args_are_all_declared_in_the_dockerfile(spec):
    # The classic builder ignores (and warns about) a --build-arg no ARG declares.
    dockerfile = dict(walk_files(spec.context_dir))["Dockerfile"].decode()
    declared = set(re.findall(r"^ARG (\w+)", dockerfile, re.MULTILINE))

    assert {key for key, _ in images.build_args(spec, options())} <= declared


def test_labels_mark_image_as_managed():
    assert images.labels(images.get_spec("codex"), options(version="1.2.3")) == [
        ("coding-agents.managed", "true"),
        ("coding-agents.image", "codex"),
        ("coding-agents.version", "1.2.3"),
    ]


def test_build_argv_contents():
    argv = images.build_argv(images.get_spec("claude"), options(quiet=False), "/tmp/iid")

    assert argv[:7] == ["docker", "build", "--force-rm", "--iidfile", "/tmp/iid", "--file", "Dockerfile"]
    assert build_arg(argv, "BASE_IMAGE") == ref("base")
    assert build_arg(argv, "NPM_PACKAGES") == catalog.get_agent("claude").npm_spec
    assert "coding-agents.managed=true" in argv
    assert "--quiet" not in argv
    assert argv[-1] == "-"


def test_build_argv_quiet_before_stdin_context():
    argv = images.build_argv(images.get_spec("base"), options(quiet=True), "/tmp/iid")

    assert argv[-2:] == ["--quiet", "-"]


def test_build_context_base_has_dockerfile_stub_and_empty_ca():
    members = read_tar(images.build_context(images.get_spec("base"), b""))

    assert {"Dockerfile", "stub/ca-stub", "extra-ca.crt"} <= set(members)
    assert members["stub/ca-stub"][0].mode == 0o755
    assert members["Dockerfile"][0].mode == 0o644
    assert members["extra-ca.crt"][1] == b""
    assert all(info.mtime == 0 and info.uid == 0 and info.gid == 0 for info, _ in members.values())


def test_build_context_base_bakes_the_stubs_programs_from_the_agents_table():
    members = read_tar(images.build_context(images.get_spec("base"), b""))

    info, data = members["stub/programs.json"]
    assert json.loads(data) == catalog.stub_data()
    assert info.mode == 0o644
    assert [entry["name"] for entry in catalog.stub_data()["programs"]] == [
        *catalog.agent_names(), *(name for name, _, _ in catalog.BASE_PROGRAMS)]


# Everything the proxy image's Dockerfile copies, plus the CA file every context has.
PROXY_CONTEXT = {
    "Dockerfile", "squid.conf", "start-squid", "extra-ca.crt",
    "errors/ERR_CA_NOT_ALLOWED", "errors/ERR_CA_PORT", "errors/ERR_CA_PRIVATE", "errors/ERR_CA_HOST",
}


def test_build_context_carries_given_ca_bytes():
    members = read_tar(images.build_context(images.get_spec("proxy"), PEM))

    assert members["extra-ca.crt"][1] == PEM
    assert set(members) == PROXY_CONTEXT


def test_build_context_proxy_carries_error_pages_and_executable_start_script():
    members = read_tar(images.build_context(images.get_spec("proxy"), b""))

    assert members["start-squid"][0].mode == 0o755
    assert members["start-squid"][1].startswith(b"#!/bin/sh")
    for page in ("ERR_CA_NOT_ALLOWED", "ERR_CA_PORT", "ERR_CA_PRIVATE", "ERR_CA_HOST"):
        info, data = members[f"errors/{page}"]
        assert info.mode == 0o644
        assert b"Blocked by the coding-agents network policy" in data
    dockerfile = members["Dockerfile"][1].decode()
    assert "COPY errors/ /usr/share/squid/errors/templates/" in dockerfile
    assert 'CMD ["start-squid"]' in dockerfile


def test_build_context_agent_has_no_stub():
    members = read_tar(images.build_context(images.get_spec("claude"), b""))

    assert set(members) == {"Dockerfile", "extra-ca.crt"}


def test_build_context_is_byte_identical_when_built_twice():
    spec = images.get_spec("base")

    assert images.build_context(spec, PEM) == images.build_context(spec, PEM)


def test_choose_base_image_precedence():
    configured = ImagesConfig(base_image="from-config:1")
    local = {images.OS_IMAGE}

    assert images.choose_base_image("from-flag:1", configured, local) == "from-flag:1"
    assert images.choose_base_image(None, configured, local) == "from-config:1"
    assert images.choose_base_image(None, ImagesConfig(), local) == images.OS_IMAGE
    assert images.choose_base_image(None, ImagesConfig(), set()) == catalog.DEFAULT_BASE_IMAGE


def test_read_ca_cert_none_is_empty():
    assert images.read_ca_cert(None) == b""


def test_read_ca_cert_reads_pem(tmp_path):
    path = tmp_path / "ca.crt"
    path.write_bytes(PEM)

    assert images.read_ca_cert(str(path)) == PEM


def test_read_ca_cert_rejects_non_pem(tmp_path):
    path = tmp_path / "ca.der"
    path.write_bytes(b"\x30\x82\x01\x0a")

    with pytest.raises(AgentsError, match="does not look like a PEM certificate bundle"):
        images.read_ca_cert(str(path))


def test_read_ca_cert_rejects_missing_file(tmp_path):
    with pytest.raises(AgentsError) as caught:
        images.read_ca_cert(str(tmp_path / "nope.crt"))

    assert caught.value.message.startswith(f"cannot read CA bundle {tmp_path / 'nope.crt'}")
    assert "--ca-cert" in caught.value.hint


def test_image_ref_and_registry_ref():
    assert images.image_ref("base", "1.0") == "coding-agents-base:1.0"
    assert images.registry_ref("reg.example/team/", "base", "1.0") == "reg.example/team/coding-agents-base:1.0"


def test_list_rows_marks_present_missing_other():
    present = [
        docker.ImageInfo("coding-agents-base", __version__, "aaa", "400MB", "1 hour ago"),
        docker.ImageInfo("coding-agents-base", "0.0.1", "bbb", "380MB", "3 weeks ago"),
    ]

    rows = images.list_rows(present)
    by_image = {row["image"]: row for row in rows}

    assert by_image[ref("base")] == {
        "image": ref("base"),
        "status": "present",
        "size": "400MB",
        "created": "1 hour ago",
        "id": "aaa",
    }
    assert by_image[ref("claude")]["status"] == "missing"
    assert by_image["coding-agents-base:0.0.1"]["status"] == "other"
    assert [row["image"] for row in rows[:-1]] == images.expected_refs()
    assert rows[-1]["image"] == "coding-agents-base:0.0.1"


# --- build, scan, tag -------------------------------------------------------------------


def test_build_images_secret_found_removes_image_and_does_not_tag(fp, fake_which):
    fake_which("trivy")
    register_inspect(fp, "debian:bookworm-slim", OLD_ID)
    register_build(fp)
    register_inspect(fp, ref("proxy"), None)
    register_scan(fp, NEW_ID, SECRET_REPORT)
    fp.register(["docker", "rmi", "--force", NEW_ID])

    with pytest.raises(AgentsError) as caught:
        images.build_images([images.get_spec("proxy")], options())

    assert caught.value.message.startswith(f"refusing to tag {ref('proxy')}: the secret scan found 1 secret(s)")
    assert "/etc/ssl/private/proxy.key:1" in caught.value.message
    assert fp.call_count(["docker", "rmi", "--force", NEW_ID]) == 1
    assert fp.call_count(["docker", "tag", fp.any()]) == 0


def test_build_images_clean_scan_tags_image(fp, fake_which):
    fake_which("trivy")
    register_inspect(fp, "debian:bookworm-slim", OLD_ID)
    build = register_build(fp)
    register_inspect(fp, ref("proxy"), OLD_ID)
    register_scan(fp, NEW_ID, CLEAN_REPORT)
    fp.register(["docker", "tag", NEW_ID, ref("proxy")])

    report = images.build_images([images.get_spec("proxy")], options())

    assert report.built == [ref("proxy")]
    assert report.scan_skipped is False
    assert fp.call_count(["docker", "tag", NEW_ID, ref("proxy")]) == 1
    assert build_arg(build.argv[0], "BASE_IMAGE") == "debian:bookworm-slim"
    assert set(read_tar(build.context[0])) == PROXY_CONTEXT


def test_build_images_unchanged_image_is_neither_scanned_nor_tagged(fp, fake_which):
    fake_which("trivy")
    register_inspect(fp, "debian:bookworm-slim", OLD_ID)
    register_build(fp)
    register_inspect(fp, ref("proxy"), NEW_ID)

    report = images.build_images([images.get_spec("proxy")], options())

    assert report.unchanged == [ref("proxy")]
    assert report.built == []
    assert fp.call_count([TRIVY, fp.any()]) == 0
    assert fp.call_count(["docker", "tag", fp.any()]) == 0


def test_build_images_without_trivy_warns_and_tags(fp, fake_which, capsys):
    fake_which()
    register_inspect(fp, "debian:bookworm-slim", OLD_ID)
    register_build(fp)
    register_inspect(fp, ref("proxy"), None)
    fp.register(["docker", "tag", NEW_ID, ref("proxy")])

    report = images.build_images([images.get_spec("proxy")], options())

    assert report.scan_skipped is True
    assert report.built == [ref("proxy")]
    assert "warning: trivy is not on PATH" in capsys.readouterr().err


def test_build_images_builds_dependencies_first_on_the_versioned_base(fp, fake_which):
    fake_which()
    register_inspect(fp, "debian:bookworm-slim", OLD_ID)
    base_build = register_build(fp, "sha256:base")
    register_inspect(fp, ref("base"), None)
    fp.register(["docker", "tag", "sha256:base", ref("base")])
    agent_build = register_build(fp, "sha256:claude")
    register_inspect(fp, ref("claude"), None)
    fp.register(["docker", "tag", "sha256:claude", ref("claude")])

    report = images.build_images(images.resolve_targets(["claude"]), options())

    assert report.built == [ref("base"), ref("claude")]
    assert build_arg(base_build.argv[0], "NODE_VERSION") == catalog.NODE_VERSION
    assert build_arg(agent_build.argv[0], "BASE_IMAGE") == ref("base")
    assert "stub/ca-stub" in read_tar(base_build.context[0])
    assert "stub/ca-stub" not in read_tar(agent_build.context[0])


def test_build_images_unpullable_base_refuses_before_building(fp, fake_which):
    fake_which()
    register_inspect(fp, "local-only:1", None)
    fp.register(["docker", "pull", "--quiet", "local-only:1"], returncode=1, stderr="pull access denied\n")

    with pytest.raises(AgentsError) as caught:
        images.build_images([images.get_spec("base")], options(base_image="local-only:1"))

    assert caught.value.message == "base image local-only:1 is not present and could not be pulled"
    assert "bootstrap-base" in caught.value.hint
    assert fp.call_count(["docker", "build", fp.any()]) == 0


def test_build_images_failed_build_names_image_and_ca_hint(fp, fake_which):
    fake_which()
    register_inspect(fp, "debian:bookworm-slim", OLD_ID)
    register_build(fp, returncode=1)

    with pytest.raises(AgentsError) as caught:
        images.build_images([images.get_spec("proxy")], options())

    assert caught.value.message == f"building {ref('proxy')} failed"
    assert "--ca-cert" in caught.value.hint


# --- ensure_image -----------------------------------------------------------------------


@pytest.fixture
def recorded_builds(monkeypatch):
    calls: list[tuple[list[str], images.BuildOptions]] = []
    monkeypatch.setattr(
        images,
        "build_images",
        lambda specs, opts: calls.append(([s.name for s in specs], opts)) or images.BuildReport(),
    )
    return calls


def test_ensure_image_present_does_not_build(fp, recorded_builds):
    register_inspect(fp, ref("claude"), OLD_ID)

    assert images.ensure_image("claude", ImagesConfig(registry="reg.example")) == ref("claude")
    assert recorded_builds == []
    assert fp.call_count(["docker", "pull", fp.any()]) == 0


def test_ensure_image_missing_pulls_from_registry_then_tags(fp, recorded_builds):
    remote = f"reg.example/team/coding-agents-claude:{__version__}"
    register_inspect(fp, ref("claude"), None)
    fp.register(["docker", "pull", "--quiet", remote], stdout=remote + "\n")
    fp.register(["docker", "tag", remote, ref("claude")])

    assert images.ensure_image("claude", ImagesConfig(registry="reg.example/team/")) == ref("claude")
    assert fp.call_count(["docker", "tag", remote, ref("claude")]) == 1
    assert recorded_builds == []


def test_ensure_image_failed_pull_builds_locally(fp, recorded_builds):
    remote = f"reg.example/coding-agents-claude:{__version__}"
    register_inspect(fp, ref("claude"), None)
    fp.register(["docker", "pull", "--quiet", remote], returncode=1, stderr="manifest unknown\n")
    register_inspect(fp, ref("base"), OLD_ID)
    fp.register(IMAGES_ARGV, stdout=json.dumps({"Repository": "coding-agents-os", "Tag": "bookworm", "ID": "x"}))

    assert images.ensure_image("claude", ImagesConfig(registry="reg.example")) == ref("claude")
    assert len(recorded_builds) == 1
    names, built_with = recorded_builds[0]
    assert names == ["base", "claude"]
    assert built_with.base_image == images.OS_IMAGE
    assert fp.call_count(["docker", "tag", fp.any()]) == 0


@pytest.mark.parametrize(("base_present", "minutes"), [(True, 2), (False, 5)], ids=["base-present", "base-missing"])
def test_ensure_image_says_it_builds_and_about_how_long(fp, recorded_builds, capsys, base_present, minutes):
    register_inspect(fp, ref("claude"), None)
    register_inspect(fp, ref("base"), OLD_ID if base_present else None)

    images.ensure_image("claude", ImagesConfig(), options())

    assert capsys.readouterr().err == (f"==> building image {ref('claude')} (first launch, about {minutes} minutes; "
                                       "later launches start at once)\n")


def test_ensure_image_without_registry_builds_with_given_options(fp, recorded_builds):
    register_inspect(fp, ref("proxy"), None)
    given = options(base_image="mine:1")

    images.ensure_image("proxy", ImagesConfig(), given)

    assert recorded_builds == [(["proxy"], given)]
    assert fp.call_count(["docker", "pull", fp.any()]) == 0


# --- export / import --------------------------------------------------------------------


def test_export_images_without_images_refuses(fp, tmp_path):
    fp.register(IMAGES_ARGV, stdout="")

    with pytest.raises(AgentsError, match="no coding-agents images to export"):
        images.export_images(str(tmp_path / "images.tar"))


def test_export_images_saves_present_expected_images(fp, tmp_path):
    target = tmp_path / "out" / "images.tar"
    rows = [
        {"Repository": "coding-agents-base", "Tag": __version__},
        {"Repository": "coding-agents-base", "Tag": "0.0.1"},
    ]
    fp.register(IMAGES_ARGV, stdout="\n".join(json.dumps(row) for row in rows))
    fp.register(["docker", "image", "inspect", ref("base")],
                stdout=json.dumps([{"RepoTags": [ref("base")], "Size": 3, "Created": "", "Id": "sha256:1"}]))
    fp.register(["docker", "save", ref("base")], stdout=b"TAR")  # through us, so the bytes can be counted

    assert images.export_images(str(target)) == [ref("base")]
    assert target.read_bytes() == b"TAR"
    assert [path.name for path in target.parent.iterdir()] == ["images.tar"]  # no partial file left


def test_export_images_into_a_folder_that_cannot_be_made_is_a_clean_error(fp, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    fp.register(IMAGES_ARGV, stdout=json.dumps({"Repository": "coding-agents-base", "Tag": __version__}))

    with pytest.raises(AgentsError) as caught:
        images.export_images(str(blocker / "sub" / "images.tar"))

    assert caught.value.message.startswith(f"cannot create the folder for {blocker}/sub/images.tar")
    assert caught.value.hint == "choose a path in a folder you can write to"
    assert fp.call_count(["docker", "save", fp.any()]) == 0


def test_import_images_missing_archive_refuses(tmp_path):
    with pytest.raises(AgentsError, match="^no such archive: "):
        images.import_images(str(tmp_path / "nope.tar"))


def test_import_images_reports_loaded_refs(fp, tmp_path):
    archive = tmp_path / "images.tar"
    archive.write_bytes(b"tar")
    fp.register(  # no --input: the archive goes in on stdin, through us, so the bytes can be counted
        ["docker", "load"],
        stdout=f"Loaded image: {ref('base')}\nLoaded image: {ref('claude')}\n",
    )

    assert images.import_images(str(archive)) == [ref("base"), ref("claude")]


def test_archive_estimate_counts_base_layers_once():
    facts = {ref("base"): (400, "", ""), ref("claude"): (800, "", ""), ref("codex"): (850, "", ""),
             ref("proxy"): (150, "", "")}

    # base 400, claude and codex only their own 400 and 450 on top of it, proxy (on the OS image) whole.
    assert images.archive_estimate([ref("base"), ref("claude"), ref("codex"), ref("proxy")], facts) == 1400
    assert images.archive_estimate([ref("claude")], facts) == 800  # without base in the archive: all of it
    assert images.archive_estimate([ref("claude")], {}) is None


def test_export_and_import_show_a_start_and_an_end_line_when_not_on_a_terminal(fp, tmp_path, capsys):
    target = tmp_path / "images.tar"
    fp.register(IMAGES_ARGV, stdout=json.dumps({"Repository": "coding-agents-base", "Tag": __version__}))
    fp.register(["docker", "image", "inspect", ref("base")],
                stdout=json.dumps([{"RepoTags": [ref("base")], "Size": 2_000_000, "Created": "", "Id": "sha256:1"}]))
    fp.register(["docker", "save", ref("base")], stdout=b"x" * 1_500_000)
    fp.register(["docker", "load"], stdout=f"Loaded image: {ref('base')}\n")

    images.export_images(str(target))
    images.import_images(str(target))

    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == f"==> writing 1 images to {target} (about 2.0 MB) ..."
    assert lines[1].startswith(f"==> writing 1 images to {target}: done, 1.5 MB in ")
    assert lines[2] == f"==> loading {target} (1.5 MB) ..."
    assert lines[3].startswith(f"==> loading {target}: done, 1.5 MB in ")
    assert len(lines) == 4


# --- the `images` command ---------------------------------------------------------------


def test_images_command_list_json_sizes_in_bytes_times_in_iso_8601(fp, capsys):
    fp.register(IMAGES_ARGV, stdout=json.dumps({"Repository": "coding-agents-base", "Tag": __version__, "Size": "1GB",
                                                "ID": "83e7cb755ead", "CreatedSince": "2 days ago"}))
    fp.register(["docker", "image", "inspect", ref("base")], stdout=json.dumps([{
        "Id": "sha256:" + "8" * 64, "RepoTags": [ref("base")], "Size": 411770192,
        "Created": "2026-12-01T11:15:02.555936598+01:00"}]))

    assert cli.main(["images", "list", "--json"], prog="coding-agents") == 0

    rows = json.loads(capsys.readouterr().out)
    assert rows[0] == {"image": ref("base"), "status": "present", "size": 411770192,
                       "created": "2026-12-01T10:15:02Z", "id": "sha256:" + "8" * 64}
    assert {row["status"] for row in rows[1:]} == {"missing"}
    assert {(row["size"], row["created"], row["id"]) for row in rows[1:]} == {(None, None, None)}


def test_images_command_list_json_without_images_asks_nothing_more(fp, capsys):
    fp.register(IMAGES_ARGV, stdout="")

    assert cli.main(["images", "list", "--json"], prog="coding-agents") == 0

    assert {row["status"] for row in json.loads(capsys.readouterr().out)} == {"missing"}
    assert fp.call_count(["docker", "image", "inspect", fp.any()]) == 0


def test_images_command_list_json_survives_an_image_removed_meanwhile(fp, capsys):
    fp.register(IMAGES_ARGV, stdout=json.dumps({"Repository": "coding-agents-base", "Tag": __version__}))
    fp.register(["docker", "image", "inspect", ref("base")], returncode=1, stdout="[]\n",
                stderr=f"Error: No such image: {ref('base')}\n")

    assert cli.main(["images", "list", "--json"], prog="coding-agents") == 0

    row = json.loads(capsys.readouterr().out)[0]
    assert (row["status"], row["size"], row["created"]) == ("present", None, None)


def test_images_command_build_passes_flags_as_options(fp, recorded_builds, tmp_path):
    ca_path = tmp_path / "ca.crt"
    ca_path.write_bytes(PEM)
    fp.register(["docker", "version", "--format", "{{.Server.Version}}"], stdout="27.3.1\n")
    fp.register(IMAGES_ARGV, stdout="")

    code = cli.main(
        ["images", "build", "claude", "--base-image", "mine:1", "--ca-cert", str(ca_path), "-q"], prog="coding-agents"
    )

    assert code == 0
    assert recorded_builds == [(["base", "claude"], images.BuildOptions(base_image="mine:1", ca_cert=PEM, quiet=True))]


def test_images_command_scan_without_images_refuses(fp, capsys):
    fp.register(IMAGES_ARGV, stdout="")

    assert cli.main(["images", "scan"], prog="coding-agents") == 1
    assert "error: there are no coding-agents images to scan" in capsys.readouterr().err
