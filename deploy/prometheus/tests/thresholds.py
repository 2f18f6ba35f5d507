"""Writes the promtool tests that pin every alert's threshold and `for`.

    python deploy/prometheus/tests/thresholds.py            # rewrite thresholds*.test.yml
    python deploy/prometheus/tests/thresholds.py --check    # exit 1 if the committed files are stale

For each alert: a series just over its threshold (within 2.5% of it, or the nearest integer for
integer-valued series) is silent one evaluation before the `for` has run and firing at the
evaluation it has; a series just under it is silent throughout. The values below are written out
by hand from the plan's thresholds, not read from the rule files, so a rule that changes its
threshold or `for` fails these tests (tests/deploy/mutate_alerts.py checks that it does).
"""

import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
GiB = 1024 ** 3


def firing(alert, expr_time, count=1):
    return {"expr": f'count(ALERTS{{alertname="{alert}",alertstate="firing"}})', "eval_time": expr_time,
            "exp_samples": [{"labels": "{}", "value": count}]}


def silent(alert, expr_time):
    return {"expr": f'count(ALERTS{{alertname="{alert}",alertstate="firing"}})', "eval_time": expr_time,
            "exp_samples": []}


def over(alert, what, series, fires_at, step=1, count=1):
    """Just over the threshold: silent one evaluation before `fires_at` (minutes), firing at it."""
    return {"name": f"{alert}: {what} fires at {fires_at}m, not at {fires_at - step}m", "interval": "1m",
            "input_series": [{"series": s, "values": v} for s, v in series.items()],
            "promql_expr_test": [silent(alert, f"{fires_at - step}m"), firing(alert, f"{fires_at}m", count)]}


def under(alert, what, series, until):
    """Just under the threshold: silent at every whole 5 minutes up to `until`."""
    return {"name": f"{alert}: {what} stays silent", "interval": "1m",
            "input_series": [{"series": s, "values": v} for s, v in series.items()],
            "promql_expr_test": [silent(alert, f"{t}m") for t in range(5, until + 1, 5)]}


def counter(per_minute, minutes=40):
    return f"0+{per_minute:g}x{minutes}"


def gauge(value, minutes=40):
    return f"{value:g}x{minutes}"


API = 'birthday_scheduler_api_requests_total{{method="POST",path="{path}",status="{status}"}}'
PROBE = 'birthday_scheduler_api_requests_total{method="GET",path="metrics",status="200"}'


def api_errors(errors, ok):
    # Scrapes beside the client requests: the alert must read the client share only.
    return {API.format(path="user", status="500"): counter(errors), API.format(path="user", status="201"): counter(ok),
            PROBE: counter(600)}


def histogram(name, labels, cumulative):
    """{le: cumulative count per minute} as counter series of a histogram."""
    out = {}
    for le, count in cumulative.items():
        out[f'{name}_bucket{{{labels},le="{le}"}}'] = counter(count)
    out[f"{name}_count{{{labels}}}"] = counter(cumulative["+Inf"])
    return out


def latency(cumulative):
    return histogram("birthday_scheduler_api_response_time_seconds", 'method="POST",path="user",status="201"', cumulative)


def vendor_latency(cumulative):
    return histogram("birthday_scheduler_external_api_response_time_seconds", 'vendor="email-service",status="200"',
                     cumulative)


def pool(active, size, waiting):
    labels = 'instance="api-1:8000",pool_name="default"'
    return {f'birthday_scheduler_database_connections{{{labels},state="active"}}': gauge(active),
            f'birthday_scheduler_database_connections{{{labels},state="idle"}}': gauge(size - active),
            f"birthday_scheduler_database_pool_size{{{labels}}}": gauge(size),
            f"birthday_scheduler_database_pool_requests_waiting{{{labels}}}": gauge(waiting)}


def storage(blocks, limit):
    return {'prometheus_tsdb_storage_blocks_bytes{instance="prometheus:9090"}': gauge(blocks),
            'prometheus_tsdb_retention_limit_bytes{instance="prometheus:9090"}': gauge(limit)}


def webhook_attempts(failed, succeeded):
    series = 'birthday_scheduler_webhook_delivery_attempts_total{{event_type="message.sent",outcome="{}"}}'
    return {series.format("timeout"): counter(failed), series.format("success"): counter(succeeded)}


