"""References between the files of deploy/, checked without Docker or a cluster.

docker-compose.yml: every bind-mounted host path exists, published host ports are
unique, every service has an image or a build, and every host:port one service's
config names (Alertmanager's relay URL, Prometheus' targets, Grafana's datasource,
relay's SMTP and Redis, nginx's upstreams) is a compose service listening on that
port. Paths a container's config refers to (config files, token files, rules,
dashboards) resolve through its mounts to files in the repo.

kubernetes/: every kustomization's resources exist; the Deployments probe
/-/healthy and /-/ready on the container port relay listens on; Services, ConfigMaps,
Secrets and claims referred to are the ones defined; the relay.yml of each ConfigMap
is a valid relay config; the HA overlay stays in step with the single-replica files.

Prometheus and Alertmanager semantics (promtool, amtool) and the dashboards are
checked in test_prometheus_config.py and test_dashboards.py.
"""

from __future__ import annotations

import copy
import functools
import re
import shlex
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from relay.config import Config, parse_config
from relay.config.sections import split_listen

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE_FILE = DEPLOY / "docker-compose.yml"
K8S = DEPLOY / "kubernetes"
KUSTOMIZATIONS = sorted(K8S.rglob("kustomization.yaml"))

# Prometheus jobs that scrape the example application (prometheus.yml says so): they
# are not part of the compose stack, and are down there by design.
EXAMPLE_JOBS = {"api", "postgres", "redis", "celery"}
# Host paths outside the repo that a service mounts on purpose.
HOST_MOUNTS = {("node-exporter", "/")}
# Images that listen on their default port without publishing it.
IMAGE_DEFAULT_PORTS = {"redis": {6379}}
HA_SERVICES = {"redis", "relay-a", "relay-b", "relay-ha"}
WEBHOOK_PATH = "/api/v1/alerts/webhook"


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@functools.cache
def compose() -> dict[str, Any]:
    data = load_yaml(COMPOSE_FILE)
    assert isinstance(data, dict) and isinstance(data.get("services"), dict), COMPOSE_FILE
    return data


def services() -> dict[str, dict[str, Any]]:
    return compose()["services"]  # type: ignore[no-any-return]


# --- reading a compose service ----------------------------------------------------------


@dataclass(frozen=True)
class Mount:
    service: str
    source: str  # as written: ./relative, /absolute or a volume name
    target: str
    read_only: bool

    @property
    def host_path(self) -> Path | None:
        """The repo path of a bind mount; None for a named volume or a host path."""
        if self.source.startswith("."):
            return (COMPOSE_FILE.parent / self.source).resolve()
        return None

    @property
    def is_bind(self) -> bool:
        return self.source.startswith((".", "/", "~"))


def mounts(name: str) -> list[Mount]:
    found = []
    for entry in services()[name].get("volumes", []):
        if isinstance(entry, str):
            source, _, rest = entry.partition(":")
            target, _, mode = rest.partition(":")
            found.append(Mount(name, source, target, "ro" in mode.split(",")))
        else:
            found.append(
                Mount(name, str(entry.get("source", "")), entry["target"], bool(entry.get("read_only")))
            )
    return found


def host_path(name: str, container_path: str) -> Path | None:
    """Where ``container_path`` of service ``name`` comes from in the repo (None when
    no bind mount of the repo covers it), through the longest mount target above it."""
    path = PurePosixPath(container_path)
    best: tuple[int, Path] | None = None
    for mount in mounts(name):
        target = PurePosixPath(mount.target)
        if mount.host_path is not None and (path == target or target in path.parents):
            depth = len(target.parts)
            if best is None or depth > best[0]:
                best = (depth, mount.host_path / path.relative_to(target))
    return best[1] if best else None


@dataclass(frozen=True)
class Published:
    host_ip: str
    host_port: int
    container_port: int
    protocol: str


