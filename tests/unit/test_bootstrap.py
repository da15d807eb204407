"""agents/bootstrap.py: a registry-free Debian base via debootstrap + docker import."""

from __future__ import annotations

import pytest

from agents import bootstrap, catalog, runner
from agents.errors import AgentsError

MIRROR = "http://mirror.example/debian"


def test_plan_bootstrap_debootstrap_argv():
    plan = bootstrap.plan_bootstrap(MIRROR, "/var/tmp/x/rootfs", "coding-agents-os:bookworm")

    assert plan.debootstrap_argv == ["debootstrap", "--variant=minbase", "bookworm", "/var/tmp/x/rootfs", MIRROR]
    assert plan.tar_argv == ["tar", "--numeric-owner", "-C", "/var/tmp/x/rootfs", "-c", "."]


def test_plan_bootstrap_import_argv_labels_then_stdin_then_ref():
    argv = bootstrap.plan_bootstrap(MIRROR, "/r", "coding-agents-os:bookworm").import_argv
    changes = [argv[n + 1] for n, arg in enumerate(argv) if arg == "--change"]

    assert argv[:2] == ["docker", "import"]
    assert argv[-2:] == ["-", "coding-agents-os:bookworm"]
    assert "LABEL coding-agents.managed=true" in changes
    assert "LABEL coding-agents.image=os" in changes
    assert 'CMD ["/bin/bash"]' in changes


def test_plan_bootstrap_suite_comes_from_catalog():
    assert catalog.DEBIAN_SUITE in bootstrap.plan_bootstrap(MIRROR, "/r", "ref").debootstrap_argv


def make_tree(root, paths):
    for path in paths:
        target = root / path
        if path.endswith("/"):
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text("x")


def test_slim_rootfs_removes_caches_docs_and_lists(tmp_path):
    rootfs = tmp_path / "rootfs"
    make_tree(
        rootfs,
        [
            "var/cache/apt/pkgcache.bin",
            "var/cache/apt/archives/bash_5.2_amd64.deb",
            "var/cache/apt/archives/partial/",
            "var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease",
            "var/lib/apt/lists/lock",
            "usr/share/doc/bash/copyright",
            "usr/share/man/man1/ls.1.gz",
            "usr/share/info/dir",
            "usr/share/locale/de/LC_MESSAGES/apt.mo",
            "usr/share/locale/locale.alias",
            "var/log/dpkg.log",
            "var/log/apt/",
            "usr/bin/bash",
        ],
    )

    bootstrap.slim_rootfs(rootfs)

    gone = [
        "var/cache/apt/pkgcache.bin",
        "var/cache/apt/archives/bash_5.2_amd64.deb",
        "var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease",
        "usr/share/doc/bash",
        "usr/share/man/man1",
        "usr/share/info/dir",
        "usr/share/locale/de",
        "var/log/dpkg.log",
    ]
    kept = [
        "var/cache/apt/archives/partial",
        "var/lib/apt/lists/lock",
        "usr/share/locale/locale.alias",
        "var/log/apt",
        "usr/bin/bash",
    ]
    assert [path for path in gone if (rootfs / path).exists()] == []
    assert [path for path in kept if not (rootfs / path).exists()] == []


def test_slim_rootfs_writes_dpkg_and_apt_config(tmp_path):
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()

    bootstrap.slim_rootfs(rootfs)

    assert (rootfs / "etc/dpkg/dpkg.cfg.d/coding-agents-slim").read_text() == bootstrap.DPKG_SLIM_CONFIG
    assert (rootfs / "etc/apt/apt.conf.d/90coding-agents-no-cache").read_text() == bootstrap.APT_NO_CACHE_CONFIG
    assert "path-exclude /usr/share/doc/*" in bootstrap.DPKG_SLIM_CONFIG


def test_slim_rootfs_unlinks_symlinks_without_following_them(tmp_path):
    outside = tmp_path / "host-docs"
    outside.mkdir()
    (outside / "keep.txt").write_text("host file")
    rootfs = tmp_path / "rootfs"
    (rootfs / "usr/share/doc").mkdir(parents=True)
    (rootfs / "usr/share/doc/linked").symlink_to(outside)

    bootstrap.slim_rootfs(rootfs)

    assert not (rootfs / "usr/share/doc/linked").is_symlink()
    assert (outside / "keep.txt").read_text() == "host file"


def test_bootstrap_base_as_non_root_refuses_with_sudo_hint(monkeypatch, fp):
    monkeypatch.setattr("os.geteuid", lambda: 1000)

    with pytest.raises(AgentsError) as caught:
        bootstrap.bootstrap_base(MIRROR, "coding-agents-os:bookworm")

    assert "must run as root" in caught.value.message
    assert "sudo coding-agents images bootstrap-base" in caught.value.hint
    assert list(fp.calls) == []


def test_bootstrap_base_without_debootstrap_refuses(monkeypatch, fp, fake_which):
    monkeypatch.setattr("os.geteuid", lambda: 0)
    fake_which("docker")

    with pytest.raises(AgentsError) as caught:
        bootstrap.bootstrap_base(MIRROR, "coding-agents-os:bookworm")

    assert caught.value.message == "`debootstrap` is not installed"
    assert caught.value.hint == runner.INSTALL_HINTS["debootstrap"]
    assert list(fp.calls) == []


def test_bootstrap_base_runs_plan_and_cleans_up(monkeypatch, fp, fake_which, tmp_path):
    monkeypatch.setattr("os.geteuid", lambda: 0)
    fake_which("debootstrap", "docker")
    work_dir = tmp_path / "work"
    work_dir.mkdir()
    seen_rootfs = []
    slimmed_before_tar = []

    def tar(process):
        rootfs = seen_rootfs[0]
        slimmed_before_tar.append(
            not (rootfs / "var/cache/apt/pkgcache.bin").exists()
            and (rootfs / "etc/dpkg/dpkg.cfg.d/coding-agents-slim").is_file()
        )

    def debootstrap(process):
        rootfs = tmp_path / process.args[3]
        (rootfs / "var/cache/apt").mkdir(parents=True)
        (rootfs / "var/cache/apt/pkgcache.bin").write_text("cache")
        seen_rootfs.append(rootfs)

    fp.register(["docker", "version", "--format", "{{.Server.Version}}"], stdout="27.3.1\n")
    fp.register(["debootstrap", "--variant=minbase", "bookworm", fp.any(min=1, max=1), MIRROR], callback=debootstrap)
    fp.register(["tar", "--numeric-owner", "-C", fp.any(min=1, max=1), "-c", "."], callback=tar)
    fp.register(["docker", "import", fp.any(), "-", "coding-agents-os:bookworm"], stdout="sha256:os\n")

    assert (
        bootstrap.bootstrap_base(MIRROR, "coding-agents-os:bookworm", work_dir=str(work_dir))
        == "coding-agents-os:bookworm"
    )
    assert seen_rootfs and seen_rootfs[0].name == "rootfs"
    assert str(seen_rootfs[0]).startswith(str(work_dir))
    assert slimmed_before_tar == [True]
    assert list(work_dir.iterdir()) == []  # the temporary rootfs is removed
    assert fp.call_count(["docker", "import", fp.any()]) == 1