def alert_cases():
    """Alerts of alert-rules.yml and meta-rules.yml, evaluated every minute.
    A ratio of rates over counters starting at 0 has its value from the second sample (1m) on; a
    rate alone reaches its value once the window is full (5m for [5m])."""
    q = 'birthday_scheduler_queue_depth{queue_name="deliveries"}'
    dlq = 'birthday_scheduler_queue_dlq_messages{dlq_name="deliveries.dead"}'
    sent = 'birthday_scheduler_messages_sent_total{message_type="birthday",status_code="200"}'
    failed = 'birthday_scheduler_messages_failed_total{message_type="birthday",error_type="vendor_5xx",retry_count="1"}'
    return [
        # ServiceDown: up == 0 for 1m.
        over("ServiceDown", "API target down", {'up{job="birthday-scheduler-api",instance="api-1:8000"}': gauge(0)}, 1),
        under("ServiceDown", "API target up", {'up{job="birthday-scheduler-api",instance="api-1:8000"}': gauge(1)}, 20),
        # HighErrorRate: > 10% for 5m.
        over("HighErrorRate", "10.5% of client requests failing", api_errors(21, 179), 6),
        under("HighErrorRate", "9.5% of client requests failing", api_errors(19, 181), 30),
        # ElevatedErrorRate: > 5% for 5m.
        over("ElevatedErrorRate", "5.1% of client requests failing", api_errors(51, 949), 6),
        under("ElevatedErrorRate", "4.9% of client requests failing", api_errors(49, 951), 30),
        # LowMessageSuccessRate: < 99.5% for 10m.
        over("LowMessageSuccessRate", "99.4% of deliveries succeeding", {sent: counter(994), failed: counter(6)}, 11),
        under("LowMessageSuccessRate", "99.6% of deliveries succeeding", {sent: counter(996), failed: counter(4)}, 35),
        # QueueDepthCritical: > 5000 for 5m.
        over("QueueDepthCritical", "5100 messages queued", {q: gauge(5100)}, 5),
        under("QueueDepthCritical", "4900 messages queued", {q: gauge(4900)}, 30),
        # QueueDepthHigh: > 1000 for 10m.
        over("QueueDepthHigh", "1020 messages queued", {q: gauge(1020)}, 10),
        under("QueueDepthHigh", "980 messages queued", {q: gauge(980)}, 30),
        # WebhookDeliveriesFailing: > 50% of webhook attempts failing over 10m, for 15m.
        over("WebhookDeliveriesFailing", "51% of webhook attempts failing", webhook_attempts(51, 49), 16),
        under("WebhookDeliveriesFailing", "49% of webhook attempts failing", webhook_attempts(49, 51), 35),
        # CircuitBreakerOpen: == 1 for 2m (0 closed, 1 open).
        over("CircuitBreakerOpen", "breaker open", {'birthday_scheduler_circuit_breaker_open{service_name="email-vendor"}': gauge(1)}, 2),
        under("CircuitBreakerOpen", "breaker closed", {'birthday_scheduler_circuit_breaker_open{service_name="email-vendor"}': gauge(0)}, 20),
        # DatabasePoolExhausted: in use > 90% of the pool's size, or any request waiting, for 3m.
        over("DatabasePoolExhausted", "91 of 100 connections in use", pool(91, 100, 0), 3),
        under("DatabasePoolExhausted", "89 of 100 connections in use, none waiting", pool(89, 100, 0), 20),
        over("DatabasePoolExhausted", "1 request waiting with the pool mostly idle", pool(10, 100, 1), 3),
        # SchedulerNotExecuting: last success > 7200 s ago for 5m. Last success at 0: 7200 s at
        # 120m is not over it, 7260 s at 121m is, so it fires at 126m.
        over("SchedulerNotExecuting", "no success for just over 2 h",
             {'birthday_scheduler_cron_job_last_success_timestamp{job_name="scheduler_tick"}': gauge(0, 200)}, 126),
        # HighResponseTime: p95 > 0.5 s for 5m. 1000 requests a minute; p95 is interpolated in
        # the bucket that holds the 950th: (0.5, 1] with 949 below 0.5 s gives 0.5098 s, (0.25,
        # 0.5] with 926 below 0.25 s and 951 below 0.5 s gives 0.49 s.
        over("HighResponseTime", "p95 0.51 s", latency({"0.25": 900, "0.5": 949, "1.0": 1000, "+Inf": 1000}), 6),
        under("HighResponseTime", "p95 0.49 s", latency({"0.25": 926, "0.5": 951, "1.0": 1000, "+Inf": 1000}), 30),
        # ExternalAPISlowResponse: vendor p95 > 5 s for 10m; the same interpolation around 5 s.
        over("ExternalAPISlowResponse", "vendor p95 5.1 s", vendor_latency({"2.0": 900, "5.0": 949, "10.0": 1000, "+Inf": 1000}), 11),
        under("ExternalAPISlowResponse", "vendor p95 4.9 s",
              vendor_latency({"2.0": 900, "5.0": 952, "10.0": 1000, "+Inf": 1000}), 30),
        # HighMemoryUsage: RSS > 1.5 GiB for 5m.
        over("HighMemoryUsage", "RSS 1.53 GiB", {'process_resident_memory_bytes{job="birthday-scheduler-api",instance="api-1:8000"}': gauge(round(1.53 * GiB))}, 5),
        under("HighMemoryUsage", "RSS 1.47 GiB", {'process_resident_memory_bytes{job="birthday-scheduler-api",instance="api-1:8000"}': gauge(round(1.47 * GiB))}, 30),
        # DLQMessagesAccumulating: > 10 for 15m.
        over("DLQMessagesAccumulating", "11 dead letters", {dlq: gauge(11)}, 15),
        under("DLQMessagesAccumulating", "10 dead letters", {dlq: gauge(10)}, 35),
        # FrequentWorkerRestarts: any restart in 5m, for 1m. One restart at 3m.
        over("FrequentWorkerRestarts", "one restart", {'birthday_scheduler_worker_restarts_total{worker_id="worker-1"}': "0 0 0 1x20"}, 4),
        under("FrequentWorkerRestarts", "no restart", {'birthday_scheduler_worker_restarts_total{worker_id="worker-1"}': gauge(0)}, 20),
        # SlowDatabaseQueries: > 1 slow query/s for 10m.
        over("SlowDatabaseQueries", "1.02 slow queries/s", {'birthday_scheduler_database_slow_queries_total{table="users_user"}': counter(61.2)}, 15),
        under("SlowDatabaseQueries", "0.98 slow queries/s", {'birthday_scheduler_database_slow_queries_total{table="users_user"}': counter(58.8)}, 30),
        # DeliveriesBehindSchedule: any message overdue for 10m.
        over("DeliveriesBehindSchedule", "one message overdue", {'birthday_scheduler_messages_overdue{message_type="birthday"}': gauge(1)}, 10),
        under("DeliveriesBehindSchedule", "nothing overdue", {'birthday_scheduler_messages_overdue{message_type="birthday"}': gauge(0)}, 30),
        # ScrapeTargetDown: a non-API target down (up == 0) for 5m.
        over("ScrapeTargetDown", "exporter down", {'up{job="celery-exporter",instance="celery-exporter:9808"}': gauge(0)}, 5),
        under("ScrapeTargetDown", "exporter up", {'up{job="celery-exporter",instance="celery-exporter:9808"}': gauge(1)}, 20),
        # PrometheusStorageNearlyFull: blocks > 85% of a set size limit for 15m.
        over("PrometheusStorageNearlyFull", "86% of the limit", storage(86, 100), 15),
        under("PrometheusStorageNearlyFull", "84% of the limit", storage(84, 100), 30),
        over("PrometheusStorageNearlyFull", "the smallest limit, 1 byte, full", storage(1, 1), 15),
        under("PrometheusStorageNearlyFull", "no limit set", storage(10, 0), 30),
        # AlertmanagerNotificationsFailing: any failed notification in 5m, for 5m.
        over("AlertmanagerNotificationsFailing", "one failure a minute",
             {'alertmanager_notifications_failed_total{integration="slack",instance="alertmanager:9093"}': counter(1)}, 6),
        under("AlertmanagerNotificationsFailing", "no failure",
              {'alertmanager_notifications_failed_total{integration="slack",instance="alertmanager:9093"}': counter(0)}, 20),
        # GrafanaApiErrors: any 5xx in 5m, for 10m.
        over("GrafanaApiErrors", "one 5xx a minute", {'grafana_api_response_status_total{code="500",instance="grafana:3000"}': counter(1)}, 11),
        under("GrafanaApiErrors", "no 5xx", {'grafana_api_response_status_total{code="500",instance="grafana:3000"}': counter(0)}, 20),
    ]


