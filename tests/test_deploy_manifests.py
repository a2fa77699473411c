"""The deployment manifests hold together, offline: the Kubernetes files are valid for the stated
Kubernetes versions (kubernetes-validate ships the schemas), compose runs every service with its
database and KEK, and the image's entrypoint runs exactly the services that exist."""
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from sqlalchemy import create_engine, text

from conftest import wait_until
from gongwen_common import probe
from gongwen_local.stack import GATEWAY, ROOT, SERVICES

# The oldest Kubernetes minor we claim, and the newest kubernetes-validate ships.
KUBERNETES_VERSIONS = ("1.35.0", "1.37.0")
K8S = ROOT / "deploy" / "k8s"
EVERY = [*SERVICES, "gateway"]
KEKS = {"identity": "IDENTITY_KEK", "seal": "SEAL_KEK", "archive": "ARCHIVE_KEK"}
AUTOSCALED = {"exchange", "seal", "gateway"}
TWILIO_SECRETS = {"TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"}


def k8s_resources():
    return [(path, doc) for path in sorted(K8S.rglob("*.yaml"))
            for doc in yaml.safe_load_all(path.read_text()) if doc]


def of_kind(kind, name=None):
    return [doc for _, doc in k8s_resources() if doc["kind"] == kind and name in (None, doc["metadata"]["name"])]


def one(kind, name):
    found = of_kind(kind, name)
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def settings_read_by(name) -> set:
    """Every environment setting ``config.yaml`` of a service (or the gateway) reads."""
    folder = GATEWAY[1] if name == "gateway" else SERVICES[name][1]
    return set(re.findall(r"\$\{([A-Z0-9_]+):", (ROOT / folder / "config.yaml").read_text()))


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_kubernetes_manifest_is_valid_for_the_stated_kubernetes_version(version):
    resources = k8s_resources()
    assert len(resources) > 30
    for path, doc in resources:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{path.relative_to(ROOT)} {doc['kind']}/{doc['metadata']['name']}: {error.message} "
                        f"at {list(error.path)}")


def test_the_validator_refuses_what_kubernetes_would_refuse():
    """So the test above proves something: a misspelt field and a wrong type are caught."""
    deployment = json.loads(json.dumps(one("Deployment", "seal")))
    deployment["spec"]["replica"] = deployment["spec"].pop("replicas")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[0], strict=True)
    deployment = json.loads(json.dumps(one("Deployment", "seal")))
    deployment["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"] = ["1Gi"]
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[0], strict=True)


