"""Checking a session against the manifest recorded at launch (see launcher.build_manifest)."""

from __future__ import annotations

from typing import Any

from agents import bridges, docker, mcp, runner, sessions, workspace


def verify(info: sessions.SessionInfo) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    settings = bridges.load_settings(info.name)
    document = settings.manifest or {}
    checks: list[dict[str, Any]] = []

    def check(what: str, ok: bool, detail: str) -> None:
        checks.append({"what": what, "ok": ok, "detail": detail})

    label = info.labels.get(sessions.MANIFEST, "")
    digest = mcp.manifest_digest(document)
    check("manifest label", label == digest, f"sha256 {digest}" if label == digest else
          f"label {label or '(none)'} but the recorded manifest hashes to {digest}")
    for ref, recorded in (document.get("images") or {}).items():
        if ref == info.image:
            running = docker.run("inspect", "--format", "{{.Image}}", info.name, check=False).stdout.strip()
            check(f"image {ref}", running == recorded, running if running == recorded else
                  f"the container runs {running}, the manifest says {recorded}")
    if settings.mcp_rendered:
        rendered = mcp.Rendered(**settings.mcp_rendered)
        recorded = (document.get("rendered_mcp") or {}).get(rendered.container)
        if workspace.session_state(info.name) != "running":
            check(f"MCP servers in {rendered.container}", True, "not checked: the session is not running")
        else:
            shown = runner.run(["docker", "exec", "--user", "1000", info.name, "cat",
                                f"{sessions.HOME}/{rendered.container}"], check=False)
            try:
                found = mcp.rendered_digest(rendered, shown.stdout) if shown.ok else None
            except ValueError:
                found = None
            check(f"MCP servers in {rendered.container}", found == recorded,
                  "as rendered" if found == recorded else "changed inside the container (or unreadable)")
    return document, checks
