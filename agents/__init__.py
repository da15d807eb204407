"""coding-agents: run AI coding agents in hardened Docker containers."""

__version__ = "0.1.0"
