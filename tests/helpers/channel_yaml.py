"""A config with one integration, for channel tests."""

from __future__ import annotations

import json
from typing import Any

ROUTE = "route: {receiver: oncall}"


def one_integration(kind: str, fields: dict[str, Any], top: str = ROUTE) -> str:
    """Receiver ``oncall`` with one ``<kind>_configs`` entry of ``fields``; ``top`` holds
    the route and any other top-level sections."""
    return f"""{top}
receivers:
  - name: oncall
    {kind}_configs: [{json.dumps(fields, ensure_ascii=False)}]
"""
