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
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
