"""agents/manifest.py and `coding-agents inspect`: a session checked against the manifest recorded at launch.

The recorded manifest and rendered MCP config are real bridge settings in a tmp state dir; docker is faked (fp).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from agents import bridges, cli, manifest, records, state_size
from agents.mcp import render, servers
from agents.session import model, naming
from agents.session.query import CONTAINER_FORMAT

NAME = "claude-api-session-1"
IMAGE = "coding-agents-claude:1.2.3"
IMAGE_ID = "sha256:" + "1" * 64
SERVERS = (servers.Server("tool", command=("npx",), args=("-y", "tool")),
           servers.Server("keyed", command=("k",), args=("${API_KEY}",)))
RENDERED = render.render("claude-json", SERVERS)
STATE = ["docker", "inspect", "--format", "{{.State.Status}}", NAME]
RUNNING_IMAGE = ["docker", "inspect", "--format", "{{.Image}}", NAME]
CAT = ["docker", "exec", "--user", "1000", NAME, "cat", "/home/agent/.claude/.claude.json"]


def recorded(rendered: render.Rendered | None = RENDERED, **extra) -> dict:
    document = {"version": 1, "session": NAME, "images": {IMAGE: IMAGE_ID}, "network": "restricted", **extra}
    if rendered is not None:
        document["rendered_mcp"] = {rendered.container: render.rendered_digest(rendered, rendered.content)}
    return document


def record(document: dict | None, rendered: render.Rendered | None = RENDERED) -> None:
    bridges.prepare(bridges.BridgeSettings(session=NAME, agent="claude", repo="/home/me/api", manifest=document,
                                           mcp_rendered=records.asdict(rendered) if rendered else None))


def info(label: str | None, state: str = "running") -> model.SessionInfo:
    labels = {naming.SESSION: NAME, **({naming.MANIFEST: label} if label is not None else {})}
    return model.SessionInfo(name=NAME, agent="claude", repo=Path("/home/me/api"), branch="claude/session-1",
                                base="a" * 40, network="restricted", mode="launch", image=IMAGE, no_push=False,
                                created="2026-01-02T03:04:05Z", state=state, container_id="c" * 64, labels=labels)


def container_file(fp, text: str, state: str = "running", image: str = IMAGE_ID) -> None:
    fp.register(RUNNING_IMAGE, stdout=image + "\n")
    fp.register(STATE, stdout=state + "\n")
    fp.register(CAT, stdout=text)


def in_the_container() -> str:
    """The CLI's file as it is inside: its own keys around our mcpServers."""
    return json.dumps({"numStartups": 3, **json.loads(RENDERED.content), "projects": {"/workspace": {}}}, indent=2)


def test_verify_everything_holds(fp):
    document = recorded()
    record(document)
    container_file(fp, in_the_container())

    found, checks = manifest.verify(info(manifest.digest_of(document)))

    assert found == document
    assert checks == [
        {"what": "manifest label", "ok": True, "detail": f"sha256 {manifest.digest_of(document)}"},
        {"what": f"image {IMAGE}", "ok": True, "detail": IMAGE_ID},
        {"what": "MCP servers in .claude/.claude.json", "ok": True, "detail": "as rendered"},
    ]


def test_verify_label_mismatch(fp):
    document = recorded()
    record(document)
    container_file(fp, in_the_container())

    _, checks = manifest.verify(info("f" * 64))

    assert checks[0] == {"what": "manifest label", "ok": False,
                         "detail": f"label {'f' * 64} but the recorded manifest hashes to {manifest.digest_of(document)}"}


def test_verify_no_label(fp):
    document = recorded(rendered=None)
    record(document, rendered=None)
    fp.register(RUNNING_IMAGE, stdout=IMAGE_ID + "\n")

    _, checks = manifest.verify(info(None))

    assert checks[0]["ok"] is False
    assert checks[0]["detail"] == f"label (none) but the recorded manifest hashes to {manifest.digest_of(document)}"


