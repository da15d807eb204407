"""agents/network.py: allowlist rules, the squid config that enforces them, and reading squid's log (pure)."""

from __future__ import annotations

import ipaddress
import itertools
import re

import pytest

from agents import network, resources
from agents.errors import AgentsError

# --- allowlist rules ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("example.com", "example.com"),
        (".example.com", ".example.com"),
        ("*.example.com", ".example.com"),
        ("Example.COM", "example.com"),
        ("*.API.Example.com", ".api.example.com"),
        ("example.com.", "example.com"),
        (".example.com.", ".example.com"),
        ("  pypi.org\t", "pypi.org"),
        ("localhost", "localhost"),
        ("a-b.c0.io", "a-b.c0.io"),
        ("1.2.3.4", "1.2.3.4"),
        ("2001:db8::1", "2001:db8::1"),
    ],
    ids=lambda value: value.strip() or "blank",
)
def test_normalize_rule_accepts(rule, expected):
    assert network.normalize_rule(rule) == expected


@pytest.mark.parametrize(
    "rule",
    [".", "*.", "", "   ", "a b", "-x.com", "x-.com", ".com", "*.com", "exa_mple.com", "example.com:443",
     "http://example.com", "*example.com", "example..com", "a" * 64 + ".com"],
    ids=lambda value: value[:20] or "empty",
)
def test_normalize_rule_rejects(rule):
    with pytest.raises(AgentsError) as caught:
        network.normalize_rule(rule)

    assert caught.value.message == f"{rule!r} is not an allowlist rule"
    assert caught.value.hint == "use example.com (that host) or .example.com / *.example.com (it and its subdomains)"


def test_minimal_rules_normalizes_and_removes_duplicates():
    assert network.minimal_rules(["pypi.org", "PyPI.org", "pypi.org.", "github.com"]) == ["github.com", "pypi.org"]


def test_minimal_rules_drops_hosts_a_wildcard_covers_and_keeps_the_wildcard():
    rules = ["api.example.com", "example.com", "*.example.com", "deep.a.example.com", ".a.example.com", "other.org"]

    assert network.minimal_rules(rules) == [".example.com", "other.org"]


def test_minimal_rules_suffix_is_not_a_subdomain():
    assert network.minimal_rules([".example.com", "notexample.com"]) == [".example.com", "notexample.com"]


def test_minimal_rules_wildcard_twice_is_kept_once():
    assert network.minimal_rules([".example.com", "*.example.com"]) == [".example.com"]


def test_minimal_rules_empty():
    assert network.minimal_rules([]) == []


def test_minimal_rules_refuses_a_bad_rule():
    with pytest.raises(AgentsError, match="'bad rule' is not an allowlist rule"):
        network.minimal_rules(["pypi.org", "bad rule"])


@pytest.mark.parametrize(
    ("rule", "host", "expected"),
    [
        ("example.com", "example.com", True),
        ("example.com", "EXAMPLE.com.", True),
        ("example.com", "www.example.com", False),
        (".example.com", "example.com", True),
        (".example.com", "a.b.example.com", True),
        (".example.com", "notexample.com", False),
        (".example.com", "example.com.evil.org", False),
        ("1.2.3.4", "1.2.3.4", True),
    ],
)
def test_rule_matches(rule, host, expected):
    assert network.rule_matches(rule, host) is expected


def test_build_policy_joins_the_three_sources_minimally():
    policy = network.build_policy(
        (".anthropic.com", "claude.ai"), ("PyPI.org", "api.anthropic.com"), ("*.npmjs.org", "registry.npmjs.org"),
        block_private=False, learn=True, request_max_mb=1, reply_max_mb=2,
    )

    assert policy == network.Policy(
        allow=(".anthropic.com", ".npmjs.org", "claude.ai", "pypi.org"),
        block_private=False, learn=True, request_max_mb=1, reply_max_mb=2,
    )


def test_build_policy_defaults_are_strict():
    policy = network.build_policy((), (), ())

    assert (policy.allow, policy.block_private, policy.learn) == ((), True, False)
    assert (policy.request_max_mb, policy.reply_max_mb) == (100, 2048)


