"""deploy/rabbitmq/ boots a real RabbitMQ node: a private one, on free ports.

The node gets the compose file's config as compose mounts it (20-birthday.conf in a conf.d
directory, enabled_plugins as is); a later conf.d file moves only its listeners (AMQP,
management, Prometheus) to free ports, so that it never meets the shared node on 5672.
"""

import shutil

import httpx
import pytest

from tests.chaos.private_services import RABBIT_BIN, PrivateRabbit, free_port, make_root

from .conftest import DEPLOY

pytestmark = pytest.mark.integration


class ComposeConfigRabbit(PrivateRabbit):
    def __init__(self, root):
        super().__init__(root)
        self.management_port, self.prometheus_port = free_port(), free_port()

    def _env(self) -> dict:
        env = super()._env()
        env["RABBITMQ_CONFIG_FILES"] = str(self.root / "conf.d")
        return env

    def init(self) -> None:
        for sub in ("mnesia", "log", "conf.d"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        shutil.copy(DEPLOY / "rabbitmq" / "enabled_plugins", self.root / "enabled_plugins")
        shutil.copy(DEPLOY / "rabbitmq" / "20-birthday.conf", self.root / "conf.d" / "20-birthday.conf")
        (self.root / "conf.d" / "90-private-ports.conf").write_text(
            f"listeners.tcp.default = 127.0.0.1:{self.port}\n"
            f"management.tcp.port = {self.management_port}\nmanagement.tcp.ip = 127.0.0.1\n"
            f"prometheus.tcp.port = {self.prometheus_port}\nprometheus.tcp.ip = 127.0.0.1\n")
        (self.root / "rabbitmq.conf").write_text("")
        self.start()


def test_the_compose_rabbitmq_config_boots_a_node():
    if not (RABBIT_BIN / "rabbitmq-server").exists():
        pytest.fail("rabbitmq-server is not installed (Debian: rabbitmq-server)")
    node = ComposeConfigRabbit(make_root("birthday-rabbit-config-"))
    try:
        node.init()
        version = node.ctl("version").stdout.strip()
        environment = node.ctl("environment").stdout
        # The node read our file (the setting is not a default) and serves per-queue metrics.
        assert "{return_per_object_metrics,true}" in environment.replace(" ", "").replace("\n", ""), environment
        metrics = httpx.get(f"http://127.0.0.1:{node.prometheus_port}/metrics", timeout=10)
        assert metrics.status_code == 200 and "rabbitmq_" in metrics.text
        print(f"\nRabbitMQ {version} booted with deploy/rabbitmq/20-birthday.conf and enabled_plugins")
    finally:
        node.teardown()
