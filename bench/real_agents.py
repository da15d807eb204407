#!/usr/bin/env python3
"""Time from starting a real agent CLI to its first model request, against raw `docker run` baselines.

    python3 bench/real_agents.py [--runs 3] [--agents claude,codex,gemini,copilot] [--source]

The model is tests/integration/servers/model_server.py (run from that file, not imported) in a
container on a bench network, published on this machine's loopback. It records every request with
its arrival "time" (time.time() in the container: the same clock as ours, as the engine runs on this
machine) and answers each CLI's first turn with a final message, so every run is one short turn.
The server's records are cleared before each timed start; a start's "first request" is the earliest
request the server then records, whatever it is (a side request, e.g. a model list, counts too).

Each CLI is pointed at the server the way tests/integration/test_real_agents.py does it (`[agents.X]
env` in the config of a throwaway HOME; Codex through that HOME's ~/.codex/config.toml provider).
Each run, for each chosen CLI in turn:

1. raw          `docker run --rm -i` of the CLI's image on the bench network, reaching the model
                server directly by its container name: the same CLI command (prompt mode and
                autonomy flags), the same variables and the same files in its home (first-run
                answers, provider settings, written by `ca-stub logins-receive` from stdin, which
                our sessions use too), but no proxy, no hardening, no repository copy (the CLI
                starts in the image's empty /workspace, made an empty git repository first:
                `codex exec` refuses to start outside one). Timed to the first request.
   ours         `launch-agent X REPO --prompt ... --allow-host-port PORT` (squid mode, the
                default), to the first request and to the command's return (which includes the
                CLI's turn and exit and the sync of its branch); then `remove-agent --no-push -y`.
2. first start  in a new launched session, the CLI's prompt mode started with `docker exec -u 1000
   vs second    NAME sh -c 'set -a; . /tmp/.coding-agents/login.env; set +a; exec CLI ...'` (how the
                stub starts the agent: the login variables come from that 0600 file, so they need
                `set -a` to reach the CLI), to its first request; then again in the same session.
                The session is `launch-agent bench-idle-X REPO --allow-host-port PORT`, an own agent
                ([agents.bench-idle-X] base = "X") whose interactive command is `sleep infinity`:
                the same image, logins, tmpfs home folders, variables and proxy as X, but nothing
                has started the CLI before the first exec. (With X itself, its interactive CLI
                would start first in tmux; Claude Code's even exits at once here, as onboarding is
                only skipped for a login from the host and it then tries api.anthropic.com.)
                Copilot's package is unpacked in its image (COPILOT_PKG_CACHE_HOME), so its first
                start should no longer pay the ~2 s of unpacking ~235 MB into the home.

Before the runs each CLI starts once raw, untimed (a warm page cache for every measured start).
Uses dist/coding-agents.pyz when present (else, or with --source, `python3 -m agents`). Prints
medians (best in brackets). Measures only; asserts nothing. Everything it creates is named bench-...
or labelled coding-agents.bench=real-agents, and removed at the end (and after a failure); its
throwaway HOME goes once our CLI's host-side helpers for those sessions have ended. A failed
measurement is tried once more (others' image builds on a shared engine), a second failure stops.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYZ = ROOT / "dist" / "coding-agents.pyz"
SERVER = ROOT / "tests" / "integration" / "servers"  # model_server.py: run in a container, not imported
sys.path.insert(0, str(ROOT))

from agents import catalog, endpoints, images, logins  # noqa: E402
from agents.network import HOST_ALIAS  # noqa: E402

CLIS = ("claude", "codex", "gemini", "copilot")
BENCH_LABEL = "coding-agents.bench=real-agents"
PROMPT = "say hello"
SCRIPT = [{"text": "bench: hello"}]  # one final message: the CLI's turn ends at its first answer
RUN_TIMEOUT = 300.0
STATE_FILE = "/tmp/.coding-agents/login.env"


def run(argv: list[str], check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(argv, check=check, capture_output=True, text=True, **kwargs)


# --- the model server -----------------------------------------------------------------------------


class ModelServer:
    """model_server.py in a container on `network`, published on 127.0.0.1."""

    def __init__(self, name: str, network: str):
        self.name = name
        self.network = network
        self.port = 0

    def start(self) -> None:
        run(["docker", "network", "create", "--label", BENCH_LABEL, self.network])
        run(["docker", "run", "--detach", "--name", self.name, "--label", BENCH_LABEL, "--network", self.network,
             "--publish", "127.0.0.1::8000", "--read-only", "--cap-drop", "ALL", "--volume", f"{SERVER}:/srv:ro",
             images.image_ref("base"), "python3", "/srv/model_server.py", "--port", "8000"])
        shown = run(["docker", "port", self.name, "8000/tcp"]).stdout.split()[0]
        self.port = int(shown.rsplit(":", 1)[1])
        deadline = time.monotonic() + 30
        while True:
            try:
                if self._call("GET", "/_health") == "ok":
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the model server did not answer within 30 s") from None
                time.sleep(0.2)
        self._call("POST", "/_script", SCRIPT)

    def stop(self) -> None:
        run(["docker", "rm", "--force", self.name], check=False)
        run(["docker", "network", "rm", self.network], check=False)

    def _call(self, method: str, path: str, body: object | None = None) -> object:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as answer:
            text = answer.read().decode()
        return json.loads(text) if text.strip().startswith(("[", "{")) else text

    def reset(self) -> None:
        self._call("POST", "/_reset", {})

    def first_request(self) -> dict | None:
        records = self._call("GET", "/_requests")
        return min(records, key=lambda record: record["time"]) if records else None


# --- pointing each CLI at the server (as tests/integration/test_real_agents.py does) -----------------


def endpoint_config(cli: str, url: str) -> tuple[dict[str, str], dict[str, str]]:
    """([agents.CLI] env, files for the home) that point cli at the model server at url."""
    env = {
        "claude": {"ANTHROPIC_BASE_URL": url, "ANTHROPIC_API_KEY": "test-key-claude"},
        "codex": {"SCRIPTED_MODEL_KEY": "test-key-codex"},
        "gemini": {"GOOGLE_GEMINI_BASE_URL": url, "GEMINI_API_KEY": "test-key-gemini"},
        "copilot": {"COPILOT_PROVIDER_BASE_URL": f"{url}/v1", "COPILOT_PROVIDER_API_KEY": "test-key-copilot",
                    "COPILOT_MODEL": "test-model"},
    }[cli]
    files = {
        "codex": {".codex/config.toml": (
            'model_provider = "scripted"\nmodel = "test-model"\n\n[model_providers.scripted]\nname = "scripted"\n'
            f'base_url = "{url}/v1"\nwire_api = "responses"\nenv_key = "SCRIPTED_MODEL_KEY"\n')},
        "gemini": {".gemini/settings.json": json.dumps({"security": {"auth": {"selectedType": "gemini-api-key"}}})},
    }.get(cli, {})
    return env, files


def write_files(home: Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        (home / relative).parent.mkdir(parents=True, exist_ok=True)
        (home / relative).write_text(text)


def make_home(home: Path, clis: list[str], port: int) -> None:
    """A user's HOME whose config points each CLI (and its bench-idle- twin) at the server."""
    tables = []
    for cli in clis:
        env, files = endpoint_config(cli, f"http://{HOST_ALIAS}:{port}")
        write_files(home, files)
        inline = ", ".join(f"{key} = {json.dumps(value)}" for key, value in env.items())
        tables.append(f"[agents.{cli}]\nenv = {{ {inline} }}\n")
        tables.append(f'[agents.bench-idle-{cli}]\nbase = "{cli}"\ncommand = ["sleep", "infinity"]\n')
    config = home / ".config" / "coding-agents" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("\n".join(tables))


