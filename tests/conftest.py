"""Shared fixtures. Each real server lives in its own module under tests/servers/."""
