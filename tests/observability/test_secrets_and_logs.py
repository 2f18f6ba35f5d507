"""Secrets come only from the environment, and none reach the logs."""

import json
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from apiauth import services as token_services
from tests.conftest import wait_until
from tests.system import start_api

ROOT = Path(__file__).resolve().parents[2]
SCANNED = re.compile(r"(\.py|\.ya?ml|\.toml|\.cfg|\.ini|\.conf|\.env|Dockerfile)$")

# The one secret-looking literal allowed in code: the documented development key, which
# production mode refuses (birthday/settings.py).
ALLOWED_SECRET_KEY = "insecure-development-key-do-not-use-in-production"

PATTERNS = {
    "secret key literal": re.compile(r"""SECRET_KEY\s*[:=]\s*["']([^"']+)["']"""),
    "private key": re.compile(r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----"),
    "AWS access key": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "GitHub/Slack token": re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|xox[abpr]-[A-Za-z0-9-]{10,})"),
    "API token": re.compile(r"\bbdy_[A-Za-z0-9_-]{40,}"),
    "URL credentials": re.compile(r"\b[a-z][a-z0-9+.-]*://([^/\s:@'\"{}$]+):([^/\s@'\"{}$]+)@([^/\s'\"]+)"),
}
# `password: value` / `PASSWORD=value` in configuration; references to files and variables are fine.
CONFIG_PASSWORD = re.compile(r"""(?i)^\s*-?\s*["']?([\w.-]*(?:password|passwd|_pass|secret)[\w.-]*)["']?\s*[:=]\s*(.*)$""")
REFERENCE = re.compile(r"""^(?:$|["']?\s*["']?$|\$|\{|/|\./|!|\[|\||>|#)""")

# Placeholders in tests and docs-in-code: local test services and obviously fake values.
PLACEHOLDER_URL_USERS = {"guest", "user", "u", "someone", "postgres", "x"}


def repository_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.splitlines()
    return [ROOT / name for name in listed if SCANNED.search(name) and (ROOT / name).is_file()]


def findings() -> set[tuple[str, str]]:
    found = set()
    for path in repository_files():
        relative = str(path.relative_to(ROOT))
        text = path.read_text(encoding="utf-8", errors="replace")
        in_tests = relative.startswith("tests/")
        for name, pattern in PATTERNS.items():
            for match in pattern.finditer(text):
                if name == "secret key literal" and match.group(1) in {ALLOWED_SECRET_KEY, ""}:
                    continue
                if name == "URL credentials" and (in_tests or match.group(1) in PLACEHOLDER_URL_USERS):
                    continue
                if name in {"API token", "secret key literal"} and in_tests:
                    continue
                found.add((relative, match.group(0)))
        if relative.endswith((".yml", ".yaml")) or path.name == "Dockerfile":
            for line in text.splitlines():
                matched = CONFIG_PASSWORD.match(line)
                if not matched or matched.group(1).lower().endswith(("_file", "__file", "file")):
                    continue
                if not REFERENCE.match(matched.group(2).strip()):
                    found.add((relative, line.strip()))
    return found


@pytest.mark.integration  # runs git
def test_no_hard_coded_secrets_in_the_repository():
    found = findings()
    assert not found, sorted(found)


def test_the_scanner_catches_what_it_looks_for(tmp_path, monkeypatch):
    planted = tmp_path / "deploy"
    planted.mkdir()
    (planted / "app.yaml").write_text(
        "db:\n  password: hunter2\n  password_file: /run/secrets/db\n  other_password: ${FROM_ENV}\n"
        "url: amqp://svc:s3cr3t@broker:5672/\n"
    )
    # Assembled here so this file does not itself contain what the scanner looks for.
    private_key = "-----BEGIN RSA " + "PRIVATE KEY-----"
    secret_key = "SECRET" + '_KEY = "a-real-looking-production-key"'
    (tmp_path / "settings.py").write_text(f"{secret_key}\nKEY = '{private_key}'\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    monkeypatch.setattr(sys.modules[__name__], "repository_files",
                        lambda: [planted / "app.yaml", tmp_path / "settings.py"])
    found = {text for _, text in findings()}
    assert "password: hunter2" in found
    assert "amqp://svc:s3cr3t@broker:5672" in found
    assert secret_key in found
    assert private_key in found
    assert not any("password_file" in text or "FROM_ENV" in text for text in found)


@pytest.mark.django_db(transaction=True)
def test_api_logs_carry_no_email_or_token(processes, tmp_path):
    _, token = token_services.create_token("log-test")
    base, gunicorn = start_api(processes, {"BIRTHDAY_VAR_DIR": str(tmp_path), "LOG_LEVEL": "DEBUG"}, name="gunicorn")
    email = "very.private.person@example.org"
    bad_token = "bdy_LeakedButWrongTokenValue1234567890abcdefghij"
    auth = {"Authorization": f"Bearer {token}"}
    user = {"first_name": "Pri", "last_name": "Vate", "email": email, "birthday": "1990-01-01", "timezone": "UTC"}
    assert httpx.post(f"{base}/user", json=user, headers=auth, timeout=10).status_code == 201
    # The same email again (409), in a filter and in an invalid body (400), and a wrong token (401).
    assert httpx.post(f"{base}/user", json=user, headers=auth, timeout=10).status_code == 409
    assert httpx.get(f"{base}/user", params={"timezone": email}, headers=auth, timeout=10).status_code == 200
    assert httpx.post(f"{base}/user", json={**user, "birthday": email}, headers=auth, timeout=10).status_code == 400
    assert httpx.get(f"{base}/user?email={email}", headers={"Authorization": f"Bearer {bad_token}"},
                     timeout=10).status_code == 401
    assert httpx.get(f"{base}/user", headers={"Authorization": bad_token}, timeout=10).status_code == 401

    def logged_responses():
        lines = [json.loads(raw) for raw in processes.output(gunicorn).splitlines() if raw.startswith("{")]
        return lines if sum("Unauthorized" in line["message"] for line in lines) >= 2 else None

    lines = wait_until(logged_responses, timeout=15, message="the 401 log lines")
    assert any("Conflict" in line["message"] or "409" in json.dumps(line) for line in lines)
    output = processes.output(gunicorn)
    for secret in [email, "very.private.person", bad_token, bad_token[4:], token, token[4:]]:
        assert secret not in output, secret