def cumulative(segments):
    """promtool values of a counter from [(minutes, increment per minute)], one sample a minute."""
    parts, value = [], 0.0
    for i, (minutes, inc) in enumerate(segments):
        start = value if i == 0 else value + inc
        count = minutes if i == 0 else minutes - 1
        parts.append(f"{start:.12g}+{inc:.12g}x{count}")
        value = start + inc * count
    return " ".join(parts)


# SLO: (error budget, {series: "good", "bad" or "total"}).
_LAT = 'birthday_scheduler_api_response_time_seconds{part}{{method="POST",path="user",status="201"{le}}}'
SLOS = {
    "Availability": (0.001, {API.format(path="user", status="201"): "good", API.format(path="user", status="500"): "bad"}),
    # Requests under 0.5 s and under 1 s are the good ones of the p95 and p99 objectives.
    "LatencyP95": (0.05, {_LAT.format(part="_bucket", le=',le="0.5"'): "good", _LAT.format(part="_bucket", le=',le="1.0"'): "good",
                          _LAT.format(part="_count", le=""): "total"}),
    "LatencyP99": (0.01, {_LAT.format(part="_bucket", le=',le="0.5"'): "good", _LAT.format(part="_bucket", le=',le="1.0"'): "good",
                          _LAT.format(part="_count", le=""): "total"}),
    "DeliverySuccess": (0.005, {
        'birthday_scheduler_messages_sent_total{message_type="birthday",status_code="200"}': "good",
        'birthday_scheduler_messages_failed_total{message_type="birthday",error_type="vendor_5xx",retry_count="1"}': "bad"}),
}


