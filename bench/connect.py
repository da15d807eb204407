#!/usr/bin/env python3
"""`connect-agent NAME` to the screen, against raw `docker exec -it NAME tmux attach`, same run.

    python3 bench/connect.py [--runs 15] [--pyz PATH ...]

Launches one `shell` session (restricted network) with the first tool, then in each round, in a
fresh 80x24 terminal: the raw attach, then `connect-agent NAME` of each tool, each timed from its
start until tmux has drawn the pane (a '$' prompt after an escape sequence), then detached with
Ctrl-b d. Prints medians and each one's ratio to the raw attach. Measures only; removes the session.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    add_tool_arguments,
    base_image,
    interleave,
    make_repo,
    print_table,
    remove_session_leftovers,
    run,
    time_to_screen,
    tools,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="rounds; medians are shown (default 15)")
    add_tool_arguments(parser)
    args = parser.parse_args()
    base_image()
    tried = tools(args)
    name = f"bench-connect-{os.getpid()}"
    env = {**os.environ, "TERM": "xterm-256color"}
    with tempfile.TemporaryDirectory(prefix="bench-connect-") as tmp:
        repo = Path(tmp) / "repo"
        make_repo(repo)
        _, tool, tool_env = tried[0]
        try:
            run([*tool, "launch-agent", "shell", str(repo), "--name", name, "--network-proxy", "restricted"],
                env=tool_env)
            cases = {"raw docker exec -it NAME tmux attach": lambda: time_to_screen(
                ["docker", "exec", "-it", "--user", "1000", name, "tmux", "attach-session", "-t", "agent"], env)}
            for shown, argv, extra in tried:
                cases[f"{shown}: connect-agent NAME"] = (
                    lambda argv=argv, extra=extra: time_to_screen([*argv, "connect-agent", name], {**(extra or env), "TERM": env["TERM"]}))
            samples = interleave(cases, args.runs)
        finally:
            run([*tool, "remove-agent", name, "--no-push", "-y"], env=tool_env, check=False)
            remove_session_leftovers(name)
    print_table(samples, "raw docker exec -it NAME tmux attach", f"{args.runs} rounds; to the drawn screen")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
