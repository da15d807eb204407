"""Network policy: the allowlist, the squid config that enforces it, and reading its log.

Everything here is pure: the launcher creates the networks and the sidecar from these values.
"""

from __future__ import annotations

import ipaddress
import re

from agents.errors import AgentsError
from agents.records import record

PROXY_PORT = 3128
PROXY_ALIAS = "proxy"  # the sidecar's name on the session's internal network
HOST_ALIAS = "host.coding-agents.internal"  # this machine, for the ports a session opened

# Denied even when an allowed name resolves to them. No two ranges overlap: squid drops
# overlapping entries with a warning.
PRIVATE_RANGES = (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24",
    "224.0.0.0/4", "240.0.0.0/4",
    "::/127", "2001:db8::/32", "fc00::/7", "fe80::/10", "ff00::/8",
)  # the documentation ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32) too

# A host with a colon: no name or IPv4 address has one, every IPv6 literal does (bracketed or not).
IPV6_LITERAL = r"^\[?[0-9a-fA-F.]*:[0-9a-fA-F:.%a-zA-Z]*\]?$"
_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_HOST = re.compile(rf"^{_LABEL}(\.{_LABEL})*$")


def normalize_rule(rule: str) -> str:
    """'Example.com' -> 'example.com' (exactly that host); '*.example.com' or '.example.com'
    -> '.example.com' (the domain and every subdomain). Anything else is an error."""
    text = rule.strip().lower().rstrip(".")
    if text.startswith("*."):
        text = text[1:]
    wildcard = text.startswith(".")
    host = text[1:] if wildcard else text
    try:
        ipaddress.ip_address(host)
        is_ip = True
    except ValueError:
        is_ip = False
    if is_ip and not wildcard:
        return host
    if not host or not _HOST.match(host) or "." not in host and wildcard:
        raise AgentsError(
            f"{rule!r} is not an allowlist rule",
            hint="use example.com (that host) or .example.com / *.example.com (it and its subdomains)",
        )
    return ("." if wildcard else "") + host


def minimal_rules(rules: list[str]) -> list[str]:
    """Normalize, drop duplicates and hosts already covered by a wildcard (squid rejects overlaps)."""
    normalized = sorted({normalize_rule(rule) for rule in rules})
    wildcards = [rule for rule in normalized if rule.startswith(".")]

    def covered(rule: str) -> bool:
        host = rule.lstrip(".")
        for wildcard in wildcards:
            if wildcard == rule:
                continue
            if host == wildcard[1:] or host.endswith(wildcard):
                return True
        return False

    return [rule for rule in normalized if not covered(rule)]


def rule_matches(rule: str, host: str) -> bool:
    host = host.lower().rstrip(".")
    if rule.startswith("."):
        return host == rule[1:] or host.endswith(rule)
    return host == rule


@record(frozen=True)
class Policy:
    allow: tuple[str, ...]  # minimal, normalized rules
    block_private: bool = True
    learn: bool = False
    request_max_mb: int = 100
    reply_max_mb: int = 2048
    host_ports: tuple[int, ...] = ()  # this machine's loopback ports, by the name HOST_ALIAS
    # The engine host's own addresses and the session subnet pool: denied in every mode, even with
    # block_private off (a server on the host is reached only through an opened host port).
    host_addresses: tuple[str, ...] = ()
    # Model endpoints the user configured on another port (host, port): that port, for that name only.
    endpoint_ports: tuple[tuple[str, int], ...] = ()


def build_policy(
    agent_domains: tuple[str, ...],
    config_domains: tuple[str, ...],
    cli_domains: tuple[str, ...],
    block_private: bool = True,
    learn: bool = False,
    request_max_mb: int = 100,
    reply_max_mb: int = 2048,
    host_ports: tuple[int, ...] = (),
    host_addresses: tuple[str, ...] = (),
    endpoint_ports: tuple[tuple[str, int], ...] = (),
) -> Policy:
    rules = minimal_rules([*agent_domains, *config_domains, *cli_domains])
    return Policy(tuple(rules), block_private, learn, request_max_mb, reply_max_mb,
                  tuple(sorted(set(host_ports))), collapse(host_addresses), tuple(sorted(set(endpoint_ports))))


