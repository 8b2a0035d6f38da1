"""The cluster deployment files in deploy/: Kubernetes manifests and the compose cluster.

No cluster and no Docker engine here, so the files are checked as data:

* deploy/k8s is rendered the way ``kustomize build`` would (namespace, images, the
  configMapGenerator that turns the edge VCL into a ConfigMap; the renderer refuses any other
  kustomization field, so it cannot silently render less than kustomize would), then every
  object is validated against the Kubernetes 1.30 JSON schemas in strict mode (an unknown or
  misspelt field fails) with kubernetes-validate, and the properties the deployment relies on
  are asserted: probes, ports, Services, config from a ConfigMap and credentials from a Secret.
* deploy/compose/cluster.yaml is parsed and its structure asserted: images or builds, each
  node's settings, ports, health checks, start order, the VCL files it mounts.
* Every GOLIVE_* name either file sets is a real setting, and the settings each node gets
  pass golive's own validation (Settings).
* The edge wrappers (deploy/*/edge.vcl) compile with varnishd -C together with the shipped
  edge VCL, and use the same backend timeouts as it.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import kubernetes_validate
import pytest
import yaml

from golive.config import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
COMPOSE_FILE = DEPLOY / "compose" / "cluster.yaml"
SHIPPED_VCL = DEPLOY / "edge" / "varnish" / "golive.vcl"
KUBERNETES_VERSION = "1.30.0"

# Kinds that live in no namespace (kustomize's `namespace:` leaves them alone).
CLUSTER_SCOPED = {"Namespace"}
# The kustomization fields the renderer below implements.
RENDERED_FIELDS = {"apiVersion", "kind", "namespace", "resources", "images", "configMapGenerator"}
# Settings whose values are credentials or signing keys: never in a ConfigMap.
SECRET_SETTINGS = {"database_url", "redis_url"} | {
    name for name in Settings.model_fields if "secret" in name or name.endswith("_token")
}
SECRET_ENV = {f"GOLIVE_{name.upper()}" for name in SECRET_SETTINGS} | {
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
}
# A value that may stand in for any setting (at least 16 characters for the signing keys).
STRONG = "0123456789abcdef0123456789abcdef"


# --- rendering -------------------------------------------------------------------------------


def load_documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def kustomization() -> dict[str, Any]:
    return yaml.safe_load((K8S / "kustomization.yaml").read_text())


def render_kustomization() -> list[dict[str, Any]]:
    """deploy/k8s as `kubectl kustomize --load-restrictor LoadRestrictionsNone` renders it,
    except that generated ConfigMaps keep their plain name (kustomize appends a content hash
    to the name and to every reference to it)."""
    kust = kustomization()
    unknown = set(kust) - RENDERED_FIELDS
    assert not unknown, f"kustomization.yaml uses fields this renderer ignores: {unknown}"
    docs: list[dict[str, Any]] = []
    for resource in kust["resources"]:
        docs += load_documents(K8S / resource)
    for generator in kust.get("configMapGenerator", []):
        assert set(generator) <= {"name", "files"}, generator
        data = {}
        for entry in generator["files"]:
            key, _, path = entry.partition("=") if "=" in entry else (Path(entry).name, "", entry)
            data[key] = (K8S / path).read_text()
        docs.append(
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": generator["name"]}}
            | {"data": data}
        )
    for doc in docs:
        if doc["kind"] not in CLUSTER_SCOPED and "namespace" in kust:
            doc["metadata"]["namespace"] = kust["namespace"]
        for container in containers(doc):
            for image in kust.get("images", []):
                name, _, tag = container["image"].partition(":")
                if name == image["name"]:
                    new_tag = image.get("newTag", tag)
                    new_name = image.get("newName", name)
                    container["image"] = f"{new_name}:{new_tag}" if new_tag else new_name
    return docs


def pod_spec(doc: dict[str, Any]) -> dict[str, Any] | None:
    if doc["kind"] in {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}:
        return doc["spec"]["template"]["spec"]
    return None


def containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    spec = pod_spec(doc)
    return [] if spec is None else spec.get("containers", []) + spec.get("initContainers", [])


@pytest.fixture(scope="module")
def rendered() -> list[dict[str, Any]]:
    return render_kustomization()


def one(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def of_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def pod_labels(doc: dict[str, Any]) -> dict[str, str]:
    return doc["spec"]["template"]["metadata"]["labels"]


def container_port(container: dict[str, Any], port: int | str) -> int:
    """The number a Service's targetPort (a number or a port name) means in ``container``."""
    if isinstance(port, int):
        return port
    numbers = [p["containerPort"] for p in container["ports"] if p.get("name") == port]
    assert numbers, f"no container port named {port!r}"
    return numbers[0]