def published(name: str) -> list[Published]:
    found = []
    for entry in services()[name].get("ports", []):
        if isinstance(entry, dict):
            found.append(
                Published(
                    str(entry.get("host_ip", "0.0.0.0")),
                    int(entry["published"]),
                    int(entry["target"]),
                    entry.get("protocol", "tcp"),
                )
            )
            continue
        spec, _, protocol = str(entry).partition("/")
        parts = spec.rsplit(":", 2)
        assert "-" not in spec, f"{name}: port ranges are not used in this stack: {entry}"
        if len(parts) == 1:
            pytest.fail(f"{name}: {entry} publishes on a random host port")
        host_ip = parts[0] if len(parts) == 3 else "0.0.0.0"
        found.append(Published(host_ip, int(parts[-2]), int(parts[-1]), protocol or "tcp"))
    return found


def command_flags(name: str) -> dict[str, str]:
    """--flag=value and --flag value pairs of a service's command."""
    command = services()[name].get("command", [])
    args = shlex.split(command) if isinstance(command, str) else [str(a) for a in command]
    flags = {}
    for index, arg in enumerate(args):
        if arg.startswith("--"):
            key, sep, value = arg.partition("=")
            if not sep and index + 1 < len(args) and not args[index + 1].startswith("--"):
                value = args[index + 1]
            flags[key] = value
    return flags


def existing(name: str, container_path: str) -> Path:
    """The repo file behind a container path; fails the test when there is none."""
    path = host_path(name, container_path)
    assert path is not None, f"{name}: nothing of the repo is mounted at {container_path}"
    assert path.exists(), f"{name}: {container_path} is {path.relative_to(ROOT)}, which is missing"
    return path


def relay_config_path(name: str) -> str:
    flags = command_flags(name)
    assert "--config" in flags, f"{name}: serve without --config"
    env = services()[name].get("environment", {})
    assert env.get("RELAY_CONFIG", flags["--config"]) == flags["--config"], name
    return flags["--config"]


def relay_yaml(name: str) -> dict[str, Any]:
    return load_yaml(existing(name, relay_config_path(name)))  # type: ignore[no-any-return]


def is_relay_image(name: str) -> bool:
    build = services()[name].get("build")
    return build is not None and (DEPLOY / _build_context(build)).resolve() == ROOT


def _build_context(build: Any) -> str:
    return build if isinstance(build, str) else str(build.get("context", "."))


def dockerfile_exposed() -> set[int]:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    return {int(p.split("/")[0]) for line in re.findall(r"^EXPOSE\s+(.+)$", text, re.M) for p in line.split()}


def nginx_conf(name: str) -> str:
    return existing(name, "/etc/nginx/conf.d/default.conf").read_text(encoding="utf-8")


def listening_ports(name: str) -> set[int]:
    """The ports a service's container listens on, as far as the repo says."""
    service = services()[name]
    ports = {p.container_port for p in published(name)}
    ports |= {int(str(p).split("/")[0]) for p in service.get("expose", [])}
    if is_relay_image(name):
        ports.add(split_listen(relay_yaml(name)["server"]["listen"])[1])
    image = str(service.get("image", "")).split(":")[0].rsplit("/", 1)[-1]
    if image == "nginx":
        ports |= {int(p) for p in re.findall(r"^\s*listen\s+(\d+)", nginx_conf(name), re.M)}
    ports |= IMAGE_DEFAULT_PORTS.get(image, set())
    return ports


def assert_names_service(where: str, host: str, port: int, *, within: set[str] | None = None) -> str:
    """``host:port`` must be a compose service (of ``within``) listening on ``port``."""
    names = within if within is not None else set(services())
    assert host in names, f"{where}: {host}:{port} is not a compose service ({sorted(names)})"
    assert port in listening_ports(host), (
        f"{where}: {host} listens on {sorted(listening_ports(host))}, not {port}"
    )
    return host