def test_verify_the_container_runs_another_image(fp):
    document = recorded()
    record(document)
    container_file(fp, in_the_container(), image="sha256:" + "2" * 64)

    _, checks = manifest.verify(info(manifest.digest_of(document)))

    assert checks[1] == {"what": f"image {IMAGE}", "ok": False,
                         "detail": f"the container runs sha256:{'2' * 64}, the manifest says {IMAGE_ID}"}


def test_verify_only_checks_the_sessions_own_image(fp):
    document = recorded(rendered=None, images={"coding-agents-proxy:1.2.3": "sha256:" + "3" * 64})
    record(document, rendered=None)

    _, checks = manifest.verify(info(manifest.digest_of(document)))

    assert [check["what"] for check in checks] == ["manifest label"]
    assert list(fp.calls) == []


@pytest.mark.parametrize("change", ["servers", "junk", "missing"])
def test_verify_mcp_config_changed_inside(fp, change):
    document = recorded()
    record(document)
    if change == "servers":
        text = json.dumps({"mcpServers": {**json.loads(RENDERED.content)["mcpServers"],
                                          "evil": {"command": "curl", "args": ["evil.example"]}}})
        container_file(fp, text)
    elif change == "junk":
        container_file(fp, "{half a file")
    else:
        fp.register(RUNNING_IMAGE, stdout=IMAGE_ID + "\n")
        fp.register(STATE, stdout="running\n")
        fp.register(CAT, returncode=1, stderr="cat: No such file or directory\n")

    _, checks = manifest.verify(info(manifest.digest_of(document)))

    assert checks[2] == {"what": "MCP servers in .claude/.claude.json", "ok": False,
                         "detail": "changed inside the container (or unreadable)"}


def test_verify_mcp_config_of_a_stopped_session_is_not_checked(fp):
    document = recorded()
    record(document)
    fp.register(RUNNING_IMAGE, stdout=IMAGE_ID + "\n")
    fp.register(STATE, stdout="exited\n")

    _, checks = manifest.verify(info(manifest.digest_of(document), state="exited"))

    assert checks[2] == {"what": "MCP servers in .claude/.claude.json", "ok": True,
                         "detail": "not checked: the session is not running"}
    assert fp.call_count(CAT) == 0


def test_verify_codex_toml(fp):
    rendered = render.render("codex-toml", SERVERS)
    document = recorded(rendered=rendered)
    record(document, rendered=rendered)
    cat = ["docker", "exec", "--user", "1000", NAME, "cat", "/home/agent/.codex/config.toml"]
    fp.register(RUNNING_IMAGE, stdout=IMAGE_ID + "\n")
    fp.register(STATE, stdout="running\n", occurrences=2)
    fp.register(cat, stdout='[projects."/workspace"]\ntrust_level = "trusted"\n\n' + rendered.content)
    fp.register(cat, stdout="[broken")

    assert manifest.verify(info(manifest.digest_of(document)))[1][2]["ok"] is True

    fp.register(RUNNING_IMAGE, stdout=IMAGE_ID + "\n")
    assert manifest.verify(info(manifest.digest_of(document)))[1][2]["ok"] is False


def test_verify_a_session_without_a_recorded_manifest(fp):
    record(None, rendered=None)

    document, checks = manifest.verify(info(""))

    assert document == {}
    assert checks == [{"what": "manifest label", "ok": False,
                       "detail": f"label (none) but the recorded manifest hashes to {manifest.digest_of({})}"}]


# --- coding-agents inspect NAME ---------------------------------------------------------------------------------

PS_ALL = ["docker", "ps", "--all", "--quiet", "--no-trunc", "--filter", "label=coding-agents.session"]


def by_name(name: str) -> list[str]:
    """get_session's one look at a session: its container and its proxy."""
    return ["docker", "inspect", "--type", "container", "--format", CONTAINER_FORMAT, name, f"{name}-proxy"]