@pytest.fixture(scope="module")
def origin(rendered: list[dict[str, Any]]) -> dict[str, Any]:
    return one(rendered, "StatefulSet", "golive-origin")


@pytest.fixture(scope="module")
def edge(rendered: list[dict[str, Any]]) -> dict[str, Any]:
    return one(rendered, "Deployment", "golive-edge")


def golive_container(origin: dict[str, Any]) -> dict[str, Any]:
    (container,) = [c for c in origin["spec"]["template"]["spec"]["containers"]]
    return container


# --- Kubernetes: schema ----------------------------------------------------------------------


def test_every_manifest_in_the_folder_is_a_kustomize_resource() -> None:
    listed = set(kustomization()["resources"])
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk


def test_every_object_validates_against_the_kubernetes_schema(
    rendered: list[dict[str, Any]],
) -> None:
    kinds = {d["kind"] for d in rendered}
    assert kinds == {
        "Namespace",
        "ConfigMap",
        "Secret",
        "Service",
        "StatefulSet",
        "PodDisruptionBudget",
        "Deployment",
        "HorizontalPodAutoscaler",
    }
    for doc in rendered:
        # Raises ValidationError (or SchemaNotFoundError for an unknown kind/apiVersion).
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_the_schema_check_is_strict(origin: dict[str, Any]) -> None:
    """A misspelt field fails: the validation above would catch one in the manifests."""
    broken = copy.deepcopy(origin)
    probe = golive_container(broken)["readinessProbe"]
    probe["httpGett"] = probe.pop("httpGet")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_everything_is_in_the_golive_namespace(rendered: list[dict[str, Any]]) -> None:
    one(rendered, "Namespace", "golive")
    for doc in rendered:
        if doc["kind"] not in CLUSTER_SCOPED:
            assert doc["metadata"]["namespace"] == "golive", doc["metadata"]["name"]


# --- Kubernetes: origins ---------------------------------------------------------------------


def test_origin_probes_readiness_on_readyz_and_liveness_on_healthz(origin: dict[str, Any]) -> None:
    container = golive_container(origin)
    ready = container["readinessProbe"]["httpGet"]
    alive = container["livenessProbe"]["httpGet"]
    assert ready["path"] == "/readyz"
    assert alive["path"] == "/healthz"
    assert container_port(container, ready["port"]) == 8080
    assert container_port(container, alive["port"]) == 8080


def test_origin_serves_rtmp_and_http(origin: dict[str, Any]) -> None:
    container = golive_container(origin)
    assert {(p["containerPort"], p.get("protocol", "TCP")) for p in container["ports"]} == {
        (1935, "TCP"),
        (8080, "TCP"),
    }
    assert container["image"] == "registry.example.com/golive:0.1.0"
    assert container["args"][0] == "serve"


def test_origin_node_id_is_the_pod_name(origin: dict[str, Any]) -> None:
    env = {e["name"]: e for e in golive_container(origin)["env"]}
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert env["GOLIVE_NODE_ID"]["value"] == "$(POD_NAME)"
    # Kubernetes expands $(VAR) only from variables defined earlier in the list.
    names = [e["name"] for e in golive_container(origin)["env"]]
    assert names.index("POD_NAME") < names.index("GOLIVE_NODE_ID")
    # Other nodes reach it by its name under the StatefulSet's headless Service.
    service = origin["spec"]["serviceName"]
    assert env["GOLIVE_NODE_URL"]["value"] == (
        f"http://$(POD_NAME).{service}.$(POD_NAMESPACE).svc:8080"
    )


def test_origin_headless_service_is_the_statefulset_service(
    rendered: list[dict[str, Any]], origin: dict[str, Any]
) -> None:
    headless = one(rendered, "Service", origin["spec"]["serviceName"])
    assert headless["spec"]["clusterIP"] == "None"
    assert selects(headless["spec"]["selector"], pod_labels(origin))
    assert selects(origin["spec"]["selector"]["matchLabels"], pod_labels(origin))


