"""Adding an agent is adding a row: a made-up row in agents/catalog.py gets everything else derived
(shims, console scripts, the stub's knowledge, its image, its MCP config, completion), and no code
outside the table names an agent of its own."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

import build_zipapp
import setup as setup_script
from agents import catalog, cli, completion, images, records
from agents.mcp import render

REPO_ROOT = Path(__file__).resolve().parents[2]

ZED = catalog.Agent(
    name="zed",
    title="Zed Agent (made up)",
    npm_package="@zed/agent-cli",
    npm_version="3.1.4",
    command=("zed-agent",),
    prompt_command=("zed-agent", "--print", "{prompt}"),
    version_command=("zed-agent", "--version"),
    config_paths=(".zed/settings.json",),
    mcp_format="claude-json",
    allowed_domains=("api.zed.example",),
    login_dirs=(".zed",),
    login_files=(catalog.LoginFile(".zed/auth.json", ".zed/auth.json"),),
    login_env=("ZED_API_KEY",),
    image_prepare=("zed-agent --warm-up",),
)


@pytest.fixture
def zed(monkeypatch) -> catalog.Agent:
    monkeypatch.setattr(catalog, "AGENTS", (*catalog.AGENTS, ZED))
    return ZED


def read_tar(data: bytes) -> dict[str, bytes]:
    import io
    import tarfile

    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {member.name: tar.extractfile(member).read() for member in tar.getmembers()}


def test_new_row_gets_its_shims(zed, tmp_path):
    target = tmp_path / "shell"

    names = build_zipapp.write_shims(target)

    assert "run-zed" in names and "run-zed" in cli.shim_names()
    assert (target / "run-zed").read_bytes() == (REPO_ROOT / "shell" / "run-agent").read_bytes()
    assert os.access(target / "run-zed", os.X_OK)
    assert (target / "run-zed.ps1").is_file()
    echo = tmp_path / "echo"
    echo.write_text('#!/bin/sh\nfor arg in "$@"; do printf \'%s\\n\' "$arg"; done\n')
    echo.chmod(0o755)
    done = subprocess.run([str(target / "run-zed"), "--prompt", "hi"], env={**os.environ, "CODING_AGENTS": str(echo)},
                          capture_output=True, text=True, timeout=10)
    assert done.stdout.splitlines() == ["run-agent", "zed", "--prompt", "hi"]
    bash_completion = (target / "completion" / "coding-agents.bash").read_text()
    assert re.search(r"^complete -F _coding_agents .* run-zed( |$)", bash_completion, re.MULTILINE)
    assert " run-zed" in (target / "completion" / "_coding-agents").read_text().splitlines()[0]


def test_new_row_run_zed_is_run_agent_zed(zed):
    argv = cli.expand_shim("run-zed", ["--prompt", "hi"])
    args = cli.build_parser().parse_args(argv)

    assert argv == ["run-agent", "zed", "--prompt", "hi"]
    assert catalog.get_agent(args.agent) is zed
    assert zed.with_told(zed.prompt_command, "full") == ["zed-agent", "--print", "{prompt}"]


def test_new_row_gets_its_console_script(zed):
    assert "run-zed = agents.cli:entry" in setup_script.console_scripts()


def test_new_row_is_in_the_stubs_data_baked_into_the_base_image(zed):
    programs = {entry["name"]: entry for entry in catalog.stub_data()["programs"]}
    baked = json.loads(read_tar(images.build_context(images.get_spec("base"), b""))["stub/programs.json"])

    assert programs["zed"] == {"name": "zed", "command": ["zed-agent", "--version"], "line_with": ""}
    assert baked == catalog.stub_data()


def test_new_row_gets_its_image_planned(zed):
    spec = images.get_spec("zed")
    build_args = dict(images.build_args(spec, images.BuildOptions(base_image="debian:bookworm-slim")))

    assert catalog.image_names() == ["base", *(a.name for a in catalog.packaged_agents()), "all", "proxy"]
    assert "zed" in catalog.image_names()
    assert [s.name for s in images.resolve_targets(["zed"])] == ["base", "zed"]
    assert (spec.context_dir, spec.depends_on, spec.npm_packages) == ("images/agent", "base", ("@zed/agent-cli@3.1.4",))
    assert build_args["NPM_PACKAGES"] == "@zed/agent-cli@3.1.4"
    assert build_args["PREPARE"] == "zed-agent --warm-up"
    assert "@zed/agent-cli@3.1.4" in images.get_spec("all").npm_packages
    assert images.image_ref(zed.image_name) in images.expected_refs()


def test_new_row_mcp_format_is_one_the_renderer_knows(zed):
    rendered = render.render(zed.mcp_format, ())

    assert zed.mcp_format in render.FORMATS
    assert rendered is not None and rendered.content


def test_every_rows_mcp_format_is_one_the_renderer_knows():
    for agent in catalog.AGENTS:
        assert agent.mcp_format is None or agent.mcp_format in render.FORMATS, agent.name


def test_new_row_is_completed(zed, monkeypatch, tmp_path):
    monkeypatch.setenv("CODING_AGENTS_CONFIG", str(tmp_path / "no-config.toml"))
    parser = cli.build_parser()

    def complete(*words):
        return completion.candidates(parser, list(words), list, completion.agent_names)

    assert complete("coding-agents", "run-agent", "z") == ["zed"]
    assert complete("coding-agents", "launch-agent", "z") == ["zed"]
    assert complete("coding-agents", "images", "build", "z") == ["zed"]
    assert "--network-proxy" in complete("run-zed", "--n")
    assert "run-zed" in build_zipapp.completed_programs()


# --- nothing outside the table names an agent ----------------------------------------------

PYTHON_SOURCES = [*sorted((REPO_ROOT / "agents").rglob("*.py")), REPO_ROOT / "stub" / "ca-stub",
                  *sorted((REPO_ROOT / "stub" / "ca_stub").glob("*.py")),
                  REPO_ROOT / "build_zipapp.py", REPO_ROOT / "setup.py"]
TEXT_SOURCES = [*sorted(path for path in (REPO_ROOT / "shell").rglob("*") if path.is_file()),
                *sorted((REPO_ROOT / "scripts").glob("*.sh")),
                *sorted(path for path in (REPO_ROOT / "images").rglob("*") if path.is_file()),
                REPO_ROOT / "pyproject.toml"]


# "shell" is also the word for the shell/ folder and a login shell: only its shim name counts.
ORDINARY_WORDS = {"shell"}


def agent_words() -> tuple[set[str], set[str]]:
    """(bare names, shim names) to look for."""
    names = set(catalog.agent_names())
    return names - ORDINARY_WORDS, {f"run-{name}" for name in names}


def special_cases_in_python(path: Path, root: Path = REPO_ROOT) -> list[str]:
    """String literals that are an agent's name (or its shim's): a list or a branch of its own."""
    names, shims = agent_words()
    return [f"{path.relative_to(root)}:{node.lineno}: {node.value!r}" for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in names | shims]


def special_cases_in_text(path: Path, root: Path = REPO_ROOT) -> list[str]:
    names, shims = agent_words()
    pattern = re.compile("|".join([*(rf"\b{re.escape(shim)}\b" for shim in shims),
                                   *(rf"(['\"]){re.escape(name)}['\"]" for name in names)]))
    found = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if line.lstrip().startswith("#"):
            continue  # a comment may give an example
        if pattern.search(line):
            found.append(f"{path.relative_to(root)}:{number}: {line.strip()}")
    return found


def test_no_code_outside_the_table_names_an_agent():
    found = [hit for path in PYTHON_SOURCES if path.name != "catalog.py" for hit in special_cases_in_python(path)]
    found += [hit for path in TEXT_SOURCES for hit in special_cases_in_text(path)]

    assert not found, "per-agent special cases outside agents/catalog.py (derive them from the rows):\n" + "\n".join(
        found)


def test_the_scan_sees_a_special_case(zed, tmp_path):
    (tmp_path / "special.py").write_text('if agent.name == "zed":\n    pass\nSHIMS = {"run-zed": 1}\nhelp = "zed and more"\n')
    (tmp_path / "special.sh").write_text("# run-zed in a comment is fine\ncomplete -F f run-zed\nx='zed'\n")

    assert special_cases_in_python(tmp_path / "special.py", tmp_path) == ["special.py:1: 'zed'",
                                                                           "special.py:3: 'run-zed'"]
    assert special_cases_in_text(tmp_path / "special.sh", tmp_path) == ["special.sh:2: complete -F f run-zed",
                                                                         "special.sh:3: x='zed'"]


def test_zed_row_is_a_plain_row():
    assert records.replace(ZED) == ZED
    assert catalog.find_agent("zed") is None  # only the fixture adds it
