"""The broker (namespace CELERY_): RabbitMQ from CELERY_BROKER_URL in production, a filesystem
broker under VAR_DIR shared by all local processes otherwise. The rest of Celery's configuration
is birthday/celeryconfig.py."""

from .base import VAR_DIR
from .env import env_str

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
BROKER_IS_AMQP = CELERY_BROKER_URL.startswith(("amqp://", "amqps://", "pyamqp://"))
EMBEDDED_BROKER_DIR = VAR_DIR / "broker"