# --- the squid config -----------------------------------------------------------------------

POLICY = network.Policy(allow=(".anthropic.com", "pypi.org"))


def config_lines(policy: network.Policy = POLICY) -> list[str]:
    return network.squid_config(policy).splitlines()


def test_squid_config_allowlist_mode_allows_only_the_rules():
    lines = config_lines()

    assert "acl allowlist dstdomain -n .anthropic.com pypi.org" in lines  # -n: no reverse DNS of bare IPs
    assert "http_access allow allowlist" in lines
    assert "http_access allow all" not in lines
    assert lines[-1] == "http_access allow allowlist"  # the last word: nothing else is allowed


def test_squid_config_refuses_names_off_the_allowlist_before_any_address_check():
    # A dst ACL makes squid resolve the name; for a name off the list that lookup would carry
    # whatever the agent put in the name out through DNS. So names are refused first.
    lines = config_lines()

    assert lines.index("http_access deny !allowlist") < lines.index("http_access deny private_destination")
    assert "deny_info ERR_CA_NOT_ALLOWED allowlist" in lines


def test_squid_config_empty_allowlist_denies_everything_before_any_address_check():
    lines = config_lines(network.Policy(allow=()))

    assert lines.index("http_access deny everything_else") < lines.index("http_access deny private_destination")
    assert not any(line.startswith("http_access allow") for line in lines)


def test_squid_config_host_ports_pass_only_by_the_host_name_and_port():
    lines = config_lines(network.Policy(allow=("pypi.org",), host_ports=(11434, 8080)))

    assert f"acl host_service dstdomain -n {network.HOST_ALIAS}" in lines
    assert "acl host_service_ports port 8080 11434" in lines or "acl host_service_ports port 11434 8080" in lines
    allow = lines.index("http_access allow host_service host_service_ports")
    # before the port rules (11434 is not 80/443) and the private ranges (the gateway is private)
    assert allow < lines.index("http_access deny !CONNECT !http_port_80")
    assert allow < lines.index("http_access deny private_destination")
    assert lines[allow + 1] == "http_access deny host_service"  # any other port of the host


def test_squid_config_without_host_ports_has_no_host_rules():
    assert not any("host_service" in line for line in config_lines())


def test_squid_config_learn_mode_allows_everything():
    lines = config_lines(network.Policy(allow=("pypi.org",), learn=True))

    assert lines[-1] == "http_access allow all"
    assert not any(line.startswith("acl allowlist") for line in lines)
    assert "http_access deny everything_else" not in lines
    assert "learn mode" in lines[0]


def test_squid_config_empty_allowlist_has_no_empty_acl():
    lines = config_lines(network.Policy(allow=()))

    assert not any("allowlist" in line for line in lines[1:])  # squid refuses an acl without values
    assert "http_access deny everything_else" in lines


def test_squid_config_blocks_private_ranges_before_any_allow():
    lines = config_lines()

    assert "acl private_destination dst " + " ".join(network.PRIVATE_RANGES) in lines
    assert "deny_info ERR_CA_PRIVATE private_destination" in lines
    assert lines.index("http_access deny private_destination") < lines.index("http_access allow allowlist")


def test_squid_config_learn_mode_still_blocks_private_ranges_first():
    lines = config_lines(network.Policy(allow=(), learn=True))

    assert lines.index("http_access deny private_destination") < lines.index("http_access allow all")


def test_squid_config_block_private_off_has_no_ranges():
    text = network.squid_config(network.Policy(allow=("pypi.org",), block_private=False))

    assert "private_destination" not in text and "ERR_CA_PRIVATE" not in text
    assert not any(cidr in text for cidr in network.PRIVATE_RANGES)


def test_squid_config_ports_https_by_connect_to_443_and_http_to_80_only():
    lines = config_lines()

    assert "acl https_port port 443" in lines
    assert "acl http_port_80 port 80" in lines
    assert "acl CONNECT method CONNECT" in lines
    first_allow = lines.index("http_access allow allowlist")
    assert lines.index("http_access deny CONNECT !https_port") < first_allow
    assert lines.index("http_access deny !CONNECT !http_port_80") < first_allow
    assert "deny_info ERR_CA_PORT https_port" in lines and "deny_info ERR_CA_PORT http_port_80" in lines


