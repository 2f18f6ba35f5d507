"""`python -m devtools.vendor_simulator`: serve the email vendor's API locally, faults included."""

import argparse
import sys

from . import ConfigError, VendorSimulator, serve_until_signalled


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.vendor_simulator",
        description="Serve a simulator of the email vendor's API (POST /send-email) until SIGTERM or Ctrl-C.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025, help="0 picks a free port (printed at startup)")
    parser.add_argument("--error-rate", type=float, default=0.0, help="share of requests answered 500/502/503")
    parser.add_argument("--rate-limit-rate", type=float, default=0.0, help="share answered 429 with retryAfter")
    parser.add_argument("--timeout-rate", type=float, default=0.0, help="share never answered (half after acceptance)")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="delay added to every send")
    parser.add_argument("--hang-seconds", type=float, default=30.0, help="how long an unanswered request is held")
    parser.add_argument("--retry-after", type=float, default=1.0, help="retryAfter seconds in 429 answers")
    parser.add_argument("--log", default=None, help="append each accepted message to this file as a JSON line")
    parser.add_argument("--seed", type=int, default=None, help="make the fault sequence reproducible")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    options = parse_args(argv)
    try:
        simulator = VendorSimulator(
            options.host,
            options.port,
            seed=options.seed,
            log_path=options.log,
            verbose=options.verbose,
            error_rate=options.error_rate,
            rate_limit_rate=options.rate_limit_rate,
            timeout_rate=options.timeout_rate,
            latency_ms=options.latency_ms,
            hang_seconds=options.hang_seconds,
            retry_after=options.retry_after,
        )
    except (ConfigError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        serve_until_signalled(simulator, out=sys.stdout)
    except OSError as exc:  # port in use, address not available
        print(f"error: cannot listen on {options.host}:{options.port}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
