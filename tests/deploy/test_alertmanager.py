"""Alertmanager: valid, routed as the plan says, secrets only as files."""

import subprocess

import pytest
import yaml

from .conftest import DEPLOY, tool

CONFIG = DEPLOY / "alertmanager" / "alertmanager.yml"


def receivers_for(*labels):
    r = subprocess.run([tool("amtool"), "config", "routes", "test", f"--config.file={CONFIG}", *labels],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return set(r.stdout.strip().split(","))


@pytest.mark.integration  # runs amtool
def test_config_is_valid():
    r = subprocess.run([tool("amtool"), "check-config", str(CONFIG)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.integration  # runs amtool
def test_routing_by_severity():
    assert receivers_for("severity=critical", "alertname=ServiceDown") == {"pagerduty-critical", "slack-critical"}
    assert receivers_for("severity=warning", "alertname=QueueDepthHigh") == {"slack-warnings"}
    assert receivers_for("severity=info", "alertname=UnusualUserRegistrationRate") == {"email-team"}
    assert receivers_for("alertname=Unlabelled") == {"email-default"}


def test_grouping_and_inhibition_of_warnings_by_their_critical_twin():
    config = yaml.safe_load(CONFIG.read_text())
    route = config["route"]
    assert route["group_by"] == ["alertname", "cluster", "service"]
    assert (route["group_wait"], route["group_interval"], route["repeat_interval"]) == ("30s", "5m", "4h")
    pairs = {(tuple(r["source_matchers"]), tuple(r["target_matchers"])) for r in config["inhibit_rules"]}
    assert (('alertname="HighErrorRate"',), ('alertname="ElevatedErrorRate"',)) in pairs
    assert (('alertname="QueueDepthCritical"',), ('alertname="QueueDepthHigh"',)) in pairs
    assert (('budget_burn="page"',), ('budget_burn="ticket"',)) in pairs


def test_credentials_are_read_from_files():
    text = CONFIG.read_text()
    config = yaml.safe_load(text)
    for receiver in config["receivers"]:
        for pd in receiver.get("pagerduty_configs", []):
            assert "routing_key_file" in pd and "routing_key" not in pd and "service_key" not in pd
        for slack in receiver.get("slack_configs", []):
            assert "api_url" not in slack
    assert config["global"]["slack_api_url_file"].startswith("/etc/alertmanager/secrets/")
    assert config["global"]["smtp_auth_password_file"].startswith("/etc/alertmanager/secrets/")
    assert "hooks.slack.com" not in text and "smtp_auth_password:" not in text
