#!/usr/bin/env python
import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "birthday.settings")
    from pathlib import Path

    from django.conf import settings
    from django.core.management import execute_from_command_line

    # The embedded default keeps its SQLite file, cache and broker under VAR_DIR: a fresh clone
    # has no such folder until a process starts (settings create nothing at import).
    Path(settings.VAR_DIR).mkdir(parents=True, exist_ok=True)
    # This process is a command, or runserver answering requests; gunicorn workers and Celery
    # processes set tracing up in their own start hooks, after they fork.
    from observability.tracing import configure_tracing

    configure_tracing("api" if sys.argv[1:2] == ["runserver"] else "manage")
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
