"""Agent sessions, by noun. See docs/architecture.md for the map."""
