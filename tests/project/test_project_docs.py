"""The README is part of the product: its commands and settings table must match the code."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCE_DIRS = ["birthday", "core", "users", "apiauth", "scheduler", "messaging", "webhooks", "observability", "backoffice"]
ENV_READ = re.compile(r"""(?:env_(?:str|bool|int|float|list)\(|os\.environ\.get\(|os\.environ\[|getenv\()\s*["']([A-Z][A-Z0-9_]+)["']""")


def readme() -> str:
    return (ROOT / "README.md").read_text()


def test_the_first_code_block_holds_exactly_the_run_and_test_commands():
    block = re.search(r"```[a-z]*\n(.*?)```", readme(), re.S).group(1)
    commands = [line.split("#")[0].strip() for line in block.splitlines() if line.split("#")[0].strip()]
    assert commands == ["bin/run", "bin/test"]
    # CI runs README's test command itself (under a `timeout` that bounds a stuck run).
    ci = [line.split() for line in (ROOT / ".ci" / "run").read_text().splitlines() if not line.startswith("#")]
    assert ["bin/test"] in [words[-1:] for words in ci if words and words[0] in ("bin/test", "timeout", "exec")]


def test_every_environment_variable_the_code_reads_is_documented():
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", readme()))
    read = set()
    for directory in SOURCE_DIRS:
        for path in (ROOT / directory).rglob("*.py"):
            read |= set(ENV_READ.findall(path.read_text()))
    internal = {"DJANGO_SETTINGS_MODULE", "BIRTHDAY_METRICS_ROOT_PID"}
    missing = sorted(read - documented - internal)
    assert not missing, f"README.md does not document: {missing}"
