"""Generates the Grafana dashboards as provisioned JSON: the monitoring plan's six, and the SLO,
security and cost dashboards of its roadmap.

    python deploy/grafana/generate.py            # rewrite deploy/grafana/dashboards/*.json
    python deploy/grafana/generate.py --check    # exit 1 if the committed JSON is stale

Standard library only, and deterministic (sorted keys, fixed ids and grid positions), so the
committed JSON is exactly this script's output and a diff shows every change.
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from core.queues import DEAD_LETTER_QUEUE, DELIVERY_QUEUE  # noqa: E402  (plain constants, no Django)

OUT = Path(__file__).resolve().parent / "dashboards"
PROM = {"type": "prometheus", "uid": "prometheus"}
LOKI = {"type": "loki", "uid": "loki"}
RUNBOOKS = "${runbook_base}"
GREEN, YELLOW, RED, BLUE = "green", "yellow", "red", "blue"

# The product's RabbitMQ queue names (the plan's Node.js service called them birthday-messages
# and birthday-dlq).
QUEUE = DELIVERY_QUEUE
DLQ = DEAD_LETTER_QUEUE
LE_1S = 'le=~"1(\\\\.0)?"'  # prometheus_client writes the 1 s bucket as le="1.0"


def thresholds(*steps):
    """steps: (value or None for the base, colour)."""
    return {"mode": "absolute", "steps": [{"color": c, "value": v} for v, c in steps]}


def target(expr, legend="", ref="A", fmt=None, instant=False):
    t = {"datasource": PROM, "expr": expr, "legendFormat": legend, "refId": ref}
    if fmt:
        t["format"] = fmt
    if instant:
        t["instant"] = True
    return t


def panel(kind, title, exprs, unit="short", steps=None, description="", links=(), mappings=None,
          options=None, custom=None, decimals=None, interval=None, min_=None, max_=None):
    """exprs: list of (expr, legend) or a single expr string."""
    if isinstance(exprs, str):
        exprs = [(exprs, "")]
    defaults = {"unit": unit, "color": {"mode": "thresholds" if steps else "palette-classic"}}
    if steps:
        defaults["thresholds"] = thresholds(*steps)
    if mappings:
        defaults["mappings"] = mappings
    if custom:
        defaults["custom"] = custom
    if decimals is not None:
        defaults["decimals"] = decimals
    if min_ is not None:
        defaults["min"] = min_
    if max_ is not None:
        defaults["max"] = max_
    p = {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": PROM,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": options or {},
        "targets": [target(e, legend, chr(ord("A") + i), fmt="heatmap" if kind == "heatmap" else None,
                           instant=kind in ("bargauge", "piechart", "barchart"))
                    for i, (e, legend) in enumerate(exprs)],
        "links": [{"title": t, "url": u, "targetBlank": True} for t, u in links],
    }
    if interval:
        p["interval"] = interval
    return p


def stat(title, expr, unit="short", steps=None, **kw):
    return panel("stat", title, expr, unit, steps, options={
        "colorMode": "background", "graphMode": "area", "justifyMode": "auto", "textMode": "auto",
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}}, **kw)


def gauge(title, expr, unit="percent", steps=None, **kw):
    return panel("gauge", title, expr, unit, steps, options={
        "showThresholdMarkers": True, "showThresholdLabels": False,
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}}, **kw)


def ts(title, exprs, unit="short", steps=None, stack=False, **kw):
    custom = {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 20 if stack else 0,
              "stacking": {"mode": "normal" if stack else "none", "group": "A"},
              "thresholdsStyle": {"mode": "line" if steps else "off"}}
    return panel("timeseries", title, exprs, unit, steps, custom=custom, options={
        "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
        "tooltip": {"mode": "multi", "sort": "desc"}}, **kw)


def heatmap(title, expr, unit="s", **kw):
    return panel("heatmap", title, expr, unit, options={
        "calculate": False, "yAxis": {"unit": unit}, "color": {"scheme": "Spectral", "mode": "scheme"},
        "cellGap": 1}, **kw)


def bars(title, exprs, unit="short", steps=None, **kw):
    return panel("bargauge", title, exprs, unit, steps, options={
        "displayMode": "gradient", "orientation": "horizontal",
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}}, **kw)


def pie(title, exprs, unit="short", **kw):
    return panel("piechart", title, exprs, unit, options={
        "pieType": "donut", "legend": {"displayMode": "table", "placement": "right", "values": ["percent"]},
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}}, **kw)


def alertlist(title):
    return {"type": "alertlist", "title": title, "description": "Firing and pending alerts of this service.",
            "options": {"alertInstanceLabelFilter": "", "alertName": "", "dashboardAlerts": False,
                        "groupMode": "default", "maxItems": 20, "sortOrder": 1, "stateFilter":
                        {"firing": True, "pending": True, "noData": False, "normal": False, "error": True},
                        "viewMode": "list"},
            "links": [], "targets": []}


def logs(title, expr, description=""):
    """Log lines from Loki (LogQL), placed beside the metrics they explain. Promtail indexes only
    level, service and environment; everything else is filtered in the line."""
    return {"type": "logs", "title": title, "description": description, "datasource": LOKI,
            "options": {"showTime": True, "wrapLogMessage": True, "sortOrder": "Descending", "enableLogDetails": True,
                        "dedupStrategy": "none", "prettifyLogMessage": False},
            "targets": [{"datasource": LOKI, "expr": expr, "refId": "A", "queryType": "range"}], "links": []}


def runbook(name):
    return ("Runbook: " + name, f"{RUNBOOKS}/{name}.md")


def traces(service):
    # Jaeger search for the service over the dashboard's time range (Grafana fills the range).
    return ("Traces in Jaeger", "${jaeger_url}/search?service=" + service + "&start=${__from}000&end=${__to}000")


def pct_ok(title, expr, **kw):
    return gauge(title, expr, "percent", [(None, RED), (90, YELLOW), (95, GREEN)], min_=0, max_=100, **kw)


UP_DOWN = [{"type": "value", "options": {
    "0": {"text": "Down", "color": RED}, "1": {"text": "Degraded", "color": YELLOW}, "2": {"text": "OK", "color": GREEN}}}]
BREAKER = [{"type": "value", "options": {
    "0": {"text": "Closed", "color": GREEN}, "1": {"text": "Open", "color": RED}, "2": {"text": "Half-open", "color": YELLOW}}}]

# Error and failure series exist only once an error has happened; "or vector(0)" makes a healthy
# system read 0 errors instead of no data.
SUCCESS_RATE = ("(sum(rate(birthday_scheduler_messages_sent_total[5m])) /\n"
                " (sum(rate(birthday_scheduler_messages_sent_total[5m])) +\n"
                "  (sum(rate(birthday_scheduler_messages_failed_total[5m])) or vector(0)))) * 100")
QUEUE_DEPTH = f'birthday_scheduler_queue_depth{{queue_name="{QUEUE}"}}'
QUEUE_STEPS = [(None, GREEN), (1000, YELLOW), (5000, RED)]


def executive():
    return "executive-overview", "Executive Overview", "15s", [
        ("Key Metrics", [
            stat("Total Messages Today", "sum(increase(birthday_scheduler_messages_sent_total[24h]))", "short",
                 [(None, BLUE)], decimals=0),
            pct_ok("Success Rate %", SUCCESS_RATE, links=[runbook("low-message-success-rate")]),
            gauge("Active Users", "sum(birthday_scheduler_users_active_total)", "short", [(None, BLUE)]),
            gauge("API Uptime %", 'avg(up{job="birthday-scheduler-api"}) * 100', "percent",
                  [(None, RED), (99, YELLOW), (99.9, GREEN)], min_=0, max_=100, links=[runbook("service-down")]),
        ]),
        ("Trends", [
            ts("Messages Sent Over Time", [("sum by (message_type) (rate(birthday_scheduler_messages_sent_total[5m]))",
                                            "{{message_type}}")], "msg/s", stack=True),
            ts("Error Rate Trend", [('(sum(rate(birthday_scheduler_api_requests_total{status=~"5.."}[5m])) or vector(0)) /\n'
                                     "sum(rate(birthday_scheduler_api_requests_total[5m])) * 100", "5xx %")],
               "percent", [(None, GREEN), (5, YELLOW), (10, RED)], links=[runbook("high-error-rate")]),
            ts("Response Time P95", [("histogram_quantile(0.95,\n  sum(rate(birthday_scheduler_api_response_time_seconds_bucket[5m]))\n  by (le))", "p95")],
               "s", [(None, GREEN), (0.5, RED)], links=[runbook("high-response-time"), traces("birthday-api")]),
            ts("Queue Depth", [(QUEUE_DEPTH, "{{queue_name}}")], "short", QUEUE_STEPS,
               links=[runbook("queue-depth-high")]),
        ]),
        ("Geographic Distribution", [
            bars("Users by Timezone", [("sort_desc(sum by (timezone) (birthday_scheduler_users_by_timezone))",
                                        "{{timezone}}")]),
            pie("Messages by Region", [('sum by (region) (label_replace(increase(birthday_scheduler_messages_scheduled_total[24h]),'
                                        ' "region", "$1", "timezone", "([^/]+).*"))', "{{region}}")]),
        ]),
        ("Health Status", [
            stat("System Health", 'clamp_max(sum(up{job="birthday-scheduler-api"}), 1)\n'
                 '* (2 - clamp_max(count(ALERTS{alertstate="firing",severity=~"critical|warning"}) or on() vector(0), 1))',
                 "none", [(None, RED), (1, YELLOW), (2, GREEN)], mappings=UP_DOWN,
                 description="OK: API up and no critical or warning alert firing. Degraded: some alert firing. Down: no API instance up."),
            stat("Circuit Breaker Status", [("birthday_scheduler_circuit_breaker_open", "{{service_name}}")], "none",
                 [(None, GREEN), (1, RED)], mappings=BREAKER, links=[runbook("circuit-breaker-open")]),
            alertlist("Recent Alerts"),
        ]),
    ]


def api():
    bucket = "birthday_scheduler_api_response_time_seconds_bucket"
    return "api-performance", "API Performance", "15s", [
        ("Rate - Request Volume", [
            ts("Requests per Second", [("sum(rate(birthday_scheduler_api_requests_total[1m])) by (path)", "{{path}}")], "reqps"),
            bars("Top 10 Endpoints by Traffic", [("topk(10, sum by (path) (rate(birthday_scheduler_api_requests_total[1h])))", "{{path}}")], "reqps"),
            heatmap("Traffic Heatmap (24h)", [("sum by (path) (increase(birthday_scheduler_api_requests_total[1h]))", "{{path}}")], "short",
                    interval="1h"),
        ]),
        ("Errors - Error Tracking", [
            # An endpoint without 5xx has no error series; "or ... * 0" gives it 0% instead of no line.
            ts("Error Rate % (by endpoint)", [('(sum(rate(birthday_scheduler_api_requests_total{status=~"5.."}[5m])) by (path)\n'
                                               " or sum(rate(birthday_scheduler_api_requests_total[5m])) by (path) * 0) /\n"
                                               "sum(rate(birthday_scheduler_api_requests_total[5m])) by (path) * 100", "{{path}}")],
               "percent", [(None, GREEN), (5, YELLOW), (10, RED)], links=[runbook("elevated-error-rate"), traces("birthday-api")]),
            ts("Errors by Status Code (4xx vs 5xx)", [('sum by (class) (label_replace(rate(birthday_scheduler_api_requests_total{status=~"[45].."}[5m]),'
                                                        ' "class", "${1}xx", "status", "([45])..")) ', "{{class}}")], "reqps", stack=True),
            ts("Error Spike Detection", [("(birthday_scheduler:api_error_rate:5m - avg_over_time(birthday_scheduler:api_error_rate:5m[1d]))\n"
                                          "/ stddev_over_time(birthday_scheduler:api_error_rate:5m[1d])", "z-score vs 1d")],
               "none", [(None, GREEN), (2, YELLOW), (3, RED)],
               description="Standard deviations of the 5-minute error rate from its one-day mean; above 3 is a spike."),
        ]),
        ("Duration - Latency Metrics", [
            ts("P50/P95/P99 Response Time", [
                (f"histogram_quantile(0.50,\n  sum(rate({bucket}[5m]))\n  by (path, le))", "p50 {{path}}"),
                (f"histogram_quantile(0.95,\n  sum(rate({bucket}[5m]))\n  by (path, le))", "p95 {{path}}"),
                (f"histogram_quantile(0.99,\n  sum(rate({bucket}[5m]))\n  by (path, le))", "p99 {{path}}")],
               "s", [(None, GREEN), (0.5, YELLOW), (1, RED)], links=[runbook("high-response-time"), traces("birthday-api")]),
            heatmap("Latency Distribution Heatmap", [(f"sum by (le) (increase({bucket}[$__rate_interval]))", "{{le}}")], "s"),
            ts("Slow Requests (>1s) Count", [("sum(increase(birthday_scheduler_api_response_time_seconds_count[5m]))\n"
                                              f"- sum(increase({bucket}{{{LE_1S}}}[5m]))", "slower than 1 s per 5 min")],
               "short", [(None, GREEN), (1, YELLOW)], links=[traces("birthday-api")]),
        ]),
        ("Additional Metrics", [
            gauge("Concurrent Requests", "birthday_scheduler_api_concurrent_requests", "short",
                  [(None, GREEN), (50, YELLOW), (100, RED)]),
            ts("Request/Response Size Distribution", [
                ("histogram_quantile(0.95,\n  sum(rate(birthday_scheduler_api_request_size_bytes_bucket[5m]))\n  by (le))", "request p95"),
                ("histogram_quantile(0.95,\n  sum(rate(birthday_scheduler_api_response_size_bytes_bucket[5m]))\n  by (le))", "response p95")],
               "bytes"),
            ts("Rate Limit Hits", [("sum by (path) (rate(birthday_scheduler_rate_limit_exceeded_total[5m]))", "{{path}}")], "reqps",
               [(None, GREEN), (1, YELLOW)]),
        ]),
        ("Logs", [
            logs("API Errors and Warnings (logs)", '{service="birthday-api", level=~"WARNING|ERROR|CRITICAL"}',
                 "The lines behind the error panels above; a line's TraceID opens its trace."),
        ]),
    ]


def messages():
    return "message-processing", "Message Processing", "30s", [
        ("Message Flow", [
            ts("Messages Scheduled (rate)", [("sum(rate(birthday_scheduler_messages_scheduled_total[5m])) by (message_type)", "{{message_type}}")], "msg/s"),
            ts("Messages Sent (rate, by type)", [("sum(rate(birthday_scheduler_messages_sent_total[5m])) by (message_type)", "{{message_type}}")], "msg/s", stack=True),
            ts("Messages Failed (rate, by error type)", [("sum(rate(birthday_scheduler_messages_failed_total[5m])) by (error_type)", "{{error_type}}")],
               "msg/s", [(None, GREEN), (0.1, YELLOW), (1, RED)], links=[runbook("low-message-success-rate"), traces("birthday-worker")]),
            ts("Success Rate Trend", [(SUCCESS_RATE, "success %")], "percent", [(None, RED), (99.5, GREEN)],
               links=[runbook("low-message-success-rate")]),
        ]),
        ("Delivery Performance", [
            heatmap("Time to Delivery Distribution", [("sum by (le) (increase(birthday_scheduler_message_time_to_delivery_seconds_bucket[$__rate_interval]))", "{{le}}")], "s"),
            ts("Delivery Latency P95", [
                ("histogram_quantile(0.95,\n  sum(rate(birthday_scheduler_message_time_to_delivery_seconds_bucket[5m]))\n  by (message_type, le))", "time to delivery {{message_type}}"),
                ("histogram_quantile(0.95,\n  sum(rate(birthday_scheduler_message_delivery_duration_seconds_bucket[5m]))\n  by (message_type, le))", "vendor call {{message_type}}")],
               "s", [(None, GREEN), (60, YELLOW), (300, RED)], links=[traces("birthday-worker")]),
            bars("Retry Attempt Distribution", [("sum by (le) (increase(birthday_scheduler_message_retry_attempts_bucket[1h]))", "<= {{le}} attempts")]),
            ts("Idempotency Skips", [("sum by (message_type) (rate(birthday_scheduler_message_idempotency_skips_total[5m]))", "{{message_type}}")], "ops"),
        ]),
        ("Queue Health", [
            ts("Queue Depth Over Time", [(QUEUE_DEPTH, "{{queue_name}}")], "short", QUEUE_STEPS,
               links=[runbook("queue-depth-high"), runbook("queue-depth-critical")]),
            stat("Messages in DLQ", f'birthday_scheduler_queue_dlq_messages{{dlq_name="{DLQ}"}}', "short",
                 [(None, GREEN), (1, YELLOW), (10, RED)], links=[runbook("dlq-messages-accumulating")]),
            ts("Processing Rate vs Production Rate", [
                ('sum(rate(birthday_scheduler_queue_messages_consumed_total{status="ack"}[1m]))\n-\n'
                 "sum(rate(birthday_scheduler_queue_messages_published_total[1m]))", "consumed - published")],
               "msg/s", [(None, RED), (0, GREEN)], description="Below zero the queue is growing."),
            ts("Unacked Messages", [("birthday_scheduler_queue_messages_unacked", "{{queue_name}}")], "short"),
        ]),
        ("Worker Performance", [
            stat("Active Workers", [("sum by (worker_type) (birthday_scheduler_active_workers)", "{{worker_type}}")], "short",
                 [(None, RED), (1, GREEN)]),
            ts("Worker Utilization %", [("avg(birthday_scheduler_worker_utilization_percent)", "average")], "percent",
               [(None, GREEN), (80, YELLOW), (95, RED)]),
            ts("Task Completion Rate", [("sum by (status) (rate(birthday_scheduler_worker_tasks_completed_total[5m]))", "{{status}}")], "ops"),
            ts("Worker Errors", [("sum by (error_type) (rate(birthday_scheduler_worker_errors_total[5m]))", "{{error_type}}")], "ops",
               [(None, GREEN), (0.1, RED)], links=[runbook("frequent-worker-restarts"), traces("birthday-worker")]),
        ]),
        ("Logs", [
            logs("Delivery Failures (logs)", '{service="birthday-worker", level=~"WARNING|ERROR|CRITICAL"}',
                 "Failed, retried and dead-lettered deliveries, beside Messages Failed and Worker Errors."),
            logs("Scheduler Ticks (logs)", '{service="birthday-beat"}',
                 "Beat's lines: ticks, messages due, anything it could not schedule."),
        ]),
    ]


def database():
    active = 'birthday_scheduler_database_connections{state="active"}'
    return "database-performance", "Database Performance", "30s", [
        ("Connection Pool", [
            stat("Active Connections", [(active, "{{pool_name}}")], "short", [(None, GREEN), (15, YELLOW), (18, RED)]),
            stat("Idle Connections", [('birthday_scheduler_database_connections{state="idle"}', "{{pool_name}}")], "short", [(None, BLUE)]),
            gauge("Connection Pool Usage %", f"(sum({active}) /\n (sum({active}) +\n  sum(birthday_scheduler_database_connections{{state=\"idle\"}}))) * 100",
                  "percent", [(None, GREEN), (75, YELLOW), (90, RED)], min_=0, max_=100, links=[runbook("database-pool-exhausted")]),
            ts("Connection Wait Time", [("histogram_quantile(0.95,\n  sum(rate(birthday_scheduler_database_pool_wait_time_seconds_bucket[5m]))\n  by (le))", "p95 wait")],
               "s", [(None, GREEN), (0.1, YELLOW), (0.5, RED)]),
        ]),
        ("Query Performance", [
            ts("Query Duration P95 (by table)", [("histogram_quantile(0.95,\n  sum(rate(birthday_scheduler_database_query_duration_seconds_bucket[5m]))\n  by (table, le))", "{{table}}")],
               "s", [(None, GREEN), (0.1, YELLOW), (0.5, RED)], links=[traces("birthday-api")]),
            ts("Slow Queries (>100ms)", [("sum(rate(birthday_scheduler_database_slow_queries_total[5m])) by (table)", "{{table}}")], "qps",
               [(None, GREEN), (1, RED)], links=[runbook("slow-database-queries")]),
            ts("Queries per Second", [("sum by (query_type) (rate(birthday_scheduler_database_query_duration_seconds_count[5m]))", "{{query_type}}")], "qps", stack=True),
            ts("Rows Affected Distribution", [("histogram_quantile(0.95,\n  sum(rate(birthday_scheduler_database_rows_affected_bucket[5m]))\n  by (operation, le))", "p95 {{operation}}")], "short"),
        ]),
        ("Database Health", [
            ts("Transaction Duration P95", [("histogram_quantile(0.95,\n  sum(rate(birthday_scheduler_database_transaction_duration_seconds_bucket[5m]))\n  by (operation, le))", "{{operation}}")],
               "s", [(None, GREEN), (1, YELLOW), (2, RED)]),
            ts("Deadlock Count", [("rate(birthday_scheduler_database_deadlocks_total[5m])", "deadlocks/s"),
                                  ('sum(rate(pg_stat_database_deadlocks{datname=~"$datname"}[5m]))', "postgres deadlocks/s")],
               "short", [(None, GREEN), (0.001, RED)]),
            ts("Database Size Growth", [('pg_database_size_bytes{datname=~"$datname"}', "{{datname}}")], "bytes"),
            gauge("Cache Hit Rate", [('sum(rate(pg_stat_database_blks_hit{datname=~"$datname"}[5m]))\n/ (sum(rate(pg_stat_database_blks_hit{datname=~"$datname"}[5m]))'
                                     ' + sum(rate(pg_stat_database_blks_read{datname=~"$datname"}[5m]))) * 100', "")],
                  "percent", [(None, RED), (90, YELLOW), (99, GREEN)], min_=0, max_=100),
        ]),
        ("PostgreSQL Metrics (from exporter)", [
            ts("Connections by State", [('sum by (state) (pg_stat_activity_count{datname=~"$datname"})', "{{state}}")], "short", stack=True),
            ts("Locks by Type", [('sum by (mode) (pg_locks_count{datname=~"$datname"})', "{{mode}}")], "short"),
            ts("Replication Lag", [("max(pg_replication_lag_seconds)", "lag")], "s", [(None, GREEN), (10, YELLOW), (60, RED)],
               description="Empty on a primary without replicas."),
            ts("Vacuum/Autovacuum Activity", [('sum by (relname) (increase(pg_stat_user_tables_autovacuum_count{datname=~"$datname"}[1h]))', "autovacuum {{relname}}"),
                                              ('sum by (relname) (increase(pg_stat_user_tables_vacuum_count{datname=~"$datname"}[1h]))', "vacuum {{relname}}")], "short"),
        ]),
    ]


def infrastructure():
    j = '{job=~"$job"}'
    return "infrastructure-resources", "Infrastructure & Resources", "30s", [
        ("CPU Utilization", [
            ts("CPU Usage % (per pod)", [(f"rate(process_cpu_user_seconds_total{j}[5m]) * 100", "{{instance}}")], "percent",
               [(None, GREEN), (70, YELLOW), (90, RED)]),
            ts("CPU Throttling", [('sum by (pod) (rate(container_cpu_cfs_throttled_periods_total{namespace="birthday-scheduler"}[5m]))\n'
                                   '/ sum by (pod) (rate(container_cpu_cfs_periods_total{namespace="birthday-scheduler"}[5m])) * 100', "{{pod}}")],
               "percent", [(None, GREEN), (25, YELLOW), (50, RED)], description="From cAdvisor; Kubernetes only."),
            ts("Event Loop Lag", [(f"nodejs_eventloop_lag_seconds{j}", "{{instance}}")], "s", [(None, GREEN), (0.1, YELLOW), (0.5, RED)]),
        ]),
        ("Memory", [
            ts("Memory Usage (RSS)", [(f"process_resident_memory_bytes{j} / 1024 / 1024", "{{instance}}")], "decmbytes",
               [(None, GREEN), (1024, YELLOW), (1536, RED)], links=[runbook("high-memory-usage")]),
            ts("Heap Usage", [(f"process_heap_bytes{j} / 1024 / 1024", "{{instance}}")], "decmbytes"),
            ts("Garbage Collection Pauses", [(f"rate(nodejs_gc_duration_seconds_sum{j}[5m])", "{{instance}}")], "s"),
            ts("Memory Leak Detection (trend)", [(f"predict_linear(process_resident_memory_bytes{j}[1h], 4 * 3600) / 1024 / 1024", "{{instance}} in 4h")],
               "decmbytes", [(None, GREEN), (1536, RED)], description="RSS extrapolated four hours ahead from the last hour's trend."),
        ]),
        ("Saturation", [
            gauge("Queue Depth Saturation", f"{QUEUE_DEPTH} /\n5000 * 100", "percent", [(None, GREEN), (20, YELLOW), (100, RED)],
                  description="Depth against the 5,000-message critical threshold.", links=[runbook("queue-depth-critical")]),
            gauge("Connection Pool Saturation", 'sum(birthday_scheduler_database_connections{state="active"}) /\n20 * 100', "percent",
                  [(None, GREEN), (75, YELLOW), (90, RED)], description="Active connections against a pool of 20.",
                  links=[runbook("database-pool-exhausted")]),
            ts("Disk I/O Wait Time", [('avg by (instance) (rate(node_cpu_seconds_total{mode="iowait"}[5m])) * 100', "{{instance}}")], "percent",
               [(None, GREEN), (10, YELLOW), (25, RED)]),
            ts("Network Bandwidth Usage", [('sum by (instance) (rate(node_network_receive_bytes_total{device!="lo"}[5m]))', "in {{instance}}"),
                                           ('sum by (instance) (rate(node_network_transmit_bytes_total{device!="lo"}[5m]))', "out {{instance}}")], "Bps"),
        ]),
        ("Errors", [
            ts("Process Restarts", [(f"changes(process_start_time_seconds{j}[1h])", "{{instance}}")], "short", [(None, GREEN), (1, YELLOW), (3, RED)],
               links=[runbook("frequent-worker-restarts")]),
            ts("OOM Kills", [("increase(node_vmstat_oom_kill[1h])", "{{instance}}")], "short", [(None, GREEN), (1, RED)]),
            ts("File Descriptor Exhaustion", [(f"process_open_fds{j} / process_max_fds{j} * 100", "{{instance}}")], "percent",
               [(None, GREEN), (70, YELLOW), (90, RED)]),
            ts("Thread Pool Exhaustion", [(f"birthday_scheduler_thread_count{j}", "{{instance}}")], "short"),
        ]),
    ]


def external():
    rq = f'queue="{QUEUE}"'
    return "external-dependencies", "External Dependencies", "30s", [
        ("External API Performance", [
            ts("Response Time by Vendor", [("histogram_quantile(0.95,\n  sum(rate(birthday_scheduler_external_api_response_time_seconds_bucket[5m]))\n  by (vendor, le))", "p95 {{vendor}}")],
               "s", [(None, GREEN), (2, YELLOW), (5, RED)], links=[runbook("external-api-slow-response"), traces("birthday-worker")]),
            ts("Error Rate by Vendor", [("sum(rate(birthday_scheduler_external_api_errors_total[5m])) by (vendor) /\n"
                                         "sum(rate(birthday_scheduler_external_api_requests_total[5m])) by (vendor) * 100", "{{vendor}}")],
               "percent", [(None, GREEN), (5, YELLOW), (20, RED)]),
            ts("Timeout Count", [("sum by (vendor) (increase(birthday_scheduler_external_api_timeouts_total[5m]))", "{{vendor}}")], "short",
               [(None, GREEN), (1, YELLOW), (10, RED)]),
            ts("Request Rate", [("sum by (vendor, status) (rate(birthday_scheduler_external_api_requests_total[5m]))", "{{vendor}} {{status}}")], "reqps", stack=True),
        ]),
        ("Circuit Breaker Status", [
            stat("Circuit State", [("birthday_scheduler_external_api_circuit_breaker_state", "{{vendor}}")], "none",
                 [(None, GREEN), (1, RED)], mappings=BREAKER, links=[runbook("circuit-breaker-open")]),
            gauge("Failure Threshold Proximity", [("sum by (vendor) (rate(birthday_scheduler_external_api_errors_total[1m]))\n"
                                                   "/ sum by (vendor) (rate(birthday_scheduler_external_api_requests_total[1m])) * 100", "{{vendor}}")],
                  "percent", [(None, GREEN), (25, YELLOW), (50, RED)], min_=0, max_=100,
                  description="Share of vendor calls failing in the last minute; the breaker opens on sustained failure."),
            ts("Circuit Breaker Events", [("changes(birthday_scheduler_external_api_circuit_breaker_state[1h])", "{{vendor}}")], "short",
               [(None, GREEN), (1, YELLOW)]),
        ]),
        ("RabbitMQ Health", [
            ts("Queue Depth Trend", [(f"rabbitmq_queue_messages{{{rq}}}", "{{queue}}"),
                                     (f'rabbitmq_queue_messages{{queue="{DLQ}"}}', "{{queue}}")], "short", QUEUE_STEPS),
            stat("Consumer Count", f"rabbitmq_queue_consumers{{{rq}}}", "short", [(None, RED), (1, GREEN)]),
            ts("Message Publish/Consume Rate", [(f"sum(rate(rabbitmq_queue_messages_published_total{{{rq}}}[1m])) -\n"
                                                 f"sum(rate(rabbitmq_channel_messages_delivered_ack_total{{{rq}}}[1m]))", "published - consumed")],
               "msg/s", [(None, GREEN), (1, YELLOW)],
               # RabbitMQ counts no per-queue consumption; Celery consumes with acknowledgements, which
               # the per-object channel metrics count per queue.
               description="Above zero the queue is growing."),
            stat("Connection Count", "sum(rabbitmq_connections)", "short", [(None, RED), (1, GREEN)]),
        ]),
        ("Redis Health", [
            gauge("Cache Hit Rate", "sum(rate(redis_keyspace_hits_total[5m]))\n/ (sum(rate(redis_keyspace_hits_total[5m])) + sum(rate(redis_keyspace_misses_total[5m]))) * 100",
                  "percent", [(None, RED), (80, YELLOW), (95, GREEN)], min_=0, max_=100),
            ts("Eviction Rate", "sum(rate(redis_evicted_keys_total[5m]))", "ops", [(None, GREEN), (1, YELLOW)]),
            ts("Memory Usage", [("redis_memory_used_bytes", "used"), ("redis_memory_max_bytes", "max")], "bytes"),
            ts("Commands per Second", "sum(rate(redis_commands_processed_total[5m]))", "ops"),
        ]),
        # A project addition beyond the plan: integrators' delivery webhooks.
        ("Delivery Webhooks", [
            ts("Webhook Attempts by Outcome", [("sum by (outcome) (rate(birthday_scheduler_webhook_delivery_attempts_total[5m]))",
                                                "{{outcome}}")], "reqps", stack=True),
            ts("Webhook Failure Ratio", [("(sum(rate(birthday_scheduler_webhook_delivery_attempts_total{outcome!=\"success\"}[10m])) or vector(0))\n"
                                          "/ sum(rate(birthday_scheduler_webhook_delivery_attempts_total[10m])) * 100", "failing")],
               "percent", [(None, GREEN), (20, YELLOW), (50, RED)], links=[runbook("webhook-deliveries-failing")]),
            ts("Webhook Latency", [("histogram_quantile(0.95,\n  sum(rate(birthday_scheduler_webhook_delivery_duration_seconds_bucket[5m])) by (le))", "p95"),
                                   ("histogram_quantile(0.50,\n  sum(rate(birthday_scheduler_webhook_delivery_duration_seconds_bucket[5m])) by (le))", "p50")],
               "s", [(None, GREEN), (2, YELLOW), (5, RED)]),
            stat("Webhook Events Dead (24h)", "sum(increase(birthday_scheduler_webhook_events_dead_total[24h]))", "short",
                 [(None, GREEN), (1, RED)], description="Events given up after WEBHOOK_MAX_ATTEMPTS; see the admin's webhook events."),
        ]),
    ]


# (SLO, recorded SLI prefix, error budget, objective as text, runbook of its page)
SLOS = [
    ("Availability", "availability", 0.001, "99.9% of API requests succeed", "slo-availability-burn-rate-page"),
    ("Latency p95", "latency_p95", 0.05, "95% of API requests within 500 ms", "slo-latency-p95-burn-rate-page"),
    ("Latency p99", "latency_p99", 0.01, "99% of API requests within 1 s", "slo-latency-p99-burn-rate-page"),
    ("Delivery success", "delivery", 0.005, "99.5% of delivery attempts succeed", "slo-delivery-success-burn-rate-page"),
    ("Queue health", "queue", 0.01, "deliveries queue under 1,000 messages 99% of the time", "slo-queue-health-burn-rate-page"),
]


def slo():
    budget_row = [gauge(f"{name}: Budget Left (30d)", f"birthday_scheduler:slo_{key}_error_budget_remaining:ratio30d * 100",
                        "percent", [(None, RED), (25, YELLOW), (50, GREEN)], min_=0, max_=100,
                        description=f"Objective: {text}. Share of the 30-day error budget ({budget:g} of events) not yet spent.")
                  for name, key, budget, text, _ in SLOS]
    burn_row = [ts(f"{name}: Burn Rate", [(f"birthday_scheduler:slo_{key}_errors:ratio_rate{w} / {budget:g}", w)
                                          for w in ("5m", "1h", "6h", "3d")],
                   "none", [(None, GREEN), (1, YELLOW), (6, RED)],
                   description="Error ratio over the window as a multiple of the budget: 1 spends it in exactly 30 days; "
                               "the page fires at 14.4 (1h and 5m) or 6 (6h and 30m), the ticket at 3 (1d and 2h) or 1 (3d and 6h).",
                   links=[runbook(page)])
                for name, key, budget, _, page in SLOS]
    return "slo-overview", "SLOs and Error Budgets", "1m", [
        ("Error Budget Remaining (30 days)", budget_row),
        ("Burn Rate (multiple of the budget)", burn_row),
        ("Service-Level Indicators", [
            ts("API Error Ratio (client requests)", [("birthday_scheduler:slo_availability_errors:ratio_rate5m", "5xx share, 5m")],
               "percentunit", [(None, GREEN), (0.001, RED)],
               description="Scrapes and probes (/metrics, /healthz, /readyz) are left out of the SLIs."),
            ts("API Requests Slower than 0.5 s / 1 s", [("birthday_scheduler:slo_latency_p95_errors:ratio_rate5m", "> 0.5 s"),
                                                      ("birthday_scheduler:slo_latency_p99_errors:ratio_rate5m", "> 1 s")],
               "percentunit"),
            ts("Failed Delivery Attempts", [("birthday_scheduler:slo_delivery_errors:ratio_rate5m", "failed share, 5m")], "percentunit",
               [(None, GREEN), (0.005, RED)]),
            logs("API and Worker Errors (logs)", '{service=~"birthday-api|birthday-worker", level=~"ERROR|CRITICAL"}',
                 "What spends the budget: the error lines of the API and the workers."),
        ]),
    ]


def security():
    return "security", "Security", "30s", [
        ("Authentication and Authorization", [
            ts("Authentication Failures", [("sum by (auth_type) (rate(birthday_scheduler_authentication_failures_total[5m]))", "{{auth_type}}")],
               "ops", [(None, GREEN), (0.1, YELLOW), (1, RED)], description="Bad or missing tokens and admin logins; a sustained rise is guessing."),
            ts("Authorization Denials", [("sum by (resource, action) (rate(birthday_scheduler_authorization_denials_total[5m]))", "{{resource}} {{action}}")],
               "ops", [(None, GREEN), (0.1, YELLOW)]),
            ts("401 and 403 Responses", [('sum by (status) (rate(birthday_scheduler_api_requests_total{status=~"401|403"}[5m]))', "{{status}}")],
               "reqps"),
            bars("API Key Usage (top 10, 1h)", [("topk(10, sum by (key_id) (increase(birthday_scheduler_api_key_usage_total[1h])))", "{{key_id}}")]),
        ]),
        ("Abuse", [
            ts("Rate Limit Violations by Path", [("sum by (path) (rate(birthday_scheduler_rate_limit_exceeded_total[5m]))", "{{path}}")],
               "reqps", [(None, GREEN), (1, YELLOW)]),
            bars("Rate-Limited Client Networks (top 10, 1h)",
                 [("topk(10, sum by (client_ip) (increase(birthday_scheduler_rate_limit_exceeded_total[1h])))", "{{client_ip}}")],
                 description="Client addresses as networks (/24, /48); past the first distinct ones a process sees, 'other'."),
            ts("Suspicious Activity", [("sum by (activity_type) (rate(birthday_scheduler_suspicious_activity_total[5m]))", "{{activity_type}}")],
               "ops", [(None, GREEN), (0.01, RED)]),
            stat("CSRF Violations (24h)", "sum(increase(birthday_scheduler_csrf_violations_total[24h]))", "short",
                 [(None, GREEN), (1, RED)], decimals=0),
        ]),
        ("Logs", [
            logs("Security Events (logs)",
                 '{service="birthday-api", level=~"WARNING|ERROR|CRITICAL"} |~ "(?i)auth|forbidden|denied|throttl|csrf|suspicious"',
                 "API lines about authentication, permissions, throttling and CSRF, beside the counters above."),
        ]),
    ]


def cost():
    return "cost", "Cost", "5m", [
        ("Spend", [
            stat("Projected Monthly Cost", "sum(birthday_scheduler_infrastructure_cost_usd_hourly) * 730\n"
                 "+ (sum(rate(birthday_scheduler_api_call_cost_usd_total[1d])) or vector(0)) * 86400 * 30",
                 "currencyUSD", [(None, BLUE)], decimals=0,
                 description="Infrastructure at its current hourly cost for 730 hours, plus vendor calls at the last day's rate for 30 days."),
            stat("Infrastructure per Hour", "sum(birthday_scheduler_infrastructure_cost_usd_hourly)", "currencyUSD", [(None, BLUE)], decimals=2),
            stat("Vendor Calls (24h)", "sum(increase(birthday_scheduler_api_call_cost_usd_total[24h]))", "currencyUSD", [(None, BLUE)], decimals=2),
            stat("Cost per Active User", "birthday_scheduler_cost_per_user_usd", "currencyUSD", [(None, BLUE)], decimals=4,
                 description="Vendor calls and infrastructure over the last 30 days, per user with an upcoming occasion."),
        ]),
        ("Breakdown", [
            pie("Infrastructure by Resource", [("sum by (resource_type) (birthday_scheduler_infrastructure_cost_usd_hourly)", "{{resource_type}}")],
                "currencyUSD"),
            ts("Vendor Call Cost by Vendor and Type", [("sum by (vendor, message_type) (rate(birthday_scheduler_api_call_cost_usd_total[1h])) * 3600",
                                                        "{{vendor}} {{message_type}}")], "currencyUSD", stack=True,
               description="US dollars per hour at the last hour's rate."),
            ts("Message Cost by Type", [("sum by (message_type) (rate(birthday_scheduler_messages_cost_usd_total[1h])) * 3600", "{{message_type}}")],
               "currencyUSD", stack=True, description="US dollars per hour of messages sent."),
            ts("Cost per Message Sent", [("sum(increase(birthday_scheduler_messages_cost_usd_total[1h]))\n"
                                          "/ sum(increase(birthday_scheduler_messages_sent_total[1h]))", "per message")], "currencyUSD",
               description="Vendor cost of the last hour over the messages it sent."),
        ]),
    ]


DASHBOARDS = [executive, api, messages, database, infrastructure, external, slo, security, cost]


def variables(uid):
    v = [
        {"type": "constant", "name": "runbook_base", "hide": 2, "label": "Runbooks",
         "query": "https://git.example.com/birthday/-/blob/main/deploy/runbooks"},
        {"type": "constant", "name": "jaeger_url", "hide": 2, "label": "Jaeger", "query": "http://localhost:16686"},
    ]
    if uid == "database-performance":
        v.append({"type": "query", "name": "datname", "label": "Database", "datasource": PROM,
                  "query": {"query": "label_values(pg_database_size_bytes, datname)", "refId": "datname"},
                  "definition": "label_values(pg_database_size_bytes, datname)", "includeAll": True,
                  "multi": True, "allValue": ".*", "refresh": 2, "sort": 1,
                  "current": {"selected": True, "text": ["All"], "value": ["$__all"]}})
    if uid == "infrastructure-resources":
        v.append({"type": "query", "name": "job", "label": "Job", "datasource": PROM,
                  "query": {"query": "label_values(process_resident_memory_bytes, job)", "refId": "job"},
                  "definition": "label_values(process_resident_memory_bytes, job)", "includeAll": True,
                  "multi": True, "allValue": ".*", "refresh": 2, "sort": 1,
                  "current": {"selected": True, "text": ["All"], "value": ["$__all"]}})
    return {"list": v}


def build(factory):
    uid, title, refresh, rows = factory()
    panels, y, pid = [], 0, 1
    for row_title, row_panels in rows:
        panels.append({"type": "row", "title": row_title, "collapsed": False, "id": pid, "panels": [],
                       "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}})
        pid += 1
        y += 1
        width = 24 // len(row_panels)
        for i, p in enumerate(row_panels):
            p = dict(p, id=pid, gridPos={"h": 8, "w": width, "x": i * width, "y": y})
            panels.append(p)
            pid += 1
        y += 8
    return {
        "uid": uid,
        "title": title,
        "tags": ["birthday"],
        "timezone": "utc",
        "refresh": refresh,
        "schemaVersion": 39,
        "version": 1,
        "editable": False,
        "graphTooltip": 1,
        "time": {"from": "now-6h", "to": "now"},
        "templating": variables(uid),
        "annotations": {"list": [{
            "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"}, "enable": True, "hide": True,
            "iconColor": "rgba(0, 211, 255, 1)", "name": "Annotations & Alerts", "type": "dashboard"}]},
        "links": [
            {"title": "Birthday dashboards", "type": "dashboards", "tags": ["birthday"], "asDropdown": True, "includeVars": False,
             "keepTime": True},
            {"title": "Runbooks", "type": "link", "url": RUNBOOKS, "targetBlank": True, "icon": "doc"},
            {"title": "Traces (Jaeger)", "type": "link", "url": "${jaeger_url}/search", "targetBlank": True, "icon": "external link"},
        ],
        "panels": panels,
    }


def render():
    """{file name: JSON text} for every dashboard."""
    out = {}
    for factory in DASHBOARDS:
        d = build(factory)
        out[d["uid"] + ".json"] = json.dumps(d, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    return out


def main(argv):
    files = render()
    if "--check" in argv:
        stale = [n for n, text in files.items() if not (OUT / n).exists() or (OUT / n).read_text() != text]
        extra = sorted(p.name for p in OUT.glob("*.json") if p.name not in files)
        for n in stale + extra:
            print(f"stale: {n}", file=sys.stderr)
        return 1 if stale or extra else 0
    OUT.mkdir(exist_ok=True)
    for n, text in files.items():
        (OUT / n).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
