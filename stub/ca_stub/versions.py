"""`ca-stub versions`: the programs of this image (from PROGRAMS_FILE) and their versions."""
import json
import shutil
import subprocess
import sys

from ca_stub import paths


def versions():
    """Print {name: version line} for the programs of PROGRAMS_FILE that this image has."""
    try:
        with open(paths.PROGRAMS_FILE) as programs_file:
            programs = json.load(programs_file)["programs"]
    except (OSError, ValueError, KeyError) as error:
        print(f"ca-stub: cannot read {paths.PROGRAMS_FILE} (the image build writes it): {error}", file=sys.stderr)
        return 1
    found = {entry["name"]: program_version(entry["command"], entry.get("line_with", "")) for entry in programs}
    print(json.dumps({name: line for name, line in found.items() if line is not None}, indent=2))
    return 0


def program_version(command, line_with=""):
    """The line of the command's output that tells the version (the first, or the first holding the
    word line_with), or None when the program is absent."""
    path = shutil.which(command[0])
    if path is None:
        return None
    try:
        done = subprocess.run([path, *command[1:]], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"error: {error}"
    lines = [line for line in (done.stdout or done.stderr).splitlines() if line.strip()]
    if line_with:
        lines = [line for line in lines if line_with in line] or lines
    return lines[0].strip() if lines else f"exit {done.returncode}"