def prompt_command(agent: catalog.Agent) -> list[str]:
    """The CLI's prompt mode with what the default autonomy mode tells it (as planner.agent_command)."""
    command = agent.with_told(agent.prompt_command, catalog.DEFAULT_AUTONOMY)
    return [part.replace("{prompt}", PROMPT) for part in command]


def raw_setup(cli: str, url: str, home: Path) -> tuple[list[str], str]:
    """(--env arguments, the login bundle for logins-receive) of a raw container reaching url directly:
    what a session of cli gets, from our own planning code, without the proxy's variables."""
    agent = catalog.get_agent(cli)
    env, files = endpoint_config(cli, url)
    write_files(home, files)
    planned = endpoints.plan(agent, env, {}, home)
    bundle = logins.plan_bundle(agent, logins.read_host_logins(agent, home, {}), {}, None,
                                catalog.DEFAULT_AUTONOMY, planned)
    variables = {"TERM": "xterm-256color", **dict(agent.env), **dict(agent.told(catalog.DEFAULT_AUTONOMY).env),
                 **bundle.pop("env")}
    return [arg for key, value in variables.items() for arg in ("--env", f"{key}={value}")], json.dumps(bundle)


# --- the measurements -------------------------------------------------------------------------------


class Failed(Exception):
    pass