def host_port_of(url: str) -> tuple[str, int]:
    parts = urlsplit(url if "://" in url else f"tcp://{url}")
    assert parts.hostname and parts.port, f"{url}: expected an explicit host and port"
    return parts.hostname, parts.port


# --- compose: the file itself ------------------------------------------------------------


def test_every_service_has_an_image_or_a_build() -> None:
    for name, service in services().items():
        assert service.get("image") or service.get("build"), f"{name}: neither image nor build"
        build = service.get("build")
        if build is not None:
            context = (DEPLOY / _build_context(build)).resolve()
            assert context.is_dir(), f"{name}: build context {context} is missing"
            dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
            assert (context / dockerfile).is_file(), f"{name}: {dockerfile} is not in {context}"


def test_bind_mounted_host_paths_exist_in_the_repo() -> None:
    declared = set(compose().get("volumes") or {})
    used = set()
    for name in services():
        for mount in mounts(name):
            assert mount.target.startswith("/"), f"{name}: {mount.target} is not absolute"
            if not mount.is_bind:
                assert mount.source in declared, f"{name}: volume {mount.source} is not declared"
                used.add(mount.source)
            elif mount.host_path is None:
                assert (name, mount.source) in HOST_MOUNTS, (
                    f"{name}: mounts {mount.source} from outside the repo"
                )
            else:
                path = mount.host_path
                assert path.exists(), f"{name}: {mount.source} does not exist"
                assert DEPLOY in path.parents, f"{name}: {mount.source} is outside deploy/"
                assert mount.read_only, f"{name}: {mount.source} should be mounted :ro"
    assert used == declared, f"declared but unused volumes: {sorted(declared - used)}"


def test_published_host_ports_are_unique_and_on_loopback() -> None:
    seen: dict[tuple[int, str], str] = {}
    for name in services():
        for port in published(name):
            key = (port.host_port, port.protocol)
            assert key not in seen, f"host port {port.host_port} is published by {seen[key]} and {name}"
            seen[key] = name
            assert port.host_ip == "127.0.0.1", f"{name}: {port} is published beyond loopback"
    assert seen, "nothing is published"


def test_dependencies_name_services_of_the_same_or_no_profile() -> None:
    for name, service in services().items():
        depends = service.get("depends_on") or []
        for dependency in depends if isinstance(depends, list) else list(depends):
            assert dependency in services(), f"{name}: depends on unknown service {dependency}"
            needs = set(services()[dependency].get("profiles", []))
            has = set(service.get("profiles", []))
            assert needs <= has, f"{name} depends on {dependency}, which only runs in {needs}"


def test_ha_profile_services_exist_and_only_they_are_profiled() -> None:
    profiled = {name for name, s in services().items() if s.get("profiles")}
    assert profiled == HA_SERVICES
    for name in HA_SERVICES:
        assert services()[name]["profiles"] == ["ha"], name
    assert {"relay", "prometheus", "alertmanager", "grafana", "node-exporter", "mailpit"} <= (
        set(services()) - profiled
    )


# --- compose: what the configs name -------------------------------------------------------


def test_alertmanager_posts_to_the_relay_service_on_its_listen_port() -> None:
    am = load_yaml(existing("alertmanager", command_flags("alertmanager")["--config.file"]))
    webhooks = [w for r in am["receivers"] for w in r.get("webhook_configs", [])]
    assert webhooks, "alertmanager.yml has no webhook_configs"
    relay_services = {n for n in services() if is_relay_image(n)}
    for webhook in webhooks:
        url = urlsplit(webhook["url"])
        assert url.scheme == "http" and url.path == WEBHOOK_PATH, webhook["url"]
        host, port = host_port_of(webhook["url"])
        target = assert_names_service("alertmanager.yml", host, port)
        assert target == "relay" and target in relay_services
        relay = relay_yaml(target)
        assert split_listen(relay["server"]["listen"])[1] == port
        assert port in {p.container_port for p in published(target)}
        assert port in dockerfile_exposed()
        # Both sides read the same token file.
        am_token = existing("alertmanager", webhook["http_config"]["authorization"]["credentials_file"])
        relay_token = existing(target, relay["server"]["auth"]["bearer_token_file"])
        assert am_token == relay_token