def test_squid_config_hides_the_agent_and_caches_nothing():
    lines = config_lines()

    for line in ("via off", "forwarded_for delete", "cache deny all", "request_header_access Via deny all",
                 "request_header_access X-Forwarded-For deny all", "http_port 3128"):
        assert line in lines


def test_squid_config_size_limits():
    lines = config_lines(network.Policy(allow=(), request_max_mb=7, reply_max_mb=700))

    assert "request_body_max_size 7 MB" in lines
    assert "reply_body_max_size 700 MB" in lines


def test_squid_config_logs_our_format_to_stdout():
    lines = config_lines()

    assert f"logformat codingagents {network.LOG_FORMAT}" in lines
    assert "access_log stdio:/dev/stdout codingagents" in lines
    assert "error_directory /usr/share/squid/errors/templates" in lines


def test_squid_config_every_deny_page_ships_with_the_proxy_image():
    every_rule = network.Policy(allow=("pypi.org",), host_ports=(11434,), host_addresses=("192.0.2.2",))
    pages = {line.split()[1] for line in config_lines(every_rule) if line.startswith("deny_info ")}

    assert pages == {"ERR_CA_NOT_ALLOWED", "ERR_CA_PRIVATE", "ERR_CA_PORT", "ERR_CA_HOST"}
    for page in pages:
        assert resources.resource(f"images/proxy/errors/{page}").read_bytes().startswith(b"<!DOCTYPE html>")


def test_squid_config_ends_with_newline_and_has_no_blank_lines():
    text = network.squid_config(POLICY)

    assert text.endswith("\n")
    assert all(line.strip() for line in text.splitlines())


def test_private_ranges_never_overlap():
    ranges = [ipaddress.ip_network(cidr) for cidr in network.PRIVATE_RANGES]

    for first, second in itertools.combinations(ranges, 2):
        if first.version == second.version:
            assert not first.overlaps(second), (first, second)


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.1.2.3", "172.16.5.4", "172.31.255.255", "192.168.1.1", "169.254.169.254", "100.64.0.1",
     "0.0.0.0", "224.0.0.1", "::1", "::", "fe80::1", "fd00::1", "ff02::1"],
)
def test_private_ranges_cover(address):
    assert in_private_ranges(address)


@pytest.mark.parametrize("address", ["8.8.8.8", "172.32.0.1", "192.169.0.1", "2606:4700::1111"])
def test_private_ranges_leave_public_addresses(address):
    assert not in_private_ranges(address)


def in_private_ranges(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return any(ip.version == net.version and ip in net for net in map(ipaddress.ip_network, network.PRIVATE_RANGES))


# --- the agent's environment ----------------------------------------------------------------


def test_proxy_env_points_every_client_at_the_proxy():
    env = dict(network.proxy_env())

    url = "http://proxy:3128"
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        assert env[name] == env[name.lower()] == url
    assert env["NO_PROXY"] == env["no_proxy"] == "localhost,127.0.0.1,::1"
    assert env["NODE_USE_ENV_PROXY"] == "1"
    assert env["NPM_CONFIG_PROXY"] == env["NPM_CONFIG_HTTPS_PROXY"] == url
    assert len(env) == len(network.proxy_env())  # each variable once


# --- squid's log ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url", "expected"),
    [
        ("CONNECT", "api.anthropic.com:443", ("api.anthropic.com", 443)),
        ("CONNECT", "example.com:8443", ("example.com", 8443)),
        ("CONNECT", "example.com", ("example.com", 443)),
        ("CONNECT", "[2001:db8::1]:443", ("2001:db8::1", 443)),
        ("GET", "http://example.com/path?q=1", ("example.com", 80)),
        ("GET", "http://example.com:8080/path", ("example.com", 8080)),
        ("GET", "https://example.com/", ("example.com", 443)),
        ("POST", "http://user:secret@example.com:81/x", ("example.com", 81)),
        ("GET", "http://[2001:db8::1]:8080/x", ("2001:db8::1", 8080)),
        ("GET", "http://[::1]/", ("::1", 80)),
        ("GET", "http://::/", ("::", 80)),  # how squid logs http://[::]/
    ],
)
def test_parse_url(method, url, expected):
    assert network.parse_url(method, url) == expected


