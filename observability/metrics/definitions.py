"""Every instrument the processes move, with the monitoring plan's names, types, label names and
buckets. Values measured elsewhere at scrape time (RabbitMQ, the process tree, the message
processing window) are produced by collectors and are not defined here.

Gauge multiprocess modes: `livesum` where each process holds its own share of a total
(in-flight requests, live pool processes), `mostrecent` where one process at a time reports a
fact about the whole fleet (a queue depth, the breaker state), `max` for a timestamp.
"""

from prometheus_client import Counter, Gauge, Histogram, Summary, disable_created_metrics

# `_created` series double the series count and no dashboard or alert reads them.
disable_created_metrics()

NS = "birthday_scheduler"


def _name(short: str) -> str:
    return f"{NS}_{short}"


# --- HTTP / API -----------------------------------------------------------------------------------

API_REQUESTS = Counter(_name("api_requests"), "Total HTTP requests", ["method", "path", "status"])
API_RESPONSE_TIME = Histogram(
    _name("api_response_time_seconds"), "HTTP response time distribution", ["method", "path", "status"],
    buckets=[0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2, 5],
)
API_REQUEST_SIZE = Histogram(
    _name("api_request_size_bytes"), "HTTP request body size", ["method", "path"],
    buckets=[100, 1000, 10000, 100000, 1000000],
)
API_RESPONSE_SIZE = Histogram(
    _name("api_response_size_bytes"), "HTTP response body size", ["method", "path"],
    buckets=[100, 1000, 10000, 100000, 1000000],
)
API_CONCURRENT = Gauge(_name("api_concurrent_requests"), "Number of in-flight requests", multiprocess_mode="livesum")

# --- Messages --------------------------------------------------------------------------------------

MESSAGES_SCHEDULED = Counter(_name("messages_scheduled"), "Messages scheduled", ["message_type", "timezone"])
MESSAGES_SENT = Counter(_name("messages_sent"), "Messages sent", ["message_type", "status_code"])
MESSAGES_FAILED = Counter(
    _name("messages_failed"), "Messages that reached a failed terminal state",
    ["message_type", "error_type", "retry_count"],
)
MESSAGE_DELIVERY_DURATION = Histogram(
    _name("message_delivery_duration_seconds"), "Duration of one delivery call to the vendor",
    ["message_type", "status"], buckets=[0.1, 0.5, 1, 2, 5, 10, 30],
)
MESSAGE_TIME_TO_DELIVERY = Histogram(
    _name("message_time_to_delivery_seconds"), "Time from scheduled to actual send", ["message_type"],
    buckets=[1, 5, 10, 30, 60, 300, 600, 1800, 3600],
)
MESSAGE_RETRY_ATTEMPTS = Histogram(
    _name("message_retry_attempts"), "Distribution of retry attempts", ["message_type"],
    buckets=[0, 1, 2, 3, 4, 5],
)
MESSAGE_DELIVERY_ATTEMPTS = Counter(
    _name("message_delivery_attempts"), "Total delivery attempts (including retries)",
    ["message_type", "attempt_number"],
)
# Deliveries behind schedule: what became due (the tick materialised it) against what went out.
MESSAGES_DUE = Counter(_name("messages_due"), "Messages the tick materialised because they fell due", ["message_type"])
MESSAGES_OVERDUE = Gauge(
    _name("messages_overdue"),
    "Messages (and occasions not yet materialised) due more than OVERDUE_AFTER_SECONDS ago and not finished",
    ["message_type"], multiprocess_mode="mostrecent",
)
MESSAGE_IDEMPOTENCY_SKIPS = Counter(
    _name("message_idempotency_skips"), "Messages skipped due to idempotency", ["message_type"]
)

# --- Users -----------------------------------------------------------------------------------------

USERS_CREATED = Counter(_name("users_created"), "Total users created", ["timezone_region"])
USERS_ACTIVE = Gauge(
    _name("users_active_total"), "Users with an upcoming message", ["message_type"], multiprocess_mode="mostrecent"
)
USERS_INACTIVE = Gauge(_name("users_inactive_total"), "Users with no upcoming messages", multiprocess_mode="mostrecent")
USERS_BY_TIMEZONE = Gauge(
    _name("users_by_timezone"), "User distribution by timezone", ["timezone"], multiprocess_mode="mostrecent"
)
USER_REGISTRATION_RATE = Gauge(
    _name("user_registration_rate"), "Users registered in the last hour", multiprocess_mode="mostrecent"
)

# --- Database --------------------------------------------------------------------------------------

