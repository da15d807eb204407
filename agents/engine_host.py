"""The engine host's own addresses, which every squid session's proxy denies (docs/network-proxy.md).

A local engine's host is this machine: its /proc/net says. Any other engine's host (a remote
one, or the VM of a local engine on a machine without /proc/net, as on a Mac) is asked the same
through the engine: a throwaway container of one of our images on the host's network namespace
(`--network host`) reads its /proc/net. That costs a container run (0.2 to 0.8 s measured on the
test engine), so the answer is kept per engine for an hour (launches use it); a session's proxy
that starts again asks anew (proxies.ensure_proxy), so a host that got another address since is
still covered.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from agents import engine, files, network, paths, runner

# How long a remote engine's answer serves launches (a proxy's restart always asks anew).
CACHE_SECONDS = 3600.0
_SPLIT = "--- if_inet6 ---"
# Read-only, no capability, no privilege, as nobody: it only reads two files of the host's /proc/net.
PROBE_SCRIPT = f"cat /proc/net/fib_trie; echo '{_SPLIT}'; cat /proc/net/if_inet6 2>/dev/null || true"


def probe_argv(image: str) -> list[str]:
    return [runner.engine(), "run", "--rm", "--network", "host", "--user", "65534:65534", "--cap-drop", "ALL",
            "--security-opt", "no-new-privileges", "--read-only", "--pids-limit", "16", "--log-driver", "none",
            "--entrypoint", "sh", image, "-c", PROBE_SCRIPT]


def parse_probe(output: str) -> tuple[str, ...]:
    """The addresses in the probe's output (fib_trie, the marker, if_inet6)."""
    fib_trie, _, if_inet6 = output.partition(_SPLIT)
    return tuple(network.local_addresses(fib_trie, if_inet6))


def local() -> tuple[str, ...]:
    """This machine's own addresses ((): its /proc/net cannot be read)."""
    try:
        fib_trie = Path("/proc/net/fib_trie").read_text()
        if_inet6 = Path("/proc/net/if_inet6").read_text() if Path("/proc/net/if_inet6").exists() else ""
    except OSError:
        return ()
    return tuple(network.local_addresses(fib_trie, if_inet6))


def known() -> tuple[str, ...]:
    """What is known without asking the engine: this machine's addresses when the engine is local,
    else the engine's cached answer (() when there is none, or it is too old). A local engine on a
    machine without /proc/net (Docker Desktop on a Mac: its host is a VM) is asked like a remote one."""
    endpoint = engine.current()
    if endpoint.local and (here := local()):
        return here
    entry = _read_cache().get(endpoint.host)
    if isinstance(entry, dict) and time.time() - float(entry.get("learned", 0)) < CACHE_SECONDS:
        return tuple(str(address) for address in entry.get("addresses", ()))
    return ()


def learn(image: str, fresh: bool = False) -> tuple[str, ...] | None:
    """The engine host's addresses: this machine's for a local engine; for any other its cached
    answer, or (fresh, or nothing cached) the probe's, which is cached. None: the probe failed."""
    endpoint = engine.current()
    if endpoint.local and (here := local()):
        return here
    if not fresh and (cached := known()):
        return cached
    done = runner.run(probe_argv(image), check=False, timeout=120)
    addresses = parse_probe(done.stdout) if done.ok else ()
    if not addresses:  # every host has at least one address of its own: nothing read is a failure
        return None
    entries = _read_cache()
    entries[endpoint.host] = {"addresses": list(addresses), "learned": time.time()}
    files.write_private(paths.engine_addresses_file(), json.dumps(entries, indent=1).encode())
    return addresses


def _read_cache() -> dict:
    try:
        found = json.loads(paths.engine_addresses_file().read_text())
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}