def test_prometheus_targets_are_compose_services() -> None:
    flags = command_flags("prometheus")
    config_path = flags["--config.file"]
    config = load_yaml(existing("prometheus", config_path))

    for am in config["alerting"]["alertmanagers"]:
        for static in am["static_configs"]:
            for target in static["targets"]:
                host, port = host_port_of(target)
                assert assert_names_service("prometheus alerting", host, port) == "alertmanager"

    outside = set()
    for job in config["scrape_configs"]:
        for static in job.get("static_configs", []):
            for target in static["targets"]:
                host, port = host_port_of(target)
                if host == "localhost":
                    host = "prometheus"  # Prometheus scraping itself
                if host not in services():
                    outside.add(job["job_name"])
                    continue
                assert_names_service(f"job {job['job_name']}", host, port)
        for dns in job.get("dns_sd_configs", []):
            for host in dns["names"]:
                assert_names_service(f"job {job['job_name']}", host, int(dns["port"]), within=HA_SERVICES)
    assert outside == EXAMPLE_JOBS, "only the example application jobs may name other hosts"

    # rule_files are relative to the config file's directory inside the container.
    config_dir = PurePosixPath(config_path).parent
    for pattern in config["rule_files"]:
        directory = existing("prometheus", str(config_dir / PurePosixPath(pattern).parent))
        assert sorted(directory.glob(PurePosixPath(pattern).name)), f"no files match {pattern}"


def test_alertmanager_and_prometheus_data_live_in_volumes() -> None:
    for name, flag in (("prometheus", "--storage.tsdb.path"), ("alertmanager", "--storage.path")):
        path = command_flags(name)[flag]
        assert any(m.target == path and not m.is_bind for m in mounts(name)), (
            f"{name}: {flag}={path} is not a named volume"
        )
    relay = relay_yaml("relay")
    db = PurePosixPath(relay["storage"]["url"].removeprefix("sqlite:///"))
    assert any(not m.is_bind and PurePosixPath(m.target) in db.parents for m in mounts("relay"))


def test_grafana_provisioning_names_mounted_dashboards_and_the_prometheus_service() -> None:
    provisioning = existing("grafana", "/etc/grafana/provisioning")
    for path in sorted((provisioning / "datasources").glob("*.yml")):
        for datasource in load_yaml(path)["datasources"]:
            host, port = host_port_of(datasource["url"])
            assert_names_service(path.name, host, port)
    for path in sorted((provisioning / "dashboards").glob("*.yml")):
        for provider in load_yaml(path)["providers"]:
            directory = existing("grafana", provider["options"]["path"])
            assert sorted(directory.glob("*.json")), f"{directory} holds no dashboards"
    home = services()["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert existing("grafana", home).is_file()


def test_relay_services_reach_their_smtp_and_redis_and_read_mounted_files() -> None:
    for name in sorted(n for n in services() if is_relay_image(n)):
        relay = relay_yaml(name)
        for receiver in relay["receivers"]:
            for email in receiver.get("email_configs", []):
                host, port = host_port_of(email["smarthost"])
                assert_names_service(f"{name} {receiver['name']}", host, port)
        storage = relay["storage"]["url"]
        if storage.startswith("redis://"):
            host, port = host_port_of(storage)
            assert_names_service(f"{name} storage", host, port)
            assert name in HA_SERVICES
        else:
            assert name not in HA_SERVICES, f"{name}: an HA replica must share Redis, not {storage}"
        existing(name, relay["server"]["auth"]["bearer_token_file"])


def test_compose_relay_configs_are_valid() -> None:
    for name in sorted(n for n in services() if is_relay_image(n)):
        path = existing(name, relay_config_path(name))
        config = parse_mounted_relay_config(name, path)
        assert config.server.auth is not None, f"{name}: relay without auth"


def parse_mounted_relay_config(name: str, path: Path) -> Config:
    """parse_config with every *_file path read through the service's mounts."""
    data = load_yaml(path)

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                k: (str(existing(name, v)) if str(k).endswith("_file") else resolve(v))
                for k, v in node.items()
            }
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    return parse_config(yaml.safe_dump(resolve(data)), source=str(path), env={})


