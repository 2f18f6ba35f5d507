"""Import users from a JSON Lines or CSV file with the same rules and results as POST /users/bulk."""

import sys
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from users import bulk


class Progress:
    """A progress bar on a terminal (tqdm when installed), else a line every few seconds."""

    def __init__(self, total_bytes: int, stream):
        self.total, self.stream, self.last = total_bytes, stream, 0.0
        try:
            from tqdm import tqdm
        except ImportError:
            self.bar = None
        else:
            self.bar = tqdm(total=total_bytes, unit="B", unit_scale=True, file=stream, desc="import")

    def update(self, done_bytes: int, summary: bulk.Summary) -> None:
        if self.bar is not None:
            self.bar.n = done_bytes
            self.bar.set_postfix(created=summary.created, duplicate=summary.duplicate, error=summary.error,
                                 refresh=False)
            self.bar.refresh()
            return
        now = time.monotonic()
        if now - self.last >= 2:
            self.last = now
            share = 100 * done_bytes / self.total if self.total else 100
            self.stream.write(f"{share:5.1f}%  rows {summary.rows}  created {summary.created}  "
                              f"duplicate {summary.duplicate}  error {summary.error}\n")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class Command(BaseCommand):
    help = "Import users from FILE (.jsonl/.ndjson or .csv); rows already present by email are skipped."

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--format", choices=["jsonl", "csv"], help="default: from the file's extension")
        parser.add_argument("--idempotency-key", help="as the API's Idempotency-Key header")
        parser.add_argument("--results", help="write one JSON result per row to this file")
        parser.add_argument("--no-progress", action="store_true")
        parser.add_argument("--workers", type=int, default=1,
                            help="processes checking rows while this one writes (default 1: none)")

    def handle(self, *args, file, format=None, idempotency_key=None, results=None, no_progress=False, workers=1,
               **options):
        path = Path(file)
        if not path.exists():
            raise CommandError(f"no such file: {path}")
        if not path.is_file():
            # The progress line is the read position against the file's size, which only a file has.
            raise CommandError(f"not a regular file: {path} (a directory, device or pipe); save the rows to a file")
        fmt = format or ("csv" if path.suffix.lower() == ".csv" else "jsonl")
        summary = bulk.Summary()
        out = open(results, "wb") if results else None
        progress = None if no_progress else Progress(path.stat().st_size, sys.stderr)
        try:
            with path.open("rb") as stream:
                rows = bulk.parser_for(fmt)(bulk.open_lines(stream))
                for line in bulk.results_as_jsonl(bulk.import_rows(rows, idempotency_key=idempotency_key, workers=workers), summary):
                    if out is not None:
                        out.write(line)
                    if progress is not None and summary.rows % 1000 == 0:
                        progress.update(stream.tell(), summary)
                if progress is not None:
                    progress.update(path.stat().st_size, summary)
        finally:
            if progress is not None:
                progress.close()
            if out is not None:
                out.close()
        self.stdout.write(f"rows {summary.rows}: created {summary.created}, duplicate {summary.duplicate}, "
                          f"error {summary.error}")