def test_parse_log_line_allowed_connect():
    decision = network.parse_log_line("1767225600.123 CONNECT api.anthropic.com:443 200 5120 TCP_TUNNEL 172.18.0.3")

    assert decision == network.Decision(1767225600.123, "CONNECT", "api.anthropic.com", 443, 200, 5120, "TCP_TUNNEL",
                                        True)
    assert decision.as_dict() == {
        "time": 1767225600.123, "method": "CONNECT", "host": "api.anthropic.com", "port": 443, "status": 200,
        "bytes": 5120, "result": "TCP_TUNNEL", "decision": "allowed",
    }


def test_parse_log_line_denied():
    decision = network.parse_log_line("1767225600.000 CONNECT evil.example:443 403 3900 TCP_DENIED 172.18.0.3")

    assert (decision.host, decision.port, decision.result, decision.allowed) == ("evil.example", 443, "TCP_DENIED", False)
    assert decision.as_dict()["decision"] == "denied"


@pytest.mark.parametrize(
    "line",
    [
        "1767225600.000 GET http://pypi.org/simple/private/ 403 512 TCP_MISS/403 172.18.0.3",
        "1767225600.000 CONNECT api.anthropic.com:443 403 0 TCP_TUNNEL 172.18.0.3",
    ],
    ids=["plain-http", "connect"],
)
def test_parse_log_line_upstream_403_is_an_allowed_request(line):
    decision = network.parse_log_line(line)

    assert (decision.status, decision.allowed) == (403, True)  # the server said no; squid let it through
    assert decision.as_dict()["decision"] == "allowed"


def test_parse_log_line_plain_http_with_port_and_result_with_status():
    decision = network.parse_log_line("1767225601.5 GET http://mirror.example:8080/a.deb 200 1048576 TCP_MISS/200 ::1")

    assert (decision.method, decision.host, decision.port) == ("GET", "mirror.example", 8080)
    assert (decision.status, decision.bytes, decision.result, decision.allowed) == (200, 1048576, "TCP_MISS", True)


def test_parse_log_line_ipv6_literal():
    decision = network.parse_log_line("1767225600.000 CONNECT [2001:db8::1]:443 403 0 TCP_DENIED 172.18.0.3")

    assert (decision.host, decision.port, decision.allowed) == ("2001:db8::1", 443, False)


@pytest.mark.parametrize(
    "line",
    [
        "",
        "   ",
        "2026/01/01 00:00:00| Accepting HTTP Socket connections at conn3 local=0.0.0.0:3128",
        "now CONNECT example.com:443 200 10 TCP_TUNNEL 172.18.0.3",
        "1767225600.0 CONNECT example.com:443 ok 10 TCP_TUNNEL 172.18.0.3",
        "1767225600.0 CONNECT example.com:443 200 many TCP_TUNNEL 172.18.0.3",
        "1767225600.0 CONNECT example.com:443 200 10",
        "1767225600.000 - error:transaction-end-before-headers 0 0 NONE_NONE 127.0.0.1",
        "1767225600.000 NONE error:invalid-request 400 0 NONE_NONE 172.18.0.3",
    ],
    ids=["empty", "blank", "cache-log", "bad-time", "bad-status", "bad-bytes", "short", "readiness-probe",
         "invalid-request"],
)
def test_parse_log_line_ignores_lines_that_are_not_requests(line):
    assert network.parse_log_line(line) is None


def decision(host: str, status: int = 200, allowed: bool = True) -> network.Decision:
    return network.Decision(1767225600.0, "CONNECT", host, 443, status, 10, "TCP_TUNNEL", allowed)


def test_suggest_allowlist_is_every_host_seen_once_sorted():
    seen = [decision("pypi.org"), decision("Files.PythonHosted.org"), decision("pypi.org"),
            decision("evil.example", 403, allowed=False)]

    assert network.suggest_allowlist(seen) == ["evil.example", "files.pythonhosted.org", "pypi.org"]