def test_nginx_balances_the_ha_replicas_on_their_listen_port() -> None:
    conf = nginx_conf("relay-ha")
    upstreams = re.findall(r"^\s*server\s+([\w.-]+):(\d+)", conf, re.M)
    assert {host for host, _ in upstreams} == {"relay-a", "relay-b"}
    for host, port in upstreams:
        assert_names_service("relay-ha.conf", host, int(port), within=HA_SERVICES)
    assert {p.container_port for p in published("relay-ha")} <= listening_ports("relay-ha")


def test_dockerfile_serves_the_compose_config_path_on_the_exposed_port() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert relay_config_path("relay") in text
    health = re.search(r"HEALTHCHECK.*?http://127\.0\.0\.1:(\d+)(/-/healthy)", text, re.S)
    assert health, "the HEALTHCHECK does not call /-/healthy"
    default_listen = split_listen(load_yaml(ROOT / "config" / "relay.yml")["server"]["listen"])[1]
    assert dockerfile_exposed() == {int(health.group(1)), default_listen}


# --- kubernetes -------------------------------------------------------------------------


@dataclass
class Kustomization:
    path: Path
    data: dict[str, Any]
    objects: list[dict[str, Any]]

    def of_kind(self, kind: str) -> dict[str, dict[str, Any]]:
        return {o["metadata"]["name"]: o for o in self.objects if o["kind"] == kind}


@functools.cache
def kustomization(path: Path) -> Kustomization:
    data = load_yaml(path)
    objects: list[dict[str, Any]] = []
    for resource in data.get("resources", []):
        target = path.parent / resource
        if target.is_dir():
            objects += kustomization(target / "kustomization.yaml").objects
        elif target.is_file():
            with target.open(encoding="utf-8") as handle:
                objects += [doc for doc in yaml.safe_load_all(handle) if doc]
    return Kustomization(path, data, objects)


def k8s_id(path: Path) -> str:
    return str(path.relative_to(K8S).parent)


def test_there_is_a_single_replica_and_an_ha_kustomization() -> None:
    assert sorted(k8s_id(p) for p in KUSTOMIZATIONS) == [".", "ha"]


@pytest.mark.parametrize("path", KUSTOMIZATIONS, ids=k8s_id)
def test_kustomization_resources_exist(path: Path) -> None:
    data = load_yaml(path)
    assert data["kind"] == "Kustomization"
    assert data["resources"], f"{path}: no resources"
    for resource in data["resources"]:
        target = path.parent / resource
        assert target.is_file() or (target / "kustomization.yaml").is_file(), (
            f"{path.relative_to(ROOT)}: resource {resource} does not exist"
        )
    kinds = {o["kind"] for o in kustomization(path).objects}
    assert {"Deployment", "Service", "ConfigMap"} <= kinds
    # The Secret is created by hand from the example, never applied from the repo.
    assert "Secret" not in kinds


def relay_deployment(k: Kustomization) -> dict[str, Any]:
    return k.of_kind("Deployment")["relay"]


def relay_container(k: Kustomization) -> dict[str, Any]:
    containers = relay_deployment(k)["spec"]["template"]["spec"]["containers"]
    (container,) = [c for c in containers if c["name"] == "relay"]
    return container  # type: ignore[no-any-return]