def collapse(addresses: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Addresses and ranges without overlaps (squid drops overlapping entries with a warning)."""
    found = [ipaddress.ip_network(item, strict=False) for item in addresses]
    merged: list = []
    for version in (4, 6):
        merged += ipaddress.collapse_addresses(net for net in found if net.version == version)
    return tuple(str(net.network_address) if net.num_addresses == 1 else str(net) for net in merged)


def local_addresses(fib_trie: str, if_inet6: str) -> list[str]:
    """This machine's own addresses, from /proc/net/fib_trie and /proc/net/if_inet6 (link-local
    IPv6 left out: it is not routed)."""
    found = []
    lines = fib_trie.splitlines()
    for previous, line in zip(lines, lines[1:], strict=False):
        if line.strip() == "/32 host LOCAL" and "|--" in previous:
            found.append(previous.split("|--", 1)[1].strip())
    for line in if_inet6.splitlines():
        fields = line.split()
        if fields and len(fields[0]) == 32:
            address = ipaddress.IPv6Address(int(fields[0], 16))
            if not address.is_link_local:
                found.append(str(address))
    return sorted(set(found))


# One line per decision: time method url status bytes squid-result (TCP_DENIED/403 means denied).
LOG_FORMAT = "%ts.%03tu %rm %ru %>Hs %<st %Ss %>a"


def squid_config(policy: Policy) -> str:
    """The whole squid.conf for one session."""
    lines = [
        f"# coding-agents session policy ({'learn mode: allow and record' if policy.learn else 'allowlist'})",
        f"http_port {PROXY_PORT}",
        "pid_filename none",
        "netdb_filename none",
        "coredump_dir /tmp",
        "pinger_enable off",  # needs ICMP sockets, which a capability-less container lacks
        "cache deny all",
        "cache_mem 0 MB",
        # Nothing about the agent leaks upstream.
        "via off",
        "forwarded_for delete",
        "request_header_access X-Forwarded-For deny all",
        "request_header_access Via deny all",
        f"request_body_max_size {policy.request_max_mb} MB",
        f"reply_body_max_size {policy.reply_max_mb} MB",
        "error_directory /usr/share/squid/errors/templates",
        f"logformat codingagents {LOG_FORMAT}",
        "access_log stdio:/dev/stdout codingagents",
        "cache_log /dev/stderr",
        "acl CONNECT method CONNECT",
        # First, before anything evaluates the target: squid aborts on some IPv6 literals
        # (GET http://[::1]/ hits an assertion in Address.cc), and sessions have no IPv6 egress.
        "acl ipv6_literal dstdom_regex -n " + IPV6_LITERAL,
        "http_access deny ipv6_literal",
        "deny_info ERR_CA_NOT_ALLOWED ipv6_literal",
    ]
    if policy.host_ports:
        # Ports the user opened on this machine, reached by name (the proxy's /etc/hosts maps
        # it to the relay on this session's egress gateway); every other port there is denied.
        lines += [
            f"acl host_service dstdomain -n {HOST_ALIAS}",
            "acl host_service_ports port " + " ".join(str(port) for port in policy.host_ports),
            "http_access allow host_service host_service_ports",
            "http_access deny host_service",
            "deny_info ERR_CA_PORT host_service",
        ]
    exempt = ""
    if policy.endpoint_ports:
        # Each configured endpoint's own port passes for its own name only; everything after
        # (the allowlist, the host's and private addresses) still applies to it.
        names = []
        for number, (host, port) in enumerate(policy.endpoint_ports):
            lines += [f"acl endpoint_host_{number} dstdomain -n {host}", f"acl endpoint_port_{number} port {port}",
                      f"acl endpoint_{number} all-of endpoint_host_{number} endpoint_port_{number}"]
            names.append(f"endpoint_{number}")
        lines.append("acl endpoints any-of " + " ".join(names))
        exempt = " !endpoints"
    lines += [
        "acl https_port port 443",
        "acl http_port_80 port 80",
        f"http_access deny CONNECT !https_port{exempt}",
        f"http_access deny !CONNECT !http_port_80{exempt}",
        "deny_info ERR_CA_PORT https_port",
        "deny_info ERR_CA_PORT http_port_80",
    ]
    if not policy.learn:
        # Names first, and by name only (-n): a name off the allowlist is refused before squid
        # would resolve it for the address check below, so its DNS lookup never happens.
        if policy.allow:
            lines += ["acl allowlist dstdomain -n " + " ".join(policy.allow),
                      "http_access deny !allowlist",
                      "deny_info ERR_CA_NOT_ALLOWED allowlist"]
        else:
            lines += ["acl everything_else src all", "http_access deny everything_else",
                      "deny_info ERR_CA_NOT_ALLOWED everything_else"]
    if policy.host_addresses:
        lines += [
            "acl host_addresses dst " + " ".join(policy.host_addresses),
            "http_access deny host_addresses",
            "deny_info ERR_CA_HOST host_addresses",
        ]
    if policy.block_private:
        lines += [
            "acl private_destination dst " + " ".join(PRIVATE_RANGES),
            "http_access deny private_destination",
            "deny_info ERR_CA_PRIVATE private_destination",
        ]
    if policy.learn:
        lines.append("http_access allow all")
    elif policy.allow:
        lines.append("http_access allow allowlist")
    return "\n".join(lines) + "\n"


DEFAULT_SUBNET_POOL = "10.213.0.0/16"
SESSION_PREFIX_LENGTH = 28  # 14 addresses: agent, proxy and room for a few more


def candidate_subnets(pool: str, seed: str, count: int = 64) -> list[str]:
    """Subnets for a session's networks, starting at a place derived from its name.

    Explicit small subnets instead of Docker's default pools, which run out after about 30
    networks (15 squid sessions).
    """
    import hashlib

    network = ipaddress.ip_network(pool, strict=False)
    if network.prefixlen > SESSION_PREFIX_LENGTH:
        raise AgentsError(f"[network] subnet_pool {pool} is too small", hint=f"use a /{SESSION_PREFIX_LENGTH - 1} or larger, e.g. 10.213.0.0/16")
    total = 2 ** (SESSION_PREFIX_LENGTH - network.prefixlen)
    start = int(hashlib.sha256(seed.encode()).hexdigest(), 16) % total
    size = 2 ** (network.max_prefixlen - SESSION_PREFIX_LENGTH)
    return [
        str(ipaddress.ip_network((int(network.network_address) + ((start + i) % total) * size, SESSION_PREFIX_LENGTH)))
        for i in range(min(count, total))
    ]


def gateway_of(subnet: str) -> str:
    """The first host address: the engine host's own address on a network we created."""
    return str(next(ipaddress.ip_network(subnet).hosts()))