# The connection pool's own figures, per process (each has its pool), summed over live ones.
DB_CONNECTIONS = Gauge(
    _name("database_connections"), "Pool connections by state (active: lent out, idle: in the pool)",
    ["pool_name", "state"], multiprocess_mode="livesum",
)
DB_POOL_SIZE = Gauge(
    _name("database_pool_size"), "Most connections the pools may open (DB_POOL_MAX_SIZE per process)",
    ["pool_name"], multiprocess_mode="livesum",
)
DB_POOL_WAITING = Gauge(
    _name("database_pool_requests_waiting"), "Requests waiting for a pool connection", ["pool_name"],
    multiprocess_mode="livesum",
)
DB_QUERY_DURATION = Histogram(
    _name("database_query_duration_seconds"), "Database query execution time", ["query_type", "table"],
    buckets=[0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2],
)
DB_SLOW_QUERIES = Counter(
    _name("database_slow_queries"), "Queries exceeding threshold (100ms)", ["query_type", "table"]
)
DB_DEADLOCKS = Counter(_name("database_deadlocks"), "Database deadlock occurrences")
DB_TRANSACTION_DURATION = Histogram(
    _name("database_transaction_duration_seconds"), "Transaction execution time", ["operation"],
    buckets=[0.01, 0.05, 0.1, 0.5, 1, 2, 5],
)
DB_POOL_WAIT = Histogram(
    _name("database_pool_wait_time_seconds"), "Time waiting for a connection from the pool",
    buckets=[0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1],
)
DB_ROWS_AFFECTED = Histogram(
    _name("database_rows_affected"), "Number of rows affected by queries", ["operation", "table"],
    buckets=[1, 10, 100, 1000, 10000],
)

# --- Queue -----------------------------------------------------------------------------------------

QUEUE_DEPTH = Gauge(_name("queue_depth"), "Messages ready in the queue", ["queue_name"], multiprocess_mode="mostrecent")
QUEUE_PUBLISHED = Counter(_name("queue_messages_published"), "Messages published to queue", ["queue_name"])
QUEUE_CONSUMED = Counter(
    _name("queue_messages_consumed"), "Messages consumed from queue", ["queue_name", "status"]
)
QUEUE_PROCESSING = Histogram(
    _name("queue_message_processing_duration_seconds"), "Time to process message (consume to ack)",
    ["queue_name"], buckets=[0.1, 0.5, 1, 2, 5, 10, 30, 60],
)
QUEUE_DLQ = Gauge(_name("queue_dlq_messages"), "Messages in dead-letter queue", ["dlq_name"], multiprocess_mode="mostrecent")
QUEUE_CONSUMERS = Gauge(
    _name("queue_consumers_active"), "Number of active consumers", ["queue_name"], multiprocess_mode="mostrecent"
)
QUEUE_UNACKED = Gauge(
    _name("queue_messages_unacked"), "Messages consumed but not acknowledged", ["queue_name"],
    multiprocess_mode="mostrecent",
)
QUEUE_PUBLISH_RATE = Gauge(
    _name("queue_publish_rate"), "Message publish rate (msg/sec)", ["queue_name"], multiprocess_mode="mostrecent"
)
QUEUE_CONSUME_RATE = Gauge(
    _name("queue_consume_rate"), "Message consume rate (msg/sec)", ["queue_name"], multiprocess_mode="mostrecent"
)
QUEUE_PREFETCH = Gauge(
    _name("queue_prefetch_count"), "Current prefetch setting per consumer", ["queue_name"],
    multiprocess_mode="mostrecent",
)

# --- Workers ---------------------------------------------------------------------------------------

ACTIVE_WORKERS = Gauge(
    _name("active_workers"), "Live worker pool processes", ["worker_type"], multiprocess_mode="livesum"
)
WORKER_TASK_DURATION = Histogram(
    _name("worker_task_duration_seconds"), "Worker task execution time", ["worker_id", "task_type"],
    buckets=[0.1, 0.5, 1, 2, 5, 10, 30, 60],
)
# Each pool process reports its own busy share divided by the pool size; the sum over live
# processes is the pool's utilisation.
WORKER_UTILIZATION = Gauge(
    _name("worker_utilization_percent"), "Worker busy time percentage (last minute)", ["worker_id"],
    multiprocess_mode="livesum",
)
WORKER_TASKS_COMPLETED = Counter(
    _name("worker_tasks_completed"), "Tasks completed by worker", ["worker_id", "status"]
)
WORKER_RESTARTS = Counter(_name("worker_restarts"), "Worker restart count", ["worker_id", "reason"])
WORKER_ERRORS = Counter(_name("worker_errors"), "Worker error count", ["worker_id", "error_type"])
WORKER_IDLE = Counter(_name("worker_idle_time_seconds"), "Worker idle time", ["worker_id"])

# --- Scheduler -------------------------------------------------------------------------------------