def since(server: ModelServer, started: float) -> tuple[float, str]:
    """(seconds from started to the server's first request, what that request was)."""
    first = server.first_request()
    if first is None:
        raise Failed("the CLI sent no request to the model server")
    kind = (first.get("answer") or {}).get("kind", "")
    return first["time"] - started, f"{first['method']} {first['path']}" + (f" ({kind})" if kind else "")


def checked(done: subprocess.CompletedProcess, what: str) -> None:
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise Failed(f"{what} exited with {done.returncode}:\n{tail}")


def raw_start(server: ModelServer, cli: str, name: str, env_args: list[str], bundle: str) -> tuple[float, str]:
    agent = catalog.get_agent(cli)
    server.reset()
    try:
        started = time.time()
        done = run(["docker", "run", "--rm", "-i", "--name", name, "--label", BENCH_LABEL, "--network", server.network,
                    *env_args, "--workdir", "/workspace", images.image_ref(agent.image_name),
                    "sh", "-c", 'ca-stub logins-receive >/dev/null && git init -q && exec "$@"', "sh",
                    *prompt_command(agent)],
                   check=False, input=bundle, timeout=RUN_TIMEOUT)
        checked(done, f"raw {cli}")
        return since(server, started)
    finally:
        run(["docker", "rm", "--force", name], check=False)


def remove_session(tool: list[str], env: dict[str, str], name: str) -> None:
    """remove-agent, then whatever a failed launch may have left under this name."""
    run([*tool, "remove-agent", name, "--no-push", "-y"], check=False, env=env, timeout=RUN_TIMEOUT)
    run(["docker", "rm", "--force", name, f"{name}-proxy"], check=False)
    run(["docker", "volume", "rm", "--force", f"{name}-workspace", f"{name}-home"], check=False)


def ours_prompt(server: ModelServer, tool: list[str], env: dict[str, str], cli: str, repo: Path,
                name: str) -> tuple[float, float, str]:
    server.reset()
    try:
        started, clock = time.time(), time.perf_counter()
        done = run([*tool, "launch-agent", cli, str(repo), "--prompt", PROMPT, "--allow-host-port", str(server.port),
                    "--name", name], check=False, env=env, timeout=RUN_TIMEOUT)
        total = time.perf_counter() - clock
        checked(done, f"launch-agent {cli} --prompt")
        first, what = since(server, started)
        return first, total, what
    finally:
        remove_session(tool, env, name)


