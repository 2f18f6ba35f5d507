"""Models and migrations agree: no change is waiting for a migration."""

import subprocess
import sys
from pathlib import Path

import pytest

# makemigrations --check in a child process.
pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def test_no_missing_migrations():
    result = subprocess.run(
        [sys.executable, "manage.py", "makemigrations", "--check", "--dry-run"],
        cwd=ROOT, capture_output=True, text=True, timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
