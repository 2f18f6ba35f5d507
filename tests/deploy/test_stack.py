"""The stack as files: compose, Kubernetes manifests, logs and traces plumbing."""

import os
import re
import subprocess

import kubernetes_validate
import pytest
import yaml

from core.queues import DELIVERY_QUEUE

from .conftest import DEPLOY, tool

K8S = DEPLOY / "k8s"
# KEDA resources have no schema in kubernetes-validate; their shape is checked below instead.
CUSTOM_KINDS = {("keda.sh/v1alpha1", "ScaledObject"), ("keda.sh/v1alpha1", "TriggerAuthentication")}


def manifests():
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                yield path.name, doc


def deployment(name):
    return next(d for _, d in manifests() if d["kind"] == "Deployment" and d["metadata"]["name"] == name)


COMPOSE_SECRETS = {"BIRTHDAY_DB_PASSWORD": "db-secret-from-env", "BIRTHDAY_BROKER_PASSWORD": "broker-secret-from-env"}


def compose_config(env):
    return subprocess.run([tool("docker-compose"), "-f", str(DEPLOY / "compose.yaml"), "config"],
                          capture_output=True, text=True, timeout=60, env=env)


@pytest.mark.integration  # runs docker-compose
def test_compose_refuses_to_start_without_its_passwords():
    env = {k: v for k, v in os.environ.items() if k not in COMPOSE_SECRETS}
    r = compose_config(env)
    assert r.returncode != 0 and "BIRTHDAY_DB_PASSWORD" in r.stderr + r.stdout


@pytest.mark.integration  # runs docker-compose
def test_compose_file_is_valid_and_runs_every_component():
    r = compose_config({**os.environ, **COMPOSE_SECRETS})
    assert r.returncode == 0, r.stderr
    assert "ignored" not in r.stderr, r.stderr  # keys docker-compose 1.29 would silently drop
    services = yaml.safe_load(r.stdout)["services"]
    assert set(services) == {
        "api", "worker", "webhook-worker", "beat", "vendor", "celery-exporter", "postgres", "rabbitmq", "redis", "prometheus",
        "alertmanager", "grafana", "loki", "promtail", "otel-collector", "jaeger", "postgres-exporter",
        "redis-exporter", "node-exporter"}
    assert services["worker"]["command"][:4] == ["celery", "-A", "birthday", "worker"]
    assert services["beat"]["command"][:4] == ["celery", "-A", "birthday", "beat"]
    assert services["celery-exporter"]["image"].startswith("danihodovic/celery-exporter")
    # The Prometheus compose config names these services as its targets.
    prom = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    for job in prom["scrape_configs"]:
        host = job["static_configs"][0]["targets"][0].split(":")[0]
        assert host in services, job["job_name"]


def test_rabbitmq_config_leaves_queue_types_to_the_application_and_exposes_per_queue_metrics():
    conf = (DEPLOY / "rabbitmq" / "20-birthday.conf").read_text()
    # RabbitMQ 3.10 does not boot on it (tests/deploy/test_rabbitmq_boots.py); the application
    # declares its queues quorum.
    assert not [line for line in conf.splitlines() if line.startswith("default_queue_type")]
    assert '"x-queue-type": "quorum"' in (DEPLOY.parent / "birthday" / "celeryconfig.py").read_text()
    assert "prometheus.return_per_object_metrics = true" in conf
    assert "rabbitmq_prometheus" in (DEPLOY / "rabbitmq" / "enabled_plugins").read_text()


def test_kubernetes_manifests_validate_against_the_schema():
    seen = 0
    for name, doc in manifests():
        if (doc["apiVersion"], doc["kind"]) in CUSTOM_KINDS:
            continue
        try:
            kubernetes_validate.validate(doc, "1.30.0", strict=True)
        except kubernetes_validate.ValidationError as e:
            pytest.fail(f"{name} {doc['kind']}/{doc['metadata']['name']}: {e}")
        seen += 1
    assert seen >= 6


def test_app_containers_have_resources_and_probes():
    for name in ("birthday-api", "birthday-worker", "birthday-beat"):
        for c in deployment(name)["spec"]["template"]["spec"]["containers"]:
            assert {"cpu", "memory"} <= set(c["resources"]["requests"]) and {"cpu", "memory"} <= set(c["resources"]["limits"])
            assert c["livenessProbe"] and c["readinessProbe"]
    api = deployment("birthday-api")["spec"]["template"]["spec"]["containers"][0]
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"


def test_beat_is_a_singleton():
    beat = deployment("birthday-beat")["spec"]
    assert beat["replicas"] == 1
    assert beat["strategy"] == {"type": "Recreate"}