def container_port(container: dict[str, Any], port: int | str) -> int:
    """A probe's or Service's port (a number or a port name) as the container's number."""
    for declared in container.get("ports", []):
        if port in (declared["containerPort"], declared.get("name")):
            return int(declared["containerPort"])
    pytest.fail(f"port {port!r} is not a port of container {container['name']}")


def mounted_volume(k: Kustomization, container_path: str) -> tuple[dict[str, Any], str]:
    """The pod volume behind ``container_path`` and the path inside it."""
    container = relay_container(k)
    pod = relay_deployment(k)["spec"]["template"]["spec"]
    path = PurePosixPath(container_path)
    for mount in container["volumeMounts"]:
        target = PurePosixPath(mount["mountPath"])
        if target in path.parents:
            (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
            return volume, str(path.relative_to(target))
    pytest.fail(f"nothing is mounted at {container_path}")


def configmap_relay_yml(k: Kustomization) -> str:
    args = relay_container(k)["args"]
    config_path = args[args.index("--config") + 1]
    volume, key = mounted_volume(k, config_path)
    name = volume["configMap"]["name"]
    assert name in k.of_kind("ConfigMap"), f"ConfigMap {name} is not among the resources"
    data = k.of_kind("ConfigMap")[name]["data"]
    assert key in data, f"ConfigMap {name} has no key {key}"
    return data[key]  # type: ignore[no-any-return]


def example_secret() -> dict[str, str]:
    secret = load_yaml(K8S / "secret.example.yaml")
    assert secret["kind"] == "Secret"
    return secret["stringData"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("path", KUSTOMIZATIONS, ids=k8s_id)
def test_probes_hit_health_and_ready_on_the_listen_port(path: Path) -> None:
    k = kustomization(path)
    container = relay_container(k)
    listen = split_listen(yaml.safe_load(configmap_relay_yml(k))["server"]["listen"])[1]
    probes = {"livenessProbe": "/-/healthy", "readinessProbe": "/-/ready"}
    for probe, endpoint in probes.items():
        http_get = container[probe]["httpGet"]
        assert http_get["path"] == endpoint, f"{probe} calls {http_get['path']}"
        assert container_port(container, http_get["port"]) == listen, probe
    assert listen in dockerfile_exposed()
    annotations = relay_deployment(k)["spec"]["template"]["metadata"]["annotations"]
    assert int(annotations["prometheus.io/port"]) == listen


@pytest.mark.parametrize("path", KUSTOMIZATIONS, ids=k8s_id)
def test_requests_and_limits_are_set(path: Path) -> None:
    for deployment in kustomization(path).of_kind("Deployment").values():
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            resources = container["resources"]
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources[kind]), (
                    f"{deployment['metadata']['name']}/{container['name']}: {kind}"
                )


@pytest.mark.parametrize("path", KUSTOMIZATIONS, ids=k8s_id)
def test_services_select_the_pods_and_target_their_ports(path: Path) -> None:
    k = kustomization(path)
    deployments = k.of_kind("Deployment")
    for name, service in k.of_kind("Service").items():
        selector = service["spec"]["selector"]
        matching = [
            d
            for d in deployments.values()
            if selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert len(matching) == 1, f"Service {name} selects {len(matching)} Deployments"
        deployment = matching[0]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= (
            deployment["spec"]["template"]["metadata"]["labels"].items()
        )
        (container, *_) = deployment["spec"]["template"]["spec"]["containers"]
        for port in service["spec"]["ports"]:
            container_port(container, port.get("targetPort", port["port"]))


@pytest.mark.parametrize("path", KUSTOMIZATIONS, ids=k8s_id)
def test_volumes_name_defined_claims_configmaps_and_the_example_secret(path: Path) -> None:
    k = kustomization(path)
    claims = k.of_kind("PersistentVolumeClaim")
    configmaps = k.of_kind("ConfigMap")
    for deployment in k.of_kind("Deployment").values():
        for volume in deployment["spec"]["template"]["spec"].get("volumes", []):
            if "persistentVolumeClaim" in volume:
                assert volume["persistentVolumeClaim"]["claimName"] in claims, volume
            if "configMap" in volume and not volume["configMap"].get("optional"):
                assert volume["configMap"]["name"] in configmaps, volume
            if "secret" in volume:
                assert (
                    volume["secret"]["secretName"]
                    == load_yaml(K8S / "secret.example.yaml")["metadata"]["name"]
                )


@pytest.mark.parametrize("path", KUSTOMIZATIONS, ids=k8s_id)
def test_configmap_relay_yml_is_valid_with_the_example_secret(path: Path, tmp_path: Path) -> None:
    k = kustomization(path)
    data = yaml.safe_load(configmap_relay_yml(k))
    secret = example_secret()

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            out = {}
            for key, value in node.items():
                if str(key).endswith("_file"):
                    volume, item = mounted_volume(k, value)
                    assert "secret" in volume, f"{key}: {value} is not in the Secret's mount"
                    assert item in secret, f"{key}: the Secret has no key {item}"
                    local = tmp_path / item
                    local.write_text(secret[item], encoding="utf-8")
                    value = str(local)
                out[key] = resolve(value)
            return out
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    config = parse_config(yaml.safe_dump(resolve(data)), source=str(path), env={})
    assert config.server.auth is not None
    # external_url is the Service's in-cluster name in the kustomization's namespace.
    (service,) = [
        s
        for s in k.of_kind("Service").values()
        if s["spec"]["selector"].items()
        <= relay_deployment(k)["spec"]["template"]["metadata"]["labels"].items()
    ]
    port = service["spec"]["ports"][0]["port"]
    expected = f"http://{service['metadata']['name']}.{k.data['namespace']}.svc:{port}"
    assert config.global_.external_url == expected
    # Storage: SQLite on the data claim for one replica, a Redis Service for several.
    replicas = relay_deployment(k)["spec"]["replicas"]
    url = config.storage.url
    if replicas == 1:
        volume, _ = mounted_volume(k, url.removeprefix("sqlite:///"))
        assert "persistentVolumeClaim" in volume, "the SQLite database is not on a claim"
    else:
        assert url.startswith("redis://"), f"{replicas} replicas cannot share {url}"
        host, port = host_port_of(url)
        assert host in k.of_kind("Service"), f"{url}: no Service {host}"
        assert port in [p["port"] for p in k.of_kind("Service")[host]["spec"]["ports"]]


def test_ha_deployment_differs_only_in_replicas_strategy_affinity_and_data() -> None:
    single = copy.deepcopy(relay_deployment(kustomization(K8S / "kustomization.yaml")))
    ha = copy.deepcopy(relay_deployment(kustomization(K8S / "ha" / "kustomization.yaml")))
    assert single["spec"]["replicas"] == 1 and single["spec"]["strategy"]["type"] == "Recreate"
    assert ha["spec"]["replicas"] >= 2 and ha["spec"]["strategy"]["type"] == "RollingUpdate"
    for deployment in (single, ha):
        spec = deployment["spec"]
        del spec["replicas"], spec["strategy"]
        spec["template"]["spec"].pop("affinity", None)
        volumes = spec["template"]["spec"]["volumes"]
        spec["template"]["spec"]["volumes"] = [v for v in volumes if v["name"] != "data"]
    assert ha == single


def test_ha_configmap_differs_only_in_storage() -> None:
    single = yaml.safe_load(configmap_relay_yml(kustomization(K8S / "kustomization.yaml")))
    ha = yaml.safe_load(configmap_relay_yml(kustomization(K8S / "ha" / "kustomization.yaml")))
    assert single["storage"]["url"].startswith("sqlite:///")
    assert ha["storage"]["url"].startswith("redis://")
    del single["storage"]["url"], ha["storage"]["url"]
    assert ha == single
