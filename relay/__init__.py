"""relay: an Alertmanager webhook receiver and notification router."""

__version__ = "0.1.0"
