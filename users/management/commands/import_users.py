"""Import users from a JSON Lines or CSV file with the same rules and results as POST /users/bulk."""

import os
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
        parser.add_argument("--idempotency-key",
                            help=f"as the API's Idempotency-Key header (at most {bulk.MAX_KEY_LENGTH} characters)")
        parser.add_argument("--results", help="write one JSON result per row to this file (replaced if it exists; "
                                              "never the input file)")
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
        idempotency_key = idempotency_key or None
        if idempotency_key is not None and len(idempotency_key) > bulk.MAX_KEY_LENGTH:
            raise CommandError(f"--idempotency-key must be at most {bulk.MAX_KEY_LENGTH} characters, as the API's "
                               f"Idempotency-Key (got {len(idempotency_key)})")
        fmt = format or ("csv" if path.suffix.lower() == ".csv" else "jsonl")
        summary = bulk.Summary()
        out = _open_results(Path(results), path) if results else None
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


def _open_results(target: Path, source: Path):
    """The results file, opened for writing only once it is known not to be the input: opening
    it truncates it, and the input would then be read as empty."""
    if target.is_dir():
        raise CommandError(f"--results {target} is a directory; name a file to write the results to")
    if not target.parent.is_dir():
        raise CommandError(f"--results {target}: no directory {target.parent}")
    # samefile compares device and inode: another spelling of the path or a hard link is caught too.
    if target.exists() and os.path.samefile(target, source):
        raise CommandError(f"--results {target} is the input file; writing results there would destroy the rows")
    try:
        return open(target, "wb")
    except OSError as exc:
        raise CommandError(f"--results {target}: cannot write it ({exc.strerror})") from None