def test_workers_scale_on_the_deliveries_queue():
    scaled = [d for _, d in manifests() if d["kind"] == "ScaledObject"]
    assert len(scaled) == 1
    spec = scaled[0]["spec"]
    assert spec["scaleTargetRef"]["name"] == "birthday-worker"
    trigger = spec["triggers"][0]
    assert trigger["type"] == "rabbitmq" and trigger["metadata"]["queueName"] == DELIVERY_QUEUE
    assert spec["minReplicaCount"] >= 1 and spec["maxReplicaCount"] > spec["minReplicaCount"]
    # Pod labels match what Prometheus' Kubernetes discovery keeps.
    for name, app in (("birthday-api", "birthday-scheduler-api"), ("birthday-worker", "birthday-scheduler-worker"),
                      ("birthday-beat", "birthday-scheduler-beat")):
        assert deployment(name)["spec"]["template"]["metadata"]["labels"]["app"] == app


def test_promtail_labels_only_level_service_environment():
    config = yaml.safe_load((DEPLOY / "promtail" / "promtail-config.yaml").read_text())
    assert config["scrape_configs"]
    for job in config["scrape_configs"]:
        stages = job["pipeline_stages"]
        json_stage = next(s["json"] for s in stages if "json" in s)
        assert json_stage["expressions"]["trace_id"] == "trace_id"
        labels = [s["labels"] for s in stages if "labels" in s]
        assert labels == [{"level": None, "service": None, "environment": None}]


def test_loki_to_jaeger_derived_field_matches_our_log_lines():
    import re

    sources = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "datasources" / "datasources.yaml").read_text())
    loki = next(d for d in sources["datasources"] if d["type"] == "loki")
    field = loki["jsonData"]["derivedFields"][0]
    assert field["datasourceUid"] == "jaeger"
    line = '{"timestamp": "2025-01-01T09:00:00Z", "level": "INFO", "service": "birthday-worker", ' \
           '"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": "00f067aa0ba902b7", "message": "sent"}'
    assert re.search(field["matcherRegex"], line).group(1) == "4bf92f3577b34da6a3ce929d0e0e4736"


def test_otel_collector_pipelines():
    config = yaml.safe_load((DEPLOY / "otel" / "otel-collector-config.yaml").read_text())
    protocols = config["receivers"]["otlp"]["protocols"]
    assert protocols["grpc"]["endpoint"].endswith(":4317") and protocols["http"]["endpoint"].endswith(":4318")
    policies = {p["name"]: p for p in config["processors"]["tail_sampling"]["policies"]}
    assert policies["errors-policy"]["status_code"]["status_codes"] == ["ERROR"]
    assert policies["slow-requests"]["latency"]["threshold_ms"] == 1000
    assert policies["probabilistic-policy"]["probabilistic"]["sampling_percentage"] == 10
    pipelines = config["service"]["pipelines"]
    assert "tail_sampling" in pipelines["traces"]["processors"] and "batch" in pipelines["traces"]["processors"]
    assert pipelines["traces"]["exporters"] == ["otlp/jaeger"]
    assert pipelines["metrics"]["exporters"] == ["prometheus"]
    assert pipelines["logs"]["exporters"] == ["loki"]
    for pipeline in pipelines.values():
        for name in pipeline["receivers"] + pipeline["processors"] + pipeline["exporters"]:
            assert name in config["receivers"] or name in config["processors"] or name in config["exporters"], name


def _queues_consumed(command) -> set[str]:
    command = [str(word) for word in command]
    if "worker" not in command or "-Q" not in command:
        return set()
    return set(command[command.index("-Q") + 1].split(","))


def test_every_queue_has_a_consumer_that_prometheus_scrapes():
    """Tasks go to three queues (core/queues.py); a variant without a webhook worker would
    accept endpoints and never call them."""
    from core.queues import DELIVERY_QUEUE, SCHEDULER_QUEUE, WEBHOOK_QUEUE

    wanted = {DELIVERY_QUEUE, SCHEDULER_QUEUE, WEBHOOK_QUEUE}
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    consumers = {name: _queues_consumed(s.get("command", [])) for name, s in compose.items()}
    assert wanted <= set().union(*consumers.values()), consumers
    scraped = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())["scrape_configs"]
    targets = {t for job in scraped for c in job.get("static_configs", []) for t in c["targets"]}
    for name, queues in consumers.items():
        if queues:
            port = compose[name]["environment"]["WORKER_METRICS_PORT"]
            assert f"{name}:{port}" in targets, (name, port)

    k8s = {d["metadata"]["name"]: d for _, d in manifests() if d["kind"] == "Deployment"}
    by_app = {d["spec"]["template"]["metadata"]["labels"]["app"]: _queues_consumed(c["command"])
              for d in k8s.values() for c in d["spec"]["template"]["spec"]["containers"]}
    assert wanted <= set().union(*by_app.values()), by_app
    k8s_scrape = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.k8s.yml").read_text())["scrape_configs"]
    kept = [r["regex"] for job in k8s_scrape for r in job.get("relabel_configs", []) if r.get("action") == "keep"]
    for app, queues in by_app.items():
        if queues:
            assert any(re.fullmatch(regex, app) for regex in kept), app

    local = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.local.yml").read_text())["scrape_configs"]
    local_targets = {t for job in local for c in job.get("static_configs", []) for t in c["targets"]}
    assert "127.0.0.1:9103" in local_targets  # bin/run's webhook worker (WEBHOOK_WORKER_METRICS_PORT)