def slo_series(slo, segments, every=1):
    """Counters for [(minutes, requests per minute, bad share)] of an SLO, a sample every `every`
    minutes (the test group's interval)."""
    share = {"good": lambda v, s: v * (1 - s), "bad": lambda v, s: v * s, "total": lambda v, s: v}
    return {series: cumulative([(m // every, share[part](v, s) * every) for m, v, s in segments])
            for series, part in SLOS[slo][1].items()}


def slo_cases():
    """Burn-rate alerts, per threshold of a window pair (`for` 2m page, 15m ticket). Every
    window's ratio equals a constant error share, so a constant share pins the pair whose
    factor is the lower one (6x page, 1x ticket); the higher pair (14.4x, 3x) needs the other
    pair kept false by a long window that still holds healthy traffic."""
    out = []
    for slo, (budget, _) in SLOS.items():
        page, ticket = f"SLO{slo}BurnRatePage", f"SLO{slo}BurnRateTicket"
        b = budget
        # 6h/30m at 6x: a constant 6.1x burn pages at 3m; 5.9x never.
        out.append(over(page, "a constant 6.1x burn", slo_series(slo, [(40, 1000, 6.1 * b)]), 3))
        out.append(under(page, "a constant 5.9x burn", slo_series(slo, [(40, 1000, 5.9 * b)]), 30))
        # 1h/5m at 14.4x: 30 minutes of healthy traffic at 4,000 requests a minute, then 14.7x at
        # 1,000 a minute. The 1h window is all burn at 90m (14.7x; 89m: 14.7 * 59 / (59 + 4)
        # < 14.4), while the healthy traffic keeps 6h under 6x (14.7 * 60 / 180 = 4.9): it pages
        # at 92m. At 14.1x the 1h ratio never passes 14.4x, and 6h passes 6x only at 119m.
        healthy = [(30, 4000, 0)]
        out.append(over(page, "14.7x after 30 healthy minutes at 4x the traffic",
                        slo_series(slo, healthy + [(90, 1000, 14.7 * b)]), 92))
        out.append(dict(under(page, "14.1x after 30 healthy minutes at 4x the traffic",
                              slo_series(slo, healthy + [(90, 1000, 14.1 * b)]), 115),
                        promql_expr_test=[silent(page, f"{t}m") for t in range(80, 116)]))
        # 3d/6h at 1x: a constant 1.02x burn opens a ticket at 16m; 0.98x never.
        out.append(over(ticket, "a constant 1.02x burn", slo_series(slo, [(40, 1000, 1.02 * b)]), 16))
        out.append(under(ticket, "a constant 0.98x burn", slo_series(slo, [(60, 1000, 0.98 * b)]), 60))
        # 1d/2h at 3x: a 10-minute outage (100% errors, 100,000 requests a minute), 6 healthy
        # hours at double traffic, then 3.06x; a sample every 5 minutes (the windows are 2h and
        # longer). The outage keeps the 1d ratio far above 3x; once it has left the 6h window
        # (370m) the 3d/6h pair is false (6h: healthy traffic dilutes the burn below 1x), so the
        # ticket opened by the outage resolves. The 2h ratio passes 3x once the window holds burn
        # samples only, from 486m (its first sample is then 370m's, the last healthy one; at
        # 485m the 365m-370m increment still counts: 3.06 * 23 / (23 + 2) < 3), and the ticket
        # opens again 15 minutes later, at 501m.
        # At 2.94x the 2h ratio never passes 3x.
        outage = [(10, 100000, 1.0), (360, 2000, 0)]
        out.append(dict(over(ticket, "3.06x for 2 hours after an outage and 6 healthy hours",
                             slo_series(slo, outage + [(160, 1000, 3.06 * b)], every=5), 501), interval="5m"))
        out.append(dict(under(ticket, "2.94x for 2.5 hours after an outage and 6 healthy hours",
                              slo_series(slo, outage + [(160, 1000, 2.94 * b)], every=5), 530),
                        interval="5m", promql_expr_test=[silent(ticket, f"{t}m") for t in range(390, 531, 5)]))
    return out


# The queue-health SLI is time-based: the share of the recording rule's evaluations (every 30 s,
# as deployed) in which the deliveries queue held more than 1,000 messages. Its tests run at that
# step, so a window's ratio is breaches / samples with Prometheus's closed windows: 11 samples in
# 5m, 61 in 30m, 121 in 1h, 721 in 6h, 2,881 in 1d.
QUEUE = 'birthday_scheduler_queue_depth{queue_name="deliveries"}'


def queue_samples(*segments):
    """Queue depths every 30 s: ("quiet", n) n samples at 0, ("breach", n) n at 2,000, ("gap", n)
    n missing samples (beat not scraped), ("every", k, n) n samples with a breach as each k-th."""
    parts = []
    for kind, *args in segments:
        if kind == "quiet":
            parts.append(f"0x{args[0] - 1}")
        elif kind == "breach":
            parts.append(f"2000x{args[0] - 1}")
        elif kind == "gap":
            parts.append(f"_x{args[0]}")
        else:
            k, n = args
            parts += ([f"0x{k - 2}", "2000"] if k > 1 else ["2000"]) * (n // k)
    return {QUEUE: " ".join(parts)}


def at(seconds: int) -> str:
    return f"{seconds // 60}m{seconds % 60}s" if seconds % 60 else f"{seconds // 60}m"


def queue_case(alert, what, series, silent_at=(), firing_at=()):
    return {"name": f"{alert}: {what}", "interval": "30s",
            "input_series": [{"series": s, "values": v} for s, v in series.items()],
            "promql_expr_test": [silent(alert, at(t)) for t in silent_at] + [firing(alert, at(t)) for t in firing_at]}


def queue_slo_cases():
    """Each threshold of the two burn-rate alerts, at the sample where a window's breach count
    passes it, and each `for` from there. Sample i is at i * 30 s."""
    page, ticket = "SLOQueueHealthBurnRatePage", "SLOQueueHealthBurnRateTicket"
    six_hours = 721
    return [
        # 1h/5m at 14.4x (14.4%): after 6 quiet hours, a queue above 1,000 from 360m30s on. At the
        # 18th breach (369m) the 1h window holds 18 of 121 (14.9%; 17: 14.05%), the 5m window is
        # all breach and 6h is at 2.5%: pending at 369m, firing 2 minutes later.
        queue_case(page, "a queue above 1,000 after 6 quiet hours fires 2m after its 18th breach in the hour",
                   queue_samples(("quiet", six_hours), ("breach", 100)), silent_at=[22230], firing_at=[22260]),
        # 6h/30m at 6x (6%): after 6 quiet hours, every 8th sample a breach (12.5%: the 1h window
        # stays at 13.2% or less, under 14.4x). The 44th breach (536m) makes 44 of 721 in 6h
        # (6.1%; 43: 5.96%), 30m holds 7 or 8 of 61: pending at 536m, firing at 538m.
        queue_case(page, "one sample in 8 above 1,000 fires 2m after the 6h window's 44th breach",
                   queue_samples(("quiet", six_hours), ("every", 8, 8 * 50)), silent_at=[32250], firing_at=[32280]),
        # 3d/6h at 1x (1%): 2,001 quiet samples (1000m, under a day: the 1d and 3d windows hold
        # every sample), then a queue above 1,000. The 21st breach (1010m30s) makes 21 of 2,022
        # (1.04%; 20: 0.99%), 6h far above: pending then, firing 15 minutes later.
        queue_case(ticket, "a queue above 1,000 after 1000 quiet minutes fires 15m after its 21st breach",
                   queue_samples(("quiet", 2001), ("breach", 80)), silent_at=[61500], firing_at=[61530]),
        # 1d/2h at 3x (3%), when 3d/6h is under 1x: samples have been missing for a day, so the
        # 1d and 2h windows hold only the recent ones while 3d still holds 1,001 old quiet ones.
        # From 2000m, each 30th sample a breach, the first at once: 1d and 2h stay above 3.3%
        # (4% or less after 150 samples), 3d under 1%. Pending from 2000m, firing at 2015m and on.
        queue_case(ticket, "one sample in 30 above 1,000 after a day without samples fires by the 1d/2h pair",
                   queue_samples(("quiet", 1001), ("gap", 2999), ("every", 1, 1), ("every", 30, 210)),
                   silent_at=[120870], firing_at=[120900, 123600, 126000]),
        # The same with each 40th sample a breach, the last of its 40: 1d and 2h at most 2.5%,
        # under 3x; 3d under 1%. Silent throughout.
        queue_case(ticket, "one sample in 40 above 1,000 after a day without samples stays silent",
                   queue_samples(("quiet", 1001), ("gap", 2999), ("every", 40, 240)),
                   silent_at=list(range(120000, 127201, 300))),
    ]


def registrations(burst_per_30m, burst_from=340, samples=380):
    """Users created every 30 minutes: a week of hours alternating 4 and 6 sign-ups (mean 5 an
    hour, standard deviation 1), then a steady burst from sample `burst_from` (170h)."""
    values, pattern = [0], [2, 2, 3, 3]
    for i in range(1, samples + 1):
        values.append(values[-1] + (burst_per_30m if i > burst_from else pattern[(i - 1) % 4]))
    return " ".join(f"{v:g}" for v in values)


def anomaly_cases():
    """UnusualUserRegistrationRate: |rate - 7-day mean| > 2 standard deviations for 1h, on a
    10-minute evaluation step (it needs a week of history). 7.5 sign-ups an hour deviate by
    2.4-2.5 deviations from 170h40m on, so it fires at 171h40m; 6.5 an hour deviate by 1.5."""
    alert = "UnusualUserRegistrationRate"
    name = 'birthday_scheduler_users_created_total{timezone_region="Europe"}'
    return [
        {"name": f"{alert}: 7.5 sign-ups an hour against 5 +- 1 fires at 171h40m, not at 171h30m", "interval": "30m",
         "input_series": [{"series": name, "values": registrations(3.75)}],
         "promql_expr_test": [silent(alert, "171h30m"), firing(alert, "171h40m")]},
        {"name": f"{alert}: 6.5 sign-ups an hour against 5 +- 1 stays silent", "interval": "30m",
         "input_series": [{"series": name, "values": registrations(3.25)}],
         "promql_expr_test": [silent(alert, f"{t}m") for t in range(171 * 60, 190 * 60 + 1, 30)]},
    ]


FILES = {
    "thresholds.test.yml": lambda: {
        "rule_files": ["../rules/alert-rules.yml", "../rules/meta-rules.yml"],
        "evaluation_interval": "1m",
        "tests": alert_cases(),
    },
    "anomaly-thresholds.test.yml": lambda: {
        "rule_files": ["../rules/alert-rules.yml"],
        "evaluation_interval": "10m",
        "tests": anomaly_cases(),
    },
    "slo-queue-thresholds.test.yml": lambda: {
        "rule_files": ["../rules/slo-rules.yml"],
        "evaluation_interval": "30s",
        "group_eval_order": ["birthday_scheduler_slo_recordings", "birthday_scheduler_slo_error_budget",
                             "birthday_scheduler_slo_burn_rate"],
        "tests": queue_slo_cases(),
    },
    "slo-thresholds.test.yml": lambda: {
        "rule_files": ["../rules/slo-rules.yml"],
        "evaluation_interval": "1m",
        "group_eval_order": ["birthday_scheduler_slo_recordings", "birthday_scheduler_slo_error_budget",
                             "birthday_scheduler_slo_burn_rate"],
        "tests": slo_cases(),
    },
}


def render():
    header = "# Generated by thresholds.py: edit that, then run it.\n"
    return {name: header + yaml.safe_dump(make(), sort_keys=False, width=200) for name, make in FILES.items()}


def main(argv):
    files = render()
    if "--check" in argv:
        stale = [n for n, text in files.items() if not (HERE / n).exists() or (HERE / n).read_text() != text]
        for n in stale:
            print(f"stale: {n}", file=sys.stderr)
        return 1 if stale else 0
    for n, text in files.items():
        (HERE / n).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
