"""agents/netmodes.py: the one table of network modes, and the planner's use of it."""

from __future__ import annotations

import pytest

from agents import netmodes
from agents.errors import AgentsError
from agents.session import planner


def test_each_mode_says_what_the_agent_gets():
    assert netmodes.is_proxied("squid") and not netmodes.is_offline("squid")
    assert netmodes.is_offline("restricted") and not netmodes.is_proxied("restricted")
    assert not netmodes.is_offline("allow-all") and not netmodes.is_proxied("allow-all")
    # A label from a newer version (or a hand-edited one) is neither: nothing is assumed of it.
    assert not netmodes.is_proxied("vpn") and not netmodes.is_offline("vpn")
    assert netmodes.DEFAULT in netmodes.MODES


@pytest.mark.parametrize("mode, expected", [
    ("restricted", ["--network", "none"]),
    ("allow-all", ["--network", "bridge"]),
    ("squid", ["--network", "s-internal", "--dns-option", "timeout:1", "--dns-option", "attempts:1"]),
])
def test_network_args_follow_the_table(mode, expected):
    assert planner.network_args(mode, "s") == expected


def test_an_unknown_mode_is_refused_naming_the_known_ones():
    with pytest.raises(AgentsError) as refused:
        planner.network_args("vpn", "s")
    assert all(name in refused.value.hint for name in netmodes.NAMES)