def proxy_env() -> list[tuple[str, str]]:
    """What the agent container gets so every client it runs uses the proxy."""
    url = f"http://{PROXY_ALIAS}:{PROXY_PORT}"
    no_proxy = "localhost,127.0.0.1,::1"
    pairs = []
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        pairs += [(name, url), (name.lower(), url)]
    pairs += [("NO_PROXY", no_proxy), ("no_proxy", no_proxy)]
    # Node 22 honours the variables above only when asked to; npm has its own settings.
    pairs += [("NODE_USE_ENV_PROXY", "1"), ("NPM_CONFIG_PROXY", url), ("NPM_CONFIG_HTTPS_PROXY", url)]
    return pairs


@record(frozen=True)
class Decision:
    time: float
    method: str
    host: str
    port: int
    status: int
    bytes: int
    result: str  # squid's result code, e.g. TCP_TUNNEL, TCP_MISS, TCP_DENIED
    allowed: bool

    def as_dict(self) -> dict[str, object]:
        return {
            "time": self.time, "method": self.method, "host": self.host, "port": self.port,
            "status": self.status, "bytes": self.bytes, "result": self.result,
            "decision": "allowed" if self.allowed else "denied",
        }


def parse_url(method: str, url: str) -> tuple[str, int]:
    """Host and port from squid's %ru: 'host:443' for CONNECT, 'http://host[:port]/path' otherwise."""
    if method == "CONNECT" or "://" not in url:
        host, _, port = url.rpartition(":")
        if not host:
            return url, 443
        return host.strip("[]"), int(port) if port.isdigit() else 443
    rest = url.split("://", 1)[1]
    authority = rest.split("/", 1)[0].rsplit("@", 1)[-1]
    if authority.startswith("["):
        host, _, port = authority[1:].partition("]")
        port = port.lstrip(":")
    elif authority.count(":") > 1:  # squid logs http://[::]/ as http://::/: an IPv6 literal, no port
        host, port = authority, ""
    else:
        host, _, port = authority.partition(":")
    default = 443 if url.startswith("https") else 80
    return host, int(port) if port.isdigit() else default


def parse_log_line(line: str) -> Decision | None:
    parts = line.split()
    if len(parts) < 6:
        return None
    try:
        when = float(parts[0])
        status = int(parts[3])
        size = int(parts[4])
    except ValueError:
        return None
    method, url, result = parts[1], parts[2], parts[5]
    if method == "-" or url.startswith("error:"):
        return None  # a connection that never made a request (e.g. our readiness probe)
    result_code = result.split("/")[0]
    host, port = parse_url(method, url)
    allowed = "DENIED" not in result_code  # an upstream server's own 403 is still an allowed request
    return Decision(when, method, host, port, status, size, result_code, allowed)


def suggest_allowlist(decisions: list[Decision], block_private: bool = True) -> list[str]:
    """The exact-host rules that would have passed every recorded request that any rule could pass."""
    hosts = {d.host.lower() for d in decisions if d.host and d.status != 0 and never_allowed(d, block_private) is None}
    return sorted(hosts)


def never_allowed(decision: Decision, block_private: bool = True) -> str | None:
    """Why no allowlist entry would let this request through (squid_config's other rules), or None."""
    host = decision.host.lower().rstrip(".")
    if host == HOST_ALIAS:
        return "this machine: open its ports with --allow-host-port or [network] host_ports instead"
    if decision.method == "CONNECT" and decision.port != 443:
        return f"port {decision.port}: only 443 passes for HTTPS"
    if decision.method != "CONNECT" and decision.port != 80:
        return f"port {decision.port}: only 80 passes for plain HTTP"
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        address = None
    if block_private and (host == "localhost" or host.endswith(".localhost")
                          or address is not None and is_private_address(address)):
        return "a private address, denied while [network] block_private is on"
    try:
        normalize_rule(host)
    except AgentsError:
        return "not a name an allowlist rule can hold"
    return None


def is_private_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """In PRIVATE_RANGES (what the proxy denies with block_private); IPv4-mapped IPv6 counts as IPv4."""
    mapped = getattr(address, "ipv4_mapped", None)
    address = mapped or address
    return any(address in ipaddress.ip_network(cidr) for cidr in PRIVATE_RANGES
               if ipaddress.ip_network(cidr).version == address.version)
