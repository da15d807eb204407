"""argparse types for values argparse cannot judge alone: each refuses a bad value as a UsageError
(exit 2, with a hint), at parse time, before anything asks the engine or git.

Each check that config values share lives next to them in agents/config.py; these only say which
option was wrong. Empty values never get here: agents.parsing.Parser refuses them for every option.
"""

from __future__ import annotations

from collections.abc import Callable

from agents.errors import AgentsError, UsageError


def _as_usage(option: str, check: Callable[[str, str], object]) -> Callable[[str], str]:
    def convert(text: str):
        try:
            return check(text, option)
        except UsageError:
            raise
        except AgentsError as error:
            raise UsageError(error.message, hint=error.hint) from error

    convert.__name__ = option.lstrip("-").replace("-", "_")
    return convert


def cores(option: str) -> Callable[[str], float]:
    """--cpu N: a finite number of cores, at least 0.01 (the engine's smallest share)."""

    def check(text: str, where: str) -> float:
        from agents.config import check_cpus

        try:
            value = float(text)
        except ValueError:
            raise AgentsError(f"{where} {text!r} is not a number of cores", hint=f"e.g. {where} 2 or {where} 0.5") from None
        return check_cpus(value, where)

    return _as_usage(option, check)


def memory(option: str) -> Callable[[str], str]:
    """--memory SIZE: 4g, 512m, 1.5g ... at least 6m (the engine's floor); normalized to e.g. 512m."""

    def check(text: str, where: str) -> str:
        from agents.config import check_memory

        return check_memory(text, where)

    return _as_usage(option, check)


def port(option: str) -> Callable[[str], str]:
    """--allow-host-port PORT: 1-65535; kept as typed (the launcher reads it again)."""

    def check(text: str, where: str) -> str:
        from agents.config import parse_host_port

        parse_host_port(text, where)
        return text

    return _as_usage(option, check)


def allow_rule(option: str) -> Callable[[str], str]:
    """--allow-domain D: a rule the allowlist accepts (example.com, .example.com, *.example.com)."""

    def check(text: str, where: str) -> str:
        from agents import network

        try:
            network.normalize_rule(text)
        except AgentsError as error:
            raise AgentsError(f"{where}: {error.message}", hint=error.hint) from error
        return text

    return _as_usage(option, check)


def http_url(option: str, example: str) -> Callable[[str], str]:
    """--npm-registry / --mirror URL: an http(s) URL with a host."""

    def check(text: str, where: str) -> str:
        from agents.config import check_url

        return check_url(text, where, example)

    return _as_usage(option, check)
