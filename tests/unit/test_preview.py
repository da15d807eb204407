"""agents/session/preview.py: what --dry-run shows (the launch path itself is covered against the
real engine in tests/integration/test_dry_run.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.session import model, naming, preview


def test_mask_secrets_hides_known_values_and_secret_named_variables_everywhere():
    data = {
        "variables": {"ANTHROPIC_API_KEY": "sk-live-123", "ANTHROPIC_BASE_URL": "http://host:1/"},
        "steps": [{"argv": ["docker", "run", "--env", "GITHUB_TOKEN=ghp_abc", "--env", "MODE=fast",
                            "--label", "note=uses sk-live-123 inside"]}],
    }
    masked = preview.mask_secrets(data, {"sk-live-123"})
    assert masked["variables"] == {"ANTHROPIC_API_KEY": "***", "ANTHROPIC_BASE_URL": "http://host:1/"}
    argv = masked["steps"][0]["argv"]
    assert argv[3] == "GITHUB_TOKEN=***" and argv[5] == "MODE=fast"
    assert argv[7] == "note=uses *** inside"
    assert "sk-live-123" not in repr(masked) and "ghp_abc" not in repr(masked)


def test_mask_secrets_leaves_ordinary_words_alone():
    # "AUTHOR" contains AUTH, but only a KEY=VALUE whose key names a secret is masked: an argv
    # word without "=" or with a key that is not a variable name stays as it is.
    words = ["--author", "a=b=c", "path/with=equals", "--label", "coding-agents.autonomy=full"]
    assert preview.mask_secrets(words, set()) == words


def test_render_text_lists_every_step_and_shortens_long_values():
    shown = preview.render_text({
        "name": "claude-r-session-1", "volumes": ["v1"],
        "steps": [{"step": "agent container", "argv": ["docker", "run", "--env", "SQUID_CONF=" + "x" * 500]},
                  {"step": "host bridge", "argv": ["coding-agents", "_bridge", "n"], "serves": ["git credentials"]}],
    })
    lines = shown.splitlines()
    assert lines[0] == "dry run: nothing was changed"
    assert " 1. agent container" in lines and " 2. host bridge" in lines
    assert "SQUID_CONF=<500 characters>" in shown and "x" * 200 not in shown
    assert "    (git credentials)" in lines


@pytest.mark.parametrize("network, squid", [("squid", True), ("restricted", False)])
def test_remove_preview_names_what_a_removal_takes(monkeypatch, network, squid):
    from agents import bridges

    monkeypatch.setattr(bridges, "find_settings", lambda name: None)
    info = model.SessionInfo(name="s", agent="claude", repo=Path("/r"), branch="claude/x", base="b", network=network,
                             mode="launch", image="i", no_push=False, created="", state="running", container_id="id")
    shown = preview.remove_preview(info, no_push=False, keep_branch=False)
    assert shown["sync"] == "claude/x into /r"
    assert shown["containers"] == (["s", naming.proxy_name("s")] if squid else ["s"])
    assert shown["volumes"] == ["s-workspace", "s-home"]
    assert shown["networks"] == ([naming.internal_network("s"), naming.egress_network("s")] if squid else [])
    assert preview.remove_preview(info, no_push=True, keep_branch=False)["sync"] == "no (--no-push)"
