"""`coding-agents images ...`: build, list, bootstrap, export/import and scan the image set."""

from __future__ import annotations

import argparse

from agents import catalog
from agents.commands import _values

# Implementation modules are imported inside the handlers: building the parser for
# every invocation must stay cheap (see docs/build.md, start-up time).

HELP = "build, list, export/import and scan the coding-agents images"


def add_parser(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "images",
        parents=[common],
        help=HELP,
        description=HELP + ". Images are named coding-agents-<name>:<tool version>.",
    )
    verbs = parser.add_subparsers(dest="images_command", metavar="SUBCOMMAND", help="what to do")
    parser.set_defaults(handler=lambda args: _missing_verb(parser))

    names = [name for name in catalog.image_names() if name != "all"]
    targets = "all (every image, including the all-agents image), " + ", ".join(names) + ", shell (= base)"
    build = verbs.add_parser(
        "build",
        parents=[common],
        help="build images from the Dockerfiles bundled in this tool",
        description="Build images from the Dockerfiles bundled in this tool, dependencies first. "
        "Each image is scanned for secrets with trivy (when installed) before it is tagged.",
    )
    build.add_argument("targets", nargs="*", metavar="TARGET", help=f"what to build (default all): {targets}")
    build.add_argument(
        "--base-image",
        metavar="IMG",
        help="FROM image for the base and proxy images (default: config, else a bootstrapped "
        f"{catalog.OS_IMAGE} if present, else {catalog.DEFAULT_BASE_IMAGE})",
    )
    build.add_argument(
        "--ca-cert",
        metavar="FILE",
        help="PEM CA bundle to trust inside the images (for TLS-intercepting proxies), "
        "e.g. /etc/ssl/certs/ca-certificates.crt",
    )
    build.add_argument("--npm-registry", metavar="URL",
                       type=_values.http_url("--npm-registry", "https://registry.npmjs.org"),
                       help="npm registry for Node.js and the agent CLIs")
    build.add_argument("--quiet", "-q", action="store_true", help="hide docker build output")
    build.set_defaults(handler=run_build)

    listing = verbs.add_parser("list", parents=[common], help="show which images are present, with sizes")
    listing.add_argument("--json", action="store_true",
                         help="print a JSON list: image, status, size (bytes), created (UTC, ISO 8601), id")
    listing.set_defaults(handler=run_list)

    boot = verbs.add_parser(
        "bootstrap-base",
        parents=[common],
        help="make a Debian base image with debootstrap (no registry needed; root only)",
        description=f"Create {catalog.OS_IMAGE} with debootstrap and `docker import`, for machines "
        "that cannot reach a container registry. Later builds use it automatically.",
    )
    boot.add_argument("--mirror", metavar="URL", type=_values.http_url("--mirror", "http://deb.debian.org/debian"),
                      help="Debian mirror (default http://deb.debian.org/debian)")
    boot.add_argument("--force", action="store_true", help="rebuild even if the image is present")
    boot.add_argument("--tag", metavar="NAME:TAG", default=catalog.OS_IMAGE, help=f"image to create (default {catalog.OS_IMAGE})")
    boot.set_defaults(handler=run_bootstrap)

    export = verbs.add_parser("export", parents=[common], help="save every present image into one archive")
    export.add_argument("file", metavar="FILE", help="archive to write (docker save format)")
    export.set_defaults(handler=run_export)

    load = verbs.add_parser("import", parents=[common], help="load an archive written by `images export`")
    load.add_argument("file", metavar="FILE", help="archive to read")
    load.set_defaults(handler=run_import)

    scan_parser = verbs.add_parser(
        "scan",
        parents=[common],
        help="scan images for secrets with trivy",
        description="Scan images for secrets with trivy (offline). Exit code 1 when a secret is found.",
    )
    scan_parser.add_argument("image", nargs="?", metavar="IMAGE", help="image to scan (default: every present image)")
    scan_parser.add_argument("--json", action="store_true", help="print findings as JSON")
    scan_parser.set_defaults(handler=run_scan)


def _missing_verb(parser: argparse.ArgumentParser) -> int:
    """`images` alone: the same help as `images --help`, where the top level's goes (stdout, exit 0)."""
    parser.print_help()
    return 0


def run_build(args: argparse.Namespace) -> int:
    from agents import docker, images
    from agents.config import load_config
    from agents.output import say

    config = load_config().images
    specs = images.resolve_targets(list(args.targets))
    docker.engine_version()  # refuse early with the engine hint
    local = {image.ref for image in docker.list_managed_images()}
    options = images.BuildOptions(
        base_image=images.choose_base_image(args.base_image, config, local),
        ca_cert=images.read_ca_cert(args.ca_cert or config.ca_cert),
        npm_registry=args.npm_registry or config.npm_registry,
        quiet=args.quiet,
    )
    say(f"==> building {', '.join(spec.name for spec in specs)} from {options.base_image}")
    report = images.build_images(specs, options)
    for ref in report.built:
        print(f"built {ref}")
    for ref in report.unchanged:
        print(f"up to date {ref}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    from agents import docker, images
    from agents.output import print_json, print_table

    present = docker.list_managed_images()
    if args.json:
        print_json(images.list_json(present, docker.image_facts([image.ref for image in present])))
    else:
        print_table(images.list_rows(present), ["image", "status", "size", "created"])
    return 0


def run_bootstrap(args: argparse.Namespace) -> int:
    from agents import bootstrap, docker
    from agents.config import load_config

    config = load_config().images
    if not args.force and docker.image_id(args.tag):
        print(f"{args.tag} is already present (use --force to rebuild it)")
        return 0
    ref = bootstrap.bootstrap_base(args.mirror or config.debian_mirror, args.tag)
    print(f"created {ref}")
    return 0


def run_export(args: argparse.Namespace) -> int:
    from agents import images
    from agents.output import say

    refs = images.export_images(args.file)
    for ref in refs:
        print(f"exported {ref}")
    say(f"==> wrote {args.file}; on the other machine run: coding-agents images import {args.file}")
    return 0


def run_import(args: argparse.Namespace) -> int:
    from agents import images

    for ref in images.import_images(args.file):
        print(f"imported {ref}")
    return 0


def run_scan(args: argparse.Namespace) -> int:
    from agents import docker, images, scan
    from agents.errors import AgentsError
    from agents.output import print_json, say

    if args.image:
        targets = [args.image]
    else:
        present = {image.ref for image in docker.list_managed_images()}
        targets = [ref for ref in images.expected_refs() if ref in present]
        if not targets:
            raise AgentsError("there are no coding-agents images to scan", hint="run `coding-agents images build`")
    trivy = scan.find_trivy()
    if trivy is None:
        raise AgentsError("trivy is not installed, so images cannot be scanned for secrets", hint=scan.TRIVY_HINT)
    report = {}
    for ref in targets:
        say(f"==> scanning {ref}")
        report[ref] = scan.scan_image(ref, trivy)
    found = sum(len(findings) for findings in report.values())
    if args.json:
        print_json({ref: [vars(f) for f in findings] for ref, findings in report.items()})
    else:
        for ref, findings in report.items():
            if not findings:
                print(f"clean   {ref}")
            for finding in findings:
                print(f"SECRET  {ref}: {finding.describe()}")
    return 1 if found else 0
