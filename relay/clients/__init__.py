"""Clients of other services relay talks to (Alertmanager's API)."""
