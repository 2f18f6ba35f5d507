-- wrk script for the users API at a fixed request rate.
-- BENCH_MODE=post creates users (a unique email per request), BENCH_MODE=get reads random ids
-- in 1..BENCH_MAX_ID. Each connection waits BENCH_DELAY_MS between requests, which paces the
-- whole run: rate = connections * 1000 / (delay + latency). The last line is JSON for the harness.
local mode = os.getenv("BENCH_MODE") or "get"
local token = os.getenv("BENCH_TOKEN") or ""
local prefix = os.getenv("BENCH_PREFIX") or "api"
local max_id = tonumber(os.getenv("BENCH_MAX_ID") or "1")
local pause = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
local zones = {"UTC", "Europe/London", "Asia/Kathmandu", "America/New_York", "Australia/Eucla", "Pacific/Chatham",
               "America/St_Johns", "Asia/Kolkata", "Pacific/Kiritimati", "Etc/GMT+12"}
local headers = {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}
local counter = 0
local threads = {}

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(tid * 7919 + os.time())
end

function delay()
  return pause
end

function request()
  if mode == "post" then
    counter = counter + 1
    local body = string.format(
      '{"first_name":"Api","last_name":"Bench","email":"%s-%d-%d@bench.example","birthday":"19%02d-%02d-%02d","timezone":"%s"}',
      prefix, tid, counter, math.random(50, 99), math.random(1, 12), math.random(1, 28), zones[math.random(#zones)])
    return wrk.format("POST", "/user", headers, body)
  end
  return wrk.format("GET", "/user/" .. math.random(1, max_id), headers)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"non_2xx":%d,"socket_errors":%d,"p50_us":%d,"p95_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max))
end