def container_of(name):
    containers = one("Deployment", name)["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


@pytest.mark.parametrize("name", EVERY)
def test_every_service_has_a_deployment_with_probes_and_resources_a_service_and_a_disruption_budget(name):
    container = container_of(name)
    assert container["args"] == [name]
    assert {"cpu", "memory"} <= container["resources"]["requests"].keys()
    assert {"cpu", "memory"} <= container["resources"]["limits"].keys()
    assert container["livenessProbe"] and container["readinessProbe"]
    if name == "gateway":
        # its own readiness: a degraded service must not take every gateway out of the load balancer
        assert container["readinessProbe"]["httpGet"]["path"] == "/api/v1/health/gateway"
    else:
        assert container["readinessProbe"]["exec"]["command"] == ["python", "-m", "gongwen_common.probe", name]
        # liveness is this pod's process only (its heartbeat file): a broker outage must not restart every pod
        assert container["livenessProbe"]["exec"]["command"] == ["python", "-m", "gongwen_common.probe", name, "--live"]
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert one("Deployment", name)["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    labels = one("Deployment", name)["spec"]["selector"]["matchLabels"]
    assert one("Service", name)["spec"]["selector"] == labels
    assert one("PodDisruptionBudget", name)["spec"]["selector"]["matchLabels"] == labels
    if name == "gateway":
        assert one("Service", name)["spec"]["ports"][0]["targetPort"] == "http"


def test_exchange_seal_and_the_gateway_scale_on_their_own():
    targets = {hpa["spec"]["scaleTargetRef"]["name"] for hpa in of_kind("HorizontalPodAutoscaler")}
    assert targets == AUTOSCALED
    for hpa in of_kind("HorizontalPodAutoscaler"):
        assert 2 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]


def provided_settings(container) -> dict:
    """setting -> where its value comes from ("secret", "configmap"), as Kubernetes would resolve it."""
    provided = {}
    for source in container.get("envFrom", []):
        provided.update(dict.fromkeys(one("ConfigMap", source["configMapRef"]["name"])["data"], "configmap"))
    for variable in container.get("env", []):
        source = variable.get("valueFrom", {})
        if "secretKeyRef" in source:
            provided[variable["name"]] = "secret"
        elif "configMapKeyRef" in source:
            ref = source["configMapKeyRef"]
            assert ref["key"] in one("ConfigMap", ref["name"])["data"], ref
            provided[variable["name"]] = "configmap"
        else:
            provided[variable["name"]] = "literal"
    return provided


@pytest.mark.parametrize("name", EVERY)
def test_every_setting_a_service_reads_is_set_from_a_configmap_or_a_secret(name):
    provided = provided_settings(container_of(name))
    missing = settings_read_by(name) - provided.keys()
    assert not missing, f"{name} reads {sorted(missing)} but its Deployment sets none of them"
    assert not [s for s, origin in provided.items() if origin == "literal"]
    assert provided["AMQP_URI"] == "secret"  # it carries the broker password
    if name != "gateway":
        assert provided["DATABASE_URL"] == "configmap" and provided["PGPASSWORD"] == "secret"


def test_keks_and_twilio_credentials_come_only_from_secrets_and_the_repository_holds_placeholders():
    for name in EVERY:
        provided = provided_settings(container_of(name))
        for setting, origin in provided.items():
            if setting.endswith("_KEK") or setting in TWILIO_SECRETS:
                assert origin == "secret", (name, setting)
        if name in KEKS:
            assert provided.get(KEKS[name]) == "secret", name
        assert not ({"IDENTITY_KEK", "SEAL_KEK", "ARCHIVE_KEK"} - {KEKS.get(name)}) & provided.keys(), \
            f"{name} gets a KEK it does not need"
    for config_map in of_kind("ConfigMap"):
        assert not [key for key in config_map["data"] if re.search(r"KEK|PASSWORD$|SECRET|TOKEN|ACCOUNT_SID", key)]
    secrets = of_kind("Secret")
    assert {s["metadata"]["name"] for s in secrets} >= {"gongwen-keks", "gongwen-twilio"}
    assert set(one("Secret", "gongwen-keks")["stringData"]) == set(KEKS.values())
    assert set(one("Secret", "gongwen-twilio")["stringData"]) == TWILIO_SECRETS
    assert provided_settings(container_of("notify")).keys() >= TWILIO_SECRETS
    for secret in secrets:
        for value in secret["stringData"].values():
            assert "REPLACE" in value, f"{secret['metadata']['name']} holds a value, not a placeholder"
    assert all(path.parent.name == "examples" for path, doc in k8s_resources() if doc["kind"] == "Secret"), \
        "a Secret beside the manifests would be applied by `kubectl apply -f deploy/k8s/`"


def test_rabbitmq_is_a_three_node_statefulset_with_kubernetes_peer_discovery():
    rabbit = one("StatefulSet", "rabbitmq")
    assert rabbit["spec"]["replicas"] == 3
    conf = one("ConfigMap", "rabbitmq-config")["data"]
    assert "rabbit_peer_discovery_k8s" in conf["rabbitmq.conf"]
    assert "rabbitmq_peer_discovery_k8s" in conf["enabled_plugins"]
    env = {v["name"]: v for v in rabbit["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["RABBITMQ_ERLANG_COOKIE"]["valueFrom"]["secretKeyRef"]["name"] == "gongwen-rabbitmq"
    assert one("PodDisruptionBudget", "rabbitmq")["spec"]["maxUnavailable"] == 1
    assert one("Service", "postgres")["spec"]["type"] == "ExternalName"
    assert set(one("ConfigMap", "gongwen-databases")["data"]) == set(SERVICES)


class _PlainYaml(yaml.SafeLoader):
    """YAML as written: nameko's config loading registers a resolver that expands ``${VAR:default}``
    on the loaders of this process, and compose's ``${X:?…}`` must stay as it is written."""


_PlainYaml.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if "env_var" not in tag]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}


def compose():
    return yaml.load((ROOT / "deploy" / "compose.yaml").read_text(), Loader=_PlainYaml)


def test_compose_runs_every_service_and_the_gateway_with_its_database_and_kek():
    services = compose()["services"]
    for name in EVERY:
        assert services[name]["command"] == [name], name
        env = services[name]["environment"]
        assert env["AMQP_URI"].startswith("pyamqp://")
        if name in SERVICES:
            assert env["DATABASE_URL"].startswith("postgresql+psycopg2://") and env["DATABASE_URL"].endswith(
                f"@postgres:5432/gongwen_{name}"), name
        for setting in KEKS.values():
            if KEKS.get(name) == setting:
                # required from the environment (deploy/.env), never a value in the file
                assert env[setting] == f"${{{setting}:?set {setting} in deploy/.env}}", name
            else:
                assert setting not in env, f"{name} gets {setting}"
        missing = {"AMQP_URI", "DATABASE_URL"} & settings_read_by(name) - env.keys()
        assert not missing, (name, missing)


def test_compose_takes_every_secret_from_the_environment_never_from_the_file():
    for name, service in compose()["services"].items():
        for setting, value in (service.get("environment") or {}).items():
            if re.search(r"KEK$|PASSWORD$|PASS$|COOKIE$|TOKEN$|ACCOUNT_SID$", setting):
                assert re.fullmatch(r"\$\{[A-Z_]+:[?-].*\}", str(value)), (name, setting, value)
            if re.search(r"URL|URI", setting) and "@" in str(value):
                password = str(value).split("@")[0].split(":")[-1]
                assert password.startswith("${"), (name, setting)


def test_compose_has_a_three_node_rabbitmq_cluster_and_a_database_per_service():
    spec = compose()
    nodes = [name for name in spec["services"] if name.startswith("rabbitmq-")]
    assert len(nodes) == 3
    cookies = {spec["services"][n]["environment"]["RABBITMQ_ERLANG_COOKIE"] for n in nodes}
    assert len(cookies) == 1 and cookies.pop().startswith("${RABBITMQ_ERLANG_COOKIE:?")
    conf = spec["configs"]["rabbitmq-conf"]["content"]
    for node in nodes:
        assert spec["services"][node]["environment"]["RABBITMQ_NODENAME"] == f"rabbit@{node}"
        assert f"= rabbit@{node}" in conf
    assert "classic_config" in conf
    created = re.findall(r"CREATE DATABASE (\w+);", spec["configs"]["postgres-databases"]["content"])
    assert sorted(created) == sorted(f"gongwen_{name}" for name in SERVICES)


def entrypoint_script() -> tuple[Path, str]:
    containerfile = (ROOT / "Containerfile").read_text()
    entrypoint = json.loads(re.search(r"^ENTRYPOINT (\[.*\])$", containerfile, re.M).group(1))
    installed = entrypoint[-1]
    source = re.search(rf"^COPY (\S+) {re.escape(installed)}$", containerfile, re.M).group(1)
    return ROOT / source, containerfile


def test_the_image_entrypoint_runs_exactly_the_services_that_exist_as_they_are_run_locally():
    script, containerfile = entrypoint_script()
    cases = set(re.findall(r"^\s+([a-z-]+)\)", script.read_text(), re.M))
    runnable = dict(re.findall(r"^\s+([a-z-]+)\)\s*(package=.*?);;$", script.read_text(), re.M))
    assert set(runnable) == set(EVERY) and cases == {*EVERY, "declare-queues", "fake-twilio"}
    for name, line in runnable.items():
        package, folder, cls = GATEWAY if name == "gateway" else SERVICES[name]
        assert line.split() == [f"package={package};", f"folder={folder};", f"class={cls}"], name
    # compose and Kubernetes name nothing the entrypoint doesn't run
    for service in compose()["services"].values():
        if "command" in service:
            assert service["command"][0] in cases
    for deployment in of_kind("Deployment") + [j["spec"] for j in of_kind("Job")]:
        template = deployment["spec"]["template"] if "spec" in deployment else deployment["template"]
        assert template["spec"]["containers"][0]["args"][0] in cases
    assert re.search(r"^CMD \[\"gateway\"\]$", containerfile, re.M)


def test_the_entrypoint_refuses_an_unknown_service():
    script, _ = entrypoint_script()
    refused = subprocess.run(["sh", str(script), "printer"], capture_output=True, text=True, timeout=10)
    assert refused.returncode == 64 and "usage:" in refused.stderr


def test_the_image_runs_as_a_non_root_user_and_bakes_in_no_secret():
    containerfile = (ROOT / "Containerfile").read_text().replace("\\\n", " ")  # continuation lines
    users = re.findall(r"^USER (\S+)$", containerfile, re.M)
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert re.search(r"^FROM \S*debian:12", containerfile, re.M)
    baked = " ".join(shlex.split(" ".join(re.findall(r"^(?:ENV|ARG) (.*)$", containerfile, re.M))))
    assert "GATEWAY_ADDRESS=0.0.0.0:8080" in baked  # the rule below looks at what is really there
    assert not re.search(r"KEK|PASSWORD|SECRET|TOKEN|AMQP_URI|DATABASE_URL", baked)


@pytest.mark.slow
def test_the_entrypoint_declares_the_queues_then_migrates_and_runs_a_service_that_answers_its_probe(rabbit, tmp_path):
    """What the image runs, run here (no container runtime needed): the same script, this checkout
    as GONGWEN_ROOT, the virtualenv's python first on the PATH."""
    script, _ = entrypoint_script()
    vhost = uuid.uuid4().hex[:8]
    rabbit.add_vhost(vhost)
    database = tmp_path / "registry.sqlite3"
    env = {**os.environ, "GONGWEN_ROOT": str(ROOT), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "AMQP_URI": rabbit.amqp_uri(vhost), "DATABASE_URL": f"sqlite:///{database}", "PYTHONUNBUFFERED": "1"}
    declared = subprocess.run(["sh", str(script), "declare-queues"], env=env, capture_output=True, text=True,
                              timeout=120)
    assert declared.returncode == 0 and declared.stdout.startswith("declared"), declared.stderr
    with open(tmp_path / "registry.log", "wb") as log:
        service = subprocess.Popen(["sh", str(script), "registry"], env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        wait_until(lambda: probe.main(["registry", "--amqp-uri", env["AMQP_URI"], "--deadline", "5"]) == 0,
                   timeout=90, message="the registry to answer its readiness probe")
        with create_engine(f"sqlite:///{database}").connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar()  # migrated at start
        service.send_signal(signal.SIGTERM)  # what the runtime sends: nameko itself, the script exec'd it
        assert service.wait(timeout=60) in (0, -signal.SIGTERM)
    finally:
        if service.poll() is None:
            os.killpg(service.pid, signal.SIGKILL)
            service.wait()
    # nobody consumes the registry's RPC queue now: the probe says so within its deadline
    assert probe.main(["registry", "--amqp-uri", env["AMQP_URI"], "--deadline", "3"]) == 1


def test_the_image_installs_every_package_make_install_does():
    """A package the Makefile installs but the image doesn't would be missing in production."""
    makefile = (ROOT / "Makefile").read_text().replace("\\\n", " ")
    packages = set(re.search(r"^PACKAGES := (.*)$", makefile, re.M).group(1).split())
    containerfile = (ROOT / "Containerfile").read_text().replace("\\\n", " ")
    copied = {line.split()[1] for line in re.findall(r"^COPY \S+ \S+$", containerfile, re.M)}
    installed = set(re.findall(r"\./([\w/]+)", re.search(r"pip install [^\n]*", containerfile).group(0)))
    assert packages <= installed, f"the image does not install {sorted(packages - installed)}"
    assert all(any(p == c or p.startswith(c + "/") for c in copied) for p in packages)