def test_rtmp_is_a_tcp_load_balancer_on_1935(
    rendered: list[dict[str, Any]], origin: dict[str, Any]
) -> None:
    rtmp = one(rendered, "Service", "golive-rtmp")
    assert rtmp["spec"]["type"] == "LoadBalancer"
    # Publishers' own addresses reach golive's per-address limits.
    assert rtmp["spec"]["externalTrafficPolicy"] == "Local"
    assert selects(rtmp["spec"]["selector"], pod_labels(origin))
    (port,) = rtmp["spec"]["ports"]
    assert (port["port"], port["protocol"]) == (1935, "TCP")
    assert container_port(golive_container(origin), port["targetPort"]) == 1935


def test_origin_http_is_a_cluster_ip_service(
    rendered: list[dict[str, Any]], origin: dict[str, Any]
) -> None:
    http = one(rendered, "Service", "golive-origin")
    assert http["spec"]["type"] == "ClusterIP"
    assert selects(http["spec"]["selector"], pod_labels(origin))
    (port,) = http["spec"]["ports"]
    assert port["port"] == 8080
    assert container_port(golive_container(origin), port["targetPort"]) == 8080


def test_termination_grace_outlasts_golive_shutdown(
    rendered: list[dict[str, Any]], origin: dict[str, Any]
) -> None:
    config = one(rendered, "ConfigMap", "golive-config")["data"]
    shutdown = float(
        config.get("GOLIVE_SHUTDOWN_TIMEOUT", Settings.model_fields["shutdown_timeout"].default)
    )
    pre_stop = golive_container(origin)["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    grace = origin["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace > shutdown + float(pre_stop[1])


def test_origin_has_requests_and_limits(origin: dict[str, Any]) -> None:
    resources = golive_container(origin)["resources"]
    for bound in ("requests", "limits"):
        assert set(resources[bound]) == {"cpu", "memory"}, bound
    assert "Sizing" in (K8S / "origin.yaml").read_text()


def test_origin_disruption_budget(rendered: list[dict[str, Any]], origin: dict[str, Any]) -> None:
    budgets = [
        b
        for b in of_kind(rendered, "PodDisruptionBudget")
        if selects(b["spec"]["selector"]["matchLabels"], pod_labels(origin))
    ]
    assert len(budgets) == 1
    assert budgets[0]["spec"]["maxUnavailable"] == 1
    assert origin["spec"]["replicas"] >= 2


def test_postgres_and_redis_are_external(rendered: list[dict[str, Any]]) -> None:
    for name in ("golive-postgres", "golive-redis"):
        assert one(rendered, "Service", name)["spec"]["type"] == "ExternalName"
    # No database or cache runs in the cluster: the only workloads are golive and the edge.
    workloads = [d for d in rendered if pod_spec(d) is not None]
    assert {d["metadata"]["name"] for d in workloads} == {"golive-origin", "golive-edge"}
    secret = one(rendered, "Secret", "golive-secrets")["stringData"]
    assert urlsplit(secret["GOLIVE_DATABASE_URL"]).hostname == "golive-postgres"
    assert urlsplit(secret["GOLIVE_REDIS_URL"]).hostname == "golive-redis"


# --- Kubernetes: configuration ---------------------------------------------------------------


def test_config_comes_from_the_configmap_and_credentials_from_the_secret(
    rendered: list[dict[str, Any]], origin: dict[str, Any]
) -> None:
    env_from = golive_container(origin)["envFrom"]
    assert {"configMapRef": {"name": "golive-config"}} in env_from
    assert {"secretRef": {"name": "golive-secrets"}} in env_from
    config = one(rendered, "ConfigMap", "golive-config")["data"]
    secret = one(rendered, "Secret", "golive-secrets")["stringData"]
    assert not set(config) & set(secret)
    # Every credential and signing key the cluster needs is in the Secret.
    assert {
        "GOLIVE_DATABASE_URL",
        "GOLIVE_REDIS_URL",
        "GOLIVE_PLAYBACK_TOKEN_SECRET",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
    } <= set(secret)
    assert set(secret) <= SECRET_ENV


def test_no_credential_in_the_configmap(rendered: list[dict[str, Any]]) -> None:
    config = one(rendered, "ConfigMap", "golive-config")["data"]
    assert not set(config) & SECRET_ENV
    for name, value in config.items():
        parts = urlsplit(value)
        if parts.scheme:
            assert parts.username is None and parts.password is None, name
            assert not {"access_key_id", "secret_access_key", "session_token"} & set(
                parse_qs(parts.query)
            ), name
    storage = urlsplit(config["GOLIVE_RECORDING_STORAGE"])
    assert storage.scheme == "s3"


def test_every_golive_variable_is_a_setting(
    rendered: list[dict[str, Any]], origin: dict[str, Any]
) -> None:
    names = set(one(rendered, "ConfigMap", "golive-config")["data"])
    names |= set(one(rendered, "Secret", "golive-secrets")["stringData"])
    names |= {e["name"] for e in golive_container(origin)["env"]}
    fields = {f"GOLIVE_{name.upper()}" for name in Settings.model_fields}
    assert {n for n in names if n.startswith("GOLIVE_")} <= fields
    assert {"GOLIVE_REDIS_URL", "GOLIVE_NODE_ID", "GOLIVE_DATABASE_URL"} <= names


def settings_from(env: dict[str, str], monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> Settings:
    """golive's Settings as a process with exactly ``env`` (and no other GOLIVE_/AWS_
    variables) would read them."""
    for name in list(os.environ):
        if name.startswith(("GOLIVE_", "AWS_")):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings(data_dir=data_dir)


def test_origin_settings_pass_golive_validation(
    rendered: list[dict[str, Any]],
    origin: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    config = one(rendered, "ConfigMap", "golive-config")["data"]
    secret = one(rendered, "Secret", "golive-secrets")["stringData"]
    # What Kubernetes would put in the environment of pod golive-origin-0, the Secret's
    # placeholders replaced by values of the right shape.
    real = {
        name: re.sub("REPLACE_ME", STRONG, value) if "REPLACE_ME" in value else value
        for name, value in secret.items()
    }
    env = config | real
    for var in golive_container(origin)["env"]:
        if "value" in var:
            env[var["name"]] = (
                var["value"]
                .replace("$(POD_NAME)", "golive-origin-0")
                .replace("$(POD_NAMESPACE)", "golive")
            )
    settings = settings_from(env, monkeypatch, tmp_path)
    assert settings.clustered
    assert settings.node_id == "golive-origin-0"
    assert settings.node_url == "http://golive-origin-0.golive-origin-nodes.golive.svc:8080"
    assert settings.database_url.startswith("postgresql+asyncpg://")
    assert settings.recording_storage.startswith("s3://")


def test_shipped_secret_placeholders_keep_golive_from_starting(
    rendered: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Applied as shipped, the Secret's signing keys are refused: no deployment runs with a
    secret everyone can read in this repository."""
    config = one(rendered, "ConfigMap", "golive-config")["data"]
    secret = one(rendered, "Secret", "golive-secrets")["stringData"]
    assert all("REPLACE_ME" in value for value in secret.values())
    with pytest.raises(ValueError, match="at least 16 characters"):
        settings_from(config | secret, monkeypatch, tmp_path)


# --- Kubernetes: edge ------------------------------------------------------------------------


def test_edge_mounts_the_generated_vcl(
    rendered: list[dict[str, Any]], edge: dict[str, Any]
) -> None:
    generated = one(rendered, "ConfigMap", "golive-edge-vcl")["data"]
    assert generated["golive.vcl"] == SHIPPED_VCL.read_text()
    assert generated["edge.vcl"] == (K8S / "edge.vcl").read_text()
    spec = edge["spec"]["template"]["spec"]
    (volume,) = [
        v for v in spec["volumes"] if v.get("configMap", {}).get("name") == "golive-edge-vcl"
    ]
    (varnish,) = spec["containers"]
    (mount,) = [m for m in varnish["volumeMounts"] if m["name"] == volume["name"]]
    command = varnish["command"]
    assert command[0] == "varnishd"
    vcl = command[command.index("-f") + 1]
    # The entry point is edge.vcl, and golive.vcl sits beside it for its include.
    assert vcl == f"{mount['mountPath']}/edge.vcl"
    assert 'include "./golive.vcl";' in generated["edge.vcl"]
    assert command[command.index("-p") + 1] == "vcc_err_unref=off"
    assert varnish["image"].startswith("varnish:")


def test_edge_reaches_the_origin_service(rendered: list[dict[str, Any]]) -> None:
    backends = vcl_backends((K8S / "edge.vcl").read_text())
    (host_port,) = {(b["host"], b["port"]) for b in backends.values()}
    service = one(rendered, "Service", host_port[0])
    assert service["spec"]["type"] == "ClusterIP"
    assert int(host_port[1]) in {p["port"] for p in service["spec"]["ports"]}


def test_edge_service_and_autoscaler(rendered: list[dict[str, Any]], edge: dict[str, Any]) -> None:
    service = one(rendered, "Service", "golive-edge")
    assert selects(service["spec"]["selector"], pod_labels(edge))
    (varnish,) = edge["spec"]["template"]["spec"]["containers"]
    (port,) = service["spec"]["ports"]
    assert container_port(varnish, port["targetPort"]) == 6081
    assert f"http=:{container_port(varnish, 'http')},HTTP" in varnish["command"]
    hpa = one(rendered, "HorizontalPodAutoscaler", "golive-edge")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "golive-edge",
    }
    assert 1 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
    # The HPA's CPU utilisation is relative to the request.
    assert "cpu" in varnish["resources"]["requests"]


# --- Compose ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def golive_nodes(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in compose["services"].items() if "build" in s}


def test_compose_services_have_an_image_or_a_build(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {
        "golive-1",
        "golive-2",
        "edge",
        "postgres",
        "redis",
        "minio",
        "minio-setup",
    }
    for name, service in services.items():
        assert "image" in service or "build" in service, name
    for name, node in golive_nodes(compose).items():
        context = (COMPOSE_FILE.parent / node["build"]["context"]).resolve()
        assert context == ROOT, name
        assert (context / node["build"]["dockerfile"]).is_file()
    assert len(golive_nodes(compose)) == 2
    assert services["edge"]["image"].startswith("varnish:")
    assert "minio" in services["minio"]["image"]


def test_compose_nodes_have_the_cluster_settings(compose: dict[str, Any]) -> None:
    services = compose["services"]
    postgres = services["postgres"]["environment"]
    minio = services["minio"]["environment"]
    node_ids = set()
    for name, node in golive_nodes(compose).items():
        env = node["environment"]
        database = urlsplit(env["GOLIVE_DATABASE_URL"])
        assert database.scheme == "postgresql+asyncpg"
        assert (database.hostname, database.username, database.password) == (
            "postgres",
            postgres["POSTGRES_USER"],
            postgres["POSTGRES_PASSWORD"],
        )
        assert database.path == f"/{postgres['POSTGRES_DB']}"
        assert urlsplit(env["GOLIVE_REDIS_URL"]).hostname == "redis"
        storage = urlsplit(env["GOLIVE_RECORDING_STORAGE"])
        assert storage.scheme == "s3"
        query = {k: v[0] for k, v in parse_qs(storage.query).items()}
        assert urlsplit(query["endpoint"]).hostname == "minio"
        assert (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]) == (
            minio["MINIO_ROOT_USER"],
            minio["MINIO_ROOT_PASSWORD"],
        )
        # The one-shot service creates the bucket the nodes record into.
        assert services["minio-setup"]["entrypoint"][-1].endswith(f"/{storage.hostname}")
        assert len(env["GOLIVE_PLAYBACK_TOKEN_SECRET"]) >= 16
        # Its node id, and an address other nodes reach it at: its own host name.
        node_ids.add(env["GOLIVE_NODE_ID"])
        assert node["hostname"] == name
        assert urlsplit(env["GOLIVE_NODE_URL"]).hostname == name
    assert len(node_ids) == 2
    secrets = [
        node["environment"]["GOLIVE_PLAYBACK_TOKEN_SECRET"]
        for node in golive_nodes(compose).values()
    ]
    assert len(set(secrets)) == 1, "the nodes must accept each other's playback tokens"


def test_compose_node_settings_pass_golive_validation(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fields = {f"GOLIVE_{name.upper()}" for name in Settings.model_fields}
    for name, node in golive_nodes(compose).items():
        env = {k: str(v) for k, v in node["environment"].items()}
        assert {k for k in env if k.startswith("GOLIVE_")} <= fields, name
        settings = settings_from(env, monkeypatch, tmp_path)
        assert settings.clustered
        assert settings.node_id == name
        shutdown = settings.shutdown_timeout
        grace = float(node["stop_grace_period"].removesuffix("s"))
        assert grace > shutdown, name


def test_compose_ports(compose: dict[str, Any]) -> None:
    def published(service: dict[str, Any]) -> dict[int, int]:
        pairs = {}
        for port in service.get("ports", []):
            *_, host, container = str(port).split(":")
            pairs[int(container)] = int(host)
        return pairs

    rtmp_host_ports = {published(node)[1935] for node in golive_nodes(compose).values()}
    assert len(rtmp_host_ports) == 2
    edge = compose["services"]["edge"]
    assert published(edge) == {6081: 8080}
    assert "http=:6081,HTTP" in edge["command"]


def test_compose_health_checks_and_start_order(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, service in services.items():
        if name != "minio-setup":
            assert service["healthcheck"]["test"][0] == "CMD", name
    for name, node in golive_nodes(compose).items():
        assert "/readyz" in " ".join(node["healthcheck"]["test"]), name
        assert node["depends_on"] == {
            "postgres": {"condition": "service_healthy"},
            "redis": {"condition": "service_healthy"},
            "minio-setup": {"condition": "service_completed_successfully"},
        }
    assert services["edge"]["depends_on"] == {
        name: {"condition": "service_healthy"} for name in golive_nodes(compose)
    }
    assert services["minio-setup"]["depends_on"] == {"minio": {"condition": "service_healthy"}}
    assert services["minio-setup"]["restart"] == "no"


def test_compose_edge_mounts_the_vcl(compose: dict[str, Any]) -> None:
    edge = compose["services"]["edge"]
    mounts = {}
    for volume in edge["volumes"]:
        source, target, mode = volume.split(":")
        assert mode == "ro"
        mounts[target] = (COMPOSE_FILE.parent / source).resolve()
    assert mounts["/etc/varnish/golive.vcl"] == SHIPPED_VCL
    assert SHIPPED_VCL.is_file()
    assert mounts["/etc/varnish/edge.vcl"].is_file()
    command = edge["command"]
    assert command[command.index("-f") + 1] == "/etc/varnish/edge.vcl"
    assert command[command.index("-p") + 1] == "vcc_err_unref=off"
    backends = vcl_backends(mounts["/etc/varnish/edge.vcl"].read_text())
    assert {(b["host"], b["port"]) for b in backends.values()} == {
        (name, "8080") for name in golive_nodes(compose)
    }


# --- the edge wrappers -----------------------------------------------------------------------

_BACKEND = re.compile(r"backend\s+(\w+)\s*\{(.*?)\n\}", re.S)
_FIELD = re.compile(r"\.(\w+)\s*=\s*\"?([^\";]+)\"?;")


def vcl_backends(text: str) -> dict[str, dict[str, str]]:
    return {name: dict(_FIELD.findall(body)) for name, body in _BACKEND.findall(text)}


WRAPPERS = [K8S / "edge.vcl", DEPLOY / "compose" / "edge.vcl"]
TIMEOUTS = ("first_byte_timeout", "between_bytes_timeout", "connect_timeout")


@pytest.mark.parametrize("wrapper", WRAPPERS, ids=lambda p: p.parent.name)
def test_edge_wrapper_keeps_the_shipped_timeouts(wrapper: Path) -> None:
    shipped = vcl_backends(SHIPPED_VCL.read_text())
    assert shipped, "the shipped VCL declares no backend"
    expected = {(name, value) for b in shipped.values() for name, value in b.items()}
    expected = {(n, v) for n, v in expected if n in TIMEOUTS}
    assert {n for n, _ in expected} == set(TIMEOUTS)
    for backend in vcl_backends(wrapper.read_text()).values():
        assert {(n, v) for n, v in backend.items() if n in TIMEOUTS} == expected


def varnishd() -> list[str]:
    """The varnishd command line to compile with: as root without its jail, which would read
    the files as another user that cannot enter pytest's private temporary folder."""
    found = shutil.which("varnishd") or next(
        (p for p in ("/usr/sbin/varnishd",) if Path(p).exists()), None
    )
    if found is None:
        message = "varnishd is not installed (apt-get install varnish)"
        if os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}:
            pytest.fail(message)
        pytest.skip(message)
    return [found, "-j", "none"] if os.geteuid() == 0 else [found]


@pytest.mark.parametrize("wrapper", WRAPPERS, ids=lambda p: p.parent.name)
def test_edge_wrapper_compiles_with_the_shipped_vcl(wrapper: Path, tmp_path: Path) -> None:
    """varnishd -C on the wrapper and the shipped VCL side by side, as mounted. Varnish
    resolves backend names at compile time, so the deployment's host names become
    127.0.0.1 here; everything else is compiled as shipped."""
    text = re.sub(r'(\.host\s*=\s*)"[^"]*"', r'\1"127.0.0.1"', wrapper.read_text())
    (tmp_path / "edge.vcl").write_text(text)
    shutil.copy(SHIPPED_VCL, tmp_path / "golive.vcl")
    result = subprocess.run(
        [*varnishd(), "-C", "-p", "vcc_err_unref=off", "-f", str(tmp_path / "edge.vcl")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    # Without the parameter the shipped VCL's unused loopback backend is an error: the
    # deployments must pass it.
    result = subprocess.run(
        [*varnishd(), "-C", "-f", str(tmp_path / "edge.vcl")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "Unused backend origin" in result.stderr