def engine_has_the_session(fp, label: str) -> None:
    labels = {naming.SESSION: NAME, naming.AGENT: "claude", naming.IMAGE: IMAGE, naming.MANIFEST: label,
              naming.CREATED: "2026-01-02T03:04:05Z"}
    fp.register(by_name(NAME), returncode=1, stderr=f"Error: No such container: {NAME}-proxy\n",
                stdout=json.dumps({"Id": "c" * 64, "Config": {"Labels": labels}, "State": {"Status": "running"}}) + "\n")


def kept_state(fp, used: int) -> None:
    """The agent state the session keeps, as `du` and `df` in its container say (agents/state_size.py)."""
    fp.register(["docker", "exec", "--user", "1000", NAME, "sh", "-c", state_size.SCRIPT, "state-size",
                 naming.STATE_STORE, naming.HOME], stdout=f"{used}\n/dev/vda 100 50 {10 * 1024**3} 50% /home/agent\n")


def test_inspect_command_all_ok_exits_0(fp, capsys):
    document = recorded()
    record(document)
    engine_has_the_session(fp, manifest.digest_of(document))
    container_file(fp, in_the_container())
    kept_state(fp, 5 * 1024**2)

    assert cli.main(["inspect", NAME], prog="coding-agents") == 0

    out = capsys.readouterr().out
    assert out.startswith(json.dumps(document, indent=2) + "\n")
    assert out.endswith(f"ok   manifest label: sha256 {manifest.digest_of(document)}\n"
                        f"ok   image {IMAGE}: {IMAGE_ID}\n"
                        "ok   MCP servers in .claude/.claude.json: as rendered\n"
                        "history: 5M of 8G ([sessions] state_size), 10G free on the engine's disk\n")


def test_inspect_command_past_the_state_size_warns_and_still_exits_0(fp, capsys):
    document = recorded()
    record(document)
    engine_has_the_session(fp, manifest.digest_of(document))
    container_file(fp, in_the_container())
    kept_state(fp, 9 * 1024**3)

    assert cli.main(["inspect", NAME], prog="coding-agents") == 0

    captured = capsys.readouterr()
    assert "history: 9G of 8G ([sessions] state_size)" in captured.out
    assert captured.err.startswith(f"warning: {NAME} keeps 9G of agent state (transcripts, history), over "
                                   "[sessions] state_size (8G)")


def test_inspect_command_something_changed_exits_1_as_json(fp, capsys):
    document = recorded()
    record(document)
    engine_has_the_session(fp, manifest.digest_of(document))
    container_file(fp, json.dumps({"mcpServers": {}}))
    kept_state(fp, 1024)

    assert cli.main(["inspect", NAME, "--json"], prog="coding-agents") == 1

    shown = json.loads(capsys.readouterr().out)
    assert shown["manifest"] == document
    assert [check["ok"] for check in shown["checks"]] == [True, True, False]
    assert shown["history"] == {"used": 1024, "limit": 8 * 1024**3, "free": 10 * 1024**3, "over": False}


def test_inspect_command_unknown_session(fp, capsys):
    fp.register(by_name("nope"), returncode=1, stdout="", stderr="Error: No such container: nope\n")
    fp.register(["docker", "volume", "inspect", "nope-workspace"], returncode=1, stdout="[]\n",
                stderr="Error: No such volume: nope-workspace\n")

    assert cli.main(["inspect", "nope"], prog="coding-agents") == 1

    assert capsys.readouterr().err.startswith("error: no agent session named 'nope'\n")


def test_digest_of_is_stable_and_key_order_free():
    one = {"version": 1, "session": "s", "images": {"a": "sha256:1"}}
    two = {"images": {"a": "sha256:1"}, "session": "s", "version": 1}

    assert manifest.digest_of(one) == manifest.digest_of(two)
    assert manifest.digest_of(one) != manifest.digest_of({**one, "session": "t"})
    assert manifest.digest_of({}) == hashlib.sha256(b"{}").hexdigest()