EXECUTION_DURATION = Histogram(
    _name("execution_duration_seconds"), "Scheduled job execution time", ["job_type", "status"],
    buckets=[0.1, 0.5, 1, 5, 10, 30, 60, 120],
)
CRON_EXECUTIONS = Counter(_name("cron_job_executions"), "Total CRON job executions", ["job_name", "status"])
CRON_LAST_SUCCESS = Gauge(
    _name("cron_job_last_success_timestamp"), "Unix timestamp of last successful execution", ["job_name"],
    multiprocess_mode="max",
)
CRON_MISSED = Counter(_name("cron_job_missed_executions"), "Missed CRON executions", ["job_name"])
CRON_MESSAGES_SCHEDULED = Histogram(
    _name("cron_job_messages_scheduled"), "Messages scheduled per job execution", ["job_name"],
    buckets=[0, 1, 10, 100, 1000, 10000],
)
SCHEDULER_LAG = Histogram(
    _name("scheduler_lag_seconds"), "Delay between expected and actual execution", ["job_name"],
    buckets=[0, 1, 5, 10, 30, 60, 300],
)

# --- External API ----------------------------------------------------------------------------------

EXTERNAL_REQUESTS = Counter(
    _name("external_api_requests"), "Requests to external message API", ["vendor", "endpoint", "status"]
)
EXTERNAL_RESPONSE_TIME = Histogram(
    _name("external_api_response_time_seconds"), "External API response time", ["vendor", "endpoint"],
    buckets=[0.1, 0.5, 1, 2, 5, 10, 30],
)
EXTERNAL_ERRORS = Counter(_name("external_api_errors"), "External API errors", ["vendor", "error_type"])
EXTERNAL_TIMEOUTS = Counter(_name("external_api_timeouts"), "External API timeout count", ["vendor", "endpoint"])
# The breaker's state gauges are read at scrape time: external.BreakerCollector.
EXTERNAL_RATE_LIMIT_HITS = Counter(_name("external_api_rate_limit_hits"), "Rate limit answers from vendor", ["vendor"])

# --- Security --------------------------------------------------------------------------------------

RATE_LIMIT_EXCEEDED = Counter(
    _name("rate_limit_exceeded"), "Rate limit violations by clients", ["path", "client_ip"]
)
AUTHENTICATION_FAILURES = Counter(_name("authentication_failures"), "Failed authentication attempts", ["auth_type"])
AUTHORIZATION_DENIALS = Counter(_name("authorization_denials"), "Authorization denials", ["resource", "action"])
SUSPICIOUS_ACTIVITY = Counter(_name("suspicious_activity"), "Suspicious activity events", ["activity_type"])
API_KEY_USAGE = Counter(_name("api_key_usage"), "API key usage count", ["key_id"])
CSRF_VIOLATIONS = Counter(_name("csrf_violations"), "CSRF protection violations")

# --- Cache -----------------------------------------------------------------------------------------

CACHE_HITS = Counter(_name("cache_hits"), "Cache hit count", ["cache_type"])
CACHE_MISSES = Counter(_name("cache_misses"), "Cache miss count", ["cache_type"])
CACHE_EVICTIONS = Counter(_name("cache_evictions"), "Cache eviction count", ["cache_type", "reason"])
CACHE_SIZE = Gauge(_name("cache_size_bytes"), "Current cache size", ["cache_type"], multiprocess_mode="mostrecent")
CACHE_OPERATION_DURATION = Histogram(
    _name("cache_operation_duration_seconds"), "Cache operation time", ["operation"],
    buckets=[0.0001, 0.001, 0.01, 0.1, 1],
)

# --- Cost ------------------------------------------------------------------------------------------

API_CALL_COST = Counter(_name("api_call_cost_usd"), "Estimated cost of vendor calls", ["vendor", "message_type"])
INFRASTRUCTURE_COST = Gauge(
    _name("infrastructure_cost_usd_hourly"), "Infrastructure cost per hour", ["resource_type"],
    multiprocess_mode="mostrecent",
)
MESSAGES_COST = Counter(_name("messages_cost_usd"), "Cost of messages sent", ["message_type"])
COST_PER_USER = Gauge(
    _name("cost_per_user_usd"), "Cost per active user over the last 30 days", multiprocess_mode="mostrecent"
)

# --- Runtime (per process; the process tree totals are a collector in runtime.py) --------------------

# The Python counterpart of the Node.js event-loop lag: how late a thread that asked to wake
# up actually runs (GIL and CPU contention). The worst live process is the one that matters.
EVENTLOOP_LAG = Gauge(
    "nodejs_eventloop_lag_seconds", "Scheduling delay of a waiting thread (Python: GIL/CPU wake-up lag)",
    multiprocess_mode="livemax",
)
GC_DURATION = Histogram(
    "nodejs_gc_duration_seconds", "Garbage collection pause duration (Python: per generation)", ["kind"],
    buckets=[0.001, 0.01, 0.1, 1, 2, 5],
)

# --- Summary: _count and _sum here; quantiles come from the shared window in summary.py ----------

MESSAGE_PROCESSING = Summary(
    _name("message_processing_quantiles"), "Message processing time, claim to outcome", ["message_type"]
)
