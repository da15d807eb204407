"""Make a Debian base OS image without any registry: debootstrap + docker import."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

from agents import catalog, docker, runner
from agents.errors import AgentsError
from agents.records import record

# Same idea as Debian's slim images: no docs, man pages or translations get installed later on.
DPKG_SLIM_CONFIG = """\
# Written by coding-agents images bootstrap-base: keep the image small.
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
"""

APT_NO_CACHE_CONFIG = """\
# Written by coding-agents images bootstrap-base: no package caches in image layers.
APT::Keep-Downloaded-Packages "false";
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
"""


@record(frozen=True)
class BootstrapPlan:
    rootfs_dir: str
    ref: str
    debootstrap_argv: list[str]
    tar_argv: list[str]
    import_argv: list[str]


def plan_bootstrap(mirror: str, rootfs_dir: str, ref: str, suite: str = catalog.DEBIAN_SUITE) -> BootstrapPlan:
    changes = [
        f"LABEL {docker.MANAGED_LABEL}=true",
        f"LABEL {docker.IMAGE_LABEL}=os",
        "ENV LANG=C.UTF-8",
        'CMD ["/bin/bash"]',
    ]
    import_argv = [runner.engine(), "import"]
    for change in changes:
        import_argv += ["--change", change]
    import_argv += ["-", ref]
    return BootstrapPlan(
        rootfs_dir=rootfs_dir,
        ref=ref,
        debootstrap_argv=["debootstrap", "--variant=minbase", suite, rootfs_dir, mirror],
        tar_argv=["tar", "--numeric-owner", "-C", rootfs_dir, "-c", "."],
        import_argv=import_argv,
    )


def slim_rootfs(rootfs: Path) -> None:
    """Drop caches, docs and translations debootstrap leaves behind, and keep them out later."""
    for pattern in (
        "var/cache/apt/*.bin",
        "var/cache/apt/archives/*.deb",
        "var/lib/apt/lists/*_*",
        "usr/share/doc/*",
        "usr/share/man/*",
        "usr/share/info/*",
        "usr/share/locale/*",
        "var/log/*.log",
    ):
        for path in rootfs.glob(pattern):
            if path.name in ("locale.alias",):
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
    (rootfs / "etc/dpkg/dpkg.cfg.d").mkdir(parents=True, exist_ok=True)
    (rootfs / "etc/dpkg/dpkg.cfg.d/coding-agents-slim").write_text(DPKG_SLIM_CONFIG)
    (rootfs / "etc/apt/apt.conf.d").mkdir(parents=True, exist_ok=True)
    (rootfs / "etc/apt/apt.conf.d/90coding-agents-no-cache").write_text(APT_NO_CACHE_CONFIG)


def bootstrap_base(mirror: str, ref: str, work_dir: str | None = None) -> str:
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        raise AgentsError(
            "bootstrap-base must run as root (debootstrap creates device files and uses chroot)",
            hint="run it with sudo, e.g. `sudo coding-agents images bootstrap-base`",
        )
    if runner.which("debootstrap") is None:
        raise AgentsError("`debootstrap` is not installed", hint=runner.INSTALL_HINTS["debootstrap"])
    docker.engine_version()  # refuse before the slow part when the engine is down
    tmp = tempfile.mkdtemp(prefix="coding-agents-rootfs-", dir=work_dir or "/var/tmp")
    try:
        plan = plan_bootstrap(mirror, os.path.join(tmp, "rootfs"), ref)
        print(f"==> debootstrap {catalog.DEBIAN_SUITE} from {mirror} (a minute or two)", file=sys.stderr, flush=True)
        runner.run(
            plan.debootstrap_argv,
            stream=True,
            hint="check that the mirror is reachable; pass --mirror for a local Debian mirror",
        )
        slim_rootfs(Path(plan.rootfs_dir))
        print(f"==> importing as {ref}", file=sys.stderr, flush=True)
        try:
            runner.run_pipeline(plan.tar_argv, plan.import_argv)
        except runner.CommandFailed as error:
            raise docker.explain(error) from error
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return ref
