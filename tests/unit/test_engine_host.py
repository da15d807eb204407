"""agents/engine_host.py: the engine host's own addresses, read here or asked of a remote engine."""

from __future__ import annotations

import importlib
import json
import stat

import pytest

from agents import engine, engine_host, paths

FIB_TRIE = """Main:
  +-- 0.0.0.0/0 3 0 5
     +-- 127.0.0.0/8 2 0 2
        +-- 127.0.0.0/31 1 0 0
           |-- 127.0.0.1
              /32 host LOCAL
     +-- 172.16.0.0/14 3 0 4
           |-- 172.17.0.6
              /32 host LOCAL
        |-- 172.17.255.255
           /32 link BROADCAST
"""
IF_INET6 = ("20010db8000000000000000000000005 02 40 00 80 eth0\n"
            "fe800000000000000000000000000001 02 40 20 80 eth0\n")
PROBE_OUTPUT = FIB_TRIE + "--- if_inet6 ---\n" + IF_INET6


@pytest.fixture
def real(monkeypatch):
    """The module as it is (the unit suite's autouse fixture replaces learn), on a remote engine."""
    module = importlib.reload(engine_host)
    monkeypatch.setenv("DOCKER_HOST", "tcp://10.0.0.5:2376")
    engine._current.cache_clear()
    yield module
    engine._current.cache_clear()


def test_parse_probe_reads_both_files_and_leaves_link_local_out():
    assert engine_host.parse_probe(PROBE_OUTPUT) == ("127.0.0.1", "172.17.0.6", "2001:db8::5")
    assert engine_host.parse_probe(FIB_TRIE + "--- if_inet6 ---\n") == ("127.0.0.1", "172.17.0.6")


def test_the_probe_is_a_hardened_throwaway_on_the_hosts_network():
    argv = engine_host.probe_argv("coding-agents-proxy:1")

    assert argv[:3] == ["docker", "run", "--rm"]
    assert argv[argv.index("--network") + 1] == "host"
    for flag in ("--read-only", "no-new-privileges", "ALL", "65534:65534"):
        assert flag in argv
    assert "--privileged" not in argv and "-v" not in argv and "--volume" not in argv
    assert argv[-3:-2] == ["coding-agents-proxy:1"]


def test_a_remote_engine_is_asked_once_then_answered_from_the_cache(real, fp, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    fp.register(real.probe_argv("proxy:1"), stdout=PROBE_OUTPUT)

    assert real.known() == ()
    assert real.learn("proxy:1") == ("127.0.0.1", "172.17.0.6", "2001:db8::5")
    assert real.learn("proxy:1") == ("127.0.0.1", "172.17.0.6", "2001:db8::5")
    assert real.known() == ("127.0.0.1", "172.17.0.6", "2001:db8::5")

    assert fp.call_count(real.probe_argv("proxy:1")) == 1
    cached = paths.engine_addresses_file()
    assert stat.S_IMODE(cached.stat().st_mode) == 0o600
    assert json.loads(cached.read_text())["tcp://10.0.0.5:2376"]["addresses"] == ["127.0.0.1", "172.17.0.6",
                                                                                  "2001:db8::5"]


def test_fresh_asks_again_and_an_old_answer_is_not_used(real, fp, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    fp.register(real.probe_argv("proxy:1"), stdout=PROBE_OUTPUT)
    fp.register(real.probe_argv("proxy:1"), stdout=FIB_TRIE.replace("172.17.0.6", "172.17.0.9") + "--- if_inet6 ---\n")
    real.learn("proxy:1")

    assert real.learn("proxy:1", fresh=True) == ("127.0.0.1", "172.17.0.9")
    assert real.known() == ("127.0.0.1", "172.17.0.9")  # the new answer replaced the old one
    monkeypatch.setattr(real.time, "time", lambda: 10 ** 12)
    assert real.known() == ()  # too old for a launch


def test_a_probe_that_fails_or_reads_nothing_says_so_and_caches_nothing(real, fp, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    fp.register(real.probe_argv("proxy:1"), returncode=125, stderr="docker: host networking is not allowed\n")
    fp.register(real.probe_argv("proxy:1"), stdout="")

    assert real.learn("proxy:1") is None
    assert real.learn("proxy:1") is None
    assert not paths.engine_addresses_file().exists()


def test_a_local_engine_is_never_probed(real, fp, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///var/run/docker.sock")
    engine._current.cache_clear()
    monkeypatch.setattr(real, "local", lambda: ("192.0.2.7",))

    assert real.learn("proxy:1", fresh=True) == ("192.0.2.7",)
    assert real.known() == ("192.0.2.7",)
    assert list(fp.calls) == []


def test_a_local_engine_without_proc_net_is_asked_like_a_remote_one(real, fp, tmp_path, monkeypatch):
    # Docker Desktop on a Mac: the socket is local, the engine's host is a VM.
    monkeypatch.setenv("DOCKER_HOST", "unix:///var/run/docker.sock")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    engine._current.cache_clear()
    monkeypatch.setattr(real, "local", lambda: ())
    fp.register(real.probe_argv("proxy:1"), stdout=PROBE_OUTPUT)

    assert real.learn("proxy:1") == ("127.0.0.1", "172.17.0.6", "2001:db8::5")
    assert real.known() == ("127.0.0.1", "172.17.0.6", "2001:db8::5")
