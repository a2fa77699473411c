"""The alert rules (``deploy/prometheus/alerts.yaml``) and the Grafana dashboard
(``deploy/grafana/gongwen.json``) read only metrics the services export, the rules are shaped as
Prometheus loads them, each alert has its runbook section, and every pod is scraped (offline)."""
import json
import re

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase
from sqlalchemy import create_engine

from gongwen_common import metrics
from gongwen_common.tables import InfraBase
from gongwen_exchange.metrics import ExchangeCollector
from gongwen_exchange.models import Base as ExchangeBase
from gongwen_local.stack import ROOT, SERVICES
from gongwen_notify.metrics import NotifyCollector
from gongwen_notify.models import Base as NotifyBase
from gongwen_seal.metrics import SEAL_OPERATIONS, SealCollector
from gongwen_seal.models import Base as SealBase

ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yaml"
DASHBOARD = ROOT / "deploy" / "grafana" / "gongwen.json"
OPERATIONS = ROOT / "docs" / "operations.md"
PROMETHEUS_OWN = {"up"}  # what Prometheus itself gives every target
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}
# PromQL words that look like names: functions, aggregations, keywords
PROMQL_WORDS = {"sum", "max", "min", "avg", "count", "by", "without", "rate", "delta", "deriv", "time", "and", "or",
                "unless", "offset", "histogram_quantile", "increase", "absent", "le", "on", "ignoring"}


def exported_names() -> set:
    """Every series name the processes export: the shared metrics as they describe themselves, and
    what each database collector yields from a database of its service's schema."""
    names = set()
    for metric in (*metrics.SHARED, SEAL_OPERATIONS):
        assert isinstance(metric, MetricWrapperBase)
        for family in metric.describe():
            names.update(family.name + suffix for suffix in SUFFIXES[family.type])
    for collector, base in ((metrics.InfrastructureCollector, None), (ExchangeCollector, ExchangeBase),
                            (NotifyCollector, NotifyBase), (SealCollector, SealBase)):
        engine = create_engine("sqlite://")
        for metadata in (InfraBase.metadata, *([base.metadata] if base else [])):
            metadata.create_all(engine)
        for family in collector(engine, "test").collect():
            names.add(family.name)
    return names


def series_in(expr: str) -> set:
    """The metric names a PromQL expression reads (label names and values and functions left out)."""
    bare = re.sub(r"\{[^}]*\}", "", re.sub(r'"[^"]*"', "", expr))
    bare = re.sub(r"\[[^\]]*\]", "", bare)
    bare = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", bare)
    bare = re.sub(r"\b\d+(\.\d+)?(ms|[smhdwy])?\b", "", bare)  # numbers and durations (offset 1h)
    return {word for word in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", bare) if word not in PROMQL_WORDS}


def balanced(expr: str) -> bool:
    depth = 0
    for char in expr:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0


def rules():
    return [rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]


def test_the_collectors_export_every_metric_the_metrics_module_names():
    exported = exported_names()
    for name in metrics.NAMES:
        assert any(series.startswith(name) for series in exported), name


def test_every_alert_rule_is_well_formed_and_reads_only_metrics_that_exist():
    loaded = yaml.safe_load(ALERTS.read_text())
    assert [set(group) >= {"name", "rules"} for group in loaded["groups"]] == [True] * len(loaded["groups"])
    exported = exported_names() | PROMETHEUS_OWN
    names = [rule["alert"] for rule in rules()]
    assert len(names) == len(set(names)), "alert names are unique"
    for rule in rules():
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations", "keep_firing_for"}, rule["alert"]
        assert re.fullmatch(r"Gongwen[A-Za-z]+", rule["alert"])
        assert balanced(rule["expr"]), rule["alert"]
        assert re.fullmatch(r"\d+[smhd]", rule.get("for", "0m")), rule["alert"]
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["runbook"].startswith("docs/operations.md#")
        read = series_in(rule["expr"])
        assert read, rule["alert"]
        assert read <= exported, f"{rule['alert']} reads {sorted(read - exported)}, which no service exports"


def test_the_named_alerts_exist_backlog_age_dead_letters_canary_certificates_and_service_down():
    by_name = {rule["alert"]: rule["expr"] for rule in rules()}
    assert "gongwen_outbox_oldest_age_seconds" in by_name["GongwenOutboxBacklogOld"]
    assert "gongwen_dead_letters" in by_name["GongwenDeadLettersGrowing"]
    assert "gongwen_canary_last_success_timestamp_seconds" in by_name["GongwenCanaryFailing"]
    assert "gongwen_certificate_expiry_days" in by_name["GongwenCertificateExpiringSoon"]
    assert "up" in series_in(by_name["GongwenServiceDown"])


def test_every_alert_has_its_runbook_section_in_the_operations_guide():
    headings = {re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
                for line in OPERATIONS.read_text().splitlines() if line.startswith("#")}
    for rule in rules():
        anchor = rule["annotations"]["runbook"].split("#", 1)[1]
        assert anchor in headings, f"docs/operations.md has no section for {rule['alert']}"


def test_every_dashboard_query_reads_only_metrics_that_exist():
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["title"] and dashboard["schemaVersion"] >= 30
    exported = exported_names() | PROMETHEUS_OWN
    used = set()
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert balanced(target["expr"]), panel["title"]
            read = series_in(target["expr"])
            assert read and read <= exported, f"{panel['title']}: {sorted(read - exported)} are not exported"
            used |= read
    # Every family a service exports is on the dashboard (a histogram through one of its series).
    for name in metrics.NAMES | {"gongwen_documents", "gongwen_overdue_receipts", "gongwen_messages",
                                 "gongwen_seal_operations_total", "gongwen_certificate_expiry_days"}:
        assert any(series.startswith(name) for series in used), name


def _k8s(path):
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


@pytest.mark.parametrize("name", [*SERVICES, "gateway"])
def test_every_pod_serves_metrics_on_the_port_its_scrape_annotation_names(name):
    settings = next(doc for doc in _k8s(ROOT / "deploy" / "k8s" / "10-settings.yaml")
                    if doc["metadata"]["name"] == "gongwen-settings")["data"]
    docs = _k8s(ROOT / "deploy" / "k8s" / f"50-{name}.yaml")
    deployment = next(doc for doc in docs if doc["kind"] == "Deployment")
    service = next(doc for doc in docs if doc["kind"] == "Service")
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    ports = {port["name"]: port["containerPort"] for port in deployment["spec"]["template"]["spec"]["containers"][0]
             ["ports"]}
    assert annotations["prometheus.io/scrape"] == "true"
    assert int(annotations["prometheus.io/port"]) == ports["metrics"] == int(settings["METRICS_PORT"])
    assert settings["METRICS_HOST"] == "0.0.0.0", "a pod's metrics are reached from outside the pod"
    assert "metrics" in {port["targetPort"] for port in service["spec"]["ports"]}


def test_the_check_refuses_a_misspelt_metric():
    """So the checks above prove something: a name no service exports is caught, words of PromQL are not."""
    read = series_in('max by (service) (rate(gongwen_outbox_backlgo{service="seal"}[5m] offset 1h)) > 0.5')
    assert read == {"gongwen_outbox_backlgo"} and not read <= exported_names()
