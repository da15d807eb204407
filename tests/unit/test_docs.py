"""The docs against the code.

- docs/cli-reference.md names only commands and flags the real parser has (agents/cli.py builds
  it), and documents every public one (internal commands, which start with `_`, are exempt);
- every `coding-agents ...` or shim command line in any doc uses real commands and flags;
- every relative link in README.md and docs/*.md points to a file that exists, and to a heading
  that exists in it.

The markdown is read with a few plain rules, not a markdown library: fenced code blocks, inline
code spans, headings, pipe tables and `[text](target)` links are all these docs use.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from agents.cli import build_parser, shim_prefix

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
REFERENCE = DOCS / "cli-reference.md"
SCRIPTS = (ROOT / "scripts" / "install.sh", ROOT / "scripts" / "test.sh")
# Options every command takes; the reference documents them once, under "Global options".
GLOBAL_OPTIONS = {"-h", "--help", "--debug"}
FLAG = re.compile(r"^--?[A-Za-z][A-Za-z0-9-]*$")

Command = tuple[str, ...]


# --- the parser ------------------------------------------------------------------------------


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _walk(parser: argparse.ArgumentParser, path: Command = ()) -> dict[Command, argparse.ArgumentParser]:
    found = {path: parser}
    for name, sub in _subparsers(parser).items():
        found.update(_walk(sub, (*path, name)))
    return found


PARSERS = _walk(build_parser())  # every command, by its words: (), ('images',), ('images', 'build'), ...


def is_public(path: Command) -> bool:
    return not any(part.startswith("_") for part in path)


def options(path: Command) -> set[str]:
    return {flag for action in PARSERS[path]._actions for flag in action.option_strings}


def positionals(path: Command) -> list[str]:
    return [action.metavar or action.dest.upper() for action in PARSERS[path]._actions
            if not action.option_strings and not isinstance(action, argparse._SubParsersAction)]


def all_options() -> set[str]:
    return {flag for path in PARSERS for flag in options(path)}


def script_options() -> set[str]:
    """The flags scripts/install.sh and scripts/test.sh take (their `case` patterns)."""
    found: set[str] = set()
    for script in SCRIPTS:
        for pattern in re.findall(r"^\s*([-|A-Za-z0-9]+)\)", script.read_text(), re.MULTILINE):
            found.update(part for part in pattern.split("|") if FLAG.match(part))
    return found


# --- the markdown ----------------------------------------------------------------------------


@dataclass
class Section:
    level: int
    heading: str
    line: int
    code: list[tuple[int, str]] = field(default_factory=list)  # lines of fenced code blocks
    prose: list[tuple[int, str]] = field(default_factory=list)  # every other line


def sections(text: str) -> list[Section]:
    found = [Section(0, "", 0)]
    fence = None
    for number, line in enumerate(text.splitlines(), 1):
        marker = re.match(r"^\s*(`{3,}|~{3,})", line)
        if marker and (fence is None or marker.group(1)[0] == fence[0] and len(marker.group(1)) >= len(fence)):
            fence = marker.group(1) if fence is None else None
            continue
        if fence is not None:
            found[-1].code.append((number, line))
            continue
        heading = re.match(r"^(#{1,6})\s+(.*?)\s*#*\s*$", line)
        if heading:
            found.append(Section(len(heading.group(1)), heading.group(2), number))
        else:
            found[-1].prose.append((number, line))
    return found


def code_spans(text: str) -> list[str]:
    return [span.strip() for _, span in re.findall(r"(`+)(.+?)\1", text)]


def table_rows(lines: list[tuple[int, str]]) -> list[tuple[int, list[str], list[str]]]:
    """(line, header cells, row cells) of every body row of every pipe table."""
    rows = []
    header: list[str] | None = None
    previous: list[str] | None = None
    for number, line in lines:
        if not line.lstrip().startswith("|"):
            header = previous = None
            continue
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
        if all(re.fullmatch(r":?-{3,}:?", cell) for cell in cells if cell):
            header = previous
            continue
        if header is not None:
            rows.append((number, header, cells))
        previous = cells
    return rows


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: the rendered text, lower case, punctuation dropped, spaces to '-'."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link shows its text
    text = text.replace("`", "").replace("*", "").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    for section in sections(path.read_text())[1:]:
        base = slug(section.heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


# --- command lines in the docs ---------------------------------------------------------------


@dataclass
class Invocation:
    where: str
    path: Command  # the command it comes to
    flags: list[tuple[str, Command]]  # each flag with the command it was given to
    words: list[str]  # every other word, cleaned
    alternatives: tuple[Command, ...] = ()  # `mcp list|show|...`: each one named
    problems: list[str] = field(default_factory=list)


def _placeholder(word: str) -> bool:
    """COMMAND, SUBCOMMAND, ARGS, <agent>, ...: stands for something, names no command."""
    return word in ("...", "…") or word.startswith("<") or (word.upper() == word and any(c.isalpha() for c in word))


def invocation(text: str, where: str) -> Invocation | None:
    """The command line `text`, if it is one of ours (`coding-agents ...` or a shim name)."""
    text = re.sub(r"^\S*\$ ", "", text.strip())  # a prompt: `$ ` or `~/api$ `
    text = re.split(r"\s#\s", text)[0].replace("\\|", "|")
    words = text.split()
    if not words:
        return None
    if words[0] == "coding-agents":
        words = words[1:]
    elif shim_prefix(words[0]):
        words = [*shim_prefix(words[0]), *words[1:]]
    else:
        return None
    found = Invocation(where, (), [], [])
    descending = True
    for raw in words:
        word = raw.strip("[](){},;`'\"")
        if word.startswith("-") and len(word) > 1:
            flag = word.split("=", 1)[0]
            if FLAG.match(flag):
                found.flags.append((flag, found.path))
            continue
        if not word or word == "|":
            continue
        choices = _subparsers(PARSERS[found.path])
        if descending and choices:
            if word in choices:
                found.path = (*found.path, word)
                continue
            names = word.split("|")
            if len(names) > 1 and all(name in choices for name in names):
                found.alternatives = tuple((*found.path, name) for name in names)
            elif not _placeholder(word):
                found.problems.append(f"{where}: `{text}`: no command {' '.join((*found.path, word))!r}")
            descending = False
            continue
        descending = False
        found.words.append(word)
    for flag, path in found.flags:
        if flag not in options(path):
            found.problems.append(f"{where}: `{text}`: {' '.join(('coding-agents', *path))} has no option {flag}")
    return found


def command_lines(code: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """Code lines with their continuations joined: a line ending in a backslash, or an indented
    line under a usage line (`coding-agents run-agent [--branch B]` and more options below it)."""
    joined: list[tuple[int, str]] = []
    continues = False
    for number, line in code:
        if joined and (continues or (line[:1].isspace() and line.strip() and joined[-1][1].strip())):
            joined[-1] = (joined[-1][0], joined[-1][1].rstrip().rstrip("\\").rstrip() + " " + line.strip())
        else:
            joined.append((number, line))
        continues = line.rstrip().endswith("\\")
    return joined


def section_invocations(path: Path, section: Section, prose: bool = True) -> list[Invocation]:
    """The command lines of ours in one section: its code lines, its heading's inline code, and
    (with prose) the inline code of its other lines."""
    name = path.relative_to(ROOT)
    found = [invocation(line, f"{name}:{number}") for number, line in command_lines(section.code)]
    found += [invocation(span, f"{name}:{section.line}") for span in code_spans(section.heading)]
    if prose:
        found += [invocation(span, f"{name}:{number}") for number, line in section.prose for span in code_spans(line)]
    return [item for item in found if item is not None]


def invocations(path: Path) -> list[Invocation]:
    return [item for section in sections(path.read_text()) for item in section_invocations(path, section)]


def all_docs() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]


# --- the reference's own structure -----------------------------------------------------------


def section_commands(section: Section) -> set[Command]:
    """The commands a section documents: those of its usage lines (code blocks) and its heading."""
    return {item.path for item in section_invocations(REFERENCE, section, prose=False)}


def documented() -> tuple[dict[Command, set[str]], dict[Command, set[str]], list[str]]:
    """From the reference: the flags and words shown for each command, and what is wrong."""
    flags: dict[Command, set[str]] = {}
    words: dict[Command, set[str]] = {}
    problems: list[str] = []
    for item in invocations(REFERENCE):
        problems += item.problems
        for flag, path in item.flags:
            flags.setdefault(path, set()).add(flag)
        words.setdefault(item.path, set()).update(item.words)
        for path in (item.path, *item.alternatives):
            flags.setdefault(path, set())
    # Option tables: the first column's flags belong to the commands the section is about.
    for section in sections(REFERENCE.read_text()):
        commands = section_commands(section) or {()}
        for number, header, cells in table_rows(section.prose):
            if not re.search(r"option|argument", header[0], re.IGNORECASE):
                continue
            for span in code_spans(cells[0]):
                for word in span.replace("\\|", " ").split():
                    word = word.strip("[](),")
                    if not FLAG.match(word):
                        continue
                    for path in commands:
                        if word in options(path):
                            flags.setdefault(path, set()).add(word)
                        else:
                            name = " ".join(("coding-agents", *path))
                            problems.append(f"docs/cli-reference.md:{number}: {name} has no option {word}")
    return flags, words, problems


# --- tests -----------------------------------------------------------------------------------


def test_the_reference_names_only_real_commands_and_flags():
    _, _, problems = documented()
    assert not problems, "\n".join(problems)


def test_every_flag_in_the_reference_is_one_of_ours():
    """A flag in inline code anywhere in the reference belongs to some command (or to the scripts)."""
    known = all_options() | script_options()
    unknown = []
    for number, line in enumerate(REFERENCE.read_text().splitlines(), 1):
        for span in code_spans(line):
            first = span.split()[0] if span.split() else ""
            flag = first.split("=", 1)[0]
            if FLAG.match(flag) and flag not in known:
                unknown.append(f"docs/cli-reference.md:{number}: `{span}`")
    assert not unknown, "no command takes these:\n" + "\n".join(unknown)


def test_every_public_command_and_flag_is_in_the_reference():
    flags, words, _ = documented()
    missing = []
    for path in PARSERS:
        if not path or not is_public(path):
            continue
        name = " ".join(("coding-agents", *path))
        if path not in flags:
            missing.append(f"{name}: no usage line")
            continue
        for flag in sorted(options(path) - GLOBAL_OPTIONS - flags[path]):
            missing.append(f"{name} {flag}")
        for metavar in positionals(path):
            if metavar not in words.get(path, set()) and f"{metavar}..." not in words.get(path, set()):
                missing.append(f"{name}: argument {metavar} in no usage line")
    assert not missing, "not in docs/cli-reference.md:\n" + "\n".join(missing)


def test_the_global_options_are_documented_once():
    table = next(section for section in sections(REFERENCE.read_text()) if section.heading == "Global options")
    shown = {word for _, _, cells in table_rows(table.prose) for span in code_spans(cells[0]) for word in span.split()}
    assert GLOBAL_OPTIONS | {"--version"} <= shown
    assert shown <= options(())


def test_the_commands_table_lists_every_public_command_and_only_those():
    table = next(section for section in sections(REFERENCE.read_text()) if section.heading == "Commands")
    listed: set[str] = set()
    problems = []
    for number, _, cells in table_rows(table.prose):
        spans = code_spans(cells[0])
        assert spans, f"docs/cli-reference.md:{number}: a row without a command"
        item = invocation("coding-agents " + spans[0], f"docs/cli-reference.md:{number}")
        problems += item.problems
        listed.add(item.path[0] if item.path else spans[0])
        listed.update(re.findall(r"alias `([^`]+)`", cells[0]))  # doctor (alias `verify-prerequisites`)
    public = {path[0] for path in PARSERS if len(path) == 1 and is_public(path)}
    assert not problems, "\n".join(problems)
    assert listed == public


def test_the_internal_commands_the_reference_mentions_exist():
    internal = {path[0] for path in PARSERS if path and not is_public(path)}
    named = {span.split()[0] for span in code_spans(REFERENCE.read_text()) if re.match(r"_[a-z]", span)}
    assert named, "the reference no longer mentions the internal commands"
    assert named <= internal


@pytest.mark.parametrize("doc", all_docs(), ids=lambda path: str(path.relative_to(ROOT)))
def test_command_lines_in_the_docs_use_real_commands_and_flags(doc):
    problems = [problem for item in invocations(doc) for problem in item.problems]
    assert not problems, "\n".join(problems)


LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def links(path: Path) -> list[tuple[int, str]]:
    """Every link target outside code, with its line."""
    found = []
    for section in sections(path.read_text()):
        for number, line in [(section.line, section.heading), *section.prose]:
            plain = re.sub(r"(`+)(.+?)\1", "code", line)
            found += [(number, target) for target in LINK.findall(plain)]
    return found


@pytest.mark.parametrize("doc", all_docs(), ids=lambda path: str(path.relative_to(ROOT)))
def test_relative_links_point_to_files_and_headings_that_exist(doc):
    broken = []
    for number, target in links(doc):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):  # https:, mailto:, ...
            continue
        file_part, _, anchor = target.partition("#")
        destination = (doc.parent / file_part).resolve() if file_part else doc
        where = f"{doc.relative_to(ROOT)}:{number}: ({target})"
        if not destination.exists():
            broken.append(f"{where}: no file {file_part}")
        elif anchor and destination.suffix == ".md" and anchor not in anchors(destination):
            broken.append(f"{where}: no heading #{anchor} in {destination.relative_to(ROOT)}")
    assert not broken, "\n".join(broken)


def test_the_command_line_reader_finds_what_it_must():
    assert invocation("docker run --cpus 2 image", "x") is None  # not ours
    shim = invocation("~/api$ run-claude . --branch fix-login   # a comment --nosuch", "x")
    assert (shim.path, shim.flags, shim.problems) == (("run-agent",), [("--branch", ("run-agent",))], [])
    usage = invocation("coding-agents images build [--quiet] [TARGET ...]", "x")
    assert (usage.path, usage.problems, "TARGET" in usage.words) == (("images", "build"), [], True)
    assert invocation("coding-agents sync --frobnicate NAME", "x").problems
    assert invocation("coding-agents nosuch NAME", "x").problems
    assert invocation("coding-agents images SUBCOMMAND ...", "x").problems == []
    assert invocation("coding-agents mcp list|show|approve", "x").alternatives == (
        ("mcp", "list"), ("mcp", "show"), ("mcp", "approve"))
    assert command_lines([(1, "coding-agents run-agent [--branch B]"), (2, "      [--gpu] AGENT"),
                          (3, "coding-agents sync \\"), (4, "NAME"), (5, "plain")]) == [
        (1, "coding-agents run-agent [--branch B] [--gpu] AGENT"), (3, "coding-agents sync NAME"), (5, "plain")]
    rows = table_rows([(1, "| option | meaning |"), (2, "|---|---|"), (3, "| `--json` | a \\| b |"), (4, "text")])
    assert rows == [(3, ["option", "meaning"], ["`--json`", "a \\| b"])]


def test_the_link_checker_sees_links_and_reads_anchors_as_github_does():
    assert slug("Seeing what happened: `logs --network` and `list-agents`") == \
        "seeing-what-happened-logs---network-and-list-agents"
    assert slug("A model server on this machine (e.g. Ollama on port 11434)") == \
        "a-model-server-on-this-machine-eg-ollama-on-port-11434"
    assert slug("`--ssh-agent` (off by default)") == "--ssh-agent-off-by-default"
    assert links(DOCS / "cli-reference.md"), "no links found: the link pattern is broken"


def test_the_readme_lists_every_doc():
    readme = (ROOT / "README.md").read_text()
    unlisted = [path.name for path in sorted(DOCS.glob("*.md")) if f"(docs/{path.name})" not in readme]
    assert not unlisted, f"README.md's Docs list lacks: {unlisted}"
