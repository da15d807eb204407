"""`coding-agents doctor` (alias `verify-prerequisites`): report what launching needs."""

from __future__ import annotations

import argparse

HELP = "check docker, git, tools, disk space and images; report what is missing and how to fix it"

_MARKS = {"ok": "ok", "warn": "WARN", "fail": "FAIL"}


def add_parser(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "doctor",
        aliases=["verify-prerequisites"],
        parents=[common],
        help=HELP,
        description=HELP + ". Changes nothing. Exit code 0 means agents can be launched.",
    )
    parser.add_argument("--json", action="store_true", help="print the checks as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from agents import doctor
    from agents.output import print_json, print_table

    checks = doctor.run_checks()
    ready = doctor.can_launch(checks)
    if args.json:
        print_json({"ready": ready, "checks": [check.as_dict() for check in checks]})
    else:
        rows = [
            {"status": _MARKS[c.status], "check": c.name, "detail": c.detail, "fix": c.fix if c.status != doctor.OK else ""}
            for c in checks
        ]
        print_table(rows, ["status", "check", "detail", "fix"])
        print()
        print("ready: agents can be launched" if ready else "not ready: fix the FAIL lines above")
    return 0 if ready else 1
