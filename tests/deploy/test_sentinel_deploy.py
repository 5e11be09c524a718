"""deploy/redis-sentinel/: the compose override and the Kubernetes kustomization of the
three-node Sentinel setup, checked without Docker or a cluster: every name the relay
config, the sentinels and the Redis pods use is something the same files define, the
Kubernetes objects render with `kubectl kustomize`, and relay's config is valid and
differs from the HA one only in storage."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from relay.config import parse_config
from relay.config.storage import parse_redis_url
from tests.conftest import require_binary

ROOT = Path(__file__).resolve().parents[2]
HERE = ROOT / "deploy" / "redis-sentinel"


def monitor(conf: str) -> tuple[str, str, int, int]:
    """(service, host, port, quorum) of the ``sentinel monitor`` line."""
    (line,) = [text for text in conf.splitlines() if text.startswith("sentinel monitor ")]
    _, _, service, host, port, quorum = line.split()
    return service, host, int(port), int(quorum)


def relay_storage(text: str) -> dict[str, Any]:
    storage: dict[str, Any] = yaml.safe_load(text)["storage"]
    return storage


def without_storage(text: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(text)
    del data["storage"]
    return data


# -- compose ---------------------------------------------------------------------------------
def test_the_compose_override_names_what_the_stack_defines() -> None:
    base = yaml.safe_load((ROOT / "deploy" / "docker-compose.yml").read_text())["services"]
    override = yaml.safe_load((HERE / "docker-compose.yml").read_text())["services"]
    service, host, port, quorum = monitor((HERE / "sentinel.conf").read_text())
    assert host in base and port == 6379 and quorum == 2  # the stack's Redis is the first primary
    sentinels = sorted(n for n in override if n.startswith("sentinel-"))
    assert len(sentinels) == 3
    for name in sentinels:
        assert override[name]["profiles"] == ["ha"]
        assert "./sentinel.conf:/etc/redis/sentinel.conf:ro" in override[name]["volumes"]
    for name in ("redis-1", "redis-2"):
        command = override[name]["command"]
        assert command[command.index("--replicaof") + 1] == host
        assert command[command.index("--replica-announce-ip") + 1] == name
    for relay in ("relay-a", "relay-b"):
        assert relay in base  # overridden, not added
        assert "./relay-sentinel.yml:/etc/relay/relay.yml:ro" in override[relay]["volumes"]
    storage = relay_storage((HERE / "relay-sentinel.yml").read_text())
    target = parse_redis_url(storage["url"]).sentinel
    assert target is not None and target.service == service
    assert sorted(h for h, _ in target.sentinels) == sentinels
    assert {p for _, p in target.sentinels} == {26379}
    assert storage["min_replicas_acked"] == 1


def test_the_compose_relay_config_is_the_ha_one_but_for_storage(tmp_path: Path) -> None:
    text = (HERE / "relay-sentinel.yml").read_text()
    ha = (ROOT / "deploy" / "relay" / "relay-ha.yml").read_text()
    assert without_storage(text) == without_storage(ha)
    token = tmp_path / "token"
    token.write_text("example\n")
    parse_config(text.replace("/run/secrets/relay_token", str(token)), env={})


# -- Kubernetes ------------------------------------------------------------------------------
def rendered() -> dict[tuple[str, str], dict[str, Any]]:
    kubectl = require_binary("kubectl")
    out = subprocess.run(
        [kubectl, "kustomize", str(HERE / "kubernetes")],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return {(o["kind"], o["metadata"]["name"]): o for o in yaml.safe_load_all(out) if o}


def test_the_kustomization_replaces_the_single_redis_with_sentinel() -> None:
    objects = rendered()
    assert ("Deployment", "relay-redis") not in objects and ("Service", "relay-redis") not in objects
    assert ("PersistentVolumeClaim", "relay-redis-data") not in objects
    redis = objects[("StatefulSet", "relay-redis-node")]
    sentinel = objects[("StatefulSet", "relay-sentinel")]
    assert redis["spec"]["replicas"] == 3 and sentinel["spec"]["replicas"] == 3
    for sts in (redis, sentinel):
        headless = objects[("Service", sts["spec"]["serviceName"])]
        assert headless["spec"]["clusterIP"] == "None"
        assert headless["spec"]["selector"].items() <= sts["spec"]["template"]["metadata"]["labels"].items()
    conf = objects[("ConfigMap", "relay-sentinel")]["data"]["sentinel.conf"]
    service, host, port, quorum = monitor(conf)
    assert host == f"relay-redis-node-0.{redis['spec']['serviceName']}" and port == 6379 and quorum == 2
    start = objects[("ConfigMap", "relay-redis-node")]["data"]["start.sh"]
    assert f"get-master-addr-by-name {service}" in start and "relay-sentinel-$i.relay-sentinel" in start

    relay_yml = objects[("ConfigMap", "relay-config")]["data"]["relay.yml"]
    storage = relay_storage(relay_yml)
    target = parse_redis_url(storage["url"]).sentinel
    assert target is not None and target.service == service
    expected = [(f"relay-sentinel-{i}.{sentinel['spec']['serviceName']}", 26379) for i in range(3)]
    assert list(target.sentinels) == expected
    assert storage["min_replicas_acked"] == 1
    ha = yaml.safe_load((ROOT / "deploy" / "kubernetes" / "ha" / "configmap.yaml").read_text())["data"][
        "relay.yml"
    ]
    assert without_storage(relay_yml) == without_storage(ha)