def exec_starts(server: ModelServer, tool: list[str], env: dict[str, str], cli: str, repo: Path,
                name: str) -> tuple[float, float]:
    """(first, second) start of the CLI's prompt mode in one new session, to the first request."""
    agent = catalog.get_agent(cli)
    wrapper = f"set -a; . {STATE_FILE} 2>/dev/null; set +a; " + 'exec "$@"'
    try:
        done = run([*tool, "launch-agent", f"bench-idle-{cli}", str(repo), "--allow-host-port", str(server.port),
                    "--name", name], check=False, env=env, timeout=RUN_TIMEOUT)
        checked(done, f"launch-agent bench-idle-{cli}")
        times = []
        for attempt in ("first", "second"):
            server.reset()
            started = time.time()
            done = run(["docker", "exec", "-u", "1000", name, "sh", "-c", wrapper, "sh", *prompt_command(agent)],
                       check=False, timeout=RUN_TIMEOUT)
            checked(done, f"{attempt} {cli} start in {name}")
            times.append(since(server, started)[0])
        return times[0], times[1]
    finally:
        remove_session(tool, env, name)


def wait_for_helpers(tag: str, timeout: float = 15.0) -> None:
    """Wait (never kill) until the host-side helpers our CLI spawned for the sessions (`_collect`,
    `_bridge`) have ended: the collector writes into HOME's state folder once more after a removal."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = False
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                argv = cmdline.read_bytes().split(b"\0")
            except OSError:
                continue
            if any(part.startswith(tag.encode()) for part in argv) and any(
                    part in (b"_collect", b"_bridge") for part in argv):
                alive = True
                break
        if not alive:
            return
        time.sleep(0.2)


def twice(measure, *args):
    """measure(*args), tried once more after a failure: others' builds on a shared engine can make an
    image vanish for a moment. A second failure ends the benchmark."""
    try:
        return measure(*args)
    except (Failed, subprocess.SubprocessError) as error:
        first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
        print(f"warning: {first_line}; trying once more", file=sys.stderr, flush=True)
        return measure(*args)


def make_repo(repo: Path) -> None:
    run(["git", "init", "-q", "-b", "main", str(repo)])
    for key, value in (("user.name", "Bench"), ("user.email", "bench@example.invalid")):
        run(["git", "-C", str(repo), "config", key, value])
    (repo / "README").write_text("bench\n")
    run(["git", "-C", str(repo), "add", "-A"])
    run(["git", "-C", str(repo), "commit", "-qm", "first"])


def median(values: list[float]) -> str:
    return f"{statistics.median(values):6.2f} [{min(values):.2f}]"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="repetitions; medians are shown (default 3)")
    parser.add_argument("--agents", default=",".join(CLIS), help="comma-separated CLIs (default: all four)")
    parser.add_argument("--source", action="store_true", help="run `python3 -m agents` even if the zipapp exists")
    args = parser.parse_args()
    clis = [cli.strip() for cli in args.agents.split(",") if cli.strip()]
    unknown = [cli for cli in clis if cli not in CLIS]
    if unknown or not clis:
        parser.error(f"--agents: choose from {', '.join(CLIS)}")

    missing = [ref for ref in {images.image_ref(name) for name in ("base", "proxy", *clis)}
               if run(["docker", "image", "inspect", ref], check=False).returncode != 0]
    if missing:
        print(f"error: not present: {', '.join(sorted(missing))}; run `coding-agents images build`", file=sys.stderr)
        return 1
    if PYZ.is_file() and not args.source:
        tool, shown_tool = [str(PYZ)], "dist/coding-agents.pyz"
    else:
        tool, shown_tool = [sys.executable, "-m", "agents"], "python3 -m agents"

    load_before = os.getloadavg()[0]
    tag = f"bench-ra-{os.getpid()}"
    server = ModelServer(f"{tag}-model", f"{tag}-net")
    raw_first = {cli: [] for cli in clis}
    ours_first = {cli: [] for cli in clis}
    ours_total = {cli: [] for cli in clis}
    first_start = {cli: [] for cli in clis}
    second_start = {cli: [] for cli in clis}
    first_seen: dict[str, set[str]] = {cli: set() for cli in clis}
    with tempfile.TemporaryDirectory(prefix="bench-real-agents-") as tmp:
        home, raw_home, repo = Path(tmp) / "home", Path(tmp) / "raw-home", Path(tmp) / "repo"
        env = {key: value for key, value in os.environ.items()
               if not any(key in (*agent.login_env, *agent.endpoint_env) for agent in catalog.AGENTS)}
        env.pop("XDG_CONFIG_HOME", None)
        env.pop("CODING_AGENTS_CONFIG", None)
        # A fresh HOME would make the zipapp unpack its venv again: keep pex's cache where it is.
        env.setdefault("PEX_ROOT", str(Path.home() / ".cache" / "pex"))
        env.update(HOME=str(home), XDG_STATE_HOME=str(home / ".local" / "state"))
        if tool[0] == sys.executable:
            env["PYTHONPATH"] = str(ROOT)
        try:
            server.start()
            make_home(home, clis, server.port)
            raw_home.mkdir()
            make_repo(repo)
            run([*tool, "--version"], env=env)  # warm-up: a fresh zipapp unpacks its venv on first run
            setups = {cli: raw_setup(cli, f"http://{server.name}:8000", raw_home) for cli in clis}
            for cli in clis:  # warm-up: each CLI once, untimed
                raw_start(server, cli, f"{tag}-warm-{cli}", *setups[cli])
            for index in range(1, args.runs + 1):
                for cli in clis:
                    first, what = twice(raw_start, server, cli, f"{tag}-raw-{cli}-{index}", *setups[cli])
                    raw_first[cli].append(first)
                    first, total, what = twice(ours_prompt, server, tool, env, cli, repo, f"{tag}-{cli}-{index}")
                    ours_first[cli].append(first)
                    ours_total[cli].append(total)
                    first_seen[cli].add(what)
                    one, two = twice(exec_starts, server, tool, env, cli, repo, f"{tag}-{cli}-exec-{index}")
                    first_start[cli].append(one)
                    second_start[cli].append(two)
                print(f"run {index}/{args.runs} done", file=sys.stderr, flush=True)
        except (Failed, subprocess.SubprocessError, RuntimeError, OSError) as error:
            detail = error.stderr.strip() if isinstance(error, subprocess.CalledProcessError) else str(error)
            print(f"error: {detail}", file=sys.stderr)
            return 1
        finally:
            server.stop()
            wait_for_helpers(tag)

    print(f"tool: {shown_tool}; {args.runs} runs; {os.cpu_count()} cores, load average {load_before:.1f} before, "
          f"{os.getloadavg()[0]:.1f} after; seconds, median [best]")
    print()
    print("1. to the first model request: raw `docker run --rm` vs `launch-agent X --prompt` (squid)")
    print(f"{'CLI':9} {'raw first request':>18} {'ours first request':>19} {'ours total':>15} {'overhead':>9}")
    for cli in clis:
        overhead = statistics.median(ours_first[cli]) - statistics.median(raw_first[cli])
        print(f"{cli:9} {median(raw_first[cli]):>18} {median(ours_first[cli]):>19} {median(ours_total[cli]):>15} "
              f"{overhead:9.2f}")
    print("   overhead: ours first request minus raw first request (medians)")
    for cli in clis:
        print(f"   {cli}'s first request: {', '.join(sorted(first_seen[cli]))}")
    print()
    print("2. prompt mode started twice in one new session (docker exec), to the first model request")
    print(f"{'CLI':9} {'first start':>15} {'second start':>15} {'difference':>11}")
    for cli in clis:
        difference = statistics.median(a - b for a, b in zip(first_start[cli], second_start[cli], strict=True))
        print(f"{cli:9} {median(first_start[cli]):>15} {median(second_start[cli]):>15} {difference:11.2f}")
    print("   difference: median of (first - second) per run")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
