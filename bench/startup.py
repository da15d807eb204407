#!/usr/bin/env python3
"""Start-up time of dist/coding-agents.pyz (warm), against bare Python as a floor.

    python3 bench/startup.py [--runs 30]

Prints the median and best of each command in milliseconds. The first run of a new
zipapp unpacks its venv under ~/.cache/pex and is excluded (one warm-up run each).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYZ = ROOT / "dist" / "coding-agents.pyz"


def measure(argv: list[str], runs: int) -> tuple[float, float]:
    subprocess.run(argv, capture_output=True, check=True)  # warm-up
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=True)
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), min(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    if not PYZ.is_file():
        print(f"error: {PYZ} is missing; run python3 build_zipapp.py", file=sys.stderr)
        return 1
    cases = {
        "python3 -c pass (floor)": [sys.executable, "-c", "pass"],
        "coding-agents.pyz --version": [str(PYZ), "--version"],
        "coding-agents.pyz images --help": [str(PYZ), "images", "--help"],
        "coding-agents.pyz launch-agent --help": [str(PYZ), "launch-agent", "--help"],
    }
    print(f"{'command':40} {'median ms':>10} {'best ms':>9}")
    for name, argv in cases.items():
        median, best = measure(argv, args.runs)
        print(f"{name:40} {median:10.1f} {best:9.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