def test_suggest_allowlist_skips_requests_that_got_no_answer():
    assert network.suggest_allowlist([decision("gone.example", status=0), decision("", status=200)]) == []


def test_suggest_allowlist_rules_are_valid_rules():
    rules = network.suggest_allowlist([decision("API.github.com"), decision("2001:db8::1")])

    assert [network.normalize_rule(rule) for rule in rules] == rules


def request(host: str, port: int = 443, method: str = "CONNECT") -> network.Decision:
    return network.Decision(1767225600.0, method, host, port, 200, 10, "TCP_TUNNEL", True)


@pytest.mark.parametrize(
    ("seen", "reason"),
    [
        (request("10.1.2.3"), "a private address, denied while [network] block_private is on"),
        (request("192.168.0.10", 80, "GET"), "a private address, denied while [network] block_private is on"),
        (request("fd00::1"), "a private address, denied while [network] block_private is on"),
        (request("::ffff:10.0.0.1"), "a private address, denied while [network] block_private is on"),
        (request("localhost"), "a private address, denied while [network] block_private is on"),
        (request("api.localhost"), "a private address, denied while [network] block_private is on"),
        (request("example.com", 8443), "port 8443: only 443 passes for HTTPS"),
        (request("example.com", 8080, "GET"), "port 8080: only 80 passes for plain HTTP"),
        (request("example.com", 443, "GET"), "port 443: only 80 passes for plain HTTP"),
        (request(network.HOST_ALIAS, 11434, "GET"), "this machine: open its ports with --allow-host-port or "
                                                    "[network] host_ports instead"),
        (request("under_score.example"), "not a name an allowlist rule can hold"),
    ],
    ids=["ipv4-10", "ipv4-192-http", "ipv6-ula", "ipv4-mapped", "localhost", "dot-localhost", "connect-8443",
         "http-8080", "http-on-443", "host-alias", "bad-name"],
)
def test_never_allowed_names_what_no_rule_can_pass(seen, reason):
    assert network.never_allowed(seen) == reason
    assert network.suggest_allowlist([seen, request("pypi.org")]) == ["pypi.org"]


@pytest.mark.parametrize("seen", [request("pypi.org"), request("deb.example", 80, "GET"), request("8.8.8.8"),
                                  request("2606:4700::1")],
                         ids=["https", "http", "public-ipv4", "ipv6-outside-private-ranges"])
def test_never_allowed_passes_what_a_rule_would_let_through(seen):
    assert network.never_allowed(seen) is None


def test_never_allowed_private_addresses_pass_with_block_private_off():
    assert network.never_allowed(request("10.1.2.3"), block_private=False) is None
    assert network.suggest_allowlist([request("10.1.2.3")], block_private=False) == ["10.1.2.3"]


# --- subnets for a session's networks ---------------------------------------------------------


def test_candidate_subnets_are_distinct_small_subnets_of_the_pool():
    candidates = network.candidate_subnets("10.213.0.0/16", "claude-api-session-1-proxy")

    pool = ipaddress.ip_network("10.213.0.0/16")
    subnets = [ipaddress.ip_network(subnet) for subnet in candidates]
    assert len(subnets) == 64 == len(set(subnets))
    assert all(subnet.prefixlen == network.SESSION_PREFIX_LENGTH and subnet.subnet_of(pool) for subnet in subnets)


def test_candidate_subnets_depend_only_on_the_seed():
    first = network.candidate_subnets("10.213.0.0/16", "a-proxy")

    assert network.candidate_subnets("10.213.0.0/16", "a-proxy") == first
    assert network.candidate_subnets("10.213.0.0/16", "b-proxy")[0] != first[0]


def test_candidate_subnets_of_a_small_pool_wrap_around_it():
    candidates = network.candidate_subnets("192.168.77.0/26", "x")

    assert sorted(candidates, key=ipaddress.ip_network) == [
        "192.168.77.0/28", "192.168.77.16/28", "192.168.77.32/28", "192.168.77.48/28",
    ]


def test_candidate_subnets_pool_smaller_than_one_session_is_refused():
    with pytest.raises(AgentsError, match=r"\[network\] subnet_pool 10.0.0.0/29 is too small"):
        network.candidate_subnets("10.0.0.0/29", "x")


