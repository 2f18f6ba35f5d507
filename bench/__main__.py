"""`python -m bench run [--quick]`: the performance benchmark (see docs/performance.md).

Needs DATABASE_URL (a database of its own: seeding replaces every user), CELERY_BROKER_URL and
REDIS_URL; bin/bench sets local defaults.
"""

import argparse
import dataclasses
import datetime
import os
import shlex
import signal
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the benchmark and write the reports")
    run.add_argument("--quick", action="store_true", help="tiny sizes, seconds: a smoke run")
    run.add_argument("--users", type=int)
    run.add_argument("--tick-sizes", type=lambda s: tuple(int(x) for x in s.split(",")), help="e.g. 10000,100000")
    run.add_argument("--deliveries", type=int)
    run.add_argument("--worker-processes", type=lambda s: tuple(int(x) for x in s.split(",")), help="e.g. 1,2")
    run.add_argument("--delivery-concurrency", type=int, help="threads per worker process (DELIVERY_CONCURRENCY)")
    run.add_argument("--delivery-batch-size", type=int, help="messages per task (DELIVERY_BATCH_SIZE)")
    run.add_argument("--sections", type=lambda s: tuple(s.split(",")), help="subset of tick,delivery,api")
    run.add_argument("--vendor-latencies", type=lambda s: tuple(int(x) for x in s.split(",")), help="ms, e.g. 0,100")
    run.add_argument("--api-seconds", type=int)
    run.add_argument("--api-rate", type=int)
    run.add_argument("--port-base", type=int, help="API on BASE, worker/beat metrics on BASE+1/+2, simulator on BASE+25")
    run.add_argument("--output", type=Path, help="JSON report (default bench/results/<date>.json)")
    run.add_argument("--markdown", type=Path, help="Markdown report (default docs/performance.md)")
    run.add_argument("--note", action="append", default=[], help="a line added to the Markdown report")
    run.add_argument("--quiet", action="store_true")
    cmp = sub.add_parser("compare", help="this project beside the TypeScript system (docs/performance.md)")
    cmp.add_argument("--ts-checkout", type=Path, help="a checkout of fairyhunter13/happy-bday-app (npm install/build run there)")
    cmp.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run of the harness")
    cmp.add_argument("--users", type=int)
    cmp.add_argument("--repeats", type=int)
    cmp.add_argument("--deliveries", type=int)
    cmp.add_argument("--tick-due", type=int)
    cmp.add_argument("--api-seconds", type=float)
    cmp.add_argument("--vendor-latencies", type=lambda s: tuple(int(x) for x in s.split(",")))
    cmp.add_argument("--no-baselines", action="store_true", help="skip the limits of the box")
    cmp.add_argument("--port-base", type=int, help="ports BASE..BASE+66 on 127.0.0.1 (default 18000)")
    cmp.add_argument("--output", type=Path)
    cmp.add_argument("--markdown", type=Path, help="default docs/performance.md")
    cmp.add_argument("--quiet", action="store_true")
    render = sub.add_parser("render", help="write the Markdown report again from a JSON report")
    render.add_argument("json", type=Path)
    render.add_argument("--shown-command", default="bin/bench run", help="the command shown in the report")
    render.add_argument("--markdown", type=Path)
    render.add_argument("--note", action="append", default=[])
    bulk_import = sub.add_parser("import", help="the bulk import benchmark (users/bulk.py)")
    bulk_import.add_argument("--users", type=int, default=1_000_000)
    bulk_import.add_argument("--chunk-rows", type=int, help="rows per transaction (BULK_IMPORT_CHUNK_ROWS)")
    bulk_import.add_argument("--workers", type=int, default=2, help="checking processes (import_users --workers)")
    bulk_import.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    if args.command == "render":
        import json

        from . import report

        report.write_markdown(json.loads(args.json.read_text()), args.shown_command, args.note,
                              args.markdown or ROOT / "docs" / "performance.md")
        return 0

    # SIGTERM unwinds like Ctrl-C, so the processes the run started are stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "birthday.settings")
    import django

    django.setup()
    from django.core.management import call_command

    if args.command == "import":
        import json

        from . import bulk_import

        call_command("migrate", verbosity=0)
        result = bulk_import.run(args.users, args.chunk_rows, args.quiet, args.workers)
        print(json.dumps(result, indent=2))
        return 0 if all(result["checks"].values()) else 1

    from . import harness, report

    call_command("migrate", verbosity=0)
    if args.command == "compare":
        return _compare(args, argv)
    options = harness.Options(**(harness.QUICK if args.quick else {}))
    overrides = {
        "users": args.users, "tick_sizes": args.tick_sizes, "deliveries": args.deliveries,
        "worker_processes": args.worker_processes, "delivery_concurrency": args.delivery_concurrency,
        "delivery_batch_size": args.delivery_batch_size, "api_seconds": args.api_seconds,
        "sections": args.sections, "vendor_latencies_ms": args.vendor_latencies, "api_rate": args.api_rate,
        "quiet": args.quiet or None,
    }
    if args.port_base:
        overrides.update(api_port=args.port_base, worker_metrics_port=args.port_base + 1,
                         simulator_port=args.port_base + 25)
    options = dataclasses.replace(options, **{k: v for k, v in overrides.items() if v is not None})
    result = harness.run(options)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H%M%SZ")
    json_path = args.output or ROOT / "bench" / "results" / f"{stamp}.json"
    report.write_json(result, json_path)
    command = "bin/bench " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    report.write_markdown(result, command.strip(), args.note, args.markdown or ROOT / "docs" / "performance.md")
    print(json_path)
    return 0


def _compare(args, argv) -> int:
    from . import compare, report

    options = compare.CompareOptions(**(compare.QUICK if args.quick else {}))
    overrides = {"ts_checkout": args.ts_checkout, "users": args.users, "repeats": args.repeats, "deliveries": args.deliveries,
                 "tick_due": args.tick_due, "api_seconds": args.api_seconds, "vendor_latencies_ms": args.vendor_latencies,
                 "port_base": args.port_base, "quiet": args.quiet or None, "baselines": False if args.no_baselines else None}
    options = dataclasses.replace(options, **{k: v for k, v in overrides.items() if v is not None})
    result = compare.run(options)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H%M%SZ")
    json_path = args.output or ROOT / "bench" / "results" / f"compare-{stamp}.json"
    report.write_json(result, json_path)
    shown = [a for a in (argv if argv is not None else sys.argv[1:])]
    command = "bin/bench " + " ".join(shlex.quote(a) for a in shown)
    compare.write_markdown(result, command, args.markdown or ROOT / "docs" / "performance.md")
    print(json_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