# --- the engine host's own addresses, IPv6 literals (issue 12) -------------------------------------

FIB_TRIE = """Main:
  +-- 0.0.0.0/0 3 0 4
     +-- 10.213.0.0/16 2 0 2
        |-- 10.213.68.16
           /28 link UNICAST
        |-- 10.213.68.17
           /32 host LOCAL
        |-- 10.213.68.31
           /32 link BROADCAST
     +-- 127.0.0.0/8 2 0 2
        |-- 127.0.0.1
           /32 host LOCAL
Local:
  +-- 0.0.0.0/0 3 0 4
        |-- 192.0.2.2
           /32 host LOCAL
        |-- 127.0.0.1
           /32 host LOCAL
"""
IF_INET6 = """fd000000000000000000000000000002 04 40 00 82     eth0
fe8000000000000000fc00fffe000001 04 40 20 80     eth0
00000000000000000000000000000001 01 80 10 80       lo
"""


def test_local_addresses_reads_the_host_entries_only():
    assert network.local_addresses(FIB_TRIE, IF_INET6) == ["10.213.68.17", "127.0.0.1", "192.0.2.2", "::1", "fd00::2"]


def test_collapse_drops_addresses_inside_ranges_and_duplicates():
    assert network.collapse(["10.213.0.0/16", "10.213.5.1", "172.17.0.1", "172.17.0.1", "fd00::2"]) == (
        "10.213.0.0/16", "172.17.0.1", "fd00::2")


def test_squid_config_denies_the_host_addresses_even_without_block_private():
    lines = config_lines(network.Policy(allow=("pypi.org",), block_private=False, host_addresses=("192.0.2.2",)))

    assert "acl host_addresses dst 192.0.2.2" in lines
    assert lines.index("http_access deny host_addresses") < lines.index("http_access allow allowlist")
    # after the names: an allowed name is resolved, a name off the list never is
    assert lines.index("http_access deny !allowlist") < lines.index("http_access deny host_addresses")


def test_squid_config_learn_mode_denies_the_host_addresses_before_allowing_all():
    lines = config_lines(network.Policy(allow=(), learn=True, host_addresses=("192.0.2.2",)))

    assert lines.index("http_access deny host_addresses") < lines.index("http_access allow all")


@pytest.mark.parametrize("host", ["[::1]", "::1", "[::]", "::", "[2001:db8::1]", "fe80::1%eth0", "[::ffff:127.0.0.1]"])
def test_ipv6_literal_pattern_matches_every_ipv6_target(host):
    assert re.match(network.IPV6_LITERAL, host)


@pytest.mark.parametrize("host", ["example.com", "10.0.0.1", "localhost", "xn--bcher-kva.example"])
def test_ipv6_literal_pattern_leaves_names_and_ipv4(host):
    assert not re.match(network.IPV6_LITERAL, host)


def test_squid_config_refuses_ipv6_literals_before_any_other_rule():
    for policy in (network.Policy(allow=("pypi.org",)), network.Policy(allow=(), learn=True),
                   network.Policy(allow=(), host_ports=(11434,))):
        lines = config_lines(policy)
        first_access = next(line for line in lines if line.startswith("http_access"))
        assert first_access == "http_access deny ipv6_literal"


def test_private_ranges_include_the_documentation_ranges():
    for documentation in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32"):
        assert documentation in network.PRIVATE_RANGES


def test_squid_config_endpoint_ports_pass_for_their_own_name_only():
    lines = config_lines(network.Policy(allow=("model.test",), endpoint_ports=(("model.test", 8000),)))

    assert "acl endpoint_host_0 dstdomain -n model.test" in lines and "acl endpoint_port_0 port 8000" in lines
    assert "acl endpoint_0 all-of endpoint_host_0 endpoint_port_0" in lines
    assert "http_access deny CONNECT !https_port !endpoints" in lines
    assert "http_access deny !CONNECT !http_port_80 !endpoints" in lines
    # the allowlist and the address checks still come after
    assert lines.index("http_access deny !CONNECT !http_port_80 !endpoints") < lines.index("http_access deny !allowlist")
